"""Delegation services (代办授权): grant, claim with proof, review, revoke, list, and the one check every
act on another's behalf passes (``authorise_act``). Permissions are checked here, never in routes.

- ``grant``: the principal themselves — an enterprise account (its legal representative), or an adult who
  chooses a helper — authorises an agent by resident ID, for some or all things, for a period.
- ``claim``: a parent (监护人) for a minor child, or a close relative (近亲属) for a person who has died, asks to
  act for them. The relationship is proven from shared data with the claimant's consent
  (``exchange.api.prove_relationship``, every read on the chain) or by an uploaded document that staff review.
- ``review``: staff of the reviewing department approve or refuse a document claim (a review queue).
- ``revoke``: the principal ends it at any time (the agent may also give it up).

Every grant, claim, review, use and revocation is one audit entry (subject ``delegation``/<id>), shown to the
principal and the agent (``acts``).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from onething.accounts.errors import NotFound
from onething.accounts.identifiers import check_resident_id, check_uscc
from onething.accounts.model import Actor, Role
from onething.accounts.permissions import authorize
from onething.accounts.tables import User
from onething.audit.service import append
from onething.audit.tables import AuditEntry
from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.delegations.errors import DelegationConflict, InvalidDelegation, NotAuthorisedToAct
from onething.delegations.model import (
    CLAIMED_BY_AGENT,
    Basis,
    Delegation,
    Kind,
    Status,
    masked,
)
from onething.delegations.tables import DelegationRow
from onething.exchange import api as exchange

REVIEW_DEPARTMENT = "mps"  # 公安（户籍）: reviews relationship documents, holds the household and kinship records
MAX_PERIOD = timedelta(days=5 * 366)
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
DOCUMENT_TYPES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
PROOF_CONSENT_DAYS = 1
security_log = logging.getLogger("onething.security")


def to_delegation(row: DelegationRow) -> Delegation:
    return Delegation(
        id=row.id, kind=Kind(row.kind), status=Status(row.status), principal_user_id=row.principal_user_id,
        principal_identifier=row.principal_identifier, principal_name=row.principal_name,
        agent_id_number=row.agent_id_number, agent_name=row.agent_name,
        things=tuple(row.things) if row.things is not None else None, valid_from=row.valid_from,
        valid_until=row.valid_until, basis=Basis(row.basis), proof=row.proof, created_at=row.created_at,
        reviewed_at=row.reviewed_at, review_reason=row.review_reason, revoked_at=row.revoked_at,
        document_name=row.document_name)


def _summary(row: DelegationRow) -> dict[str, Any]:
    """What the audit entry keeps: masked identifiers, never a document."""
    return {"kind": row.kind, "status": row.status, "principal": masked(row.principal_identifier),
            "principal_name": row.principal_name, "agent": masked(row.agent_id_number), "agent_name": row.agent_name,
            "things": row.things, "valid_from": row.valid_from.isoformat(), "valid_until": row.valid_until.isoformat(),
            "basis": row.basis}


def _check_common(catalog: Catalog, *, things: Sequence[str] | None, valid_from: datetime, valid_until: datetime,
                  now: datetime, errors: list[tuple[str, str]]) -> list[str] | None:
    chosen: list[str] | None = None
    if things is not None:
        chosen = sorted(set(things))
        if not chosen:
            errors.append(("things", "请至少选择一件事，或不限事项"))
        unknown = [t for t in chosen if t not in catalog.things]
        if unknown:
            errors.append(("things", f"没有这些一件事：{', '.join(unknown)}"))
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        errors.append(("valid_until", "时间须带时区"))
    elif valid_until <= valid_from or valid_until <= now:
        errors.append(("valid_until", "授权截止时间须晚于开始时间和当前时间"))
    elif valid_until - valid_from > MAX_PERIOD:
        errors.append(("valid_until", "授权期限最长五年"))
    return chosen


def _resident_id(value: str, field: str, errors: list[tuple[str, str]], now: datetime) -> str:
    try:
        return check_resident_id(value, now.date())
    except ValueError as exc:
        errors.append((field, str(exc)))
        return value or ""


def _name(value: str, field: str, errors: list[tuple[str, str]]) -> str:
    value = (value or "").strip()
    if not 1 <= len(value) <= 100:
        errors.append((field, "请填写姓名（不超过 100 个字符）"))
    return value


def grant(engine: Engine, actor: Actor, catalog: Catalog, *, agent_id_number: str, agent_name: str,
          things: Sequence[str] | None, valid_until: datetime, now: datetime,
          valid_from: datetime | None = None) -> Delegation:
    """The principal authorises an agent (授权经办人 / 代办人). An enterprise account grants ``enterprise``
    delegations; an individual ``helper`` ones. The agent is named by resident ID."""
    authorize(actor, "delegation:grant")
    errors: list[tuple[str, str]] = []
    start = valid_from or now
    if actor.uscc:
        kind, principal = Kind.enterprise, actor.uscc
    elif actor.id_number:
        kind, principal = Kind.helper, actor.id_number
    else:
        raise InvalidDelegation([("actor", "账号未登记统一社会信用代码或公民身份号码，不能授权他人代办")])
    agent = _resident_id(agent_id_number, "agent_id_number", errors, now)
    name = _name(agent_name, "agent_name", errors)
    if agent == actor.id_number:
        errors.append(("agent_id_number", "不能授权给自己"))
    chosen = _check_common(catalog, things=things, valid_from=start, valid_until=valid_until, now=now, errors=errors)
    if errors:
        raise InvalidDelegation(errors)
    with session_scope(engine) as session:
        row = DelegationRow(
            id=str(uuid.uuid4()), kind=kind.value, status=Status.active.value, principal_user_id=actor.user_id,
            principal_identifier=principal, principal_name=actor.label, agent_id_number=agent, agent_name=name,
            things=chosen, valid_from=start, valid_until=valid_until, basis=Basis.principal.value,
            created_by_id=actor.user_id, created_at=now)
        session.add(row)
        session.flush()
        append(session, actor, "delegation.granted", "delegation", row.id, now=now, after=_summary(row))
        return to_delegation(row)


def _document(document: tuple[str, bytes] | None, errors: list[tuple[str, str]]) -> tuple[str, str, bytes] | None:
    if document is None:
        return None
    filename, data = document
    if not data:
        errors.append(("document", "证明材料为空"))
        return None
    if len(data) > MAX_DOCUMENT_BYTES:
        errors.append(("document", "证明材料不能超过 5 MB"))
        return None
    kind = next((t for magic, t in DOCUMENT_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        errors.append(("document", "证明材料须为 PDF、PNG 或 JPEG"))
        return None
    return (filename or "证明材料")[:200], kind, data


def claim(engine: Engine, actor: Actor, catalog: Catalog, *, kind: str, principal_id_number: str,
          principal_name: str, things: Sequence[str] | None, valid_until: datetime, now: datetime,
          consent: bool = False, document: tuple[str, bytes] | None = None, providers: Any = None) -> Delegation:
    """A guardian or next of kin asks to act for the principal. With ``consent`` the relationship is checked
    against shared data (the reads are audited and kept even when they prove nothing); proven, the delegation
    is active at once. Otherwise an uploaded ``document`` (filename, bytes) puts it in the staff review queue.
    Neither: refused (422), naming what is missing."""
    authorize(actor, "application:submit")
    errors: list[tuple[str, str]] = []
    try:
        wanted = Kind(kind)
    except ValueError:
        wanted = None
    if wanted not in CLAIMED_BY_AGENT:
        errors.append(("kind", "可选：guardian（监护人）、next_of_kin（近亲属）"))
    if not actor.id_number:
        errors.append(("actor", "须以公民身份号码实名的个人账号申请"))
    principal = _resident_id(principal_id_number, "principal_id_number", errors, now)
    name = _name(principal_name, "principal_name", errors)
    if actor.id_number and principal == actor.id_number:
        errors.append(("principal_id_number", "不能为自己申请代办"))
    chosen = _check_common(catalog, things=things, valid_from=now, valid_until=valid_until, now=now, errors=errors)
    upload = _document(document, errors)
    if not consent and upload is None:
        errors.append(("consent", "请同意以共享数据核验关系，或上传关系证明材料"))
    if errors:
        raise InvalidDelegation(errors)
    assert wanted is not None and actor.id_number
    ref = str(uuid.uuid4())
    proof: exchange.RelationshipProof | None = None
    if consent:
        proof = exchange.prove_relationship(
            engine, catalog, actor, kind=wanted.value, principal_id_number=principal, principal_name=name, ref=ref,
            now=now, expires_at=now + timedelta(days=PROOF_CONSENT_DAYS), providers=providers)
        if not proof.proven and upload is None:
            with session_scope(engine) as session:
                append(session, actor, "delegation.proof_failed", "delegation", ref, now=now,
                       data={"kind": wanted.value, "principal": masked(principal), **proof.to_json()})
            raise InvalidDelegation([("relationship", f"共享数据未能证明关系：{proof.reason}；可上传关系证明材料，"
                                                      "由工作人员审核")])
    with session_scope(engine) as session:
        principal_user = session.scalar(select(User.id).where(User.id_number == principal))
        proven = proof is not None and proof.proven
        row = DelegationRow(
            id=ref, kind=wanted.value, status=(Status.active if proven else Status.pending_review).value,
            principal_user_id=principal_user, principal_identifier=principal, principal_name=name,
            agent_id_number=actor.id_number, agent_name=actor.label, things=chosen, valid_from=now,
            valid_until=valid_until, basis=(Basis.exchange if proven else Basis.document).value,
            proof=proof.to_json() if proof is not None else None, created_by_id=actor.user_id, created_at=now)
        if upload is not None and not proven:
            row.document_name, row.document_type, row.document = upload
            row.document_sha256 = hashlib.sha256(upload[2]).hexdigest()
        session.add(row)
        session.flush()
        data = {"document_sha256": row.document_sha256} if row.document_sha256 else None
        append(session, actor, "delegation.proven" if proven else "delegation.claimed", "delegation", row.id,
               now=now, after=_summary(row), data=data)
        return to_delegation(row)


def _own(session: Session, actor: Actor, delegation_id: str, *, lock: bool = False) -> tuple[DelegationRow, str]:
    """The delegation and the actor's role in it (principal or agent); NotFound when it is not theirs."""
    statement = select(DelegationRow).where(DelegationRow.id == delegation_id)
    row = session.execute(statement.with_for_update() if lock else statement).scalar_one_or_none()
    if row is not None and actor.role is Role.applicant:
        if row.principal_user_id is not None and row.principal_user_id == actor.user_id:
            return row, "principal"
        if actor.id_number and row.agent_id_number == actor.id_number:
            return row, "agent"
    raise NotFound("delegation", delegation_id)


