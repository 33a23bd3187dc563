"""The department workbench (部门工作台): the department's task queue by due date, and one task with the
application's form values for its procedure, the materials, its place in the plan and the decisions.

Each decision is its own small form (受理、办结、不予许可、补正) carrying the task version it was shown with;
the service compares it (If-Match semantics), so a decision made on a stale page is refused and the page is
shown again, fresh, with "该事项已被他人处理". Staff see only their own department's tasks: another
department's task answers 404 like one that does not exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from onething.accounts.api import Actor, Role
from onething.cases import api as cases
from onething.cases import workbench as case_reads
from onething.cases.settings import get_case_settings
from onething.catalog.model import Catalog
from onething.certificates import api as certificates
from onething.intake.model import Plan
from onething.web.auth import CurrentActor, now_of, template_context
from onething.web.deps import get_catalog, get_engine
from onething.web.flash import Notice, pop_flash, redirect_with_notice
from onething.web.pages import cases_views as views
from onething.web.problems import Problem
from onething.web.templating import render
from onething.workdays import UnknownCalendarYear

router = APIRouter(include_in_schema=False)

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

SORT_LABELS = {"due": "办结期限（早→晚）", "-due": "办结期限（晚→早）", "received": "收件时间（早→晚）",
               "-received": "收件时间（晚→早）"}
# The approve form's document fields, sent as the decision's ``result``; a catalog that says what a procedure
# produces adds its fields here (certificate fields are every other key of the result).
APPROVE_FIELDS: tuple[str, ...] = ("document", "number", "valid_from", "valid_until")
STATUS_FILTERS = ("ready", "accepted", "supplement_required", "waiting", "approved", "rejected", "cancelled")
DONE_MESSAGES = {"request_supplement": "已向申请人发出补正告知，办理时限暂停计算。", "approve": "已办结（准予许可）。"}
STALE_MESSAGE = "该事项已被他人处理：您看到的页面已过期，以下为最新状态，请核对后再操作。"


def _staff(actor: Actor) -> None:
    if actor.role not in (Role.staff, Role.dept_admin) or actor.department is None:
        raise Problem(403, detail="工作台仅供部门工作人员使用。", type_="/problems/forbidden")


@router.get("/workbench")
def queue(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
          status: Annotated[str | None, Query(max_length=40)] = None,
          thing: Annotated[str | None, Query(max_length=64)] = None,
          overdue: Annotated[str | None, Query(max_length=5)] = None,
          number: Annotated[str | None, Query(max_length=40)] = None,
          sort: Annotated[str | None, Query(max_length=20)] = None,
          page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    """The department's queue: filters (状态、事项、超期), search by 办件编号, sort and pages of 25."""
    _staff(actor)
    chosen = status if status in STATUS_FILTERS else None
    typed = (number or "").strip() or None
    query = cases.QueueQuery(status=chosen, thing=(thing or None) if thing in catalog.things else None,
                             overdue_only=overdue == "1", number=typed,
                             sort=sort if sort in cases.QUEUE_SORTS else "due", page=page)
    now = now_of(request)
    search_error = None
    try:
        result = cases.queue(engine, actor, query, now=now, catalog=catalog)
    except cases.Invalid as exc:
        search_error = "；".join(message for _name, message in exc.errors)
        result = cases.queue(engine, actor, dataclasses.replace(query, number=None, page=1), now=now,
                             catalog=catalog)
        query = dataclasses.replace(query, number=None)
    except UnknownCalendarYear:
        result = cases.QueuePage()
        search_error = "工作日历未配置当年，暂时无法计算超期；请联系平台运营人员。"
    try:
        soon = {t["id"]: t["days_left"] for t in cases.due_soon(engine, actor, now=now, catalog=catalog,
                                                                  days=get_case_settings().due_soon_days)}
    except UnknownCalendarYear:
        soon = {}
    filters = {"status": query.status or "", "thing": query.thing or "", "overdue": "1" if query.overdue_only else "",
               "number": typed or "", "sort": query.sort}
    return render(request, "cases/workbench.html", template_context(
        request, page=result, tasks=result.rows, soon=soon, filters=filters, status_filters=STATUS_FILTERS,
        sorts=SORT_LABELS, search_error=search_error, typed_number=typed or "",
        page_query=lambda n, **changes: urlencode({k: v for k, v in {**filters, **changes, "page": str(n)}.items()
                                                     if v and not (k == "page" and v == "1")}),
        nav="cases-workbench", **views.template_helpers(catalog)), headers={"Cache-Control": "no-store"})


