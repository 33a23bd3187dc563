"""Applicant pages (申请人): apply online for a one-thing (一表申请、一套材料、一次提交), 我的办件 with a timeline
per department task, answering a supplement request (补正), the results together (统一出件) and the rating
(好差评).

Plain HTML forms with the session's CSRF token; they work without JavaScript. Every POST calls the case
services and redirects (303) on success, so a reload never repeats it; on a validation error the page is
shown again with each message next to its field and a summary at the top. The apply form carries an
Idempotency-Key minted when it was rendered: a double click or a resent form answers the same application.

Shared data (数据共享): when personal data could fill the form or prove materials, the apply page first shows
exactly what a consent covers (resources, holders, fields, purpose, expiry) with 同意 / 不同意. Agreeing binds a
consent to an application reference minted for this apply session (``?ref=…&consent=…`` afterwards); the page
then shows the fields filled from data, locked and with their source, and the materials proven by data as 免提交.
The submission carries the reference and consent; the server fetches again and trusts nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from onething.accounts.api import Actor, Role
from onething.cases import api as cases
from onething.cases import workbench as case_reads
from onething.cases.settings import get_case_settings
from onething.catalog.errors import UnknownThing
from onething.catalog.model import Catalog, Thing
from onething.certificates import api as certificates
from onething.delegations import api as delegations
from onething.intake.model import FormField, Plan
from onething.web.auth import CurrentActor, now_of, rate_limit, template_context
from onething.web.deps import get_catalog, get_engine, get_region, get_region_catalog
from onething.web.flash import Notice, pop_flash, redirect_with_notice
from onething.web.pages import cases_views as views
from onething.web.pages.exchange import REASON_LABELS
from onething.web.pages.portal import PlanOutcome, evaluate
from onething.web.problems import Problem
from onething.web.templating import render
from onething.workdays import UnknownCalendarYear

router = APIRouter(include_in_schema=False)

EngineDep = Annotated[Engine, Depends(get_engine)]
# The catalog as the person's region resolves it (地区: ?region=, cookie, ONETHING_REGION); submissions send the
# national catalog and the region, and the service resolves and records it.
CatalogDep = Annotated[Catalog, Depends(get_region_catalog)]

DONE_MESSAGES = {
    "submitted": "申请已提交。各部门将按办理顺序并联审批，办理进度会显示在下方。",
    "supplement": "补正材料已提交，相关部门将继续办理。",
    "rated": "感谢您的评价！",
    "uploaded": "材料已上传。",
    "withdrawn": "申请已撤回，未办结的环节已终止。",
}
FAILED_MESSAGE = "以下材料未能上传，请在下方“补传材料”中重新上传：{}。"


def _applicant(actor: Actor) -> None:
    if actor.role is not Role.applicant:
        raise Problem(403, detail="此页面供申请人使用；部门工作人员请使用工作台。", type_="/problems/forbidden")


def _thing(catalog: Catalog, code: str) -> Thing:
    try:
        return catalog.thing(code)
    except UnknownThing:
        raise Problem(404, "找不到该一件事", f"没有编码为“{code}”的一件事。", type_="/problems/unknown-thing") from None


def _calendar_problem(exc: UnknownCalendarYear) -> Problem:
    return Problem(503, detail=f"工作日历未配置 {exc.year} 年，暂时无法计算办理时限；请联系平台运营人员。",
                   type_="/problems/calendar-year-unknown")


def _case_message(exc: cases.CaseError) -> str:
    if isinstance(exc, cases.Invalid):
        return "；".join(message for _, message in exc.errors) or exc.detail
    return str(exc)


async def _read_upload(upload: UploadFile) -> bytes:
    return await upload.read(get_case_settings().upload_max_bytes + 1)


def _chosen_file(raw: FormData, name: str) -> UploadFile | None:
    value = raw.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


async def _attach(engine: Engine, actor: Actor, application_id: str, material: str, upload: UploadFile,
                  request: Request) -> str | None:
    """Upload one file through the files service; the applicant's message when it was refused."""
    data = await _read_upload(upload)
    try:
        await run_in_threadpool(
            lambda: cases.attach_file(engine, actor, application_id, material=material,
                                      filename=upload.filename or "", content_type=upload.content_type or "",
                                      data=data, now=now_of(request)))
    except cases.CaseError as exc:
        return _case_message(exc)
    return None