def get_delegation(engine: Engine, actor: Actor, delegation_id: str) -> tuple[Delegation, str]:
    with session_scope(engine) as session:
        if actor.role is not Role.applicant:
            authorize(actor, "delegation:review", REVIEW_DEPARTMENT)
            row = session.get(DelegationRow, delegation_id)
            if row is None:
                raise NotFound("delegation", delegation_id)
            return to_delegation(row), "reviewer"
        row, role = _own(session, actor, delegation_id)
        return to_delegation(row), role


def revoke(engine: Engine, actor: Actor, delegation_id: str, *, now: datetime) -> Delegation:
    """End a delegation at once (撤销授权): the principal may, and so may the agent (giving it up)."""
    with session_scope(engine) as session:
        row, role = _own(session, actor, delegation_id, lock=True)
        if row.status not in (Status.active.value, Status.pending_review.value):
            raise DelegationConflict("该授权已撤销或未通过审核")
        before = _summary(row)
        row.status, row.revoked_at, row.revoked_by_id = Status.revoked.value, now, actor.user_id
        append(session, actor, "delegation.revoked", "delegation", row.id, now=now, before=before,
               after=_summary(row), data={"by": role})
        return to_delegation(row)


def review(engine: Engine, actor: Actor, delegation_id: str, *, approve: bool, reason: str | None,
           now: datetime) -> Delegation:
    """Staff decide a document claim (审核关系证明): approve → active, refuse (with a reason) → refused."""
    authorize(actor, "delegation:review", REVIEW_DEPARTMENT)
    reason = (reason or "").strip()
    if not approve and not reason:
        raise InvalidDelegation([("reason", "不予通过须说明理由")])
    if len(reason) > 1000:
        raise InvalidDelegation([("reason", "理由不超过 1000 个字符")])
    with session_scope(engine) as session:
        row = session.execute(select(DelegationRow).where(DelegationRow.id == delegation_id)
                              .with_for_update()).scalar_one_or_none()
        if row is None:
            raise NotFound("delegation", delegation_id)
        if row.status != Status.pending_review.value:
            raise DelegationConflict("该申请不在待审核状态")
        before = _summary(row)
        row.status = (Status.active if approve else Status.refused).value
        row.reviewed_by_id, row.reviewed_at, row.review_reason = actor.user_id, now, reason or None
        append(session, actor, "delegation.reviewed", "delegation", row.id, now=now, before=before,
               after=_summary(row), department=REVIEW_DEPARTMENT,
               data={"approve": approve, "reason": reason or None, "document_sha256": row.document_sha256})
        return to_delegation(row)


