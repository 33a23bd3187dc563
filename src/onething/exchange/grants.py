"""Access grants (共享申请与授权): a consumer department applies for a conditional resource with a purpose, a
legal basis, a field scope and an expiry; the holder's department administrator approves or refuses with a
reason within ``settings.grant_decision_days`` working days.

Unconditional resources need no application: a department may use one for any of its procedures that declares
a material the resource proves (``implicit_right``). Resources that are not shared can never be granted.
Every change is an entry on the audit chain. Functions flush; the caller's transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, or_, select
from sqlalchemy.orm import Session

from onething.accounts.errors import Forbidden, NotFound
from onething.accounts.model import Actor, Role
from onething.accounts.permissions import authorize
from onething.audit.service import append
from onething.catalog.model import Catalog, Resource, Sharing
from onething.exchange.errors import InvalidRequest, InvalidTransition, NotShared, UnknownResource
from onething.exchange.model import GRANT_TRANSITIONS, Grant, GrantStatus
from onething.exchange.tables import GrantRow
from onething.workdays import add_working_days

MAX_TEXT = 2000


def resource_of(catalog: Catalog, resource_id: str) -> Resource:
    try:
        return catalog.resources[resource_id]
    except KeyError:
        raise UnknownResource(resource_id) from None


_GRANTS: Table = GrantRow.__table__  # type: ignore[assignment]


def to_grant(row: GrantRow | Row[Any]) -> Grant:
    return Grant(id=row.id, resource=row.resource, holder=row.holder, consumer=row.consumer, purpose=row.purpose,
                 procedures=tuple(row.procedures), legal_basis=row.legal_basis, fields=tuple(row.fields),
                 status=GrantStatus(row.status), requested_at=row.requested_at, due=row.due,
                 expires_at=row.expires_at, decided_at=row.decided_at, reason=row.reason)


def implicit_right(catalog: Catalog, resource: Resource, consumer: str, procedure_id: str) -> bool:
    """An unconditional resource is granted to ``consumer`` for a procedure of its own that declares a material
    the resource proves."""
    if resource.sharing is not Sharing.unconditional:
        return False
    procedure = catalog.procedures.get(procedure_id)
    if procedure is None or procedure.department != consumer:
        return False
    return any(resource.id in catalog.materials[use.id].proven_by
               for use in procedure.materials if use.id in catalog.materials)


def _text(errors: list[tuple[str, str]], name: str, value: str, label: str) -> str:
    value = (value or "").strip()
    if not value:
        errors.append((name, f"请填写{label}"))
    elif len(value) > MAX_TEXT:
        errors.append((name, f"{label}不超过 {MAX_TEXT} 个字符"))
    return value


def apply_for_grant(session: Session, catalog: Catalog, actor: Actor, *, resource: str, purpose: str,
                    procedures: Sequence[str], legal_basis: str, fields: Sequence[str], expires_at: datetime,
                    now: datetime, decision_days: int) -> Grant:
    """A consumer department's administrator applies for a conditional resource (共享申请)."""
    target = resource_of(catalog, resource)
    if actor.role is not Role.dept_admin:
        raise Forbidden("grant:apply", "仅部门管理员可以提出共享申请")
    consumer = actor.department
    authorize(actor, "department:configure", consumer)
    if target.sharing is Sharing.none:
        raise NotShared(f"{target.name}为不予共享资源（{target.legal_basis}），不能申请共享")
    errors: list[tuple[str, str]] = []
    if target.sharing is Sharing.unconditional:
        errors.append(("resource", "无条件共享资源无需申请：声明了该资源可证明材料的事项可直接使用"))
    if target.holder == consumer:
        errors.append(("resource", "本部门持有的资源无需申请"))
    purpose = _text(errors, "purpose", purpose, "用途")
    legal_basis = _text(errors, "legal_basis", legal_basis, "依据")
    if not procedures:
        errors.append(("procedures", "请至少选择一个本部门的政务服务事项"))
    for procedure_id in procedures:
        procedure = catalog.procedures.get(procedure_id)
        if procedure is None or procedure.department != consumer:
            errors.append(("procedures", f"“{procedure_id}”不是本部门的政务服务事项"))
    if not fields:
        errors.append(("fields", "请至少选择一个字段"))
    outside = [f for f in fields if f not in target.fields]
    if outside:
        errors.append(("fields", f"资源不含字段：{', '.join(outside)}"))
    if expires_at.tzinfo is None or expires_at <= now:
        errors.append(("expires_at", "有效期须晚于当前时间"))
    if errors:
        raise InvalidRequest(errors)
    assert consumer is not None
    row = GrantRow(resource=target.id, holder=target.holder, consumer=consumer, purpose=purpose,
                   procedures=sorted(set(procedures)), legal_basis=legal_basis, fields=sorted(set(fields)),
                   status=GrantStatus.pending.value, requested_at=now, requested_by=actor.user_id,
                   due=add_working_days(now, decision_days, catalog.calendar), expires_at=expires_at)
    session.add(row)
    session.flush()
    grant = to_grant(row)
    append(session, actor, "exchange.grant.requested", "grant", row.id, now=now, department=target.holder,
           after=grant.to_json())
    return grant


