"""Consent (授权同意): the data subject's agreement that named departments fetch named fields of named
resources for one application and purpose — a consent artefact in the DEPA sense.

Before agreeing, the applicant sees exactly what it covers (``propose_consent``: resources, holders, fields,
the procedures that use them). A consent expires at ``expires_at``, which the caller (cases) sets; when the
application closes, ``close_consents_for`` shortens it to the closing time + ``consent_after_close_days``. A
revoked or expired consent stops every later fetch at once (``fetch`` checks it on every call).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Table, select
from sqlalchemy.orm import Session

from onething.accounts.assurance import ACTIONS, require_assurance
from onething.accounts.errors import NotFound
from onething.accounts.model import SYSTEM, Actor, Role
from onething.accounts.permissions import authorize
from onething.audit.service import append
from onething.catalog.model import Catalog, Sharing
from onething.exchange.errors import InvalidRequest, InvalidTransition
from onething.exchange.model import Consent, ConsentItem, ConsentProposal, ConsentState, FactsReport, FetchResult
from onething.exchange.tables import ConsentRow
from onething.intake.model import Plan

MAX_REF = 36


def to_consent(row: ConsentRow | Row[Any]) -> Consent:
    return Consent(id=row.id, subject_user_id=row.subject_user_id, application_ref=row.application_ref,
                   purpose=row.purpose, procedures=tuple(row.procedures), resources=tuple(row.resources),
                   fields=tuple(row.fields), granted_at=row.granted_at, expires_at=row.expires_at,
                   revoked_at=row.revoked_at, idle_expires_at=row.idle_expires_at)


def resource_needs(catalog: Catalog, plan: Plan) -> dict[str, tuple[set[str], set[str]]]:
    """For each shared resource a plan would use: (procedures that need it, form fields it would fill).

    Every resource that proves a planned material is used. For the form's remaining fields, resources held by
    a department taking part in the thing are added greedily — the one filling most still-open fields first,
    personal data first for an individual's thing (enterprise data first for an enterprise's) — so that no
    more data is asked for than the form needs.
    """
    form_fields = {f.id: f for f in plan.form.fields}
    thing = catalog.things.get(plan.thing)
    individual = thing is None or thing.audience.value == "individual"
    shared = {rid: r for rid, r in catalog.resources.items() if r.sharing is not Sharing.none}
    needs: dict[str, tuple[set[str], set[str]]] = {}

    def use(resource_id: str, procedures: set[str]) -> None:
        fills = {f for f in shared[resource_id].fields if f in form_fields}
        for field_id in fills:
            procedures = procedures | set(form_fields[field_id].procedures)
        needs[resource_id] = (procedures, fills or set(shared[resource_id].fields))

    for material in plan.materials:
        for resource_id in material.can_be_proven_by:
            if resource_id in shared:
                use(resource_id, needs.get(resource_id, (set(), set()))[0] | set(material.procedures))
    open_fields = set(form_fields) - {f for _, fills in needs.values() for f in fills}
    taking_part = {p.department for p in plan.procedures}
    while open_fields:
        candidates = [(len(open_fields & set(r.fields)), r.personal == individual, rid)
                      for rid, r in shared.items()
                      if rid not in needs and r.holder in taking_part and open_fields & set(r.fields)]
        if not candidates:
            break
        _, _, best = max(candidates, key=lambda c: (c[0], c[1], [-ord(ch) for ch in c[2]]))
        use(best, set())
        open_fields -= set(shared[best].fields)
    return needs


def propose_consent(catalog: Catalog, plan: Plan, purpose: str | None = None) -> ConsentProposal:
    """What the applicant is asked to agree to: each personal resource the plan could use, with its holder,
    the fields and the procedures — nothing is fetched before they agree."""
    items = []
    for resource_id, (procedures, fields) in sorted(resource_needs(catalog, plan).items()):
        resource = catalog.resources[resource_id]
        if not resource.personal:
            continue
        holder = catalog.departments.get(resource.holder)
        ordered = tuple(f for f in resource.fields if f in fields)
        items.append(ConsentItem(
            resource=resource.id, resource_name=resource.name, holder=resource.holder,
            holder_name=holder.name if holder else resource.holder, fields=ordered,
            field_labels=tuple(catalog.fields[f].label if f in catalog.fields else f for f in ordered),
            procedures=tuple(sorted(procedures))))
    return ConsentProposal(purpose=purpose or f"办理{plan.thing_name}“一件事”", items=tuple(items))


def grant_consent(session: Session, catalog: Catalog, actor: Actor, *, application_ref: str, purpose: str,
                  procedures: Sequence[str], resources: Sequence[str], fields: Sequence[str],
                  expires_at: datetime, now: datetime, idle_expires_at: datetime | None = None) -> Consent:
    """The applicant consents (同意授权) for one application and purpose.

    ``idle_expires_at``: the consent is for a draft not yet submitted; it ends then unless the applicant keeps
    working on it (``touch_draft``) or submits it (``draft_submitted``)."""
    if actor.role is not Role.applicant:
        raise InvalidRequest([("actor", "仅数据主体（申请人）本人可以授权")])
    authorize(actor, "application:submit")
    require_assurance(actor.assurance, ACTIONS["consent:grant"], "consent:grant")
    errors: list[tuple[str, str]] = []
    application_ref = (application_ref or "").strip()
    if not 1 <= len(application_ref) <= MAX_REF:
        errors.append(("application_ref", f"办件编号为 1–{MAX_REF} 个字符"))
    purpose = (purpose or "").strip()
    if not purpose or len(purpose) > 500:
        errors.append(("purpose", "请说明用途（不超过 500 个字符）"))
    if not resources:
        errors.append(("resources", "请至少选择一项数据资源"))
    allowed_fields: set[str] = set()
    for resource_id in resources:
        resource = catalog.resources.get(resource_id)
        if resource is None:
            errors.append(("resources", f"没有数据资源“{resource_id}”"))
        elif resource.sharing is Sharing.none:
            errors.append(("resources", f"{resource.name}不予共享，不能授权"))
        else:
            allowed_fields.update(resource.fields)
    outside = sorted(set(fields) - allowed_fields)
    if not fields:
        errors.append(("fields", "请至少选择一个字段"))
    elif outside:
        errors.append(("fields", f"所选资源不含字段：{', '.join(outside)}"))
    unknown = sorted(p for p in procedures if p not in catalog.procedures)
    if not procedures or unknown:
        suffix = f"（未知：{', '.join(unknown)}）" if unknown else ""
        errors.append(("procedures", "请列出使用数据的政务服务事项" + suffix))
    if expires_at.tzinfo is None or expires_at <= now:
        errors.append(("expires_at", "有效期须晚于当前时间"))
    if errors:
        raise InvalidRequest(errors)
    row = ConsentRow(id=str(uuid.uuid4()), subject_user_id=actor.user_id, application_ref=application_ref,
                     purpose=purpose, procedures=sorted(set(procedures)), resources=sorted(set(resources)),
                     fields=sorted(set(fields)), granted_at=now, expires_at=expires_at,
                     idle_expires_at=idle_expires_at)
    session.add(row)
    session.flush()
    consent = to_consent(row)
    append(session, actor, "exchange.consent.granted", "consent", row.id, now=now, application_id=application_ref,
           after=consent.to_json(now))
    return consent


def _own_row(session: Session, actor: Actor, consent_id: str) -> ConsentRow:
    row = session.execute(select(ConsentRow).where(ConsentRow.id == consent_id).with_for_update()).scalar_one_or_none()
    if row is None or row.subject_user_id != actor.user_id:
        raise NotFound("consent", consent_id)
    return row


def revoke_consent(session: Session, actor: Actor, consent_id: str, now: datetime) -> Consent:
    """The data subject withdraws consent (撤回授权); every later fetch under it is refused at once."""
    row = _own_row(session, actor, consent_id)
    if row.revoked_at is not None:
        raise InvalidTransition(f"consent {consent_id} is already revoked")
    before = to_consent(row).state(now).value
    row.revoked_at = now
    row.facts_cache = None  # the draft's fetched values go with the consent
    session.flush()
    append(session, actor, "exchange.consent.revoked", "consent", row.id, now=now,
           application_id=row.application_ref, before={"state": before}, after={"state": "revoked"})
    return to_consent(row)


def close_consents_for(session: Session, application_ref: str, closed_at: datetime, *, after_close_days: int,
                       actor: Actor = SYSTEM) -> int:
    """The application closed: its consents now end ``after_close_days`` days later (or earlier, if they
    already did). Called by cases when an application is completed, rejected or withdrawn. Returns how many
    consents changed."""
    until = closed_at + timedelta(days=after_close_days)
    rows = session.execute(select(ConsentRow).where(ConsentRow.application_ref == application_ref,
                                                    ConsentRow.revoked_at.is_(None)).with_for_update()).scalars()
    changed = 0
    for row in rows:
        if row.expires_at <= until:
            continue
        before = row.expires_at
        row.expires_at = until
        changed += 1
        append(session, actor, "exchange.consent.closed", "consent", row.id, now=closed_at,
               application_id=application_ref, before={"expires_at": before.isoformat()},
               after={"expires_at": until.isoformat()})
    session.flush()
    return changed


_CONSENTS: Table = ConsentRow.__table__  # type: ignore[assignment]


def get_consent(session: Session, consent_id: str) -> Consent | None:
    """The consent as stored now. Read with Core on the session's connection, not through the identity map:
    it is on every checked fetch's path, and a consent revoked a moment ago must be seen as revoked."""
    session.flush()  # what this session changed is seen, as an ORM query would autoflush it
    row = session.connection().execute(select(_CONSENTS).where(_CONSENTS.c.id == consent_id)).one_or_none()
    return to_consent(row) if row is not None else None


