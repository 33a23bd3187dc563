"""The one checked fetch (数据调用) and the facts it gives intake.

``fetch`` checks, in this order: the fields exist in the resource; the actor may fetch for this department
(its own staff) or this subject (the applicant, about themselves); a consent, when one is presented, is the
data subject's own (a consent serves only the person who gave it — presented for anyone else's data, the fetch
is refused, ``consent_subject``); the resource is shared at all; the purpose is a procedure of the consuming
department; the department has the right (it holds the resource, the resource is unconditional and the
procedure declares a material it proves, or an approved unexpired grant covers the procedure and fields); for
personal data, a valid consent of this application covers resource, fields and procedure. Then it asks the
provider. Served, refused or unavailable, it appends one entry to the audit chain (never the values
themselves), always on the record of the person the data are about (``subject_ref``) — a refusal is on record
too, so a caller must commit its transaction even when it catches the refusal (``checked_fetch`` does that).

No provider is asked while the audit head is held: every fetch is decided first (reads only), the providers
are asked, and only then are the entries appended. ``checked_fetch`` and ``checked_collect_facts`` go further
and open no transaction at all around a holder's service: a slow holder (up to the provider timeout) never
makes another writer wait.

``facts_for`` is the interface cases calls during intake: it fetches what a plan can use and returns
``KnownFacts`` for the planner (prefilled fields with their source, resources proving materials).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from onething.accounts.model import Actor, Role
from onething.accounts.tables import User
from onething.audit.service import append_many
from onething.catalog.model import Catalog, Resource, Sharing
from onething.certificates.holdings import usable_certificate
from onething.db import session_scope
from onething.exchange.consents import get_consent, resource_needs
from onething.exchange.errors import (
    ActorNotAllowed,
    ConsentRequired,
    ConsentSubjectMismatch,
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
from onething.workdays import CHINA_TIME

FETCH_ACTION = "exchange.fetch"


def _settings() -> Any:
    from onething.config import get_settings

    return get_settings()


def subject_ref(session: Session, subject: str) -> str:
    """Whose data this is, for the data-use view: the registered user with that resident ID / USCC, else a keyed
    pseudonym (the identifier itself never goes on the chain). Always the person the data are about — never the
    consent's user, so that a fetch made under someone else's consent still lands on the right person's record."""
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


@dataclass
class _Attempt:
    """One fetch: checked (reads only), then answered by its provider (no transaction needed), then recorded."""

    actor: Actor
    target: Resource
    subject: str
    subject_id: str                    # whose data: the data-use record the entry lands on
    fields: list[str]
    consumer: str
    application_ref: str | None
    record: dict[str, Any]             # what goes on the chain (never the values)
    refusal: FetchRefused | None = None
    values: dict[str, Any] | None = None
    unavailable: ProviderUnavailable | None = None
    certificate: dict[str, Any] | None = None  # the issued certificate that answered (电子证照复用)

    @property
    def pending(self) -> bool:
        """Allowed and not yet answered: its provider is still to be asked."""
        return self.refusal is None and self.values is None and self.unavailable is None

    def entry(self) -> dict[str, Any]:
        """The audit entry ``append_many`` takes: served (which fields, not their values), refused or unavailable."""
        result: dict[str, Any]
        if self.refusal is not None:
            outcome, result = Outcome.refused, {"reason": self.refusal.reason, "detail": self.refusal.detail}
        elif self.unavailable is not None:
            outcome = Outcome.unavailable
            result = {"reason": self.unavailable.reason, "detail": self.unavailable.detail}
        else:
            values = self.values or {}
            outcome = Outcome.served
            result = {"reason": None, "detail": None, "found": bool(values) or self.certificate is not None,
                      "served_fields": sorted(values)}
            if self.certificate is not None:
                result["certificate"] = self.certificate  # which certificate answered: id, title, number, issuer
        return {"actor": self.actor, "action": f"{FETCH_ACTION}.{outcome.value}", "subject_type": "data_subject",
                "subject_id": self.subject_id, "application_id": self.application_ref, "department": self.consumer,
                "data": {**self.record, "outcome": outcome.value, **result}}

    def result(self, entry_id: int, now: datetime) -> FetchResult:
        """The served result, or the refusal / unavailability raised — after it is on record."""
        if self.refusal is not None:
            raise self.refusal
        if self.unavailable is not None:
            raise self.unavailable
        values = self.values or {}
        return FetchResult(resource=self.target.id, holder=self.target.holder, fetched_at=now, values=values,
                           found=bool(values) or self.certificate is not None, audit_entry_id=entry_id,
                           consent_id=self.record["consent_id"], grant_id=self.record["grant_id"],
                           certificate=self.certificate)


