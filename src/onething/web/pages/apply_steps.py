"""Apply in steps (分步申请, GOV.UK style): 情形 → 信息 → 材料 → 核对 → 提交, the draft saved server-side.

- ``GET /things/{code}/steps?<answers>`` (情形): the answers from the guide (修改 links back to it), what will be
  done, 为谁申请 when the applicant may act for someone, and the consent offer for shared data. Its POST starts a
  draft (with the consent when agreed) and goes to the first 信息 page.
- ``/me/drafts/{id}/info/{n}``: the merged form's fields of one topic per page (申请人/经办人, 当事人与事项,
  联系方式); fields filled from shared data are shown read-only with their source.
- ``/me/drafts/{id}/materials``: uploads (kept as the draft's files) and the exempt materials with their proof.
- ``/me/drafts/{id}/check`` (核对): every answer, field and file with 修改 (back to its step, which returns here
  after saving) and the delivery choice; its 提交 calls the submit service with the draft's id as the
  idempotency key, moves the files to the application, deletes the draft and shows the application.

Every page is a plain form (CSRF, no JavaScript needed); a validation error shows the page again with the
values kept, a summary at the top linking to each field and the message at the field. A draft that is not the
applicant's, or has expired, is 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from onething.accounts.api import Actor, NotFound
from onething.cases import api as cases
from onething.catalog.model import Catalog, Thing
from onething.delegations import api as delegations
from onething.intake.model import FormField, Plan
from onething.web.auth import CurrentActor, now_of, rate_limit, template_context
from onething.web.deps import get_catalog, get_engine, get_region, get_region_catalog
from onething.web.flash import redirect_with_notice
from onething.web.pages import applicant
from onething.web.pages import cases_views as views
from onething.web.pages.portal import evaluate
from onething.web.problems import Problem
from onething.web.templating import render
from onething.workdays import UnknownCalendarYear

router = APIRouter(include_in_schema=False)

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_region_catalog)]

STEP_NAMES = (("situation", "情形"), ("info", "信息"), ("materials", "材料"), ("check", "核对"), ("submit", "提交"))
GROUPS = (("applicant", "申请人/经办人"), ("subject", "当事人与事项信息"), ("contact", "联系与送达"))
SUBMITTED = "申请已提交。各部门将按办理顺序并联审批，办理进度会显示在下方。"


# --- helpers ------------------------------------------------------------------------------------------------


def group_of(field: FormField) -> str:
    """The topic a merged-form field is asked under, from its id and type."""
    if field.type in ("phone", "address") or field.id.startswith(("contact_", "mailing_")):
        return "contact"
    if field.id.startswith(("applicant_", "agent_", "legal_rep_")):
        return "applicant"
    return "subject"


def field_groups(plan: Plan) -> list[tuple[str, str, list[FormField]]]:
    """The merged form's fields to ask (not those a procedure produces), by topic, non-empty topics only."""
    asked = [f for f in plan.form.fields if f.provided_by is None]
    out = []
    for key, title in GROUPS:
        fields = [f for f in asked if group_of(f) == key]
        if fields:
            out.append((key, title, fields))
    return out


@dataclass(frozen=True)
class Drafted:
    """A draft with its thing and its plan (with shared data when consented)."""

    draft: cases.Draft
    thing: Thing
    plan: Plan
    prefilled: cases.Prefilled | None
    shared: applicant.SharedData


async def _drafted(request: Request, actor: Actor, engine: Engine, catalog: Catalog, draft_id: str) -> Drafted:
    applicant._applicant(actor)
    now = now_of(request)
    draft = await run_in_threadpool(cases.get_draft, engine, actor, draft_id, now)
    thing = applicant._thing(catalog, draft.thing)
    outcome = evaluate(catalog, thing, {**{k: str(v) for k, v in draft.answers.items()}, "plan": "1"})
    if outcome.plan is None or not outcome.plan.procedures:
        raise Problem(409, detail="按所选情形，本事项无需办理任何事项；请返回办事指南修改情形。",
                      type_="/problems/conflict")
    plan = outcome.plan
    prefilled = None
    if draft.consent_id:
        consent = await run_in_threadpool(cases.own_consent, engine, actor, draft.consent_id)
        prefilled = await run_in_threadpool(lambda: cases.prefill(engine, actor, catalog, plan, ref=draft.ref,
                                                                  consent=consent, now=now))
        plan = prefilled.plan
    shared = applicant.SharedData(ref=draft.ref, prefilled=prefilled) if prefilled else applicant.SharedData()
    return Drafted(draft, thing, plan, prefilled, shared)


