"""Case services (办件服务): one function per user action, each one transaction — all or nothing.

Each action checks permission (``accounts.authorize``), changes state only through the transition tables
of ``cases.model``, and writes its audit entries and outbox events in the same transaction (``Changes``).
Time is the ``now`` passed in; working days come from ``onething.workdays`` with the catalog's calendar.

Concurrency: every change to an application first bumps the application's ``version`` with an ``UPDATE``.
That row lock (PostgreSQL) or write lock (SQLite) serialises all changes to one application, so two
departments approving its last two tasks at once cannot both miss its completion; tasks are then read fresh
and their ``version`` is compared with the client's ``If-Match``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onething.accounts.api import Actor, NotFound, authorize, require_assurance
from onething.cases import prefill as shared_data
from onething.cases.dispatch import checked_delivery
from onething.cases.errors import Conflict, Invalid, PreconditionFailed, PreconditionRequired
from onething.cases.events import Changes
from onething.cases.model import (
    ApplicationStatus,
    DecisionKind,
    TaskStatus,
    decide,
    ready_successors,
    transition,
)
from onething.cases.numbers import next_number
from onething.cases.records import (
    cancel_open_work,
    departments_of,
    files_of,
    follow_tasks,
    full_view,
    lock_application,
    make_ready,
    plan_of,
    set_task_status,
    snapshot,
    supplements_of,
    tasks_of,
    visible_task,
)
from onething.cases.tables import ApplicationRow, SupplementRow, TaskRow
from onething.cases.validation import check_value, validate_form
from onething.cases.views import application_view, task_view
from onething.catalog.errors import UnknownThing
from onething.catalog.model import Catalog, Thing
from onething.catalog.regions import resolve as resolve_region
from onething.certificates import api as certificates
from onething.db import session_scope
from onething.delegations import api as delegations
from onething.delivery.sms import sms_enabled
from onething.intake import IntakeError, coerce_answers
from onething.intake import plan as make_plan
from onething.intake.model import FormField, Plan
from onething.workdays import WorkdayCalendar, calendar_for

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
CLOSED = frozenset({ApplicationStatus.completed.value, ApplicationStatus.rejected.value,
                    ApplicationStatus.withdrawn.value})


@dataclass(frozen=True)
class Decision:
    """A department's decision on a task (审批决定), as the API receives it."""

    kind: DecisionKind
    result: Mapping[str, Any] | None = None
    reason: str | None = None
    fields: Sequence[str] = field(default_factory=tuple)
    materials: Sequence[str] = field(default_factory=tuple)
    # approve: the values of the fields the procedure produces (``produces``; 出生登记 → the child's 公民身份号码)
    produced: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submitted:
    """The application a submission produced; ``created`` is False when an earlier identical one answered."""

    application: dict[str, Any]
    created: bool


# --- shared helpers -------------------------------------------------------------------------------------