def _transition(row: GrantRow, target: GrantStatus) -> None:
    current = GrantStatus(row.status)
    if target not in GRANT_TRANSITIONS[current]:
        raise InvalidTransition(f"grant {row.id} is {current.value}; cannot become {target.value}")
    row.status = target.value


def _row(session: Session, grant_id: int) -> GrantRow:
    row = session.execute(select(GrantRow).where(GrantRow.id == grant_id).with_for_update()).scalar_one_or_none()
    if row is None:
        raise NotFound("grant", grant_id)
    return row


def decide_grant(session: Session, actor: Actor, grant_id: int, *, approve: bool, reason: str | None,
                 now: datetime) -> Grant:
    """The holder's department administrator approves or refuses (a refusal states why)."""
    row = _row(session, grant_id)
    if actor.department != row.holder and actor.department != row.consumer:
        raise NotFound("grant", grant_id)
    authorize(actor, "grant:decide", row.holder)
    reason = (reason or "").strip() or None
    if not approve and not reason:
        raise InvalidRequest([("reason", "不予共享须说明理由")])
    if reason and len(reason) > MAX_TEXT:
        raise InvalidRequest([("reason", f"理由不超过 {MAX_TEXT} 个字符")])
    before = row.status
    _transition(row, GrantStatus.approved if approve else GrantStatus.refused)
    row.decided_at, row.decided_by, row.reason = now, actor.user_id, reason
    session.flush()
    append(session, actor, f"exchange.grant.{row.status}", "grant", row.id, now=now, department=row.holder,
           before={"status": before}, after={"status": row.status, "reason": reason})
    return to_grant(row)


def revoke_grant(session: Session, actor: Actor, grant_id: int, *, reason: str, now: datetime) -> Grant:
    """The holder withdraws an approved grant; every later fetch under it is refused."""
    row = _row(session, grant_id)
    if actor.department != row.holder and actor.department != row.consumer:
        raise NotFound("grant", grant_id)
    authorize(actor, "grant:decide", row.holder)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest([("reason", "撤销授权须说明理由")])
    _transition(row, GrantStatus.revoked)
    row.reason = reason
    session.flush()
    append(session, actor, "exchange.grant.revoked", "grant", row.id, now=now, department=row.holder,
           before={"status": GrantStatus.approved.value}, after={"status": row.status, "reason": reason})
    return to_grant(row)


def list_grants(session: Session, actor: Actor, *, status: str | None = None) -> list[Grant]:
    """Grants the actor may see: a department's staff see those it holds or consumes; operators and
    auditors see all; applicants none."""
    statement = select(GrantRow)
    if actor.role in (Role.staff, Role.dept_admin):
        authorize(actor, "task:read", actor.department)
        statement = statement.where(or_(GrantRow.holder == actor.department, GrantRow.consumer == actor.department))
    else:
        authorize(actor, "report:read")
    if status:
        statement = statement.where(GrantRow.status == status)
    return [to_grant(row) for row in session.execute(statement.order_by(GrantRow.id.desc())).scalars()]


def covering_grant(session: Session, resource: str, consumer: str, procedure: str, fields: Sequence[str],
                   now: datetime) -> Grant | None:
    """An approved, unexpired grant of ``resource`` to ``consumer`` covering the procedure and fields.

    Read with Core on the session's connection (every checked fetch asks), rows straight into ``Grant``."""
    session.flush()  # what this session changed is seen, as an ORM query would autoflush it
    grants = _GRANTS.c
    rows = session.connection().execute(select(_GRANTS).where(
        grants.resource == resource, grants.consumer == consumer,
        grants.status == GrantStatus.approved.value, grants.expires_at > now)).all()
    for row in rows:
        grant = to_grant(row)
        if grant.covers(procedure, tuple(fields), now):
            return grant
    return None


def grants_of(session: Session, consumer: str, now: datetime) -> list[Grant]:
    """The consumer's approved, unexpired grants (what ``facts_for`` may use)."""
    rows = session.execute(select(GrantRow).where(
        GrantRow.consumer == consumer, GrantRow.status == GrantStatus.approved.value,
        GrantRow.expires_at > now)).scalars()
    return [to_grant(row) for row in rows]
