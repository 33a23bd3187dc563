"""Delegation domain types (代办授权). No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    enterprise = "enterprise"    # 企业经办人: the enterprise (its legal representative) authorises an agent
    helper = "helper"            # 授权代办人: an adult (e.g. an elderly person) authorises a helper themselves
    guardian = "guardian"        # 监护人: a parent acts for a minor child (birth records)
    next_of_kin = "next_of_kin"  # 近亲属: a close relative acts for a person who has died (death + kinship records)


GRANTED_BY_PRINCIPAL = frozenset({Kind.enterprise, Kind.helper})
CLAIMED_BY_AGENT = frozenset({Kind.guardian, Kind.next_of_kin})

KIND_LABELS = {Kind.enterprise: "企业经办人", Kind.helper: "授权代办人", Kind.guardian: "监护人",
               Kind.next_of_kin: "近亲属（身后事）"}


class Status(StrEnum):
    """pending_review → active | refused; active → revoked (and pending_review → revoked)."""

    pending_review = "pending_review"
    active = "active"
    refused = "refused"
    revoked = "revoked"


STATUS_LABELS = {Status.pending_review: "待审核", Status.active: "有效", Status.refused: "未通过审核",
                 Status.revoked: "已撤销"}


class Basis(StrEnum):
    principal = "principal"  # the principal granted it themselves
    exchange = "exchange"    # proven from shared data with the agent's consent
    document = "document"    # an uploaded document a member of staff reviewed


BASIS_LABELS = {Basis.principal: "本人授权", Basis.exchange: "共享数据核验", Basis.document: "证明材料人工审核"}


def masked(identifier: str) -> str:
    return f"{identifier[:6]}********{identifier[-4:]}" if len(identifier) == 18 else "****"


@dataclass(frozen=True)
class Delegation:
    id: str
    kind: Kind
    status: Status
    principal_user_id: int | None
    principal_identifier: str
    principal_name: str
    agent_id_number: str
    agent_name: str
    things: tuple[str, ...] | None
    valid_from: datetime
    valid_until: datetime
    basis: Basis
    proof: dict[str, Any] | None
    created_at: datetime
    reviewed_at: datetime | None
    review_reason: str | None
    revoked_at: datetime | None
    document_name: str | None

    def state(self, now: datetime) -> str:
        """The status, or ``expired`` / ``not_yet`` for an active grant outside its period."""
        if self.status is not Status.active:
            return self.status.value
        if now >= self.valid_until:
            return "expired"
        if now < self.valid_from:
            return "not_yet"
        return "active"

    def covers(self, thing: str, now: datetime) -> bool:
        return self.state(now) == "active" and (self.things is None or thing in self.things)

    def to_json(self, now: datetime, *, role: str | None = None) -> dict[str, Any]:
        state = self.state(now)
        return {
            "id": self.id, "kind": self.kind.value, "kind_label": KIND_LABELS[self.kind],
            "status": self.status.value, "state": state,
            "state_label": {"expired": "已过期", "not_yet": "未生效"}.get(state) or STATUS_LABELS[self.status],
            "principal": {"name": self.principal_name, "identifier": masked(self.principal_identifier),
                          "has_account": self.principal_user_id is not None},
            "agent": {"name": self.agent_name, "id_number": masked(self.agent_id_number)},
            "things": list(self.things) if self.things is not None else None,
            "valid_from": self.valid_from.isoformat(), "valid_until": self.valid_until.isoformat(),
            "basis": self.basis.value, "basis_label": BASIS_LABELS[self.basis], "proof": self.proof,
            "document_name": self.document_name, "created_at": self.created_at.isoformat(),
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "review_reason": self.review_reason,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None, "role": role,
        }
