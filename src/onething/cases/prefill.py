"""Prefill and exemptions from shared data (数据共享 → 预填、免提交): the cases side of the exchange interface.

An apply session gets an opaque application reference (``new_ref``). Before anything is fetched the applicant
sees exactly what a consent would cover (``consent_offer``: resources, holders, fields, purpose, expiry) and
agrees (``consent_to_prefill``) or not. With a consent, ``prefill`` fetches through ``exchange.api`` — every
fetch checked and on the audit chain, committed even when refused — and plans again with the facts: fields
filled from data are locked (unless the applicant reported an error in that data), materials proven by data
are exempt. A holder that does not answer only means its fields stay open and its materials are uploaded.

The facts are fetched once per draft (reference + consent) and kept on the consent row, so re-rendering the
form (a validation error, a changed answer that needs no new resource) asks no holder again and adds nothing
to the person's 谁用了我的数据; each real fetch is still on the audit chain. A draft's consent ends
``consent_draft_idle_hours`` after the applicant's last activity unless the draft is submitted.

Submission calls ``prefill`` again for the application's reference and consent: nothing the client sends about
prefill or exemptions is trusted (the cached facts are the server's own). ``Prefilled.proofs`` is what the
application records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from onething.accounts.api import Actor
from onething.cases.errors import Invalid
from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.exchange import api as exchange
from onething.intake import plan as make_plan
from onething.intake.model import Plan, PrefillValue
from onething.workdays import CHINA_TIME, calendar_for

MAX_REF = 36


def _after_close_days() -> int:
    from onething.config import get_settings

    return int(get_settings().consent_after_close_days)


def _draft_idle() -> timedelta:
    from onething.config import get_settings

    return timedelta(hours=int(get_settings().consent_draft_idle_hours))


def new_ref() -> str:
    """A fresh opaque application reference for one apply session (the exchange's ``application_ref``)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ConsentOffer:
    """What the consent panel shows: the proposal (resources, holders, fields, purpose) and the expiry."""

    proposal: exchange.ConsentProposal
    expires_at: datetime


def consent_expiry(catalog: Catalog, plan: Plan, now: datetime) -> datetime:
    """Until the promised completion date + ``consent_after_close_days``; closing the application shortens it."""
    due = calendar_for(catalog.calendar).add_working_days(now, plan.promised_days)
    return datetime.combine(due, time(23, 59), CHINA_TIME) + timedelta(days=_after_close_days())


def consent_offer(catalog: Catalog, plan: Plan, now: datetime, actor: Actor) -> ConsentOffer | None:
    """The consent the plan would need, or None when no personal data could fill or prove anything.

    Only a person consents to the use of personal data about themselves: an enterprise account (no resident
    ID) is offered nothing, and its form stays as it was.
    """
    if actor.id_number is None:
        return None
    proposal = exchange.propose_consent(catalog, plan)
    if not proposal.items:
        return None
    return ConsentOffer(proposal=proposal, expires_at=consent_expiry(catalog, plan, now))


def consent_to_prefill(engine: Engine, actor: Actor, catalog: Catalog, plan: Plan, *, ref: str,
                       now: datetime) -> exchange.Consent:
    """The applicant agrees (同意) to exactly the offered consent, bound to ``ref``."""
    offer = consent_offer(catalog, plan, now, actor)
    if offer is None:
        raise Invalid([("consent", "本事项无需调用您的个人数据")])
    proposal = offer.proposal
    try:
        with session_scope(engine) as session:
            return exchange.grant_consent(session, catalog, actor, application_ref=ref, purpose=proposal.purpose,
                                          procedures=proposal.procedures, resources=proposal.resources,
                                          fields=proposal.fields, expires_at=offer.expires_at, now=now,
                                          idle_expires_at=now + _draft_idle())
    except exchange.InvalidRequest as exc:
        raise Invalid(exc.errors) from None


def own_consent(engine: Engine, actor: Actor, consent_id: str | None) -> exchange.Consent | None:
    """The actor's consent with that id (any state), else None — never another person's."""
    if not consent_id or len(consent_id) > MAX_REF:
        return None
    with session_scope(engine) as session:
        consent = exchange.get_consent(session, consent_id)
    if consent is None or consent.subject_user_id != actor.user_id:
        return None
    return consent


@dataclass(frozen=True)
class Source:
    """Where a value or a proof came from: one served fetch on the audit chain."""

    resource: str
    holder: str
    fetched_at: str
    audit_entry_id: int
    certificate: dict[str, Any] | None = None  # the applicant's own certificate that answered (电子证照复用)

    def to_json(self) -> dict[str, Any]:
        out = {"resource": self.resource, "holder": self.holder, "fetched_at": self.fetched_at,
               "audit_entry_id": self.audit_entry_id}
        if self.certificate is not None:
            out["certificate"] = dict(self.certificate)
        return out


@dataclass(frozen=True)
class Prefilled:
    """A plan computed with the facts fetched for one application reference and consent."""

    plan: Plan
    ref: str
    consent: exchange.Consent | None
    now: datetime
    sources: dict[str, Source]          # resource → the served fetch
    unavailable: dict[str, str]         # resource → its holder (department id), which did not answer
    refused: dict[str, str]             # resource → reason code
    reported: frozenset[str]            # prefilled fields the applicant reported as wrong: editable

    @property
    def locked(self) -> frozenset[str]:
        """Fields filled from shared data that the applicant may not change."""
        return frozenset(f.id for f in self.plan.form.fields if f.prefill is not None and f.id not in self.reported)

    @property
    def consent_active(self) -> bool:
        return self.consent is not None and self.consent.state(self.now) is exchange.ConsentState.active

    def proofs(self) -> dict[str, Any]:
        """What the application records: each exempt material's proof, each prefilled field's source and each
        已核验 procedure's proof (its result, already held as shared data)."""
        materials = {m.id: self.sources[m.proven_by].to_json() for m in self.plan.materials
                     if m.status == "exempt" and m.proven_by in self.sources}
        fields = {f.id: {**self.sources[f.prefill.resource].to_json(), "locked": f.id in self.locked}
                  for f in self.plan.form.fields if f.prefill is not None and f.prefill.resource in self.sources}
        procedures = {p.id: self.sources[p.verified_by].to_json() for p in self.plan.procedures
                      if p.verified_by is not None and p.verified_by in self.sources}
        return {"ref": self.ref, "consent": self.consent.id if self.consent else None, "materials": materials,
                "fields": fields, "procedures": procedures, "unavailable": dict(self.unavailable),
                "refused": dict(self.refused)}


def _reported_fields(plan: Plan, corrections: list[Any]) -> frozenset[str]:
    """Prefilled fields covered by an open data-error report (a report naming no field covers the resource)."""
    covered: set[str] = set()
    for field in plan.form.fields:
        if field.prefill is None:
            continue
        for correction in corrections:
            if correction.resource == field.prefill.resource and (not correction.fields
                                                                   or field.id in correction.fields):
                covered.add(field.id)
    return frozenset(covered)


def prefill(engine: Engine, actor: Actor, catalog: Catalog, plan: Plan, *, ref: str,
            consent: exchange.Consent | None, now: datetime, providers: Any = None) -> Prefilled:
    """Fetch what ``plan`` can use under ``consent`` for ``ref`` and plan again with those facts.

    Committed whatever each fetch's outcome, so refusals stay on record; no transaction is open while a
    holder's service is asked. Never raises
    for a refused or unavailable resource: its fields stay open and its materials are to be uploaded.
    """
    subject = actor.id_number or actor.uscc
    if consent is None or subject is None:
        return Prefilled(plan=plan, ref=ref, consent=consent, now=now, sources={}, unavailable={}, refused={},
                         reported=frozenset())
    with session_scope(engine) as session:
        exchange.touch_draft(session, consent.id, now, now + _draft_idle())
        report = exchange.cached_facts(session, consent.id, now)
    needed = set(exchange.resource_needs(catalog, plan))
    if report is not None and needed <= set(report.served) | set(report.refused) | set(report.unavailable):
        facts = _known_facts(report)   # the draft's facts, fetched once: a re-render asks no holder again
    else:
        # No transaction is open while the holders' services are asked (a slow one must not hold the audit head).
        facts, report = exchange.checked_collect_facts(engine, catalog, actor, subject=subject, plan=plan,
                                                       application_ref=ref, consent_id=consent.id, now=now,
                                                       providers=providers)
        with session_scope(engine) as session:
            exchange.remember_facts(session, consent.id, report)
    with session_scope(engine) as session:
        corrections = exchange.list_corrections(session, actor, status=exchange.CorrectionStatus.open.value)
    with_facts = make_plan(catalog, plan.thing, plan.answers, facts)
    sources = {rid: Source(resource=rid, holder=result.holder, fetched_at=result.fetched_at.isoformat(),
                           audit_entry_id=result.audit_entry_id, certificate=result.certificate)
               for rid, result in report.served.items() if result.found}
    unavailable = {rid: catalog.resources[rid].holder for rid in report.unavailable if rid in catalog.resources}
    return Prefilled(plan=with_facts, ref=ref, consent=consent, now=now, sources=sources, unavailable=unavailable,
                     refused=dict(report.refused), reported=_reported_fields(with_facts, corrections))


def _known_facts(report: exchange.FactsReport) -> exchange.KnownFacts:
    """The facts a cached report gives, exactly as the fetch that produced it gave them."""
    values: dict[str, PrefillValue] = {}
    for resource_id, result in sorted(report.served.items()):
        if not result.found:
            continue
        for field_id, value in result.values.items():
            values.setdefault(field_id, PrefillValue(value=value, resource=resource_id, holder=result.holder,
                                                     fetched_at=result.fetched_at.isoformat()))
    return exchange.KnownFacts(resources=frozenset(r for r, result in report.served.items() if result.found),
                               values=values)


def end_draft(session: Session, ref: str | None) -> None:
    """The draft was submitted (in the caller's transaction): its consent no longer idles out; cache dropped."""
    if ref:
        exchange.draft_submitted(session, ref)


def close_consents(session: Session, ref: str | None, closed_at: datetime) -> int:
    """The application closed: its consents end ``consent_after_close_days`` later (in the caller's transaction)."""
    if not ref:
        return 0
    return exchange.close_consents_for(session, ref, closed_at, after_close_days=_after_close_days())
