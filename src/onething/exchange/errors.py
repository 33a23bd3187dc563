"""Exchange errors. A refusal of a fetch names its reason (a stable code) so that the audit entry, the problem
document and the citizen's data-use page all say the same thing.

The web layer maps them: ``UnknownResource`` → 404, ``NotShared`` / ``GrantRequired`` / ``PurposeNotAllowed`` /
``OutOfScope`` / ``ConsentRequired`` (and ``ConsentSubjectMismatch``) → 403, ``InvalidRequest`` → 422,
``InvalidTransition`` → 409, ``ProviderUnavailable`` → 503.
"""

from __future__ import annotations

from collections.abc import Sequence


class ExchangeError(Exception):
    """Base class for what exchange services raise."""


class UnknownResource(ExchangeError):
    def __init__(self, resource: str) -> None:
        super().__init__(f"no data resource {resource!r} in the directory")
        self.resource = resource


class InvalidRequest(ExchangeError, ValueError):
    """Input that does not fit; ``errors`` is a list of (field, message) pairs for problem+json."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = list(errors)


class InvalidTransition(ExchangeError):
    """A grant, consent or correction is not in a state that allows this (decided twice, revoked twice …)."""


class FetchRefused(ExchangeError):
    """A fetch that the rules do not allow. ``reason`` is a stable code; the refusal is on the audit chain."""

    reason = "refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotShared(FetchRefused):
    """The resource is not shared (不予共享): it can be neither granted nor fetched."""

    reason = "not_shared"


class GrantRequired(FetchRefused):
    """No approved, unexpired grant (or implicit unconditional right) covers this department and purpose."""

    reason = "no_grant"


class PurposeNotAllowed(FetchRefused):
    """The stated purpose is not a duty of the consuming department, or not one the grant/consent covers."""

    reason = "purpose"


class OutOfScope(FetchRefused):
    """Fields asked for lie outside the resource, the grant's scope or the consent."""

    reason = "scope"


class ConsentRequired(FetchRefused):
    """Personal data without a valid consent: none given, revoked, expired, or for another application."""

    reason = "consent"


class ConsentSubjectMismatch(ConsentRequired):
    """A consent presented for someone else's data: a consent serves only the person who gave it."""

    reason = "consent_subject"


class ActorNotAllowed(FetchRefused):
    """The actor may not fetch for this department or this data subject."""

    reason = "actor"


class ProviderUnavailable(ExchangeError):
    """The holder's service did not answer (down, timeout, error). Degraded path: the applicant uploads."""

    reason = "unavailable"

    def __init__(self, resource: str, detail: str) -> None:
        super().__init__(f"provider of {resource} unavailable: {detail}")
        self.resource = resource
        self.detail = detail