def _approval_result(posted: Mapping[str, Any]) -> dict[str, str]:
    """The approve form's document fields as the decision's ``result``: only what was typed."""
    return {name: value.strip() for name in APPROVE_FIELDS
            if isinstance(value := posted.get(name), str) and value.strip()}


def _task_page(request: Request, actor: Actor, engine: Engine, catalog: Catalog, task_id: str, *,
               status_code: int = 200, message: str | None = None, notice: Notice | None = None,
               failed_kind: str | None = None, errors: Mapping[str, str] | None = None,
               posted: Mapping[str, Any] | None = None) -> Response:
    task = cases.get_task(engine, actor, task_id)
    application = cases.get_application(engine, actor, task["application"])
    history = case_reads.task_history(engine, actor, task["application"]).get(task_id, [])
    plan = Plan.model_validate(application["plan"])
    planned = {p.id: p for p in plan.procedures}
    procedure = planned.get(task["procedure"])
    fields = views.procedure_fields(plan, task["procedure"])
    materials = views.procedure_materials(plan, task["procedure"])
    files = [f for f in application["files"] if f["material"] in {m.id for m in materials}]
    decisions = views.allowed_decisions(task["status"])
    approving = posted if failed_kind == "approve" and posted else {}
    preview = (cases.certificate_preview(engine, actor, task_id, _approval_result(approving), now=now_of(request))
               if "approve" in decisions else None)
    context = template_context(
        request, task=task, application=application, plan=plan, procedure=procedure, fields=fields,
        produced_fields=[f for f in plan.form.fields if procedure is not None and f.id in procedure.produces],
        materials=materials, files=files, history=[(views.local_time(e["at"]), views.event_text(e)) for e in history],
        predecessors=[planned[p] for p in task["after"] if p in planned],
        supplements=[s for s in application["supplements"] if s["task"] == task_id],
        decisions=decisions, message=message, notice=notice, preview=preview,
        applicant=cases.applicant_of(engine, actor, task["application"]),
        certificate=certificates.certificate_of_task(engine, actor, task_id),
        failed_kind=failed_kind, errors=errors or {}, posted=posted or {}, nav="cases-workbench",
        field_labels=views.field_labels(plan), material_names=views.material_names(plan),
        **views.template_helpers(catalog))
    return render(request, "cases/task.html", context, status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get("/workbench/tasks/{task_id}")
def task_page(request: Request, task_id: str, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    _staff(actor)
    return _task_page(request, actor, engine, catalog, task_id, notice=pop_flash(engine, request))


PRODUCED_PREFIX = "produced."  # approve form: one input per field the procedure produces


def _decision(raw: FormData, kind: cases.DecisionKind) -> cases.Decision:
    def text(name: str) -> str:
        value = raw.get(name)
        return value.strip() if isinstance(value, str) else ""

    if kind is cases.DecisionKind.approve:
        # 文书名称 and 文号 go as typed, even blank, so the service refuses an approval that leaves them empty.
        required = {name: text(name) for name in ("document", "number") if name in raw}
        produced = {str(key)[len(PRODUCED_PREFIX):]: value.strip() for key, value in raw.items()
                    if str(key).startswith(PRODUCED_PREFIX) and isinstance(value, str)}
        return cases.Decision(kind=kind, result={**_approval_result({name: text(name) for name in APPROVE_FIELDS}),
                                                 **required}, produced=produced)
    if kind is cases.DecisionKind.reject:
        return cases.Decision(kind=kind, reason=text("reason"))
    if kind is cases.DecisionKind.request_supplement:
        return cases.Decision(kind=kind, reason=text("reason"),
                              fields=tuple(v for v in raw.getlist("fields") if isinstance(v, str)),
                              materials=tuple(v for v in raw.getlist("materials") if isinstance(v, str)))
    return cases.Decision(kind=kind)


def _error_key(name: str) -> str:
    """A service error's name as the form field it belongs to: ``result.number`` → ``number``."""
    head, _, rest = name.partition(".")
    return rest if head == "result" and rest else head


@router.post("/workbench/tasks/{task_id}/preview")
async def preview(request: Request, task_id: str, actor: CurrentActor, engine: EngineDep,
                  catalog: CatalogDep) -> Response:
    """The approve form sent with 预览证照: the page again, with the certificate as these values would issue it.
    Nothing is decided or stored."""
    _staff(actor)
    raw = await request.form()
    posted = {"kind": "approve", **{name: str(raw.get(name, "")) for name in APPROVE_FIELDS}}
    return await run_in_threadpool(lambda: _task_page(request, actor, engine, catalog, task_id,
                                                      failed_kind="approve", posted=posted))


@router.post("/workbench/tasks/{task_id}/decision")
async def decide(request: Request, task_id: str, actor: CurrentActor, engine: EngineDep,
                 catalog: CatalogDep) -> Response:
    """One decision on the task, with the version the page showed (受理 / 办结 / 不予许可 / 补正)."""
    _staff(actor)
    raw = await request.form()
    try:
        kind = cases.DecisionKind(str(raw.get("kind", "")))
    except ValueError:
        raise Problem(422, detail="未知的办理决定。", type_="/problems/validation") from None
    version_text = str(raw.get("version", ""))
    version = int(version_text) if version_text.isdigit() else None
    decision = _decision(raw, kind)
    posted = {"kind": kind.value, "reason": raw.get("reason", ""), "fields": raw.getlist("fields"),
              "materials": raw.getlist("materials"), **{name: raw.get(name, "") for name in APPROVE_FIELDS},
              "produced": {k[len(PRODUCED_PREFIX):]: v for k, v in raw.items() if k.startswith(PRODUCED_PREFIX)}}

    def again(status_code: int, message: str | None = None, errors: Mapping[str, str] | None = None) -> Response:
        return _task_page(request, actor, engine, catalog, task_id, status_code=status_code, message=message,
                          failed_kind=kind.value, errors=errors, posted=posted)

    before = await run_in_threadpool(lambda: cases.get_task(engine, actor, task_id))
    done = views.allowed_decisions(before["status"]).get(kind.value)
    try:
        await run_in_threadpool(lambda: cases.decide_task(engine, actor, task_id, decision,
                                                          expected_version=version, catalog=catalog,
                                                          now=now_of(request)))
    except (cases.PreconditionFailed, cases.PreconditionRequired):
        return await run_in_threadpool(again, 409, STALE_MESSAGE)
    except (cases.InvalidTransition, cases.Conflict):
        return await run_in_threadpool(again, 409, STALE_MESSAGE)
    except cases.Invalid as exc:
        errors = {(name if name.startswith(PRODUCED_PREFIX) else _error_key(name)): message
                  for name, message in exc.errors}
        return await run_in_threadpool(again, 422, "请按提示修改后再提交。", errors)
    except UnknownCalendarYear as exc:
        raise Problem(503, detail=f"工作日历未配置 {exc.year} 年，暂时无法计算办理时限；请联系平台运营人员。",
                      type_="/problems/calendar-year-unknown") from None
    message = DONE_MESSAGES.get(kind.value) or f"已{done or views.DECISION_LABELS[kind.value]}。"
    return redirect_with_notice(engine, request, f"/workbench/tasks/{task_id}", message)
