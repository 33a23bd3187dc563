"""Errors of the case runtime. Each maps to one HTTP status in the API (see ``web/api/cases.py``)."""

from __future__ import annotations

from collections.abc import Sequence


class CaseError(Exception):
    """Base of the errors a case service raises on purpose."""


class Invalid(CaseError):
    """The request names bad data: every bad field at once, as (field, message) pairs (→ 422)."""

    def __init__(self, errors: Sequence[tuple[str, str]], detail: str = "请求数据有误") -> None:
        self.errors = list(errors)
        self.detail = detail
        super().__init__(detail + ": " + "; ".join(f"{f}: {m}" for f, m in self.errors))


class Conflict(CaseError):
    """The request contradicts the current state: a decision its state does not allow, a second rating,
    an idempotency key reused with another body (→ 409)."""


class PreconditionFailed(CaseError):
    """The client's version (If-Match) is stale (→ 412)."""


class PreconditionRequired(CaseError):
    """A state-changing request came without the version it expects (→ 428)."""


class TooLarge(CaseError):
    """An upload beyond the size limit (→ 413)."""


class UploadQuotaExceeded(CaseError):
    """An upload past the files an application may hold, in count or in bytes (→ 409)."""


class DailyUploadQuotaExceeded(CaseError):
    """An upload past what one applicant may upload in 24 hours, in count or in bytes (→ 429)."""


class UnsupportedType(CaseError):
    """An upload of a content type that is not accepted (→ 415)."""
