"""The one checked fetch (数据调用) and the facts it gives intake.

``fetch`` checks, in this order: the fields exist in the resource; the actor may fetch for this department
(its own staff) or this subject (the applicant, about themselves); the resource is shared at all; the purpose
is a procedure of the consuming department; the department has the right (it holds the resource, the resource
is unconditional and the procedure declares a material it proves, or an approved unexpired grant covers the
procedure and fields); for personal data, a valid consent of this application covers resource, fields and
procedure. Then it asks the provider. Served, refused or unavailable, it appends one entry to the audit chain
(never the values themselves) — a refusal is on record too, so a caller must commit its transaction even
when it catches the refusal (``checked_fetch`` does that).

``facts_for`` is the interface cases calls during intake: it fetches what a plan can use and returns
``KnownFacts`` for the planner (prefilled fields with their source, resources proving materials).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from onething.accounts.model import Actor, Role
from onething.accounts.tables import User
from onething.audit.service import append_many
from onething.catalog.model import Catalog, Resource, Sharing
from onething.db import session_scope
from onething.exchange.consents import get_consent, resource_needs
from onething.exchange.errors import (
    ActorNotAllowed,
    ConsentRequired,
    FetchRefused,
    GrantRequired,
    NotShared,
    OutOfScope,
    ProviderUnavailable,
    PurposeNotAllowed,
)
from onething.exchange.grants import covering_grant, implicit_right, resource_of
from onething.exchange.model import Consent, ConsentState, FactsReport, FetchResult, Grant, Outcome
from onething.intake.model import KnownFacts, Plan, PrefillValue
from onething.logging import mask

FETCH_ACTION = "exchange.fetch"


def _settings() -> Any:
    from onething.config import get_settings

    return get_settings()


def subject_ref(session: Session, subject: str, consent: Consent | None) -> str:
    """Whose data this is, for the data-use view: the consenting user, else the registered user with that
    resident ID / USCC, else a keyed pseudonym (the identifier itself never goes on the chain)."""
    if consent is not None:
        return f"user:{consent.subject_user_id}"
    user_id = session.scalar(select(User.id).where(or_(User.id_number == subject, User.uscc == subject)))
    if user_id is not None:
        return f"user:{user_id}"
    key = _settings().resolved_secret_key().encode()  # never a public constant (ONETHING_SECRET_KEY, or the demo's)
    return "key:" + hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()[:40]


def _check_actor(actor: Actor, consumer: str, subject: str) -> None:
    if actor.role in (Role.staff, Role.dept_admin):
        if actor.department != consumer:
            raise ActorNotAllowed("只能为本部门的职责调用数据")
        return
    if actor.role is Role.applicant:
        if subject not in {actor.id_number, actor.uscc}:
            raise ActorNotAllowed("申请人只能调用本人的数据")
        return
    raise ActorNotAllowed(f"角色 {actor.role.value} 不能调用共享数据")


def _check_right(session: Session, catalog: Catalog, resource: Resource, consumer: str, procedure: str,
                 fields: Sequence[str], now: datetime) -> tuple[str, Grant | None]:
    if resource.holder == consumer:
        return "holder", None
    if resource.sharing is Sharing.unconditional:
        if implicit_right(catalog, resource, consumer, procedure):
            return "unconditional", None
        raise GrantRequired(f"事项 {procedure} 未声明由{resource.name}证明的材料，须申请共享")
    grant = covering_grant(session, resource.id, consumer, procedure, fields, now)
    if grant is None:
        if fields and _grants_for(session, resource.id, consumer, procedure, now):
            raise OutOfScope("所请求的字段超出共享授权的范围")
        raise GrantRequired(f"本部门没有覆盖事项 {procedure} 的有效共享授权")
    return "grant", grant


def _check_consent(consent: Consent | None, *, actor: Actor, resource: Resource, fields: Sequence[str],
                   procedure: str, application_ref: str | None, now: datetime) -> None:
    if consent is None:
        raise ConsentRequired("个人信息须经本人同意：未提供有效的授权")
    state = consent.state(now)
    if state is ConsentState.revoked:
        raise ConsentRequired("本人已撤回授权")
    if state is ConsentState.expired:
        raise ConsentRequired("授权已过期")
    if application_ref != consent.application_ref:
        raise ConsentRequired("授权不属于该办件")
    if actor.role is Role.applicant and consent.subject_user_id != actor.user_id:
        raise ConsentRequired("授权不属于该申请人")
    if resource.id not in consent.resources:
        raise ConsentRequired(f"授权未包含{resource.name}")
    if procedure not in consent.procedures:
        raise ConsentRequired(f"授权的用途未包含事项 {procedure}")
    if not set(fields) <= set(consent.fields):
        raise ConsentRequired("授权未包含所请求的全部字段")


def fetch(session: Session, catalog: Catalog, actor: Actor, *, consumer: str, subject: str, resource: str,
          fields: Sequence[str], purpose: str, application_ref: str | None, consent_id: str | None,
          now: datetime, providers: Any = None) -> FetchResult:
    """Fetch ``fields`` of ``subject``'s record in ``resource`` for ``consumer``'s procedure ``purpose``.

    Raises a ``FetchRefused`` (after appending the refusal) or ``ProviderUnavailable`` (after appending that).
    """
    from onething.exchange.providers import Providers

    target = resource_of(catalog, resource)
    fields = list(dict.fromkeys(fields))
    consent = get_consent(session, consent_id) if consent_id else None
    record: dict[str, Any] = {
        "resource": target.id, "holder": target.holder, "fields": fields, "purpose": purpose,
        "consent_id": consent_id, "grant_id": None, "basis": None, "subject": mask(subject),
    }

    def note(outcome: Outcome, reason: str | None, detail: str | None = None, **extra: Any) -> int:
        (entry_id,) = append_many(session, [{
            "actor": actor, "action": f"{FETCH_ACTION}.{outcome.value}", "subject_type": "data_subject",
            "subject_id": subject_ref(session, subject, consent), "application_id": application_ref,
            "department": consumer,
            "data": {**record, "outcome": outcome.value, "reason": reason, "detail": detail, **extra},
        }], now)
        return entry_id

    try:
        if not fields or not set(fields) <= set(target.fields):
            outside = ", ".join(sorted(set(fields) - set(target.fields))) or "（空）"
            raise OutOfScope(f"{target.name}不含字段：{outside}")
        _check_actor(actor, consumer, subject)
        if target.sharing is Sharing.none:
            raise NotShared(f"{target.name}不予共享（{target.legal_basis}）")
        procedure = catalog.procedures.get(purpose)
        if procedure is None or procedure.department != consumer:
            raise PurposeNotAllowed(f"用途须为本部门的政务服务事项，“{purpose}”不是")
        basis, grant = _check_right(session, catalog, target, consumer, purpose, fields, now)
        record.update(basis=basis, grant_id=grant.id if grant else None)
        if target.personal:
            _check_consent(consent, actor=actor, resource=target, fields=fields, procedure=purpose,
                           application_ref=application_ref, now=now)
    except FetchRefused as refusal:
        note(Outcome.refused, refusal.reason, refusal.detail)
        raise
    directory = providers if providers is not None else Providers.from_settings()
    try:
        values = directory.for_resource(session, target).fetch(target, subject, fields)
    except ProviderUnavailable as exc:
        note(Outcome.unavailable, exc.reason, exc.detail)
        raise
    entry_id = note(Outcome.served, None, found=bool(values), served_fields=sorted(values))
    return FetchResult(resource=target.id, holder=target.holder, fetched_at=now, values=values, found=bool(values),
                       audit_entry_id=entry_id, consent_id=consent_id, grant_id=record["grant_id"])


def checked_fetch(engine: Engine, catalog: Catalog, actor: Actor, **kwargs: Any) -> FetchResult:
    """``fetch`` in its own transaction that keeps the refusal on record: it commits, then re-raises."""
    error: Exception | None = None
    with session_scope(engine) as session:
        try:
            result = fetch(session, catalog, actor, **kwargs)
        except (FetchRefused, ProviderUnavailable) as exc:
            error = exc
    if error is not None:
        raise error
    return result


def _choose_consumer(session: Session, catalog: Catalog, resource: Resource, procedures: set[str],
                     fields: list[str], now: datetime) -> tuple[str, str, list[str]] | None:
    """The first procedure (by id) whose department has the right to the resource, and the fields it may ask."""
    for procedure_id in sorted(procedures):
        procedure = catalog.procedures.get(procedure_id)
        if procedure is None:
            continue
        consumer = procedure.department
        if resource.holder == consumer or implicit_right(catalog, resource, consumer, procedure_id):
            return consumer, procedure_id, fields
        if resource.sharing is not Sharing.conditional:
            continue
        for grant in _grants_for(session, resource.id, consumer, procedure_id, now):
            allowed = [f for f in fields if f in grant.fields]
            if allowed:
                return consumer, procedure_id, allowed
    return None


def _grants_for(session: Session, resource: str, consumer: str, procedure: str, now: datetime) -> list[Grant]:
    from onething.exchange.grants import grants_of

    return [g for g in grants_of(session, consumer, now) if g.resource == resource and procedure in g.procedures]


def collect_facts(session: Session, catalog: Catalog, actor: Actor, *, subject: str, plan: Plan,
                  application_ref: str | None, consent_id: str | None, now: datetime,
                  providers: Any = None) -> tuple[KnownFacts, FactsReport]:
    """Fetch everything the plan can use, each through ``fetch``; what fails falls back to upload."""
    report = FactsReport()
    consent = get_consent(session, consent_id) if consent_id else None
    values: dict[str, PrefillValue] = {}
    proven: set[str] = set()
    for resource_id, (procedures, wanted) in sorted(resource_needs(catalog, plan).items()):
        resource = catalog.resources[resource_id]
        fields = [f for f in resource.fields if f in wanted]
        if resource.personal:
            if consent is None or resource_id not in consent.resources:
                report.refused[resource_id] = "consent"
                continue
            fields = [f for f in fields if f in consent.fields]
            procedures = {p for p in procedures if p in consent.procedures}
        choice = _choose_consumer(session, catalog, resource, procedures, fields, now)
        if choice is None or not choice[2]:
            report.refused[resource_id] = "no_grant"
            continue
        consumer, procedure_id, allowed = choice
        try:
            result = fetch(session, catalog, actor, consumer=consumer, subject=subject, resource=resource_id,
                           fields=allowed, purpose=procedure_id, application_ref=application_ref,
                           consent_id=consent_id, now=now, providers=providers)
        except FetchRefused as refusal:
            report.refused[resource_id] = refusal.reason
            continue
        except ProviderUnavailable as exc:
            report.unavailable[resource_id] = exc.detail
            continue
        report.served[resource_id] = result
        if not result.found:
            continue
        proven.add(resource_id)
        for field_id, value in result.values.items():
            values.setdefault(field_id, PrefillValue(value=value, resource=resource_id, holder=resource.holder,
                                                     fetched_at=now.isoformat()))
    return KnownFacts(resources=frozenset(proven), values=values), report


def facts_for(session: Session, catalog: Catalog, actor: Actor, *, subject: str, plan: Plan,
              application_ref: str | None, consent_id: str | None, now: datetime,
              providers: Any = None) -> KnownFacts:
    """The single interface cases calls during intake: known facts for prefill and exemptions.

    Never raises for a refused or unavailable resource: that resource is simply not known, so its fields stay
    open and its materials are to be uploaded (the degraded path; submission is never blocked).
    """
    facts, _ = collect_facts(session, catalog, actor, subject=subject, plan=plan, application_ref=application_ref,
                             consent_id=consent_id, now=now, providers=providers)
    return facts