# --- apply (一表申请) -------------------------------------------------------------------------------------


def _guide_url(thing: Thing, answers: Mapping[str, str]) -> str:
    return f"/things/{thing.code}?{urlencode({**answers, 'plan': '1'})}#plan"


def _apply_url(thing: Thing, answers: Mapping[str, str], **data: str) -> str:
    return f"/things/{thing.code}/apply?{urlencode({**answers, 'plan': '1', **data})}"


DECLINED = "none"


@dataclass(frozen=True)
class SharedData:
    """What the apply page knows about shared data: the consent to offer, or what the consent gave."""

    offer: cases.ConsentOffer | None = None    # shown first, before the form
    offer_plan: Plan | None = None             # the plan the offer was made for (which materials it spares)
    ref: str = ""
    prefilled: cases.Prefilled | None = None   # after consent: locked fields, exempt materials
    declined: bool = False


def _when(moment: str) -> str:
    return views.local_time(moment)


def _shared_context(catalog: Catalog, thing: Thing, answers: Mapping[str, str], shared: SharedData
                    ) -> dict[str, Any]:
    """Template values for the consent panel, the prefilled fields' sources and the exempt materials' proofs."""
    def resource_label(resource_id: str) -> str:
        resource = catalog.resources.get(resource_id)
        return resource.name if resource else resource_id

    def holder_label(department: str) -> str:
        found = catalog.departments.get(department)
        return found.name if found else department

    context: dict[str, Any] = {"offer": shared.offer, "shared_ref": shared.ref, "declined": shared.declined,
                               "prefilled": shared.prefilled, "sources": {}, "report_urls": {}, "proofs": {},
                               "unavailable": [], "refused": [], "reconsider_url": _apply_url(thing, answers)}
    if shared.offer is not None:
        offered = set(shared.offer.proposal.resources)
        context["offer_expires"] = views.local_time(shared.offer.expires_at)
        context["after_close_days"] = _after_close_days()
        context["exemptable"] = [m for m in _offer_plan_materials(shared) if offered & set(m.can_be_proven_by)]
    prefilled = shared.prefilled
    if prefilled is None:
        return context
    for field in prefilled.plan.form.fields:
        source = prefilled.sources.get(field.prefill.resource) if field.prefill else None
        if source is None:
            continue
        context["sources"][field.id] = (f"来源：{holder_label(source.holder)}·{resource_label(source.resource)}，"
                                        f"{_when(source.fetched_at)} 调取")
        context["report_urls"][field.id] = f"/me/data-uses?{urlencode({'report': source.resource})}#report"
    for material in prefilled.plan.materials:
        proof = prefilled.sources.get(material.proven_by or "")
        if material.status == "exempt" and proof is not None:
            context["proofs"][material.id] = (
                f"已由{holder_label(proof.holder)}的{resource_label(proof.resource)}核验，"
                f"{_when(proof.fetched_at)} 调取，已记录")
    context["unavailable"] = [f"{holder_label(holder)}（{resource_label(rid)}）"
                              for rid, holder in sorted(prefilled.unavailable.items())]
    context["refused"] = [f"{resource_label(rid)}：{REASON_LABELS.get(reason, reason)}"
                          for rid, reason in sorted(prefilled.refused.items())]
    context["consent_active"] = prefilled.consent_active
    return context


def _offer_plan_materials(shared: SharedData) -> list[Any]:
    return list(shared.offer_plan.materials) if shared.offer_plan is not None else []


def _after_close_days() -> int:
    from onething.config import get_settings

    return int(get_settings().consent_after_close_days)


