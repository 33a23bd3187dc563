"""Exchange domain types: directory entries, grants, consents, fetch results, data uses, corrections. No I/O.

The exchange knows an application only as an opaque reference (``application_ref``) and a purpose. A purpose
is the id of a procedure (政务服务事项): data are used only for a duty of the department that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class GrantStatus(StrEnum):
    """State of an access grant (共享申请): pending → approved | refused; approved → revoked."""

    pending = "pending"
    approved = "approved"
    refused = "refused"
    revoked = "revoked"


GRANT_TRANSITIONS: dict[GrantStatus, frozenset[GrantStatus]] = {
    GrantStatus.pending: frozenset({GrantStatus.approved, GrantStatus.refused}),
    GrantStatus.approved: frozenset({GrantStatus.revoked}),
    GrantStatus.refused: frozenset(),
    GrantStatus.revoked: frozenset(),
}


class ConsentState(StrEnum):
    active = "active"
    revoked = "revoked"
    expired = "expired"


class CorrectionStatus(StrEnum):
    """A reported data error (数据纠错) on the holder's workbench: open → corrected | rejected."""

    open = "open"
    corrected = "corrected"
    rejected = "rejected"


class Outcome(StrEnum):
    served = "served"
    refused = "refused"
    unavailable = "unavailable"


@dataclass(frozen=True)
class DirectoryEntry:
    """One resource as the directory (数据资源目录) lists it."""

    id: str
    name: str
    holder: str
    holder_name: str
    sharing: str
    conditions: str | None
    legal_basis: str | None
    personal: bool
    update_frequency: str
    fields: tuple[str, ...]
    field_labels: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "holder": self.holder, "holder_name": self.holder_name,
            "sharing": self.sharing, "conditions": self.conditions, "legal_basis": self.legal_basis,
            "personal": self.personal, "update_frequency": self.update_frequency, "fields": list(self.fields),
            "field_labels": list(self.field_labels),
        }


@dataclass(frozen=True)
class StaleChange:
    """A directory change not yet published, and whether it is past the publication limit."""

    resource: str
    change: str          # added | changed | removed
    changed_at: datetime
    due: date
    overdue: bool


@dataclass(frozen=True)
class Grant:
    id: int
    resource: str
    holder: str
    consumer: str
    purpose: str
    procedures: tuple[str, ...]
    legal_basis: str
    fields: tuple[str, ...]
    status: GrantStatus
    requested_at: datetime
    due: date
    expires_at: datetime
    decided_at: datetime | None = None
    reason: str | None = None

    def covers(self, procedure: str, fields: tuple[str, ...] | list[str], now: datetime) -> bool:
        return (self.status is GrantStatus.approved and now < self.expires_at and procedure in self.procedures
                and set(fields) <= set(self.fields))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "resource": self.resource, "holder": self.holder, "consumer": self.consumer,
            "purpose": self.purpose, "procedures": list(self.procedures), "legal_basis": self.legal_basis,
            "fields": list(self.fields), "status": self.status.value, "requested_at": self.requested_at.isoformat(),
            "due": self.due.isoformat(), "expires_at": self.expires_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None, "reason": self.reason,
        }


@dataclass(frozen=True)
class Consent:
    """A consent artefact (授权同意): subject × application × purpose × resources × fields, with an expiry."""

    id: str
    subject_user_id: int
    application_ref: str
    purpose: str
    procedures: tuple[str, ...]
    resources: tuple[str, ...]
    fields: tuple[str, ...]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    idle_expires_at: datetime | None = None   # a draft never submitted ends this long after its last activity

    @property
    def ends_at(self) -> datetime:
        """When the consent ends unless revoked: its expiry, or sooner for an abandoned draft."""
        if self.idle_expires_at is not None and self.idle_expires_at < self.expires_at:
            return self.idle_expires_at
        return self.expires_at

    def state(self, now: datetime) -> ConsentState:
        if self.revoked_at is not None:
            return ConsentState.revoked
        if now >= self.ends_at:
            return ConsentState.expired
        return ConsentState.active

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id, "application_ref": self.application_ref, "purpose": self.purpose,
            "procedures": list(self.procedures), "resources": list(self.resources), "fields": list(self.fields),
            "granted_at": self.granted_at.isoformat(), "expires_at": self.expires_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None, "state": self.state(now).value,
            **({"idle_expires_at": self.idle_expires_at.isoformat()} if self.idle_expires_at else {}),
        }


@dataclass(frozen=True)
class ConsentItem:
    """One line of what the applicant is asked to consent to: a resource, its holder, the fields."""

    resource: str
    resource_name: str
    holder: str
    holder_name: str
    fields: tuple[str, ...]
    field_labels: tuple[str, ...]
    procedures: tuple[str, ...]


@dataclass(frozen=True)
class ConsentProposal:
    """Exactly what a consent would cover, shown before the applicant agrees (Myinfo / DEPA style)."""

    purpose: str
    items: tuple[ConsentItem, ...]

    @property
    def resources(self) -> tuple[str, ...]:
        return tuple(item.resource for item in self.items)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(sorted({f for item in self.items for f in item.fields}))

    @property
    def procedures(self) -> tuple[str, ...]:
        return tuple(sorted({p for item in self.items for p in item.procedures}))


@dataclass(frozen=True)
class FetchResult:
    """Values served by a holder, with their source — what a prefilled field shows."""

    resource: str
    holder: str
    fetched_at: datetime
    values: dict[str, Any]
    found: bool
    audit_entry_id: int
    consent_id: str | None = None
    grant_id: int | None = None
    # 电子证照复用: the issued certificate that answered instead of the holder's registry ({id, title, number,
    # issuer}); None when the holder's service answered.
    certificate: dict[str, Any] | None = None


@dataclass(frozen=True)
class DataUse:
    """One use of a person's data (数据使用记录), read from the audit chain for the citizen's view."""

    entry_id: int
    at: datetime
    outcome: str
    reason: str | None
    department: str | None
    resource: str | None
    holder: str | None
    fields: tuple[str, ...]
    application_ref: str | None
    purpose: str | None
    consent_id: str | None
    grant_id: int | None
    basis: str | None = None
    certificate: dict[str, Any] | None = None  # the certificate that answered (电子证照复用), if one did

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id, "at": self.at.isoformat(), "outcome": self.outcome, "reason": self.reason,
            "department": self.department, "resource": self.resource, "holder": self.holder,
            "fields": list(self.fields), "application_ref": self.application_ref, "purpose": self.purpose,
            "consent_id": self.consent_id, "grant_id": self.grant_id, "basis": self.basis,
            "certificate": self.certificate,
        }


@dataclass(frozen=True)
class Correction:
    id: int
    resource: str
    holder: str
    reporter_user_id: int
    fields: tuple[str, ...]
    description: str
    status: CorrectionStatus
    reported_at: datetime
    due: date
    answered_at: datetime | None = None
    answer: str | None = None
    use_entry_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "resource": self.resource, "holder": self.holder, "fields": list(self.fields),
            "description": self.description, "status": self.status.value,
            "reported_at": self.reported_at.isoformat(), "due": self.due.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None, "answer": self.answer,
            "use_entry_id": self.use_entry_id,
        }


@dataclass
class FactsReport:
    """What ``facts_for`` did, resource by resource (served, refused and why, unavailable) — for the UI."""

    served: dict[str, FetchResult] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
