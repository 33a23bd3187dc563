"""Time limits (时限) in working days: overdue and soon-due tasks for staff and operators.

A task counts while it is ``ready`` or ``accepted``; a task waiting for a supplement has its clock paused
and is in neither list. Days are China calendar days of ``now``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, select

from onething.accounts.api import Actor, authorize, can
from onething.cases.model import TaskStatus
from onething.cases.tables import ApplicationRow, TaskRow
from onething.cases.views import task_view
from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.workdays import WorkdayCalendar, calendar_for, china_date

RUNNING = (TaskStatus.ready.value, TaskStatus.accepted.value)


def _query(engine: Engine, actor: Actor, department: str | None, low: date | None, high: date,
           strict_high: bool) -> list[tuple[TaskRow, str]]:
    if department is None and not can(actor, "task:read"):
        department = actor.department
    authorize(actor, "task:read", department)
    with session_scope(engine) as session:
        statement = (select(TaskRow, ApplicationRow.thing)
                     .join(ApplicationRow, ApplicationRow.id == TaskRow.application_id)
                     .where(TaskRow.status.in_(RUNNING), TaskRow.due.is_not(None))
                     .where(TaskRow.due < high if strict_high else TaskRow.due <= high)
                     .order_by(TaskRow.due, TaskRow.id))
        if low is not None:
            statement = statement.where(TaskRow.due >= low)
        if department is not None:
            statement = statement.where(TaskRow.department == department)
        return [(task, thing) for task, thing in session.execute(statement)]


def overdue_days(due: date | str | None, today: date, calendar: WorkdayCalendar) -> int:
    """How many working days past ``due`` (a date or its ISO text) a running task is on ``today`` — 0 when not
    overdue or without a due date. The one rule for 已超期 N 个工作日, for staff queues and the applicant's pages
    alike."""
    if due is None or due == "":
        return 0
    when = date.fromisoformat(due) if isinstance(due, str) else due
    return calendar.working_days_between(when, today) if when < today else 0


def overdue(engine: Engine, actor: Actor, *, now: datetime, catalog: Catalog | None = None,
            department: str | None = None) -> list[dict[str, Any]]:
    """Running tasks past their due date (已超期), with how many working days late."""
    calendar = calendar_for(catalog.calendar if catalog else None)
    today = china_date(now)
    out = []
    for task, thing in _query(engine, actor, department, None, today, strict_high=True):
        view = task_view(task, thing=thing)
        view["overdue_days"] = overdue_days(task.due, today, calendar)
        out.append(view)
    return out


def due_soon(engine: Engine, actor: Actor, *, now: datetime, days: int = 2, catalog: Catalog | None = None,
             department: str | None = None) -> list[dict[str, Any]]:
    """Running tasks due today or within ``days`` working days (即将到期)."""
    calendar = calendar_for(catalog.calendar if catalog else None)
    today = china_date(now)
    horizon = calendar.add_working_days(today, days)
    out = []
    for task, thing in _query(engine, actor, department, today, horizon, strict_high=False):
        view = task_view(task, thing=thing)
        assert task.due is not None
        view["days_left"] = calendar.working_days_between(today, task.due)
        out.append(view)
    return out


def late_words(days: int) -> str:
    """``已超期 3 个工作日`` — how both the workbench and 我的办件 say it; empty when not late."""
    return f"已超期 {days} 个工作日" if days > 0 else ""


def lateness(application: dict[str, Any], *, now: datetime, catalog: Catalog | None = None) -> dict[str, Any]:
    """How late an application (a view from ``get_application``/``list_applications``) and its running tasks
    are: ``{"days": n, "words": "已超期 n 个工作日" | "", "tasks": {task id: n}}``. A finished application or a
    task waiting for a supplement (clock paused) is never late."""
    calendar = calendar_for(catalog.calendar if catalog else None)
    today = china_date(now)
    tasks = {t["id"]: overdue_days(t.get("due"), today, calendar)
             for t in application.get("tasks", []) if t.get("status") in RUNNING}
    active = application.get("status") in ("submitted", "in_progress")
    days = overdue_days(application.get("promised_due"), today, calendar) if active else 0
    return {"days": days, "words": late_words(days), "tasks": {k: v for k, v in tasks.items() if v}}
