"""The department workbench (部门工作台): the department's task queue by due date, and one task with the
application's form values for its procedure, the materials, its place in the plan and the decisions.

Each decision is its own small form (受理、办结、不予许可、补正) carrying the task version it was shown with;
the service compares it (If-Match semantics), so a decision made on a stale page is refused and the page is
shown again, fresh, with "该事项已被他人处理". Staff see only their own department's tasks: another
department's task answers 404 like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

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

STATUS_FILTERS = ("ready", "accepted", "supplement_required", "waiting", "approved", "rejected", "cancelled")
DONE_MESSAGES = {kind: f"已{label}。" for kind, label in views.DECISION_LABELS.items()}
DONE_MESSAGES["request_supplement"] = "已向申请人发出补正告知，办理时限暂停计算。"
STALE_MESSAGE = "该事项已被他人处理：您看到的页面已过期，以下为最新状态，请核对后再操作。"


def _staff(actor: Actor) -> None:
    if actor.role not in (Role.staff, Role.dept_admin) or actor.department is None:
        raise Problem(403, detail="工作台仅供部门工作人员使用。", type_="/problems/forbidden")


@router.get("/workbench")
def queue(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
          status: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    _staff(actor)
    chosen = status if status in STATUS_FILTERS else None
    tasks = cases.list_tasks(engine, actor, status=chosen)
    now = now_of(request)
    try:
        overdue = {t["id"]: t["overdue_days"] for t in cases.overdue(engine, actor, now=now, catalog=catalog)}
        soon = {t["id"]: t["days_left"] for t in cases.due_soon(engine, actor, now=now, catalog=catalog,
                                                                  days=get_case_settings().due_soon_days)}
    except UnknownCalendarYear:
        overdue, soon = {}, {}
    return render(request, "cases/workbench.html", template_context(
        request, tasks=tasks, overdue=overdue, soon=soon, status=chosen or "", filters=STATUS_FILTERS,
        nav="cases-workbench", **views.template_helpers(catalog)), headers={"Cache-Control": "no-store"})


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
    context = template_context(
        request, task=task, application=application, plan=plan, procedure=procedure, fields=fields,
        produced_fields=[f for f in plan.form.fields if procedure is not None and f.id in procedure.produces],
        materials=materials, files=files, history=[(views.local_time(e["at"]), views.event_text(e)) for e in history],
        predecessors=[planned[p] for p in task["after"] if p in planned],
        supplements=[s for s in application["supplements"] if s["task"] == task_id],
        decisions=views.allowed_decisions(task["status"]), message=message, notice=notice,
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
        result = {key: value for key, value in (("document", text("document")), ("number", text("number"))) if value}
        produced = {str(key)[len(PRODUCED_PREFIX):]: value.strip() for key, value in raw.items()
                    if str(key).startswith(PRODUCED_PREFIX) and isinstance(value, str)}
        return cases.Decision(kind=kind, result=result, produced=produced)
    if kind is cases.DecisionKind.reject:
        return cases.Decision(kind=kind, reason=text("reason"))
    if kind is cases.DecisionKind.request_supplement:
        return cases.Decision(kind=kind, reason=text("reason"),
                              fields=tuple(v for v in raw.getlist("fields") if isinstance(v, str)),
                              materials=tuple(v for v in raw.getlist("materials") if isinstance(v, str)))
    return cases.Decision(kind=kind)


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
    posted = {"kind": kind.value, "reason": raw.get("reason", ""), "document": raw.get("document", ""),
              "number": raw.get("number", ""), "fields": raw.getlist("fields"), "materials": raw.getlist("materials"),
              "produced": {k[len(PRODUCED_PREFIX):]: v for k, v in raw.items() if k.startswith(PRODUCED_PREFIX)}}

    def again(status_code: int, message: str | None = None, errors: Mapping[str, str] | None = None) -> Response:
        return _task_page(request, actor, engine, catalog, task_id, status_code=status_code, message=message,
                          failed_kind=kind.value, errors=errors, posted=posted)

    try:
        await run_in_threadpool(lambda: cases.decide_task(engine, actor, task_id, decision,
                                                          expected_version=version, catalog=catalog,
                                                          now=now_of(request)))
    except (cases.PreconditionFailed, cases.PreconditionRequired):
        return await run_in_threadpool(again, 409, STALE_MESSAGE)
    except (cases.InvalidTransition, cases.Conflict):
        return await run_in_threadpool(again, 409, STALE_MESSAGE)
    except cases.Invalid as exc:
        errors = {(name if name.startswith(PRODUCED_PREFIX) else name.split(".", 1)[0]): message
                  for name, message in exc.errors}
        return await run_in_threadpool(again, 422, "请按提示修改后再提交。", errors)
    except UnknownCalendarYear as exc:
        raise Problem(503, detail=f"工作日历未配置 {exc.year} 年，暂时无法计算办理时限；请联系平台运营人员。",
                      type_="/problems/calendar-year-unknown") from None
    return redirect_with_notice(engine, request, f"/workbench/tasks/{task_id}", DONE_MESSAGES[kind.value])