def _base(drafted: Drafted) -> str:
    return f"/me/drafts/{drafted.draft.id}"


def _step_url(drafted: Drafted, step: str) -> str:
    return _base(drafted) + ("/info/1" if step == "info" else f"/{step}")


def _context(request: Request, catalog: Catalog, drafted: Drafted, step: str, **extra: Any) -> dict[str, Any]:
    thing = drafted.thing
    answers = {k: str(v) for k, v in drafted.draft.answers.items()}
    data = applicant._shared_context(catalog, thing, answers, drafted.shared)
    return template_context(
        request, thing=thing, plan=drafted.plan, draft=drafted.draft, step=step, step_names=STEP_NAMES,
        guide_url=applicant._guide_url(thing, answers), base=_base(drafted), nav="apply",
        expires=views.local_time(drafted.draft.expires_at), **data, **views.template_helpers(catalog), **extra)


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return render(request, f"cases/steps/{template}", context, status_code=status_code,
                  headers={"Cache-Control": "no-store"})


def _return_to_check(raw: Mapping[str, Any]) -> bool:
    return raw.get("return") == "check"


def _answer_rows(thing: Thing, answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(q.text, views._answer_text(q, answers[q.id])) for q in thing.questions if q.id in answers]


# --- 情形 (start) ---------------------------------------------------------------------------------------------


@router.get("/things/{code}/steps")
async def situation(request: Request, code: str, actor: CurrentActor, engine: EngineDep,
                    catalog: CatalogDep) -> Response:
    """情形: the answers given on the guide, what will be done, 为谁申请 and the consent offer; 开始填写."""
    applicant._applicant(actor)
    thing = applicant._thing(catalog, code)
    outcome = evaluate(catalog, thing, {**request.query_params, "plan": "1"})
    if outcome.plan is None or not outcome.plan.procedures:
        return RedirectResponse(applicant._guide_url(thing, outcome.form.values), status_code=303)
    now = now_of(request)
    offer = cases.consent_offer(catalog, outcome.plan, now, actor)
    principals = await run_in_threadpool(delegations.principals_for, engine, actor, thing.code, now)
    shared = applicant.SharedData(offer=offer, offer_plan=outcome.plan) if offer else applicant.SharedData()
    data = applicant._shared_context(catalog, thing, outcome.form.values, shared)
    drafts = [d for d in await run_in_threadpool(cases.list_drafts, engine, actor, now) if d.thing == thing.code]
    return _page(request, "situation.html", template_context(
        request, thing=thing, plan=outcome.plan, answers=outcome.form.values, step="situation",
        step_names=STEP_NAMES, answer_rows=_answer_rows(thing, outcome.form.values),
        guide_url=applicant._guide_url(thing, outcome.form.values), principals=principals, nav="apply",
        one_page_url=applicant._apply_url(thing, outcome.form.values), drafts=drafts,
        **data, **views.template_helpers(catalog)))


@router.post("/things/{code}/steps", dependencies=[Depends(rate_limit("submit", "submit_rate_per_minute"))])
async def start(request: Request, code: str, actor: CurrentActor, engine: EngineDep,
                catalog: CatalogDep) -> Response:
    """Start a draft: with a consent bound to its reference when 同意 (not when applying for someone else)."""
    applicant._applicant(actor)
    thing = applicant._thing(catalog, code)
    raw = await request.form()
    answers = {q.id: value for q in thing.questions
               if isinstance(value := raw.get(views.ANSWER_PREFIX + q.id), str)}
    outcome = evaluate(catalog, thing, {**answers, "plan": "1"})
    plan = outcome.plan
    if plan is None or not plan.procedures:
        return RedirectResponse(applicant._guide_url(thing, outcome.form.values), status_code=303)
    now = now_of(request)
    chosen = raw.get("on_behalf_of")
    on_behalf = chosen if isinstance(chosen, str) and chosen else None
    if on_behalf is not None:
        principals = await run_in_threadpool(delegations.principals_for, engine, actor, thing.code, now)
        if on_behalf not in {p[0] for p in principals}:
            raise Problem(422, detail="所选的被代办人无效或授权已失效。", type_="/problems/validation")
    try:
        await run_in_threadpool(cases.check_room, engine, actor, now)
    except cases.Conflict as exc:
        return redirect_with_notice(engine, request, "/me/applications", str(exc), error=True)
    ref = cases.new_ref()
    consent_id = None
    if raw.get("decision") == "agree" and on_behalf is None and cases.consent_offer(catalog, plan, now, actor):
        try:
            consent = await run_in_threadpool(lambda: cases.consent_to_prefill(engine, actor, catalog, plan,
                                                                               ref=ref, now=now))
        except cases.Invalid as exc:
            raise Problem(422, detail=applicant._case_message(exc), type_="/problems/validation",
                          errors=exc.errors) from None
        consent_id = consent.id
    try:
        draft = await run_in_threadpool(lambda: cases.start_draft(
            engine, actor, thing=thing.code, answers=outcome.form.values, ref=ref, consent_id=consent_id,
            region=get_region(request), on_behalf_of=on_behalf, now=now))
    except cases.Conflict as exc:
        return redirect_with_notice(engine, request, "/me/applications", str(exc), error=True)
    return RedirectResponse(f"/me/drafts/{draft.id}/info/1", status_code=303)


