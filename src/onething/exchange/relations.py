"""Proving a family relationship from shared data (亲属关系核验), for acting on another's behalf.

A person who wants to act for a minor child (监护人) or for a close relative who has died (近亲属, 身后) proves
the relationship from records the registries hold *about the person themselves* — their own birth medical
certificate as mother or father, the death certificate filed under them as next of kin, their kinship relation
and marriage records. The deceased cannot consent and a newborn cannot either: the relationship plus the record
is the basis. The person asking consents first (a consent with the purpose 核验代办关系, bound to the
delegation's reference); every record read goes on the audit chain as an ``exchange.fetch.*`` entry on the
asking person's own record, so it appears in their 谁用了我的数据 — never the values themselves.

The checks (``relationship_holds``) are pure and read only what the fetched records say.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine

from onething.accounts.model import Actor, Role
from onething.audit.service import append
from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.exchange.errors import InvalidRequest
from onething.exchange.fetch import _ask, _ask_local, _Attempt, _directory, _record, subject_ref
from onething.exchange.tables import ConsentRow
from onething.logging import mask

# What each kind of relationship is proven from (all records filed under the person asking).
RESOURCES: Mapping[str, tuple[str, ...]] = {
    "guardian": ("birth_medical_certificate",),
    "next_of_kin": ("medical_death_certificate", "kinship_relation", "marriage_registration"),
}
PURPOSE = "核验代办关系（为他人办事前核验亲属关系）"
CONSUMER = "platform"  # the platform itself checks; no department's procedure uses these reads
ADULT_AGE = 18


@dataclass(frozen=True)
class RelationshipProof:
    """What the records showed: ``proven`` and, when not, why; the audit entries of the reads (no values)."""

    proven: bool
    reason: str | None
    consent_id: str
    entries: tuple[int, ...] = field(default_factory=tuple)
    resources: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"proven": self.proven, "reason": self.reason, "consent_id": self.consent_id,
                "audit_entries": list(self.entries), "resources": list(self.resources)}


def birth_date_of(id_number: str) -> date | None:
    """The birth date a resident ID carries (digits 7–14), or None."""
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except (ValueError, IndexError):
        return None


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def relationship_holds(kind: str, *, actor_id_number: str, principal_id_number: str, principal_name: str,
                       records: Mapping[str, Mapping[str, Any]], today: date) -> str | None:
    """None when the records prove the relationship; else the reason (in Chinese) they do not."""
    if kind == "guardian":
        birth = records.get("birth_medical_certificate") or {}
        if not birth:
            return "未查到以您为父亲或母亲的出生医学证明信息"
        if actor_id_number not in (birth.get("mother_id_number"), birth.get("father_id_number")):
            return "出生医学证明信息中的父母不是您"
        born = birth_date_of(principal_id_number)
        if born is None or str(birth.get("child_birth_date")) != born.isoformat():
            return "出生医学证明信息中的出生日期与被代办人的身份号码不一致"
        if birth.get("child_name") != principal_name:
            return "出生医学证明信息中的姓名与被代办人不一致"
        if _age_on(born, today) >= ADULT_AGE:
            return "被代办人已成年，不能以监护人身份代办；请由本人授权"
        return None
    if kind == "next_of_kin":
        death = records.get("medical_death_certificate") or {}
        if not death or death.get("deceased_id_number") != principal_id_number:
            return "未查到被代办人的死亡医学证明信息（以您为近亲属）"
        if death.get("deceased_name") != principal_name:
            return "死亡医学证明信息中的姓名与被代办人不一致"
        kin = records.get("kinship_relation") or {}
        spouse = records.get("marriage_registration") or {}
        if kin.get("relation_to_deceased") or spouse.get("spouse_id_number") == principal_id_number:
            return None
        return "未查到您与逝者的亲属关系（户籍家庭关系或婚姻登记）"
    raise InvalidRequest([("kind", f"关系类型 {kind!r} 不能由共享数据核验")])


def prove_relationship(engine: Engine, catalog: Catalog, actor: Actor, *, kind: str, principal_id_number: str,
                       principal_name: str, ref: str, now: datetime, expires_at: datetime,
                       providers: Any = None) -> RelationshipProof:
    """With the actor's consent (granted here, audited), read the actor's own records that can prove ``kind``,
    each read on the chain, and check them. Commits the consent and the reads even when nothing is proven."""
    if actor.role is not Role.applicant or not actor.id_number:
        raise InvalidRequest([("actor", "仅以公民身份号码实名的申请人可以核验亲属关系")])
    wanted = [r for r in RESOURCES.get(kind, ()) if r in catalog.resources]
    if not wanted:
        raise InvalidRequest([("kind", f"关系类型 {kind!r} 不能由共享数据核验")])
    directory = _directory(providers)
    with session_scope(engine) as session:
        fields = sorted({f for r in wanted for f in catalog.resources[r].fields})
        consent = ConsentRow(id=str(uuid.uuid4()), subject_user_id=actor.user_id, application_ref=ref,
                             purpose=PURPOSE, procedures=[], resources=sorted(wanted), fields=fields,
                             granted_at=now, expires_at=expires_at)
        session.add(consent)
        session.flush()
        append(session, actor, "exchange.consent.granted", "consent", consent.id, now=now, application_id=ref,
               after={"purpose": PURPOSE, "resources": sorted(wanted), "fields": fields,
                      "expires_at": expires_at.isoformat()})
        owner = subject_ref(session, actor.id_number)
        attempts = []
        for resource_id in wanted:
            target = catalog.resources[resource_id]
            attempts.append(_Attempt(
                actor=actor, target=target, subject=actor.id_number, subject_id=owner, fields=list(target.fields),
                consumer=CONSUMER, application_ref=ref, record={
                    "resource": target.id, "holder": target.holder, "fields": list(target.fields),
                    "purpose": PURPOSE, "consent_id": consent.id, "consent_presented": consent.id, "grant_id": None,
                    "basis": "relationship", "subject": mask(actor.id_number),
                    "principal": mask(principal_id_number)}))
        remote = _ask_local(session, directory, attempts)
        consent_id = consent.id
    for pending, provider in remote:
        _ask(pending, provider)
    with session_scope(engine) as session:
        entries = _record(session, attempts, now)
    records = {a.target.id: (a.values or {}) for a in attempts}
    reason = relationship_holds(kind, actor_id_number=actor.id_number, principal_id_number=principal_id_number,
                                principal_name=principal_name, records=records,
                                today=now.date())
    return RelationshipProof(proven=reason is None, reason=reason, consent_id=consent_id, entries=tuple(entries),
                             resources=tuple(wanted))