def document_of(engine: Engine, actor: Actor, delegation_id: str) -> tuple[str, str, bytes]:
    """The uploaded relationship document, for the reviewing staff and the agent who uploaded it."""
    with session_scope(engine) as session:
        found: DelegationRow | None
        if actor.role is Role.applicant:
            found, role = _own(session, actor, delegation_id)
            if role != "agent":
                raise NotFound("document", delegation_id)
        else:
            authorize(actor, "delegation:review", REVIEW_DEPARTMENT)
            found = session.get(DelegationRow, delegation_id)
        row = found
        if row is None or row.document is None:
            raise NotFound("document", delegation_id)
        return row.document_name or "document", row.document_type or "application/octet-stream", row.document


def list_delegations(engine: Engine, actor: Actor, *, status: str | None = None) -> list[tuple[Delegation, str]]:
    """An applicant's delegations as principal and as agent, newest first; for reviewing staff, the review
    queue (``status`` pending_review by default)."""
    with session_scope(engine) as session:
        statement = select(DelegationRow).order_by(DelegationRow.created_at.desc(), DelegationRow.id).limit(500)
        if actor.role is not Role.applicant:
            authorize(actor, "delegation:review", REVIEW_DEPARTMENT)
            wanted = status or Status.pending_review.value
            if wanted not in Status.__members__:
                raise InvalidDelegation([("status", "可选：" + "、".join(Status.__members__))])
            rows = session.execute(statement.where(DelegationRow.status == wanted)).scalars()
            return [(to_delegation(r), "reviewer") for r in rows]
        mine = [DelegationRow.principal_user_id == actor.user_id]
        if actor.id_number:
            mine.append(DelegationRow.agent_id_number == actor.id_number)
        out = []
        for row in session.execute(statement.where(or_(*mine))).scalars():
            role = "principal" if row.principal_user_id == actor.user_id else "agent"
            out.append((to_delegation(row), role))
        return out