@router.get("/me/drafts/{draft_id}")
async def resume(request: Request, draft_id: str, actor: CurrentActor, engine: EngineDep,
                 catalog: CatalogDep) -> Response:
    """继续填写: the step the draft had reached."""
    drafted = await _drafted(request, actor, engine, catalog, draft_id)
    return RedirectResponse(_step_url(drafted, drafted.draft.step), status_code=303)


# --- 信息 -------------------------------------------------------------------------------------------------------


def _info_page(request: Request, catalog: Catalog, drafted: Drafted, number: int, *, back_to_check: bool,
               values: Mapping[str, Any] | None = None, errors: Mapping[str, str] | None = None,
               status_code: int = 200) -> Response:
    groups = field_groups(drafted.plan)
    if not 1 <= number <= max(len(groups), 1):
        raise Problem(404, detail="没有这一页。", type_="/problems/not-found")
    _, title, fields = groups[number - 1] if groups else ("", "无需填写", [])
    locked = drafted.prefilled.locked if drafted.prefilled is not None else frozenset()
    context = _context(request, catalog, drafted, "info", group_title=title, group_number=number,
                       group_count=len(groups), back_to_check=back_to_check, field_errors=errors or {})
    context["widgets"] = views.widgets(fields, values if values is not None else drafted.draft.form, errors,
                                       locked=locked, sources=context["sources"],
                                       report_urls=context["report_urls"])
    context["back_url"] = (f"{_base(drafted)}/info/{number - 1}" if number > 1
                           else f"/things/{drafted.thing.code}/steps?{urlencode(drafted.draft.answers)}")
    return _page(request, "info.html", context, status_code)


@router.get("/me/drafts/{draft_id}/info/{number}")
async def info(request: Request, draft_id: str, number: int, actor: CurrentActor, engine: EngineDep,
               catalog: CatalogDep) -> Response:
    drafted = await _drafted(request, actor, engine, catalog, draft_id)
    return _info_page(request, catalog, drafted, number, back_to_check=_return_to_check(request.query_params))


@router.post("/me/drafts/{draft_id}/info/{number}")
async def save_info(request: Request, draft_id: str, number: int, actor: CurrentActor, engine: EngineDep,
                    catalog: CatalogDep) -> Response:
    """Save one topic's fields; errors of those fields only are shown here (the rest are checked at 核对)."""
    drafted = await _drafted(request, actor, engine, catalog, draft_id)
    raw = await request.form()
    groups = field_groups(drafted.plan)
    if not 1 <= number <= max(len(groups), 1):
        raise Problem(404, detail="没有这一页。", type_="/problems/not-found")
    locked = drafted.prefilled.locked if drafted.prefilled is not None else frozenset()
    fields = [f for f in (groups[number - 1][2] if groups else []) if f.id not in locked]
    typed = views.form_values(raw, fields)
    saved = await run_in_threadpool(lambda: cases.save_draft(engine, actor, draft_id, form=typed,
                                                             now=now_of(request)))
    errors = _field_errors(drafted.plan, saved.form, locked, {f.id for f in fields})
    back = _return_to_check(raw)
    if errors:
        drafted = Drafted(saved, drafted.thing, drafted.plan, drafted.prefilled, drafted.shared)
        return _info_page(request, catalog, drafted, number, back_to_check=back, values=saved.form, errors=errors,
                          status_code=422)
    if back:
        return RedirectResponse(f"{_base(drafted)}/check", status_code=303)
    if number < len(groups):
        return RedirectResponse(f"{_base(drafted)}/info/{number + 1}", status_code=303)
    await run_in_threadpool(lambda: cases.save_draft(engine, actor, draft_id, step="materials", now=now_of(request)))
    return RedirectResponse(f"{_base(drafted)}/materials", status_code=303)