def request_hash(thing: str, answers: Mapping[str, Any], form: Mapping[str, Any],
                 data: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of the canonical submission body: what "the same body" means for idempotency. ``data`` (the
    consent and application reference, when given) is part of the body; without it the hash is unchanged."""
    body: dict[str, Any] = {"thing": thing, "answers": answers, "form": form}
    if data:
        body["data"] = data
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- submission -----------------------------------------------------------------------------------------


PLAN_CACHE_SIZE = 512
_plan_cache: OrderedDict[tuple[int, str, str], tuple[Catalog, Plan]] = OrderedDict()
_plan_cache_lock = threading.Lock()


def _cached_plan(catalog: Catalog, thing_def: Thing, answers: Mapping[str, Any]) -> Plan:
    """``plan(catalog, thing, coerce_answers(thing, answers))`` — with no known facts, so the planner (pure)
    gives the same Plan for the same catalog, thing and answers: an LRU of the last ``PLAN_CACHE_SIZE``.

    Keyed by the catalog object (held by the entry and compared by identity, so a reloaded catalog never
    meets another's plans), the thing's code and the canonical JSON of the raw answers. Answers that are not
    plain JSON, and answers the intake refuses (IntakeError), are never cached. A Plan is frozen: shared.
    """
    try:
        canonical = json.dumps(answers, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return make_plan(catalog, thing_def, coerce_answers(thing_def, answers))
    key = (id(catalog), thing_def.code, canonical)
    with _plan_cache_lock:
        hit = _plan_cache.get(key)
        if hit is not None and hit[0] is catalog:
            _plan_cache.move_to_end(key)
            return hit[1]
    computed = make_plan(catalog, thing_def, coerce_answers(thing_def, answers))
    with _plan_cache_lock:
        _plan_cache[key] = (catalog, computed)
        _plan_cache.move_to_end(key)
        while len(_plan_cache) > PLAN_CACHE_SIZE:
            _plan_cache.popitem(last=False)
    return computed


def _region_catalog(catalog: Catalog, region: str | None) -> Catalog:
    """The catalog as ``region`` resolves it; Invalid naming the field when the region is unknown."""
    if region is None or region == "":
        return catalog
    if not isinstance(region, str) or region not in catalog.regions:
        raise Invalid([("region", f"没有编码为 {region!r} 的地区")])
    return resolve_region(catalog, region)


def _division_code(catalog: Catalog, region: str | None) -> str | None:
    """The 行政区划代码 that starts the region's 办件编号; None (national) where the region declares none."""
    found = catalog.regions.get(region) if region else None
    return found.division_code if found is not None else None


def _answers_plan(catalog: Catalog, thing: str, answers: Mapping[str, Any], form: Mapping[str, Any]) -> Plan:
    """The server's own plan for the request's answers (no shared data yet); Invalid naming every bad answer."""
    errors: list[tuple[str, str]] = []
    try:
        thing_def = catalog.thing(thing)
    except UnknownThing:
        raise Invalid([("thing", f"没有编码为 {thing!r} 的一件事")]) from None
    if not isinstance(answers, Mapping):
        raise Invalid([("answers", "应为对象（问题 → 回答）")])
    try:
        return _cached_plan(catalog, thing_def, answers)
    except IntakeError as exc:
        errors.extend((f"answers.{name}", message) for name, message in exc.errors)
        if not isinstance(form, Mapping):
            errors.append(("form", "应为对象（字段 → 值）"))
        raise Invalid(errors) from None


def _locked_errors(plan: Plan, form: Mapping[str, Any], values: dict[str, Any], locked: frozenset[str]
                   ) -> list[tuple[str, str]]:
    """Locked fields take the fetched value; a different value sent for one is an error (报告数据有误 first)."""
    errors: list[tuple[str, str]] = []
    for field_def in plan.form.fields:
        if field_def.id not in locked or field_def.prefill is None:
            continue
        try:
            fetched = check_value(field_def, field_def.prefill.value)
        except ValueError:
            fetched = field_def.prefill.value
        given = form.get(field_def.id)
        if field_def.id in values and given not in (None, "") and values[field_def.id] != fetched:
            errors.append((f"form.{field_def.id}", f"{field_def.label}已由共享数据预填并锁定，不能修改；"
                                                   "如数据有误，请先在“谁用了我的数据”中报告数据有误"))
        values[field_def.id] = fetched
    return errors


def _checked_form(plan: Plan, form: Mapping[str, Any], locked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The normalised merged form for ``plan``; Invalid naming every bad field."""
    values, errors = validate_form(plan.form.fields, form)
    if isinstance(form, Mapping):
        errors.extend(_locked_errors(plan, form, values, locked))
    if not plan.procedures:
        errors.append(("answers", "按所选情形，本事项无需办理任何事项"))
    if errors:
        raise Invalid(errors)
    return values


def _compute_plan(catalog: Catalog, thing: str, answers: Mapping[str, Any], form: Mapping[str, Any]
                  ) -> tuple[Plan, dict[str, Any]]:
    """The server's own plan for the request, and the normalised form; Invalid naming every bad field."""
    plan = _answers_plan(catalog, thing, answers, form)
    return plan, _checked_form(plan, form)


def _shared_data(engine: Engine, actor: Actor, catalog: Catalog, plan: Plan, *, consent_id: str | None,
                 application_ref: str | None, now: datetime, providers: Any) -> shared_data.Prefilled | None:
    """The facts for this submission, fetched again through the exchange (checked and audited) under the
    applicant's consent — never what the client says was prefilled or exempt. None without a consent or ref."""
    if consent_id is None and application_ref is None:
        return None
    if application_ref is not None and (not isinstance(application_ref, str)
                                        or not 1 <= len(application_ref) <= shared_data.MAX_REF):
        raise Invalid([("application_ref", f"办件编号为 1–{shared_data.MAX_REF} 个字符")])
    consent = None
    if consent_id is not None:
        consent = shared_data.own_consent(engine, actor, consent_id)
        if consent is None:
            raise Invalid([("consent", "没有该授权，或该授权不属于您")])
        if application_ref is not None and application_ref != consent.application_ref:
            raise Invalid([("application_ref", "该授权不属于这个办件编号")])
        application_ref = consent.application_ref
    assert application_ref is not None
    with session_scope(engine) as session:
        used = session.scalar(select(ApplicationRow.id).where(ApplicationRow.exchange_ref == application_ref))
    if used is not None:
        raise Invalid([("consent", "该授权已用于另一份申请；如需再次申请，请重新打开申请页面并授权")])
    return shared_data.prefill(engine, actor, catalog, plan, ref=application_ref, consent=consent, now=now,
                               providers=providers)


def _existing_submission(session: Session, applicant_id: int, key: str, digest: str,
                         acted_by: int | None = None) -> ApplicationRow | None:
    """The application this applicant's key already made. Made by someone else (the principal, or another agent
    of the same principal), it is a Conflict like another body: a replay shows an application only to whoever
    submitted it."""
    app = session.scalar(select(ApplicationRow).where(ApplicationRow.applicant_id == applicant_id,
                                                      ApplicationRow.idempotency_key == key))
    if app is not None and (app.request_hash != digest or app.acted_by_id != acted_by):
        raise Conflict("该 Idempotency-Key 已用于另一份申请内容；新申请请使用新的 Idempotency-Key")
    return app


def submit_application(engine: Engine, actor: Actor, *, catalog: Catalog, catalog_version: str, thing: str,
                       answers: Mapping[str, Any], form: Mapping[str, Any], idempotency_key: str,
                       now: datetime, consent_id: str | None = None, application_ref: str | None = None,
                       providers: Any = None, region: str | None = None,
                       on_behalf_of: str | None = None, delivery: Any = None) -> Submitted:
    """Submit once (一次提交): recompute the plan, validate the merged form, create one task per procedure.

    The same applicant, key and body answer the first application again; the same key with another body is
    a Conflict. Stage-1 tasks are ready at once with their due date; later ones wait for their predecessors.

    With the applicant's ``consent_id`` (and its ``application_ref``), the facts are fetched again through the
    exchange: prefilled fields are locked to the fetched values, materials proven by data are recorded as
    exempt with their proof. A refused or unavailable fetch only means upload instead — never a refusal here.

    ``region`` (a catalog region code) plans the application with that region's rules — the city's, inherited
    from its province and the national definitions — and is recorded on it. ``catalog`` is the national one.

    ``on_behalf_of`` (the principal's USCC or resident ID) submits for another under an active delegation that
    covers the thing (``delegations.authorise_act``, else 403 not-authorised-to-act): the principal is the
    applicant, ``actor`` is recorded as who acted, and the use goes on the delegation's record.

    ``delivery`` (``{"method": "electronic" | "post" | "window", "address"}``) is how the results reach the
    applicant, limited to what the plan's procedures allow (``cases.dispatch``); optional for API clients.
    """
    authorize(actor, "application:submit")
    acting: tuple[int, str] | None = None
    if on_behalf_of is not None:
        if consent_id is not None or application_ref is not None:
            raise Invalid([("on_behalf_of", "代办申请暂不支持以共享数据预填（授权只能由数据主体本人给出）")])
        with session_scope(engine) as session:
            acting = delegations.authorise_act(session, actor, on_behalf_of, thing, now)
    applicant_id = acting[0] if acting is not None else actor.user_id
    acted_by = actor.user_id if acting is not None else None
    catalog = _region_catalog(catalog, region)
    if thing in catalog.things:  # an unknown thing is answered by the plan below
        require_assurance(actor.assurance, str(catalog.things[thing].assurance), f"thing {thing}")
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY.match(idempotency_key):
        raise Invalid([("Idempotency-Key", "须为 1–200 个可见 ASCII 字符")])
    link: dict[str, Any] = {"consent": consent_id, "application_ref": application_ref} if (
        consent_id or application_ref) else {}
    if region:
        link["region"] = region
    if acting is not None:
        link["on_behalf_of"] = acting[1]
    if delivery is not None:
        link["delivery"] = delivery
    digest = request_hash(thing, answers, form, link or None)
    if consent_id or application_ref:
        # A replay must not fetch the facts again: look for the first submission before the exchange is asked.
        # Without a data link a replay is rare and cheap to detect late — the unique (applicant, key) refuses
        # its insert below — so the common first submission saves a transaction and its round trips here.
        with session_scope(engine) as session:
            existing = _existing_submission(session, applicant_id, idempotency_key, digest, acted_by)
            if existing is not None:
                return Submitted(full_view(session, existing), created=False)
    plan = _answers_plan(catalog, thing, answers, form)
    shared = _shared_data(engine, actor, catalog, plan, consent_id=consent_id, application_ref=application_ref,
                          now=now, providers=providers)
    if shared is not None:
        plan = shared.plan
    try:
        values = _checked_form(plan, form, shared.locked if shared is not None else frozenset())
        delivery_errors: list[tuple[str, str]] = []
    except Invalid as exc:
        values, delivery_errors = {}, exc.errors
    try:
        chosen = checked_delivery(catalog, plan, delivery)
    except Invalid as exc:
        delivery_errors = [*delivery_errors, *exc.errors]
    if delivery_errors:
        raise Invalid(delivery_errors)
    calendar = calendar_for(catalog.calendar)
    try:
        with session_scope(engine) as session:
            view = _create_application(session, actor, plan, values, catalog_version, idempotency_key, digest,
                                       calendar, now, shared, region or None, _division_code(catalog, region),
                                       acting, chosen)
        return Submitted(view, created=True)
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its application (or Conflict).
        with session_scope(engine) as session:
            existing = _existing_submission(session, applicant_id, idempotency_key, digest, acted_by)
            if existing is None:
                raise
            return Submitted(full_view(session, existing), created=False)


def _create_application(session: Session, actor: Actor, plan: Plan, form: dict[str, Any], catalog_version: str,
                        key: str, digest: str, calendar: WorkdayCalendar, now: datetime,
                        shared: shared_data.Prefilled | None = None, region: str | None = None,
                        division_code: str | None = None, acting: tuple[int, str] | None = None,
                        delivery: dict[str, Any] | None = None) -> dict[str, Any]:
    changes = Changes(actor, now)
    proofs = shared.proofs() if shared is not None else None
    app = ApplicationRow(
        id=str(uuid.uuid4()), number=next_number(session, division_code, now), thing=plan.thing,
        catalog_version=catalog_version, applicant_id=acting[0] if acting is not None else actor.user_id,
        acted_by_id=actor.user_id if acting is not None else None,
        delegation_id=acting[1] if acting is not None else None,
        answers=plan.answers, form=form, plan=plan.to_json(), status=ApplicationStatus.submitted.value,
        idempotency_key=key, request_hash=digest, submitted_at=now,
        promised_due=calendar.add_working_days(now, plan.promised_days), version=1,
        exchange_ref=shared.ref if shared is not None else None,
        consent_id=shared.consent.id if shared is not None and shared.consent is not None else None,
        data_proofs=proofs, region=region, delivery=delivery,
    )
    session.add(app)
    session.flush()  # the unique (applicant, key) constraint speaks here
    if shared is not None:
        shared_data.end_draft(session, shared.ref)
    data: dict[str, Any] = {"thing": plan.thing, "number": app.number, "catalog_version": catalog_version,
                            "region": region, "procedures": plan.procedure_ids(),
                            "promised_due": app.promised_due.isoformat()}
    if acting is not None:
        data["on_behalf_of"] = {"applicant_id": acting[0], "delegation": acting[1]}
        delegations.record_use(session, actor, acting[1], application_id=app.id, number=app.number,
                               thing=plan.thing, now=now)
    if proofs is not None:
        # Which fetch proves which material (audit entry ids); never the values themselves.
        data["shared_data"] = {"ref": proofs["ref"], "consent": proofs["consent"],
                               "exempt": {m: p["audit_entry_id"] for m, p in proofs["materials"].items()}}
    changes.audit("application.submitted", "application", app.id, application_id=app.id, after=snapshot(app),
                  data=data)
    tasks: list[TaskRow] = []
    verified = (proofs or {}).get("procedures") or {}
    for procedure in plan.procedures:
        task = TaskRow(
            id=str(uuid.uuid4()), application_id=app.id, procedure=procedure.id, department=procedure.department,
            stage=procedure.stage, after=list(procedure.after), promised_days=procedure.promised_days,
            status=TaskStatus.waiting.value, version=1, paused_days=0,
        )
        proof = verified.get(procedure.id)
        if procedure.verified_by is not None and proof is not None:
            # 已核验: the result is already proven by shared data; the task is created completed, with its proof,
            # and no department works on it (no certificate is issued: the proven one exists).
            task.status = TaskStatus.approved.value
            task.decided_at = now
            task.result = {"document": procedure.result, "verified": proof}
        tasks.append(task)
        changes.audit("task.created", "task", task.id, application_id=app.id, department=task.department,
                      after=snapshot(task), data={"procedure": procedure.id, **(
                          {"verified": {"resource": proof["resource"], "audit_entry_id": proof["audit_entry_id"]}}
                          if task.status == TaskStatus.approved.value and proof is not None else {})})
    session.add_all(tasks)
    for department in departments_of(tasks):
        changes.event("application.submitted", department=department, application_id=app.id, payload={
            "thing": plan.thing, "number": app.number, "promised_due": app.promised_due.isoformat(),
            "tasks": [task_view(t) for t in tasks if t.department == department],
        })
    statuses = {t.procedure: TaskStatus(t.status) for t in tasks}
    startable = set(ready_successors({t.procedure: t.after for t in tasks}, statuses))
    for task in tasks:
        if task.procedure in startable:
            make_ready(changes, task, calendar, now)
    notify_by_sms(changes, app, plan)
    if tasks and all(t.status == TaskStatus.approved.value for t in tasks):
        follow_tasks(changes, app, tasks, now)  # every result already proven: nothing left to do
    session.flush()
    changes.write(session)
    return application_view(app, tasks, [], [])


def applicant_mobile(plan: Plan, form: Mapping[str, Any]) -> str | None:
    """The mobile number the applicant gave on the form (the first ``phone`` field filled), for 短信通知."""
    return next((str(form[f.id]) for f in plan.form.fields if f.type == "phone" and form.get(f.id)), None)


def notify_by_sms(changes: Changes, app: ApplicationRow, plan: Plan) -> None:
    """Queue the 受理 SMS in the submitting transaction for the worker to send — when an SMS gateway is
    configured (``ONETHING_SMS_GATEWAY_URL``) and the form carries a mobile number; otherwise none."""
    phone = applicant_mobile(plan, app.form)
    if phone is None or not sms_enabled():
        return
    text = (f"【高效办成一件事】您的“{plan.thing_name}”申请已收到，办件编号{app.number}，"
            f"承诺{app.promised_due.isoformat()}前办结。办理进度请在“我的办件”查看。")
    changes.event("sms.send", department=None, application_id=app.id,
                  payload={"to": phone, "text": text, "number": app.number})


# --- department decisions -------------------------------------------------------------------------------


def _document_errors(decision: Decision, plan: Plan, procedure: str) -> list[tuple[str, str]]:
    """An approval names its document (文书名称; the procedure's result from the catalog when not typed) and
    its number (文号): both are required, whatever the client (page, API, sandbox department)."""
    result = decision.result if isinstance(decision.result, Mapping) else {}
    planned = next((p for p in plan.procedures if p.id == procedure), None)
    errors: list[tuple[str, str]] = []
    document = result.get("document")
    if document is None and planned is not None:
        document = planned.result
    if not isinstance(document, str) or not document.strip():
        errors.append(("result.document", "请填写文书名称"))
    number = result.get("number")
    if not isinstance(number, str) or not number.strip():
        errors.append(("result.number", "请填写文号"))
    return errors


def _check_decision(decision: Decision, plan: Plan, procedure: str) -> None:
    errors: list[tuple[str, str]] = []
    needs_reason = decision.kind in (DecisionKind.reject, DecisionKind.request_supplement)
    if needs_reason and (not isinstance(decision.reason, str) or not decision.reason.strip()):
        errors.append(("reason", "请说明理由"))
    if decision.kind is DecisionKind.request_supplement:
        field_ids = {f.id for f in plan.form.fields if f.provided_by is None}  # produced: not the applicant's
        material_ids = {m.id for m in plan.materials}
        errors.extend((f"fields.{f}", "不是本申请表单中的字段") for f in decision.fields if f not in field_ids)
        errors.extend((f"materials.{m}", "不是本申请的材料") for m in decision.materials if m not in material_ids)
    if decision.kind is DecisionKind.approve and decision.result is not None and not isinstance(decision.result,
                                                                                               Mapping):
        errors.append(("result", "应为对象"))
    if decision.kind is DecisionKind.approve:
        missing = _document_errors(decision, plan, procedure)
        named = {name for name, _message in missing}
        errors.extend(missing)
        errors.extend(e for e in certificates.result_errors(decision.result) if e[0] not in named)
    if decision.produced and decision.kind is not DecisionKind.approve:
        errors.append(("produced", "只有准予（办结）时填写本事项产生的信息"))
    if errors:
        raise Invalid(errors)


def _produced_values(decision: Decision, plan: Plan, procedure: str) -> dict[str, Any]:
    """The values an approval gives for the fields its procedure produces: every one required, each checked with
    its field's type (a 公民身份号码 with its check digit); Invalid naming each bad or missing one."""
    planned = next((p for p in plan.procedures if p.id == procedure), None)
    wanted = set(planned.produces) if planned is not None else set()
    given = decision.produced if isinstance(decision.produced, Mapping) else {}
    errors: list[tuple[str, str]] = [(f"produced.{key}", "不是本事项产生的信息") for key in given if key not in wanted]
    values: dict[str, Any] = {}
    for field_def in plan.form.fields:
        if field_def.id not in wanted:
            continue
        value = given.get(field_def.id)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors.append((f"produced.{field_def.id}", f"请填写本事项产生的{field_def.label}"))
            continue
        try:
            values[field_def.id] = check_value(field_def, value)
        except ValueError as exc:
            errors.append((f"produced.{field_def.id}", f"{field_def.label}：{exc}"))
    if errors:
        raise Invalid(errors)
    return values


def decide_task(engine: Engine, actor: Actor, task_id: str, decision: Decision, *, expected_version: int | None,
                catalog: Catalog, now: datetime) -> dict[str, Any]:
    """Record a department's decision (受理 / 准予 / 不予 / 补正告知) on one task of an application.

    ``expected_version`` is the client's If-Match: missing → PreconditionRequired, stale →
    PreconditionFailed. A task of another department is NotFound; a decision its status does not allow
    raises InvalidTransition. Approval readies successors whose predecessors are all approved; the
    application then follows its tasks (completed when all are approved, rejected on any rejection).
    """
    calendar = calendar_for(catalog.calendar)
    with session_scope(engine) as session:
        task = visible_task(session, actor, task_id)
        authorize(actor, "task:decide", task.department)
        if expected_version is None:
            raise PreconditionRequired("请在 If-Match 头中给出办件环节的版本号")
        app = lock_application(session, task.application_id)
        tasks = tasks_of(session, app.id)
        task = next(t for t in tasks if t.id == task_id)
        if task.version != expected_version:
            raise PreconditionFailed(f"版本已变化：当前版本 {task.version}，请求基于 {expected_version}")
        plan = plan_of(app)
        # The state machine first: a decision the task's status does not allow is refused as such (409),
        # whatever its fields; then the fields the decision needs (422).
        target = decide(TaskStatus(task.status), decision.kind)
        _check_decision(decision, plan, task.procedure)
        changes = Changes(actor, now)
        data: dict[str, Any] = {"kind": decision.kind.value}
        if decision.kind is DecisionKind.approve:
            produced = _produced_values(decision, plan, task.procedure)
            planned = next((p for p in plan.procedures if p.id == task.procedure), None)
            task.result = {"document": planned.result if planned else None, **dict(decision.result or {})}
            task.decided_at = now
            data["result"] = task.result
            if produced:
                # Later tasks (and the applicant) see the produced values in the application's form; the audit
                # and the departments' events name the fields only, never the values.
                app.form = {**app.form, **produced}
                data["produced"] = sorted(produced)
            if planned is not None and planned.result:
                _issue_certificate(session, changes, app, task, planned.department_name, planned.result, now,
                                   produced)
        elif decision.kind is DecisionKind.reject:
            task.reason = (decision.reason or "").strip()
            task.decided_at = now
            data["reason"] = task.reason
        set_task_status(changes, task, target, "task.decided", data, checked=True)
        changes.event("task.decided", department=task.department, application_id=app.id,
                      payload={"decision": data, "task": task_view(task)})
        if decision.kind is DecisionKind.request_supplement:
            _open_supplement(session, changes, task, decision, now)
        if decision.kind is DecisionKind.approve:
            statuses = {t.procedure: TaskStatus(t.status) for t in tasks}
            successors = set(ready_successors({t.procedure: t.after for t in tasks}, statuses))
            for successor in tasks:
                if successor.procedure in successors:
                    make_ready(changes, successor, calendar, now)
        follow_tasks(changes, app, tasks, now)
        if app.status in CLOSED:
            shared_data.close_consents(session, app.exchange_ref, now)
        session.flush()
        changes.write(session)
        return task_view(task, thing=app.thing)


def _issue_certificate(session: Session, changes: Changes, app: ApplicationRow, task: TaskRow, department_name: str,
                       title: str, now: datetime, produced: Mapping[str, Any] | None = None) -> None:
    """The approval's signed certificate (电子证照), in the approval's transaction, audited and announced. The
    values the procedure produced are printed on it (the 户口页 carries the child's 公民身份号码)."""
    certificate = certificates.issue_for_approval(
        session, application_id=app.id, task_id=task.id, procedure=task.procedure, applicant_id=app.applicant_id,
        department=task.department, department_name=department_name, title=title,
        result={**(task.result or {}), **dict(produced or {})}, now=now)
    facts = {"id": certificate.id, "title": certificate.title, "number": certificate.number,
             "key_id": certificate.key_id, "task": task.id}
    changes.audit("certificate.issued", "certificate", certificate.id, application_id=app.id,
                  department=task.department, data=facts)
    changes.event("certificate.issued", department=task.department, application_id=app.id,
                  payload={"certificate": facts})


def _open_supplement(session: Session, changes: Changes, task: TaskRow, decision: Decision, now: datetime) -> None:
    supplement = SupplementRow(
        id=str(uuid.uuid4()), application_id=task.application_id, task_id=task.id, status="open",
        reason=(decision.reason or "").strip(), fields=list(decision.fields), materials=list(decision.materials),
        requested_at=now,
    )
    session.add(supplement)
    changes.audit("supplement.requested", "supplement", supplement.id, application_id=task.application_id,
                  department=task.department, after={"status": "open"},
                  data={"task": task.id, "reason": supplement.reason, "fields": supplement.fields,
                        "materials": supplement.materials})
    changes.event("supplement.requested", department=task.department, application_id=task.application_id,
                  payload={"supplement": {"id": supplement.id, "task": task.id, "reason": supplement.reason,
                                          "fields": supplement.fields, "materials": supplement.materials}})


# --- applicant actions ----------------------------------------------------------------------------------


def answer_supplement(engine: Engine, actor: Actor, application_id: str, supplement_id: str,
                      form: Mapping[str, Any], *, catalog: Catalog, now: datetime) -> dict[str, Any]:
    """Answer a supplement request once (补正): only the asking task goes back to work (accepted), approvals
    already given stay, and the asking task's clock is extended by the working days it was paused."""
    authorize(actor, "application:supplement")
    calendar = calendar_for(catalog.calendar)
    with session_scope(engine) as session:
        app = lock_application(session, application_id, applicant_id=actor.user_id)
        supplement = session.get(SupplementRow, supplement_id, populate_existing=True)
        if supplement is None or supplement.application_id != app.id:
            raise NotFound("supplement", supplement_id)
        if supplement.status != "open":
            raise Conflict("该补正已答复")
        plan = plan_of(app)
        values, errors = validate_form(plan.form.fields, form, only=supplement.fields)
        uploaded = {f.material for f in files_of(session, app.id) if f.uploaded_at >= supplement.requested_at}
        errors.extend((f"materials.{m}", "请先上传补正材料") for m in supplement.materials if m not in uploaded)
        if errors:
            raise Invalid(errors)
        changes = Changes(actor, now)
        app.form = {**app.form, **values}
        supplement.status = "answered"
        supplement.answered_at = now
        supplement.answer = {"form": values, "materials": sorted(set(supplement.materials))}
        changes.audit("supplement.answered", "supplement", supplement.id, application_id=app.id,
                      before={"status": "open"}, after={"status": "answered"},
                      data={"fields": sorted(values), "materials": supplement.answer["materials"]})
        tasks = tasks_of(session, app.id)
        task = next(t for t in tasks if t.id == supplement.task_id)
        paused = calendar.working_days_between(supplement.requested_at, now)
        task.paused_days += paused
        if task.due is not None and paused:
            task.due = calendar.add_working_days(task.due, paused)
            app.promised_due = calendar.add_working_days(app.promised_due, paused)
        set_task_status(changes, task, TaskStatus.accepted, "task.resumed",
                         {"supplement": supplement.id, "paused_days": paused,
                          "due": task.due.isoformat() if task.due else None})
        changes.event("supplement.answered", department=task.department, application_id=app.id,
                      payload={"supplement": {"id": supplement.id, "task": task.id, "fields": sorted(values),
                                              "materials": supplement.answer["materials"]},
                               "task": task_view(task)})
        follow_tasks(changes, app, tasks, now)
        session.flush()
        changes.write(session)
        return full_view(session, app)


def withdraw_application(engine: Engine, actor: Actor, application_id: str, *, now: datetime) -> dict[str, Any]:
    """The applicant withdraws an application still being worked on (撤回); open tasks are cancelled."""
    authorize(actor, "application:withdraw")
    with session_scope(engine) as session:
        app = lock_application(session, application_id, applicant_id=actor.user_id)
        changes = Changes(actor, now)
        before = snapshot(app)
        app.status = transition(ApplicationStatus(app.status), ApplicationStatus.withdrawn).value
        changes.audit("application.withdrawn", "application", app.id, application_id=app.id, before=before,
                      after=snapshot(app))
        tasks = tasks_of(session, app.id)
        cancel_open_work(changes, app, tasks, "application.withdrawn")
        for supplement in supplements_of(session, app.id):
            if supplement.status == "open":
                supplement.status = "cancelled"
        shared_data.close_consents(session, app.exchange_ref, now)
        session.flush()
        changes.write(session)
        return full_view(session, app)


def form_fields(app_plan: Mapping[str, Any]) -> list[FormField]:
    """The merged form's field definitions of a stored plan (for pages that render it)."""
    return list(Plan.model_validate(app_plan).form.fields)