def _decide(session: Session, catalog: Catalog, actor: Actor, *, consumer: str, subject: str, resource: str,
            fields: Sequence[str], purpose: str, application_ref: str | None, consent_id: str | None,
            consent: Consent | None, now: datetime) -> _Attempt:
    """Every check of a fetch, reading only — nothing is written and no provider is asked here."""
    target = resource_of(catalog, resource)
    fields = list(dict.fromkeys(fields))
    attempt = _Attempt(actor=actor, target=target, subject=subject, subject_id=subject_ref(session, subject),
                       fields=fields, consumer=consumer, application_ref=application_ref, record={
                           "resource": target.id, "holder": target.holder, "fields": fields, "purpose": purpose,
                           "consent_id": None, "consent_presented": consent_id, "grant_id": None, "basis": None,
                           "subject": mask(subject)})
    try:
        if not fields or not set(fields) <= set(target.fields):
            outside = ", ".join(sorted(set(fields) - set(target.fields))) or "（空）"
            raise OutOfScope(f"{target.name}不含字段：{outside}")
        _check_actor(actor, consumer, subject)
        if consent_id is not None:
            _check_consent_subject(consent, attempt.subject_id)
            attempt.record["consent_id"] = consent_id  # the subject's own consent: shown on their data-use page
        if target.sharing is Sharing.none:
            raise NotShared(f"{target.name}不予共享（{target.legal_basis}）")
        procedure = catalog.procedures.get(purpose)
        if procedure is None or procedure.department != consumer:
            raise PurposeNotAllowed(f"用途须为本部门的政务服务事项，“{purpose}”不是")
        basis, grant = _check_right(session, catalog, target, consumer, purpose, fields, now)
        attempt.record.update(basis=basis, grant_id=grant.id if grant else None)
        if target.personal:
            _check_consent(consent, actor=actor, resource=target, fields=fields, procedure=purpose,
                           application_ref=application_ref, now=now)
    except FetchRefused as refusal:
        attempt.refusal = refusal
    return attempt


def _check_consent_subject(consent: Consent | None, owner: str) -> None:
    """A consent serves only its own data subject: presented for anyone else's data, the fetch is refused."""
    if consent is None:
        raise ConsentRequired("未提供有效的授权：没有该授权")
    if owner != f"user:{consent.subject_user_id}":
        raise ConsentSubjectMismatch("授权不属于该数据主体：一项授权只能用于调用授权人本人的数据")


def _ask(attempt: _Attempt, provider: Any) -> None:
    """Ask the provider for an allowed attempt; a holder that does not answer is noted, not raised."""
    if not attempt.pending:
        return
    try:
        attempt.values = provider.fetch(attempt.target, attempt.subject, attempt.fields)
    except ProviderUnavailable as exc:
        attempt.unavailable = exc


def _ask_certificates(session: Session, catalog: Catalog, attempts: Sequence[_Attempt], now: datetime) -> None:
    """电子证照复用: an allowed attempt on a resource that some procedure's result is served as (``result.resource``)
    is answered by the subject's own valid certificate of that procedure, when there is one — issued, signed and
    not revoked, within its dates — with the fields the certificate carries. The checks (consent, right) were
    made already; the entry names the certificate. No certificate: the holder's service is asked as usual."""
    today = now.astimezone(CHINA_TIME).date()
    for attempt in attempts:
        if not attempt.pending:
            continue
        procedures = {p.id for p in catalog.procedures.values()
                      if p.result is not None and p.result.resource == attempt.target.id}
        if not procedures:
            continue
        content = usable_certificate(session, attempt.subject, procedures, today)
        if content is None:
            continue
        attempt.values = {name: content.fields[name] for name in attempt.fields if name in content.fields}
        attempt.certificate = {"id": content.id, "title": content.title, "number": content.number,
                               "issuer": content.issuer_department}


