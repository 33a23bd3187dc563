"""Row access and status moves shared by the case services: locking an application, reading its tasks,
moving a task or the application along the transition tables (with their audit entries and events), and
deciding what an actor may see. No function here opens a transaction; the services do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from onething.accounts.api import Actor, NotFound, Role, authorize, can
from onething.accounts.tables import User
from onething.cases.events import Changes
from onething.cases.model import (
    TASK_OPEN,
    ApplicationStatus,
    TaskStatus,
    application_status_for,
    transition,
)
from onething.cases.tables import ApplicationRow, FileRow, SupplementRow, TaskRow
from onething.cases.views import application_view, task_view
from onething.delegations import api as delegations
from onething.intake.model import Plan
from onething.workdays import WorkdayCalendar


def lock_application(session: Session, application_id: str, *, applicant_id: int | None = None) -> ApplicationRow:
    """Bump the application's version (taking its lock) and load it fresh; NotFound when absent or, with
    ``applicant_id``, not that applicant's."""
    statement = update(ApplicationRow).where(ApplicationRow.id == application_id)
    if applicant_id is not None:
        statement = statement.where(ApplicationRow.applicant_id == applicant_id)
    result = session.execute(statement.values(version=ApplicationRow.version + 1)
                             .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        raise NotFound("application", application_id)
    app = session.get(ApplicationRow, application_id, populate_existing=True)
    assert app is not None
    return app


def tasks_of(session: Session, application_id: str) -> list[TaskRow]:
    return list(session.execute(
        select(TaskRow).where(TaskRow.application_id == application_id).execution_options(populate_existing=True)
    ).scalars())


def supplements_of(session: Session, application_id: str) -> list[SupplementRow]:
    return list(session.execute(
        select(SupplementRow).where(SupplementRow.application_id == application_id)
        .execution_options(populate_existing=True)
    ).scalars())


def files_of(session: Session, application_id: str) -> list[FileRow]:
    return list(session.execute(
        select(FileRow).where(FileRow.application_id == application_id).order_by(FileRow.uploaded_at)
    ).scalars())


def snapshot(row: ApplicationRow | TaskRow) -> dict[str, Any]:
    return {"status": row.status, "version": row.version}


def set_task_status(changes: Changes, task: TaskRow, target: TaskStatus, action: str,
                     data: dict[str, Any] | None = None, *, checked: bool = False) -> None:
    before = snapshot(task)
    task.status = (target if checked else transition(TaskStatus(task.status), target)).value
    task.version += 1
    changes.audit(action, "task", task.id, application_id=task.application_id, department=task.department,
                  before=before, after=snapshot(task), data=data)


def make_ready(changes: Changes, task: TaskRow, calendar: WorkdayCalendar, now: datetime) -> None:
    """A task whose predecessors are done starts its clock now (承诺时限自受理条件具备之日起算)."""
    task.ready_at = now
    task.due = calendar.add_working_days(now, task.promised_days)
    set_task_status(changes, task, TaskStatus.ready, "task.ready", {"due": task.due.isoformat()})
    changes.event("task.ready", department=task.department, application_id=task.application_id,
                  payload={"task": task_view(task)})


def departments_of(tasks: Sequence[TaskRow]) -> list[str]:
    return sorted({t.department for t in tasks})


def follow_tasks(changes: Changes, app: ApplicationRow, tasks: Sequence[TaskRow], now: datetime) -> None:
    """Move the application to the status its tasks imply, cancelling open work when it ends unsuccessfully."""
    target = application_status_for(ApplicationStatus(app.status), [TaskStatus(t.status) for t in tasks])
    if target.value == app.status:
        return
    before = snapshot(app)
    app.status = transition(ApplicationStatus(app.status), target).value
    if target is ApplicationStatus.completed:
        app.completed_at = now
    changes.audit(f"application.{target.value}", "application", app.id, application_id=app.id,
                  before=before, after=snapshot(app))
    if target is ApplicationStatus.completed:
        for department in departments_of(tasks):
            changes.event("application.completed", department=department, application_id=app.id,
                          payload={"thing": app.thing, "status": app.status})
    elif target is ApplicationStatus.rejected:
        cancel_open_work(changes, app, tasks, "application.rejected")


def cancel_open_work(changes: Changes, app: ApplicationRow, tasks: Sequence[TaskRow], kind: str) -> None:
    for task in tasks:
        if TaskStatus(task.status) in TASK_OPEN:
            set_task_status(changes, task, TaskStatus.cancelled, "task.cancelled", {"because": kind})
    for department in departments_of(tasks):
        changes.event(kind, department=department, application_id=app.id,
                      payload={"thing": app.thing, "status": app.status})


def plan_of(app: ApplicationRow) -> Plan:
    return Plan.model_validate(app.plan)


def full_view(session: Session, app: ApplicationRow, departments: set[str] | None = None) -> dict[str, Any]:
    view = application_view(app, tasks_of(session, app.id), supplements_of(session, app.id),
                            files_of(session, app.id), departments=departments)
    if app.acted_by_id is not None:  # 代办: who submitted it for the applicant
        view["acted_by_name"] = session.scalar(select(User.display_name).where(User.id == app.acted_by_id))
    return view


def _acting_for(session: Session, actor: Actor, app: ApplicationRow, now: datetime | None) -> bool:
    """An agent sees what they submitted for another while the delegation they used is still in force."""
    return (app.acted_by_id == actor.user_id and app.delegation_id is not None
            and app.delegation_id in delegations.acting_delegations(session, actor, now or datetime.now(UTC)))


def visible_application(session: Session, actor: Actor, application_id: str, now: datetime | None = None
                        ) -> tuple[ApplicationRow, set[str] | None]:
    """The application if the actor may see it, with the departments whose work they may see (None = all).

    An applicant sees their own (and, as an agent, what they submitted under a delegation in force at ``now``,
    default the system clock); staff an application with a task of their department; an operator any.
    Everything else is NotFound — never a hint that the id exists.
    """
    app = session.get(ApplicationRow, application_id)
    if app is None:
        raise NotFound("application", application_id)
    if actor.role is Role.applicant:
        authorize(actor, "application:read_own")
        if app.applicant_id != actor.user_id and not _acting_for(session, actor, app, now):
            raise NotFound("application", application_id)
        return app, None
    if can(actor, "application:read"):
        return app, None
    if actor.department is not None and can(actor, "task:read", actor.department):
        has_task = session.scalar(select(TaskRow.id).where(TaskRow.application_id == application_id,
                                                           TaskRow.department == actor.department).limit(1))
        if has_task is not None:
            return app, {actor.department}
    raise NotFound("application", application_id)


def visible_task(session: Session, actor: Actor, task_id: str) -> TaskRow:
    task = session.get(TaskRow, task_id)
    if task is None or not can(actor, "task:read", task.department):
        raise NotFound("task", task_id)
    return task