def _payload(plan: Plan, typed: Mapping[str, Any], locked: frozenset[str]) -> dict[str, Any]:
    """The saved values as the submit service's ``form``: a checkbox true/false, blank text left out; locked
    fields left out (the service takes the fetched value)."""
    raw = {views.FIELD_PREFIX + k: v for k, v in typed.items()}
    return {k: v for k, v in views.form_payload(raw, plan.form.fields).items() if k not in locked}


def _field_errors(plan: Plan, typed: Mapping[str, Any], locked: frozenset[str], only: set[str] | None = None
                  ) -> dict[str, str]:
    """The submit service's own field checks over the saved values; limited to ``only`` when given."""
    from onething.cases.validation import validate_form

    _, errors = validate_form(plan.form.fields, _payload(plan, typed, locked))
    by_field, _ = views.split_errors(errors, (f.id for f in plan.form.fields))
    return {k: v for k, v in by_field.items() if only is None or k in only}


# --- 材料 -------------------------------------------------------------------------------------------------------


def _materials_page(request: Request, catalog: Catalog, drafted: Drafted, *, back_to_check: bool,
                    errors: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    groups = field_groups(drafted.plan)
    context = _context(request, catalog, drafted, "materials", back_to_check=back_to_check,
                       material_errors=errors or {},
                       back_url=f"{_base(drafted)}/info/{max(len(groups), 1)}")
    return _page(request, "materials.html", context, status_code)


@router.get("/me/drafts/{draft_id}/materials")
async def materials(request: Request, draft_id: str, actor: CurrentActor, engine: EngineDep,
                    catalog: CatalogDep) -> Response:
    drafted = await _drafted(request, actor, engine, catalog, draft_id)
    return _materials_page(request, catalog, drafted, back_to_check=_return_to_check(request.query_params))


@router.post("/me/drafts/{draft_id}/materials")
async def save_materials(request: Request, draft_id: str, actor: CurrentActor, engine: EngineDep,
                         catalog: CatalogDep) -> Response:
    """Store the chosen files as the draft's (one per material, replacing the earlier one)."""
    drafted = await _drafted(request, actor, engine, catalog, draft_id)
    raw = await request.form()
    now = now_of(request)
    to_upload = {m.id: m.name for m in drafted.plan.materials if m.status != "exempt"}
    errors: dict[str, str] = {}
    for material in to_upload:
        upload = applicant._chosen_file(raw, views.MATERIAL_PREFIX + material)
        if upload is None:
            continue
        data = await applicant._read_upload(upload)
        try:
            await run_in_threadpool(partial(
                cases.add_draft_file, engine, actor, draft_id, material=material, materials=to_upload,
                filename=upload.filename or "", content_type=upload.content_type or "", data=data, now=now))
        except cases.CaseError as exc:
            errors[material] = applicant._case_message(exc)
    if errors:
        drafted = await _drafted(request, actor, engine, catalog, draft_id)
        return _materials_page(request, catalog, drafted, back_to_check=_return_to_check(raw), errors=errors,
                               status_code=422)
    await run_in_threadpool(lambda: cases.save_draft(engine, actor, draft_id, step="check", now=now))
    return RedirectResponse(f"{_base(drafted)}/check", status_code=303)


# --- 核对 and 提交 ------------------------------------------------------------------------------------------------


def _check_page(request: Request, catalog: Catalog, drafted: Drafted, *, field_errors: Mapping[str, str] | None = None,
                other_errors: list[str] | None = None, delivery: Mapping[str, str] | None = None,
                delivery_errors: Mapping[str, str] | None = None, status_code: int = 200) -> Response:
    groups = field_groups(drafted.plan)
    locked = drafted.prefilled.locked if drafted.prefilled is not None else frozenset()
    shown_groups = []
    for number, (_, title, fields) in enumerate(groups, start=1):
        rows = []
        for f in fields:
            value = f.prefill.value if f.id in locked and f.prefill is not None else drafted.draft.form.get(f.id)
            if f.type == "bool" and isinstance(value, str):
                value = value == "true"
            rows.append({"field": f, "text": views.value_text(f, value), "locked": f.id in locked,
                         "url": f"{_base(drafted)}/info/{number}?return=check#field-{f.id}"})
        shown_groups.append((title, rows))
    context = _context(
        request, catalog, drafted, "check", answer_rows=_answer_rows(drafted.thing, drafted.draft.answers),
        groups=shown_groups, field_errors=field_errors or {}, other_errors=other_errors or [],
        field_pages={f.id: f"{_base(drafted)}/info/{n}?return=check#field-{f.id}"
                     for n, (_, _, fields) in enumerate(groups, start=1) for f in fields},
        back_url=f"{_base(drafted)}/materials",
        **applicant._delivery_context(catalog, drafted.plan, delivery or drafted.draft.delivery or None,
                                    delivery_errors))
    return _page(request, "check.html", context, status_code)


@router.get("/me/drafts/{draft_id}/check")
async def check(request: Request, draft_id: str, actor: CurrentActor, engine: EngineDep,
                catalog: CatalogDep) -> Response:
    drafted = await _drafted(request, actor, engine, catalog, draft_id)
    return _check_page(request, catalog, drafted)


@router.post("/me/drafts/{draft_id}/submit", dependencies=[Depends(rate_limit("submit", "submit_rate_per_minute"))])
async def submit(request: Request, draft_id: str, actor: CurrentActor, engine: EngineDep,
                 catalog: CatalogDep) -> Response:
    """提交: once. A draft already submitted answers its application (a second click, a resent form)."""
    applicant._applicant(actor)
    already = await run_in_threadpool(cases.submitted_from, engine, actor, draft_id)
    if already is not None:
        return RedirectResponse(f"/me/applications/{already}", status_code=303)
    try:
        drafted = await _drafted(request, actor, engine, catalog, draft_id)
    except NotFound:  # submitted by a concurrent click meanwhile
        already = await run_in_threadpool(cases.submitted_from, engine, actor, draft_id)
        if already is None:
            raise
        return RedirectResponse(f"/me/applications/{already}", status_code=303)
    raw = await request.form()
    now = now_of(request)
    delivery = applicant._posted_delivery(raw)
    draft = await run_in_threadpool(lambda: cases.save_draft(engine, actor, draft_id, delivery=delivery, now=now))
    drafted = Drafted(draft, drafted.thing, drafted.plan, drafted.prefilled, drafted.shared)
    locked = drafted.prefilled.locked if drafted.prefilled is not None else frozenset()
    principal = None
    if draft.on_behalf_of is not None:
        principal = await run_in_threadpool(delegations.principal_of, engine, actor, draft.on_behalf_of)
        principal = principal or draft.on_behalf_of
    missing = [m.name for m in drafted.plan.materials if m.status != "exempt" and draft.file_for(m.id) is None]
    try:
        submitted = await run_in_threadpool(lambda: cases.submit_application(
            engine, actor, catalog=get_catalog(request), catalog_version=request.app.state.catalog_label,
            thing=draft.thing, answers=draft.answers, form=_payload(drafted.plan, draft.form, locked),
            idempotency_key=draft.idempotency_key, now=now, consent_id=draft.consent_id,
            application_ref=draft.ref if draft.consent_id else None, region=draft.region, on_behalf_of=principal,
            delivery={"method": delivery.get("method"), **delivery}))
    except cases.Invalid as exc:
        delivery_errors = {name.removeprefix("delivery."): message for name, message in exc.errors
                           if name.startswith("delivery.")}
        by_field, other = views.split_errors([e for e in exc.errors if not e[0].startswith("delivery.")],
                                             (f.id for f in drafted.plan.form.fields))
        return _check_page(request, catalog, drafted, field_errors=by_field, other_errors=other, delivery=delivery,
                           delivery_errors=delivery_errors, status_code=422)
    except cases.Conflict as exc:
        return _check_page(request, catalog, drafted, other_errors=[str(exc)], delivery=delivery, status_code=409)
    except UnknownCalendarYear as exc:
        raise applicant._calendar_problem(exc) from None
    application_id = submitted.application["id"]
    await run_in_threadpool(lambda: cases.adopt_draft(engine, actor, draft_id, application_id, now=now))
    path = f"/me/applications/{application_id}"
    if missing:
        return redirect_with_notice(engine, request, path, SUBMITTED + "以下材料尚未上传，请在下方“补传材料”中上传："
                                    + "、".join(missing) + "。", error=True)
    return redirect_with_notice(engine, request, path, SUBMITTED)