def _apply_page(request: Request, catalog: Catalog, thing: Thing, outcome: PlanOutcome, *, key: str,
                values: Mapping[str, str] | None = None, field_errors: Mapping[str, str] | None = None,
                other_errors: list[str] | None = None, status_code: int = 200,
                shared: SharedData | None = None, principals: list[tuple[str, str, str]] | None = None,
                on_behalf: str | None = None, delivery: Mapping[str, str] | None = None,
                delivery_errors: Mapping[str, str] | None = None) -> Response:
    shared = shared or SharedData()
    plan = shared.prefilled.plan if shared.prefilled is not None else outcome.plan
    assert plan is not None
    data = _shared_context(catalog, thing, outcome.form.values, shared)
    locked = shared.prefilled.locked if shared.prefilled is not None else frozenset()
    context = template_context(
        request, thing=thing, plan=plan, answers=outcome.form.values, idempotency_key=key, nav="apply",
        widgets=views.widgets(plan.form.fields, values, field_errors, locked=locked, sources=data["sources"],
                              report_urls=data["report_urls"]),
        field_errors=field_errors or {}, other_errors=other_errors or [],
        guide_url=_guide_url(thing, outcome.form.values), resubmitted=bool(values), **data,
        principals=principals or [], on_behalf=on_behalf or "",
        **_delivery_context(catalog, plan, delivery, delivery_errors),
        **views.template_helpers(catalog))
    return render(request, "cases/apply.html", context, status_code=status_code,
                  headers={"Cache-Control": "no-store"})


def _delivery_context(catalog: Catalog, plan: Plan, chosen: Mapping[str, str] | None,
                      errors: Mapping[str, str] | None) -> dict[str, Any]:
    """The delivery methods the plan allows (电子送达 preselected where allowed), the choice and its errors."""
    methods = cases.delivery_methods(catalog, plan)
    if chosen is None:
        chosen = {"method": "electronic" if "electronic" in methods else methods[0]}
    return {"delivery_methods": methods, "delivery_chosen": chosen,
            "delivery_errors": errors or {}}


def _posted_delivery(raw: FormData) -> dict[str, str]:
    out = {}
    for key in ("method", "address"):
        value = raw.get(f"delivery.{key}")
        if isinstance(value, str):
            out[key] = value
    return out


async def _shared_data(request: Request, actor: Actor, engine: Engine, catalog: Catalog, plan: Plan,
                       consent_param: str | None, ref_param: str | None) -> SharedData:
    """Offer a consent, or fetch under the applicant's own consent (a stranger's id counts as none)."""
    now = now_of(request)
    offer = cases.consent_offer(catalog, plan, now, actor)
    if offer is None:
        return SharedData()
    if consent_param == DECLINED:
        return SharedData(declined=True)
    consent = await run_in_threadpool(cases.own_consent, engine, actor, consent_param) if consent_param else None
    if consent is None or (ref_param and ref_param != consent.application_ref):
        return SharedData(offer=offer, ref=cases.new_ref(), offer_plan=plan)
    prefilled = await run_in_threadpool(lambda: cases.prefill(engine, actor, catalog, plan,
                                                              ref=consent.application_ref, consent=consent, now=now))
    return SharedData(ref=consent.application_ref, prefilled=prefilled)


@router.get("/things/{code}/apply")
async def apply_form(request: Request, code: str, actor: CurrentActor, engine: EngineDep,
                     catalog: CatalogDep) -> Response:
    _applicant(actor)
    thing = _thing(catalog, code)
    outcome = evaluate(catalog, thing, {**request.query_params, "plan": "1"})
    if outcome.plan is None or not outcome.plan.procedures:
        return RedirectResponse(_guide_url(thing, outcome.form.values), status_code=303)
    shared = await _shared_data(request, actor, engine, catalog, outcome.plan, request.query_params.get("consent"),
                                request.query_params.get("ref"))
    principals = await run_in_threadpool(delegations.principals_for, engine, actor, thing.code, now_of(request))
    return _apply_page(request, catalog, thing, outcome, key=uuid.uuid4().hex, shared=shared, principals=principals)


