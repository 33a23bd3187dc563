"""Applicant pages (申请人): apply online for a one-thing (一表申请、一套材料、一次提交), 我的办件 with a timeline
per department task, answering a supplement request (补正), the results together (统一出件) and the rating
(好差评).

Plain HTML forms with the session's CSRF token; they work without JavaScript. Every POST calls the case
services and redirects (303) on success, so a reload never repeats it; on a validation error the page is
shown again with each message next to its field and a summary at the top. The apply form carries an
Idempotency-Key minted when it was rendered: a double click or a resent form answers the same application.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
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
from onething.intake.model import FormField, Plan
from onething.web.auth import CurrentActor, now_of, rate_limit, template_context
from onething.web.deps import get_catalog, get_engine
from onething.web.pages import cases_views as views
from onething.web.pages.portal import PlanOutcome, evaluate
from onething.web.problems import Problem
from onething.web.templating import render
from onething.workdays import UnknownCalendarYear

router = APIRouter(include_in_schema=False)

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

DONE_MESSAGES = {
    "submitted": "申请已提交。各部门将按办理顺序并联审批，办理进度会显示在下方。",
    "supplement": "补正材料已提交，相关部门将继续办理。",
    "rated": "感谢您的评价！",
    "uploaded": "材料已上传。",
}


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


def _apply_page(request: Request, catalog: Catalog, thing: Thing, outcome: PlanOutcome, *, key: str,
                values: Mapping[str, str] | None = None, field_errors: Mapping[str, str] | None = None,
                other_errors: list[str] | None = None, status_code: int = 200) -> Response:
    plan = outcome.plan
    assert plan is not None
    context = template_context(
        request, thing=thing, plan=plan, answers=outcome.form.values, idempotency_key=key, nav="apply",
        widgets=views.widgets(plan.form.fields, values, field_errors), field_errors=field_errors or {},
        other_errors=other_errors or [], guide_url=_guide_url(thing, outcome.form.values),
        resubmitted=bool(values), **views.template_helpers(catalog))
    return render(request, "cases/apply.html", context, status_code=status_code,
                  headers={"Cache-Control": "no-store"})


@router.get("/things/{code}/apply")
async def apply_form(request: Request, code: str, actor: CurrentActor, catalog: CatalogDep) -> Response:
    _applicant(actor)
    thing = _thing(catalog, code)
    outcome = evaluate(catalog, thing, {**request.query_params, "plan": "1"})
    if outcome.plan is None or not outcome.plan.procedures:
        return RedirectResponse(_guide_url(thing, outcome.form.values), status_code=303)
    return _apply_page(request, catalog, thing, outcome, key=uuid.uuid4().hex)


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
    values = views.form_values(raw, plan.form.fields)
    try:
        submitted = await run_in_threadpool(
            lambda: cases.submit_application(
                engine, actor, catalog=catalog, catalog_version=request.app.state.catalog_label, thing=thing.code,
                answers=answers, form=views.form_payload(raw, plan.form.fields), idempotency_key=key,
                now=now_of(request)))
    except cases.Invalid as exc:
        by_field, other = views.split_errors(exc.errors, (f.id for f in plan.form.fields))
        return _apply_page(request, catalog, thing, outcome, key=key or uuid.uuid4().hex, values=values,
                           field_errors=by_field, other_errors=other, status_code=422)
    except cases.Conflict:
        # The key was used for another body (the form was changed after it was sent): a fresh key lets the
        # applicant submit this version as a new application, knowingly.
        message = "此表单此前已提交过另一版本的内容。如确需另行申请，请核对后再次提交；已提交的申请见“我的办件”。"
        return _apply_page(request, catalog, thing, outcome, key=uuid.uuid4().hex, values=values,
                           other_errors=[message], status_code=409)
    except UnknownCalendarYear as exc:
        raise _calendar_problem(exc) from None
    application_id = submitted.application["id"]
    failed: list[str] = []
    if submitted.created:  # a replayed submission already has its files
        for material in plan.materials:
            upload = _chosen_file(raw, views.MATERIAL_PREFIX + material.id)
            if upload is not None and await _attach(engine, actor, application_id, material.id, upload, request):
                failed.append(material.id)
    query = {"done": "submitted", **({"failed": ",".join(failed)} if failed else {})}
    return RedirectResponse(f"/me/applications/{application_id}?{urlencode(query)}", status_code=303)


# --- 我的办件 ---------------------------------------------------------------------------------------------


@router.get("/me/applications")
def my_applications(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    _applicant(actor)
    applications = cases.list_applications(engine, actor)
    return render(request, "cases/my_applications.html", template_context(
        request, applications=applications, nav="my-applications", **views.template_helpers(catalog)))


def _application_page(request: Request, actor: Actor, engine: Engine, catalog: Catalog, application_id: str, *,
                      status_code: int = 200, message: str | None = None,
                      supplement_errors: Mapping[str, Mapping[str, str]] | None = None,
                      supplement_values: Mapping[str, str] | None = None,
                      rating_errors: list[str] | None = None, notice: str | None = None,
                      failed: list[str] | None = None) -> Response:
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
        open_supplements=open_supplements, rating_errors=rating_errors or [],
        field_labels=views.field_labels(plan), material_names=views.material_names(plan),
        failed=[views.material_names(plan).get(m, m) for m in failed or []],
        ratable=application["status"] in ("completed", "rejected") and rating is None,
        active=application["status"] in ("submitted", "in_progress", "supplement_required"),
        **views.template_helpers(catalog))
    return render(request, "cases/my_application.html", context, status_code=status_code,
                  headers={"Cache-Control": "no-store"})


@router.get("/me/applications/{application_id}")
def my_application(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep,
                   catalog: CatalogDep, done: Annotated[str | None, Query(max_length=20)] = None,
                   failed: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    _applicant(actor)
    return _application_page(request, actor, engine, catalog, application_id, notice=DONE_MESSAGES.get(done or ""),
                             failed=[m for m in (failed or "").split(",") if m])


def _done(application_id: str, done: str, failed: list[str] | None = None) -> RedirectResponse:
    query = {"done": done, **({"failed": ",".join(failed)} if failed else {})}
    return RedirectResponse(f"/me/applications/{application_id}?{urlencode(query)}#top", status_code=303)


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
    return _done(application_id, "supplement")


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
    return _done(application_id, "rated")


@router.post("/me/applications/{application_id}/files")
async def upload(request: Request, application_id: str, actor: CurrentActor, engine: EngineDep) -> Response:
    """Upload one more material file to an application still being worked on (补传材料)."""
    _applicant(actor)
    raw = await request.form()
    material = raw.get("material")
    chosen = _chosen_file(raw, "file")
    if not isinstance(material, str) or chosen is None:
        return _done(application_id, "", [material] if isinstance(material, str) and material else ["file"])
    problem = await _attach(engine, actor, application_id, material, chosen, request)
    return _done(application_id, "uploaded" if problem is None else "", [material] if problem else None)