def _ask_local(session: Session, directory: Any, attempts: Sequence[_Attempt]) -> list[tuple[_Attempt, Any]]:
    """Answer from the built-in registries now (a read in ``session``); return the rest, which go over the
    network, with their providers — to be asked with no transaction open."""
    from onething.exchange.providers import BuiltinProvider

    remote = []
    for attempt in attempts:
        if not attempt.pending:
            continue
        provider = directory.for_resource(session, attempt.target)
        if isinstance(provider, BuiltinProvider):
            _ask(attempt, provider)
        else:
            remote.append((attempt, provider))
    return remote


def _record(session: Session, attempts: Sequence[_Attempt], now: datetime) -> list[int]:
    """Every attempt on the chain in one append (the head is locked from here until the caller commits)."""
    if not attempts:
        return []
    return append_many(session, [attempt.entry() for attempt in attempts], now)


def _directory(providers: Any) -> Any:
    from onething.exchange.providers import Providers

    return providers if providers is not None else Providers.from_settings()


def fetch(session: Session, catalog: Catalog, actor: Actor, *, consumer: str, subject: str, resource: str,
          fields: Sequence[str], purpose: str, application_ref: str | None, consent_id: str | None,
          now: datetime, providers: Any = None) -> FetchResult:
    """Fetch ``fields`` of ``subject``'s record in ``resource`` for ``consumer``'s procedure ``purpose``, in the
    caller's transaction: checks (reads), then the provider, then one audit append — so this fetch holds the
    audit head only after its provider answered. Prefer ``checked_fetch``, which opens no transaction around
    the provider at all.

    Raises a ``FetchRefused`` (after appending the refusal) or ``ProviderUnavailable`` (after appending that).
    """
    directory = _directory(providers)
    consent = get_consent(session, consent_id) if consent_id else None
    attempt = _decide(session, catalog, actor, consumer=consumer, subject=subject, resource=resource, fields=fields,
                      purpose=purpose, application_ref=application_ref, consent_id=consent_id, consent=consent,
                      now=now)
    _ask_certificates(session, catalog, [attempt], now)
    if attempt.pending:
        _ask(attempt, directory.for_resource(session, attempt.target))
    (entry_id,) = _record(session, [attempt], now)
    return attempt.result(entry_id, now)


def checked_fetch(engine: Engine, catalog: Catalog, actor: Actor, *, now: datetime, providers: Any = None,
                  **kwargs: Any) -> FetchResult:
    """``fetch`` that keeps the refusal on record, with no transaction open while a holder's service is asked:
    the checks (and a built-in registry's answer) in one short transaction, then the provider over the network,
    then the audit entry in one short write transaction, committed; a refusal or unavailability is raised after
    that commit. When nothing goes over the network (refused, or a built-in registry), the entry is appended in
    the first transaction."""
    directory = _directory(providers)
    with session_scope(engine) as session:
        consent_id = kwargs.get("consent_id")
        consent = get_consent(session, consent_id) if consent_id else None
        attempt = _decide(session, catalog, actor, consent=consent, now=now, **kwargs)
        _ask_certificates(session, catalog, [attempt], now)
        remote = _ask_local(session, directory, [attempt])
        if not remote:  # refused, or answered by a built-in registry: nothing goes over the network
            (entry_id,) = _record(session, [attempt], now)
    if remote:
        for pending, provider in remote:
            _ask(pending, provider)
        with session_scope(engine) as session:
            (entry_id,) = _record(session, [attempt], now)
    return attempt.result(entry_id, now)


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