@router.post("/things/{code}/apply/consent")
async def apply_consent(request: Request, code: str, actor: CurrentActor, engine: EngineDep,
                        catalog: CatalogDep) -> Response:
    """同意 binds a consent to this apply session's reference and shows the prefilled form; 不同意 the plain one."""
    _applicant(actor)
    thing = _thing(catalog, code)
    raw = await request.form()
    answers = {q.id: value for q in thing.questions
               if isinstance(value := raw.get(views.ANSWER_PREFIX + q.id), str)}
    outcome = evaluate(catalog, thing, {**answers, "plan": "1"})
    plan = outcome.plan
    if plan is None or not plan.procedures:
        return RedirectResponse(_guide_url(thing, outcome.form.values), status_code=303)
    if raw.get("decision") != "agree":
        return RedirectResponse(_apply_url(thing, outcome.form.values, consent=DECLINED) + "#apply-form",
                                status_code=303)
    ref = raw.get("ref")
    ref = ref if isinstance(ref, str) and 1 <= len(ref) <= 36 else cases.new_ref()
    try:
        consent = await run_in_threadpool(lambda: cases.consent_to_prefill(engine, actor, catalog, plan, ref=ref,
                                                                           now=now_of(request)))
    except cases.Invalid as exc:
        raise Problem(422, detail=_case_message(exc), type_="/problems/validation", errors=exc.errors) from None
    return RedirectResponse(_apply_url(thing, outcome.form.values, ref=consent.application_ref, consent=consent.id)
                            + "#apply-form", status_code=303)


@router.post("/things/{code}/apply", dependencies=[Depends(rate_limit("submit", "submit_rate_per_minute"))])
async def apply_submit(request: Request, code: str, actor: CurrentActor, engine: EngineDep,
                       catalog: CatalogDep) -> Response:
    _applicant(actor)
    thing = _thing(catalog, code)
    raw = await request.form()
    answers = {q.id: value for q in thing.questions
               if isinstance(value := raw.get(views.ANSWER_PREFIX + q.id), str)}
    outcome = evaluate(catalog, thing, {**answers, "plan": "1"})
    if outcome.plan is None:
        return RedirectResponse(_guide_url(thing, outcome.form.values), status_code=303)
    plan = outcome.plan
    key = raw.get("idempotency_key")
    key = key if isinstance(key, str) else ""
    consent_id = raw.get("consent_id")
    consent_id = consent_id if isinstance(consent_id, str) and consent_id else None
    ref = raw.get("application_ref")
    ref = ref if isinstance(ref, str) and ref else None
    values = views.form_values(raw, plan.form.fields)
    chosen = raw.get("on_behalf_of")
    on_behalf = chosen if isinstance(chosen, str) and chosen else None  # a delegation id (为谁申请)
    principal = None
    if on_behalf is not None:
        principal = await run_in_threadpool(delegations.principal_of, engine, actor, on_behalf) or on_behalf
    delivery = _posted_delivery(raw)

    async def again(status_code: int, key: str, field_errors: Mapping[str, str] | None = None,
                    other_errors: list[str] | None = None, delivery_errors: Mapping[str, str] | None = None
                    ) -> Response:
        shared = await _shared_data(request, actor, engine, catalog, plan, consent_id or DECLINED, ref)
        principals = await run_in_threadpool(delegations.principals_for, engine, actor, thing.code, now_of(request))
        return _apply_page(request, catalog, thing, outcome, key=key, values=values, field_errors=field_errors,
                           other_errors=other_errors, status_code=status_code, shared=shared,
                           principals=principals, on_behalf=on_behalf, delivery=delivery,
                           delivery_errors=delivery_errors)

    try:
        submitted = await run_in_threadpool(
            lambda: cases.submit_application(
                engine, actor, catalog=get_catalog(request), catalog_version=request.app.state.catalog_label,
                thing=thing.code, answers=answers, form=views.form_payload(raw, plan.form.fields), idempotency_key=key,
                now=now_of(request), consent_id=consent_id, application_ref=ref if consent_id else None,
                region=get_region(request), on_behalf_of=principal,
                delivery={"method": delivery.get("method"), **delivery}))
    except cases.Invalid as exc:
        delivery_errors = {name.removeprefix("delivery."): message for name, message in exc.errors
                           if name.startswith("delivery.")}
        by_field, other = views.split_errors([e for e in exc.errors if not e[0].startswith("delivery.")],
                                             (f.id for f in plan.form.fields))
        return await again(422, key or uuid.uuid4().hex, by_field, other, delivery_errors)
    except cases.Conflict:
        # The key was used for another body (the form was changed after it was sent): a fresh key lets the
        # applicant submit this version as a new application, knowingly.
        message = "此表单此前已提交过另一版本的内容。如确需另行申请，请核对后再次提交；已提交的申请见“我的办件”。"
        return await again(409, uuid.uuid4().hex, other_errors=[message])
    except UnknownCalendarYear as exc:
        raise _calendar_problem(exc) from None
    application_id = submitted.application["id"]
    failed: list[str] = []
    stored = Plan.model_validate(submitted.application["plan"])  # the server's plan: exempt materials need no file
    if submitted.created:  # a replayed submission already has its files
        for material in stored.materials:
            if material.status == "exempt":
                continue
            upload = _chosen_file(raw, views.MATERIAL_PREFIX + material.id)
            if upload is not None and await _attach(engine, actor, application_id, material.id, upload, request):
                failed.append(material.id)
    return _done(engine, request, application_id, "submitted",
                 [views.material_names(stored).get(m, m) for m in failed])