def consents_of(session: Session, actor: Actor, now: datetime, *, state: ConsentState | None = None) -> list[Consent]:
    """The signed-in subject's consents, newest first."""
    rows = session.execute(select(ConsentRow).where(ConsentRow.subject_user_id == actor.user_id)
                           .order_by(ConsentRow.granted_at.desc())).scalars()
    consents = [to_consent(row) for row in rows]
    return [c for c in consents if state is None or c.state(now) is state]


# --- a draft's facts, fetched once (cases' apply form re-renders many times) ---------------------------------


def _result_json(result: FetchResult) -> dict[str, Any]:
    return {"resource": result.resource, "holder": result.holder, "fetched_at": result.fetched_at.isoformat(),
            "values": result.values, "found": result.found, "audit_entry_id": result.audit_entry_id,
            "consent_id": result.consent_id, "grant_id": result.grant_id, "certificate": result.certificate}


def _result(data: dict[str, Any]) -> FetchResult:
    return FetchResult(resource=data["resource"], holder=data["holder"],
                       fetched_at=datetime.fromisoformat(data["fetched_at"]), values=dict(data["values"]),
                       found=bool(data["found"]), audit_entry_id=int(data["audit_entry_id"]),
                       consent_id=data.get("consent_id"), grant_id=data.get("grant_id"),
                       certificate=data.get("certificate"))