def _plan_facts(session: Session, catalog: Catalog, actor: Actor, *, subject: str, plan: Plan,
                application_ref: str | None, consent_id: str | None, now: datetime,
                report: FactsReport) -> list[tuple[str, _Attempt]]:
    """Decide every fetch the plan can use (reads only); what cannot even be tried goes straight to ``report``."""
    consent = get_consent(session, consent_id) if consent_id else None
    attempts = []
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
        attempts.append((resource_id, _decide(
            session, catalog, actor, consumer=consumer, subject=subject, resource=resource_id, fields=allowed,
            purpose=procedure_id, application_ref=application_ref, consent_id=consent_id, consent=consent, now=now)))
    return attempts


def _facts(catalog: Catalog, attempts: Sequence[tuple[str, _Attempt]], entry_ids: Sequence[int], now: datetime,
           report: FactsReport) -> KnownFacts:
    values: dict[str, PrefillValue] = {}
    proven: set[str] = set()
    for (resource_id, attempt), entry_id in zip(attempts, entry_ids, strict=True):
        if attempt.refusal is not None:
            report.refused[resource_id] = attempt.refusal.reason
            continue
        if attempt.unavailable is not None:
            report.unavailable[resource_id] = attempt.unavailable.detail
            continue
        result = attempt.result(entry_id, now)
        report.served[resource_id] = result
        if not result.found:
            continue
        proven.add(resource_id)
        holder = catalog.resources[resource_id].holder
        for field_id, value in result.values.items():
            values.setdefault(field_id, PrefillValue(value=value, resource=resource_id, holder=holder,
                                                     fetched_at=now.isoformat()))
    return KnownFacts(resources=frozenset(proven), values=values)


def collect_facts(session: Session, catalog: Catalog, actor: Actor, *, subject: str, plan: Plan,
                  application_ref: str | None, consent_id: str | None, now: datetime,
                  providers: Any = None) -> tuple[KnownFacts, FactsReport]:
    """Fetch everything the plan can use, in the caller's transaction; what fails falls back to upload.

    All fetches are checked first and all providers asked before the one audit append of every attempt, so
    no provider is asked while this holds the audit head. Outside a transaction, ``checked_collect_facts``
    (what cases uses) does better: no transaction at all is open while a holder's service is asked.
    """
    report = FactsReport()
    attempts = _plan_facts(session, catalog, actor, subject=subject, plan=plan, application_ref=application_ref,
                           consent_id=consent_id, now=now, report=report)
    directory = _directory(providers)
    _ask_certificates(session, catalog, [attempt for _, attempt in attempts], now)
    for _, attempt in attempts:
        if attempt.pending:
            _ask(attempt, directory.for_resource(session, attempt.target))
    entry_ids = _record(session, [attempt for _, attempt in attempts], now)
    return _facts(catalog, attempts, entry_ids, now, report), report


def checked_collect_facts(engine: Engine, catalog: Catalog, actor: Actor, *, subject: str, plan: Plan,
                          application_ref: str | None, consent_id: str | None, now: datetime,
                          providers: Any = None) -> tuple[KnownFacts, FactsReport]:
    """``collect_facts`` in three steps, committed: check every fetch (and answer those the built-in registries
    hold) in one short read transaction; ask the holders' services over the network with no transaction open;
    then put every attempt — served, refused or unavailable, never the values — on the chain in one short
    write transaction. A slow holder therefore never holds the audit head, so no other writer waits for it."""
    report = FactsReport()
    directory = _directory(providers)
    with session_scope(engine) as session:
        attempts = _plan_facts(session, catalog, actor, subject=subject, plan=plan,
                               application_ref=application_ref, consent_id=consent_id, now=now, report=report)
        _ask_certificates(session, catalog, [attempt for _, attempt in attempts], now)
        remote = _ask_local(session, directory, [attempt for _, attempt in attempts])
        if not remote:  # nothing goes over the network: record in this same short transaction
            entry_ids = _record(session, [attempt for _, attempt in attempts], now)
    if remote:
        for attempt, provider in remote:
            _ask(attempt, provider)
        with session_scope(engine) as session:
            entry_ids = _record(session, [attempt for _, attempt in attempts], now)
    return _facts(catalog, attempts, entry_ids, now, report), report


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