def acts(engine: Engine, actor: Actor, *, limit: int = 200) -> list[dict[str, Any]]:
    """Every audited act under the actor's delegations (as principal or agent), newest first: grants, proofs,
    reviews, uses and revocations — read from the audit chain itself."""
    ids = [d.id for d, _ in list_delegations(engine, actor)] if actor.role is Role.applicant else []
    if not ids:
        return []
    with session_scope(engine) as session:
        entries = session.execute(
            select(AuditEntry, User.display_name, User.name).outerjoin(User, User.id == AuditEntry.actor_id)
            .where(AuditEntry.subject_type == "delegation", AuditEntry.subject_id.in_(ids))
            .order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))).all()
        return [{"entry_id": e.id, "at": e.at.isoformat(), "action": e.action, "delegation": e.subject_id,
                 "actor": display or name or e.actor_name, "application_id": e.application_id,
                 "data": e.data if isinstance(e.data, dict) else None}
                for e, display, name in entries]


# --- acting -----------------------------------------------------------------------------------------------


def authorise_act(session: Session, actor: Actor, principal: str, thing: str, now: datetime) -> tuple[int, str]:
    """The principal's user id and the delegation that lets ``actor`` act for ``principal`` (a USCC or resident
    ID) on ``thing`` now; ``NotAuthorisedToAct`` (403) when none does — other thing, expired, revoked, pending,
    another principal, or a principal without an account."""
    authorize(actor, "application:submit")
    if not isinstance(principal, str) or not 1 <= len(principal) <= 18:
        raise NotAuthorisedToAct("on_behalf_of 应为被代办人的统一社会信用代码或公民身份号码")
    normalised = principal.strip().upper()
    for check in (check_uscc, check_resident_id):
        try:
            normalised = check(normalised)
            break
        except ValueError:
            continue
    if not actor.id_number:
        raise NotAuthorisedToAct("仅以公民身份号码实名的个人账号可以代办")
    rows = session.execute(select(DelegationRow).where(
        DelegationRow.agent_id_number == actor.id_number, DelegationRow.principal_identifier == normalised,
        DelegationRow.status == Status.active.value)).scalars()
    for row in rows:
        found = to_delegation(row)
        if found.covers(thing, now) and row.principal_user_id is not None:
            return row.principal_user_id, row.id
    security_log.info("acting for another refused", extra={"fields": {
        "event": "delegation_refused", "user": actor.name, "principal": masked(normalised), "thing": thing}})
    raise NotAuthorisedToAct("您没有为该主体办理此事项的有效授权（授权范围、期限或状态不符）")