def cached_facts(session: Session, consent_id: str, now: datetime) -> FactsReport | None:
    """The facts fetched earlier for this consent's draft, while the consent is active and not yet submitted."""
    row = session.get(ConsentRow, consent_id)
    if row is None or row.facts_cache is None or to_consent(row).state(now) is not ConsentState.active:
        return None
    data = row.facts_cache
    return FactsReport(served={rid: _result(r) for rid, r in data.get("served", {}).items()},
                       refused=dict(data.get("refused", {})), unavailable=dict(data.get("unavailable", {})))


def remember_facts(session: Session, consent_id: str, report: FactsReport) -> None:
    """Keep what one real (audited) fetch returned, for the draft's later re-renders."""
    row = session.get(ConsentRow, consent_id)
    if row is None:
        return
    row.facts_cache = {"served": {rid: _result_json(r) for rid, r in report.served.items()},
                       "refused": dict(report.refused), "unavailable": dict(report.unavailable)}
    session.flush()


def touch_draft(session: Session, consent_id: str, now: datetime, idle_until: datetime) -> None:
    """The applicant is still working on the draft: its consent lasts until ``idle_until`` unless submitted.

    Only a draft's consent moves (``idle_expires_at`` set at grant; NULL once submitted, see
    ``draft_submitted``); an ended consent stays ended."""
    row = session.get(ConsentRow, consent_id)
    if row is None or row.idle_expires_at is None or to_consent(row).state(now) is not ConsentState.active:
        return
    if row.idle_expires_at < idle_until:
        row.idle_expires_at = idle_until
        session.flush()


def draft_submitted(session: Session, application_ref: str) -> None:
    """The draft became an application: its consents no longer idle-expire, and the cached values go."""
    for row in session.execute(select(ConsentRow).where(ConsentRow.application_ref == application_ref)).scalars():
        row.idle_expires_at = None
        row.facts_cache = None
    session.flush()