# --- 我的办件 ---------------------------------------------------------------------------------------------


@router.get("/me/applications")
def my_applications(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    _applicant(actor)
    applications = cases.list_applications(engine, actor)
    now = now_of(request)
    late = {a["id"]: cases.lateness(a, now=now, catalog=catalog) for a in applications}
    drafts = cases.list_drafts(engine, actor, now)
    return render(request, "cases/my_applications.html", template_context(
        request, applications=applications, nav="my-applications", late=late, drafts=drafts,
        notice=pop_flash(engine, request),
        telling=views.telling_answers(applications, catalog), **views.template_helpers(catalog)))


def _application_page(request: Request, actor: Actor, engine: Engine, catalog: Catalog, application_id: str, *,
                      status_code: int = 200, message: str | None = None,
                      supplement_errors: Mapping[str, Mapping[str, str]] | None = None,
                      supplement_values: Mapping[str, str] | None = None,
                      rating_errors: list[str] | None = None, notice: Notice | None = None) -> Response:
    application = cases.get_application(engine, actor, application_id)
    history = case_reads.task_history(engine, actor, application_id)
    plan = Plan.model_validate(application["plan"])
    results = cases.results(engine, actor, application_id) if application["status"] == "completed" else []
    rating = case_reads.rating_of(engine, actor, application_id)
    fields = {f.id: f for f in plan.form.fields}
    supplement_errors = supplement_errors or {}
    open_supplements = []
    for supplement in application["supplements"]:
        if supplement["status"] != "open":
            continue
        errors = supplement_errors.get(supplement["id"], {})
        asked: list[FormField] = [fields[f] for f in supplement["fields"] if f in fields]
        open_supplements.append({
            "supplement": supplement, "errors": errors,
            "widgets": views.widgets(asked, supplement_values or application["form"], errors),
            "materials": [(m, views.material_names(plan).get(m, m)) for m in supplement["materials"]],
        })
    context = template_context(
        request, application=application, plan=plan, nav="my-applications", notice=notice, message=message,
        timeline=views.timeline(application, history, catalog), results=results, rating=rating,
        certificates=certificates.list_for_application(engine, actor, application_id),
        open_supplements=open_supplements, rating_errors=rating_errors or [],
        field_labels=views.field_labels(plan), material_names=views.material_names(plan),
        ratable=application["status"] in ("completed", "rejected") and rating is None,
        late=cases.lateness(application, now=now_of(request), catalog=catalog), late_words=cases.late_words,
        active=application["status"] in ("submitted", "in_progress", "supplement_required"),
        uploaded_materials={f["material"] for f in application["files"]},
        asked_materials={m for s in application["supplements"] if s["status"] == "open" for m in s["materials"]},
        **views.template_helpers(catalog))
    return render(request, "cases/my_application.html", context, status_code=status_code,
                  headers={"Cache-Control": "no-store"})


@router.get("/me/applications/{application_id}")
def my_application(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep,
                   catalog: CatalogDep) -> Response:
    _applicant(actor)
    return _application_page(request, actor, engine, catalog, application_id, notice=pop_flash(engine, request))


@router.get("/me/applications/{application_id}/receipt")
def receipt_page(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep,
                 catalog: CatalogDep) -> Response:
    """受理回执 to read or print (a print stylesheet leaves the receipt only)."""
    _applicant(actor)
    item = cases.receipt(engine, actor, application_id, catalog)
    return render(request, "cases/receipt.html", template_context(request, receipt=item, nav="my-applications"),
                  headers={"Cache-Control": "no-store"})


@router.get("/me/applications/{application_id}/receipt.pdf")
def receipt_pdf(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep,
                catalog: CatalogDep) -> Response:
    """The same receipt as a PDF; the applicant alone (anyone else: 404)."""
    _applicant(actor)
    item = cases.receipt(engine, actor, application_id, catalog)
    return Response(cases.render_receipt_pdf(item), media_type="application/pdf", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'inline; filename="receipt-{item.number}.pdf"'})


