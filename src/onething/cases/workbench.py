"""Reads the case pages need beyond ``cases.queries``: each task's history (when it became ready, was
accepted, decided, paused and resumed) from the audit chain, and an application's rating if it has one.

Read-only, one short transaction each, with the same visibility as ``queries.get_application``: an applicant
sees their own application, staff only their department's tasks, anything else is NotFound.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from onething.accounts.api import Actor, authorize, can, mask_identifier
from onething.accounts.tables import User
from onething.audit.service import entries_for
from onething.cases.deadlines import RUNNING, overdue_days
from onething.cases.errors import Invalid
from onething.cases.model import TaskStatus
from onething.cases.records import plan_of, visible_application, visible_task
from onething.cases.tables import ApplicationRow, RatingRow, RectificationRow, TaskRow
from onething.cases.views import rating_view, task_view
from onething.catalog.model import Catalog
from onething.certificates import api as certificates
from onething.db import session_scope
from onething.workdays import calendar_for, china_date

# Audit actions on a task that tell its story to the applicant and the department.
TASK_HISTORY_ACTIONS = frozenset({"task.ready", "task.decided", "task.resumed", "task.cancelled"})


def task_history(engine: Engine, actor: Actor, application_id: str) -> dict[str, list[dict[str, Any]]]:
    """Task id → its history, oldest first: ``{at, action, kind, status}`` (办理过程)."""
    with session_scope(engine) as session:
        _app, departments = visible_application(session, actor, application_id)
        history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in entries_for(session, application_id):
            if entry.subject_type != "task" or entry.action not in TASK_HISTORY_ACTIONS:
                continue
            if departments is not None and entry.department not in departments:
                continue
            data = entry.data if isinstance(entry.data, dict) else {}
            after = entry.after if isinstance(entry.after, dict) else {}
            history[entry.subject_id].append({
                "at": entry.at, "action": entry.action, "kind": data.get("kind"), "status": after.get("status"),
            })
        return dict(history)


def rating_of(engine: Engine, actor: Actor, application_id: str) -> dict[str, Any] | None:
    """The application's rating (好差评) as ``rating_view`` shapes it, or None when it has not been rated."""
    with session_scope(engine) as session:
        app, departments = visible_application(session, actor, application_id)
        ratings = list(session.execute(select(RatingRow).where(RatingRow.application_id == app.id)).scalars())
        if not ratings:
            return None
        rectifications = list(session.execute(
            select(RectificationRow).where(RectificationRow.application_id == app.id)).scalars())
        if departments is not None:
            ratings = [r for r in ratings if r.task_id is None or r.department in departments]
            rectifications = [r for r in rectifications if r.department in departments]
        return rating_view(ratings, rectifications)


# --- the department's queue (待办队列) -----------------------------------------------------------------------

QUEUE_SORTS = ("due", "-due", "received", "-received")
QUEUE_PAGE_SIZE = 25
_NUMBER_TEXT = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class QueueQuery:
    """What the staff asked of the queue: filters combine with AND; ``number`` matches a 办件编号 or its start."""

    status: str | None = None
    thing: str | None = None
    overdue_only: bool = False
    number: str | None = None
    sort: str = "due"
    page: int = 1
    page_size: int = QUEUE_PAGE_SIZE


@dataclass
class QueuePage:
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 1
    things: list[str] = field(default_factory=list)


def _check(query: QueueQuery) -> list[tuple[str, str]]:
    errors = []
    if query.status is not None and query.status not in TaskStatus.__members__:
        errors.append(("status", "可选：" + "、".join(TaskStatus.__members__)))
    if query.sort not in QUEUE_SORTS:
        errors.append(("sort", "可选：" + "、".join(QUEUE_SORTS)))
    if query.number is not None and not _NUMBER_TEXT.fullmatch(query.number):
        errors.append(("number", "办件编号由数字组成，最多 20 位"))
    if query.page < 1 or not 1 <= query.page_size <= 100:
        errors.append(("page", "页码应为正整数"))
    return errors