def record_use(session: Session, actor: Actor, delegation_id: str, *, application_id: str, number: str,
               thing: str, now: datetime) -> None:
    """The use of a delegation (代办提交), on the delegation's record, in the caller's transaction."""
    append(session, actor, "delegation.used", "delegation", delegation_id, now=now, application_id=application_id,
           data={"act": "application.submitted", "thing": thing, "number": number})


def principals_for(engine: Engine, actor: Actor, thing: str, now: datetime) -> list[tuple[str, str, str]]:
    """(delegation id, principal name, masked identifier) of everyone ``actor`` may submit ``thing`` for now —
    for the apply page's 为谁申请 choice."""
    if actor.role is not Role.applicant or not actor.id_number:
        return []
    with session_scope(engine) as session:
        rows = session.execute(select(DelegationRow).where(DelegationRow.agent_id_number == actor.id_number,
                                                           DelegationRow.status == Status.active.value,
                                                           DelegationRow.principal_user_id.is_not(None))
                               .order_by(DelegationRow.created_at)).scalars()
        return [(r.id, r.principal_name, masked(r.principal_identifier)) for r in rows
                if to_delegation(r).covers(thing, now)]


def principal_of(engine: Engine, actor: Actor, delegation_id: str) -> str | None:
    """The principal's identifier of one of the actor's delegations as agent (None when it is not theirs)."""
    if not actor.id_number or not delegation_id:
        return None
    with session_scope(engine) as session:
        return session.scalar(select(DelegationRow.principal_identifier).where(
            DelegationRow.id == delegation_id[:36], DelegationRow.agent_id_number == actor.id_number))


def acting_delegations(session: Session, actor: Actor, now: datetime) -> set[str]:
    """Ids of the delegations under which ``actor`` may act now (for what an agent may see)."""
    if actor.role is not Role.applicant or not actor.id_number:
        return set()
    rows = session.execute(select(DelegationRow).where(DelegationRow.agent_id_number == actor.id_number,
                                                       DelegationRow.status == Status.active.value)).scalars()
    return {row.id for row in rows if to_delegation(row).state(now) == "active"}