WITHDRAWABLE = ("submitted", "in_progress", "supplement_required")


def _withdraw_page(request: Request, actor: Actor, engine: Engine, catalog: Catalog, application_id: str, *,
                   status_code: int = 200, message: str | None = None) -> Response:
    application = cases.get_application(engine, actor, application_id)
    statuses = [t["status"] for t in application["tasks"]]
    return render(request, "cases/withdraw.html", template_context(
        request, application=application, nav="my-applications", message=message,
        open_count=sum(s in ("waiting", "ready", "accepted", "supplement_required") for s in statuses),
        approved_count=statuses.count("approved"), after_close_days=_after_close_days(),
        **views.template_helpers(catalog)), status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/me/applications/{application_id}/withdraw")
def withdraw_confirm(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep,
                     catalog: CatalogDep) -> Response:
    """撤回 asks first, stating what withdrawing does; a finished application has nothing to withdraw."""
    _applicant(actor)
    application = cases.get_application(engine, actor, application_id)
    if application["status"] not in WITHDRAWABLE:
        return redirect_with_notice(engine, request, f"/me/applications/{application_id}",
                                    "该申请已结束，无法撤回。", error=True)
    return _withdraw_page(request, actor, engine, catalog, application_id)


@router.post("/me/applications/{application_id}/withdraw")
async def withdraw(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep,
                   catalog: CatalogDep) -> Response:
    _applicant(actor)
    raw = await request.form()
    if raw.get("confirm") != "yes":
        return RedirectResponse(f"/me/applications/{application_id}/withdraw", status_code=303)
    try:
        await run_in_threadpool(lambda: cases.withdraw_application(engine, actor, application_id,
                                                                   now=now_of(request)))
    except (cases.InvalidTransition, cases.Conflict):
        return await run_in_threadpool(lambda: _withdraw_page(
            request, actor, engine, catalog, application_id, status_code=409,
            message="该申请已办结或已结束，无法撤回。"))
    return _done(engine, request, application_id, "withdrawn")


def _done(engine: Engine, request: Request, application_id: str, done: str,
          failed: list[str] | None = None) -> RedirectResponse:
    """303 to the application with its notice kept on the session (``failed``: names of materials not stored)."""
    path = f"/me/applications/{application_id}" + ("" if done == "submitted" else "#top")
    if failed:
        return redirect_with_notice(engine, request, path, FAILED_MESSAGE.format("、".join(failed)), error=True)
    if done in DONE_MESSAGES:
        return redirect_with_notice(engine, request, path, DONE_MESSAGES[done])
    return RedirectResponse(path, status_code=303)


@router.post("/me/applications/{application_id}/supplements/{supplement_id}")
async def answer_supplement(request: Request, application_id: str, supplement_id: str, actor: CurrentActor,
                            engine: EngineDep, catalog: CatalogDep) -> Response:
    """Answer a supplement request (补正): upload the asked materials, then send the asked fields once."""
    _applicant(actor)
    raw = await request.form()
    application = await run_in_threadpool(cases.get_application, engine, actor, application_id)
    supplement = next((s for s in application["supplements"] if s["id"] == supplement_id), None)
    if supplement is None:
        raise Problem(404, detail="没有找到该补正要求。", type_="/problems/not-found")
    plan = Plan.model_validate(application["plan"])
    asked = [f for f in plan.form.fields if f.id in supplement["fields"]]
    errors: dict[str, str] = {}
    if supplement["status"] == "open":
        for material in supplement["materials"]:
            upload = _chosen_file(raw, views.MATERIAL_PREFIX + material)
            if upload is not None and (problem := await _attach(engine, actor, application_id, material, upload,
                                                                 request)):
                errors[f"material.{material}"] = problem
    values = views.form_values(raw, asked)

    def again(status_code: int, message: str | None = None) -> Response:
        return _application_page(request, actor, engine, catalog, application_id, status_code=status_code,
                                 message=message, supplement_errors={supplement_id: errors},
                                 supplement_values={**application["form"], **values})

    if errors:
        return await run_in_threadpool(again, 422)
    try:
        await run_in_threadpool(lambda: cases.answer_supplement(
            engine, actor, application_id, supplement_id, views.form_payload(raw, asked), catalog=catalog,
            now=now_of(request)))
    except cases.Invalid as exc:
        for name, message in exc.errors:
            key = name.removeprefix("form.")
            if name.startswith("materials."):
                key = views.MATERIAL_PREFIX + name.removeprefix("materials.")
            errors[key] = message
        return await run_in_threadpool(again, 422)
    except (cases.Conflict, cases.InvalidTransition):
        return await run_in_threadpool(again, 409, "该补正已答复或申请已结束，无需再次提交。")
    except UnknownCalendarYear as exc:
        raise _calendar_problem(exc) from None
    return _done(engine, request, application_id, "supplement")


def _score(value: Any) -> Any:
    """A posted score as an int when it looks like one; anything else goes to the service to be refused."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


@router.post("/me/applications/{application_id}/rating")
async def rate(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep,
               catalog: CatalogDep) -> Response:
    """Rate the finished application once (好差评): the whole, an optional comment, optional scores per task."""
    _applicant(actor)
    raw = await request.form()
    comment = raw.get("comment")
    tasks = {key.removeprefix(views.TASK_SCORE_PREFIX): _score(value) for key, value in raw.items()
             if key.startswith(views.TASK_SCORE_PREFIX) and isinstance(value, str) and value}
    try:
        await run_in_threadpool(lambda: cases.rate_application(
            engine, actor, application_id, score=_score(raw.get("score")),
            comment=comment if isinstance(comment, str) else None, tasks=tasks, catalog=catalog,
            now=now_of(request)))
    except cases.Invalid as exc:
        messages = [("请选择总体评价等级" if name == "score" else message) for name, message in exc.errors]
        return await run_in_threadpool(lambda: _application_page(
            request, actor, engine, catalog, application_id, status_code=422, rating_errors=messages))
    except cases.Conflict as exc:
        conflict = str(exc)
        return await run_in_threadpool(lambda: _application_page(
            request, actor, engine, catalog, application_id, status_code=409, message=conflict))
    except UnknownCalendarYear as exc:
        raise _calendar_problem(exc) from None
    return _done(engine, request, application_id, "rated")


@router.post("/me/applications/{application_id}/files")
async def upload(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    """Upload one more material file to an application still being worked on (补传材料)."""
    _applicant(actor)
    raw = await request.form()
    material = raw.get("material")
    chosen = _chosen_file(raw, "file")
    if not isinstance(material, str) or chosen is None:
        return _done(engine, request, application_id, "", ["未选择文件"])
    problem = await _attach(engine, actor, application_id, material, chosen, request)
    if problem is None:
        return _done(engine, request, application_id, "uploaded")
    plan = Plan.model_validate((await run_in_threadpool(cases.get_application, engine, actor,
                                                        application_id))["plan"])
    return _done(engine, request, application_id, "", [views.material_names(plan).get(material, "所选材料")])
