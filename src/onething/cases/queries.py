"""Reading cases (查询): an application as the actor may see it, an applicant's or department's list, a
department's task queue, and the results of a completed application. Read-only, one short transaction each.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from onething.accounts.api import Actor, Forbidden, Role, authorize, can
from onething.cases.errors import Conflict, Invalid
from onething.cases.model import ApplicationStatus, TaskStatus
from onething.cases.records import full_view, plan_of, tasks_of, visible_application, visible_task
from onething.cases.tables import ApplicationRow, SupplementRow, TaskRow
from onething.cases.views import application_view, task_view
from onething.db import session_scope
from onething.delegations import api as delegations


def get_application(engine: Engine, actor: Actor, application_id: str, *, now: datetime | None = None
                    ) -> dict[str, Any]:
    """One application with its tasks, supplements and files, as the actor may see it (查看办件)."""
    with session_scope(engine) as session:
        app, departments = visible_application(session, actor, application_id, now)
        return full_view(session, app, departments)


def list_applications(engine: Engine, actor: Actor, *, limit: int = 100, now: datetime | None = None
                      ) -> list[dict[str, Any]]:
    """The actor's applications, newest first (我的办件); operators see all, staff their department's."""
    with session_scope(engine) as session:
        statement = select(ApplicationRow).order_by(ApplicationRow.submitted_at.desc()).limit(limit)
        departments: set[str] | None = None
        if actor.role is Role.applicant:
            authorize(actor, "application:read_own")
            acting = delegations.acting_delegations(session, actor, now or datetime.now(UTC))
            mine = ApplicationRow.applicant_id == actor.user_id
            statement = statement.where(or_(mine, and_(ApplicationRow.acted_by_id == actor.user_id,
                                                       ApplicationRow.delegation_id.in_(acting))) if acting else mine)
        elif not can(actor, "application:read"):
            authorize(actor, "task:read", actor.department)
            departments = {actor.department} if actor.department else set()
            statement = statement.where(ApplicationRow.id.in_(
                select(TaskRow.application_id).where(TaskRow.department == actor.department)))
        apps = list(session.execute(statement).scalars())
        ids = [a.id for a in apps]
        tasks: dict[str, list[TaskRow]] = {i: [] for i in ids}
        supplements: dict[str, list[SupplementRow]] = {i: [] for i in ids}
        if ids:
            for task in session.execute(select(TaskRow).where(TaskRow.application_id.in_(ids))).scalars():
                tasks[task.application_id].append(task)
            for sup in session.execute(select(SupplementRow).where(SupplementRow.application_id.in_(ids))).scalars():
                supplements[sup.application_id].append(sup)
        return [application_view(a, tasks[a.id], supplements[a.id], departments=departments) for a in apps]


def get_task(engine: Engine, actor: Actor, task_id: str) -> dict[str, Any]:
    """One task of the actor's department (办件环节详情)."""
    with session_scope(engine) as session:
        task = visible_task(session, actor, task_id)
        thing = session.scalar(select(ApplicationRow.thing).where(ApplicationRow.id == task.application_id))
        return task_view(task, thing=thing)


def list_tasks(engine: Engine, actor: Actor, *, status: str | None = None, department: str | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
    """A department's queue (待办), earliest due first; staff see only their own department."""
    errors: list[tuple[str, str]] = []
    if status is not None and status not in TaskStatus.__members__:
        errors.append(("status", "可选：" + "、".join(TaskStatus.__members__)))
    if errors:
        raise Invalid(errors)
    if department is None and not can(actor, "task:read"):
        department = actor.department
    authorize(actor, "task:read", department)
    with session_scope(engine) as session:
        statement = (select(TaskRow, ApplicationRow.thing)
                     .join(ApplicationRow, ApplicationRow.id == TaskRow.application_id)
                     .order_by(TaskRow.due.is_(None), TaskRow.due, TaskRow.ready_at, TaskRow.id).limit(limit))
        if department is not None:
            statement = statement.where(TaskRow.department == department)
        if status is not None:
            statement = statement.where(TaskRow.status == status)
        return [task_view(task, thing=thing) for task, thing in session.execute(statement)]


def results(engine: Engine, actor: Actor, application_id: str) -> list[dict[str, Any]]:
    """The results of a completed application, one per procedure, delivered together (统一出件)."""
    with session_scope(engine) as session:
        app, departments = visible_application(session, actor, application_id)
        if app.status != ApplicationStatus.completed.value:
            raise Conflict("申请尚未办结，结果统一出件")
        plan = plan_of(app)
        planned = {p.id: p for p in plan.procedures}
        out = []
        for task in sorted(tasks_of(session, app.id), key=lambda t: (t.stage, t.procedure)):
            if departments is not None and task.department not in departments:
                continue
            proc = planned.get(task.procedure)
            out.append({
                "task": task.id, "procedure": task.procedure, "procedure_name": proc.name if proc else None,
                "department": task.department, "department_name": proc.department_name if proc else None,
                "document": (task.result or {}).get("document"), "result": task.result,
                "decided_at": task.decided_at.isoformat() if task.decided_at else None,
            })
        return out


def application_numbers(engine: Engine, actor: Actor, *, ids: Iterable[str] = (),
                        numbers: Iterable[str] = ()) -> dict[str, str]:
    """Application id ↔ 办件编号 for operators and auditors (who search the audit log by number): a map from
    each given id to its number and from each given number to its id. Others are refused."""
    if not (can(actor, "application:read") or can(actor, "audit:read")):
        raise Forbidden("application:read")
    wanted_ids, wanted_numbers = set(ids), set(numbers)
    out: dict[str, str] = {}
    if not wanted_ids and not wanted_numbers:
        return out
    with session_scope(engine) as session:
        statement = select(ApplicationRow.id, ApplicationRow.number).where(
            or_(ApplicationRow.id.in_(wanted_ids), ApplicationRow.number.in_(wanted_numbers)))
        for app_id, number in session.execute(statement):
            if app_id in wanted_ids:
                out[app_id] = number
            if number in wanted_numbers:
                out[number] = app_id
    return out