def queue(engine: Engine, actor: Actor, query: QueueQuery, *, now: datetime, catalog: Catalog | None = None,
          department: str | None = None) -> QueuePage:
    """One page of a department's queue: each task with its application's 办件编号, the applicant (name and
    masked ID), the thing, when the application was received, the due date and working days overdue.

    Staff see their own department only. Sorting is by due date (default, earliest first) or received time;
    ties fall back to the task id so pages never overlap. Counting and paging happen in the database.
    """
    errors = _check(query)
    if errors:
        raise Invalid(errors)
    if department is None and not can(actor, "task:read"):
        department = actor.department
    authorize(actor, "task:read", department)
    calendar = calendar_for(catalog.calendar if catalog else None)
    today = china_date(now)
    conditions = []
    if department is not None:
        conditions.append(TaskRow.department == department)
    if query.status is not None:
        conditions.append(TaskRow.status == query.status)
    if query.thing:
        conditions.append(ApplicationRow.thing == query.thing)
    if query.number:
        conditions.append(ApplicationRow.number.startswith(query.number, autoescape=True))
    if query.overdue_only:
        conditions.extend([TaskRow.status.in_(RUNNING), TaskRow.due.is_not(None), TaskRow.due < today])
    order = {  # 办件编号 (in issue order) breaks ties, then the task id: pages never overlap
        "due": (TaskRow.due.is_(None), TaskRow.due, ApplicationRow.submitted_at, ApplicationRow.number),
        "-due": (TaskRow.due.is_(None), TaskRow.due.desc(), ApplicationRow.submitted_at, ApplicationRow.number),
        "received": (ApplicationRow.submitted_at, ApplicationRow.number, TaskRow.due),
        "-received": (ApplicationRow.submitted_at.desc(), ApplicationRow.number.desc(), TaskRow.due),
    }[query.sort]
    with session_scope(engine) as session:
        base = select(TaskRow.id).join(ApplicationRow, ApplicationRow.id == TaskRow.application_id).where(*conditions)
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        pages = max(1, -(-total // query.page_size))
        page = min(query.page, pages)
        statement = (select(TaskRow, ApplicationRow.thing, ApplicationRow.number, ApplicationRow.submitted_at,
                            User.display_name, User.id_number, User.uscc)
                     .join(ApplicationRow, ApplicationRow.id == TaskRow.application_id)
                     .join(User, User.id == ApplicationRow.applicant_id)
                     .where(*conditions)
                     .order_by(*order, TaskRow.id)
                     .offset((page - 1) * query.page_size).limit(query.page_size))
        rows = []
        for task, thing, number, submitted_at, name, id_number, uscc in session.execute(statement):
            view = task_view(task, thing=thing)
            running = task.status in RUNNING and task.due is not None
            view.update({
                "number": number, "received_at": submitted_at.isoformat(),
                "applicant": {"name": name, "identifier": uscc or mask_identifier(id_number),
                              "kind": "organisation" if uscc else "person"},
                "overdue": running and task.due is not None and task.due < today,
                "overdue_days": overdue_days(task.due, today, calendar) if running else 0,
            })
            rows.append(view)
        thing_statement = select(ApplicationRow.thing).join(TaskRow, TaskRow.application_id == ApplicationRow.id)
        if department is not None:
            thing_statement = thing_statement.where(TaskRow.department == department)
        things = sorted(set(session.execute(thing_statement.distinct()).scalars()))
    return QueuePage(rows=rows, total=total, page=page, pages=pages, things=things)


def certificate_preview(engine: Engine, actor: Actor, task_id: str, result: Mapping[str, Any], *,
                        now: datetime) -> dict[str, Any] | None:
    """The certificate approving ``task_id`` with ``result`` would issue (证照预览), for the task's own
    department; None when its procedure issues none (no result in the catalog) or the task is past approval."""
    with session_scope(engine) as session:
        task = visible_task(session, actor, task_id)
        authorize(actor, "task:read", task.department)
        if task.status not in RUNNING:
            return None
        app = session.get(ApplicationRow, task.application_id)
        assert app is not None  # the task's foreign key
        planned = next((p for p in plan_of(app).procedures if p.id == task.procedure), None)
        if planned is None or not planned.result:
            return None
        return certificates.preview_for_approval(
            session, applicant_id=app.applicant_id, department_name=planned.department_name, title=planned.result,
            result=result, now=now)


def applicant_of(engine: Engine, actor: Actor, application_id: str) -> dict[str, str]:
    """Who applied, as the application's staff see it: name and masked ID (a company's USCC in full)."""
    with session_scope(engine) as session:
        app, _departments = visible_application(session, actor, application_id)
        user = session.get(User, app.applicant_id)
        assert user is not None  # the application's foreign key
        if user.uscc:
            return {"name": user.display_name or user.name, "identifier": user.uscc, "kind": "organisation"}
        return {"name": user.display_name or user.name, "identifier": mask_identifier(user.id_number),
                "kind": "person"}
