"""Rating (好差评) of a finished application, for the whole and per department leg, and the rectification
items (整改) a bad rating opens for a department, due in working days."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from onething.accounts.api import Actor, NotFound, authorize, can
from onething.cases.errors import Conflict, Invalid
from onething.cases.events import Changes
from onething.cases.records import lock_application, tasks_of
from onething.cases.settings import get_case_settings
from onething.cases.tables import RatingRow, RectificationRow
from onething.cases.views import rating_view, rectification_view
from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.workdays import calendar_for

RATABLE = ("completed", "rejected")
SCORE_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


def _score_error(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value not in SCORE_LABELS:
        return "评分为 1–5 的整数（5 = 非常满意，1 = 非常不满意）"
    return None


def rate_application(engine: Engine, actor: Actor, application_id: str, *, score: Any, comment: str | None,
                     tasks: Mapping[str, Any] | None, catalog: Catalog, now: datetime) -> dict[str, Any]:
    """Rate one's own finished application once; a score of 2 or less opens a rectification for the
    department concerned (the task's, or the thing's lead department for the whole)."""
    authorize(actor, "application:rate")
    settings = get_case_settings()
    calendar = calendar_for(catalog.calendar)
    task_scores = dict(tasks or {})
    with session_scope(engine) as session:
        app = lock_application(session, application_id, applicant_id=actor.user_id)
        if app.status not in RATABLE:
            raise Conflict("办结后才能评价")
        if session.scalar(select(RatingRow.id).where(RatingRow.application_id == app.id).limit(1)) is not None:
            raise Conflict("该申请已评价，每件只能评价一次")
        app_tasks = {t.id: t for t in tasks_of(session, app.id)}
        errors: list[tuple[str, str]] = []
        if (message := _score_error(score)) is not None:
            errors.append(("score", message))
        for task_id, value in task_scores.items():
            if task_id not in app_tasks:
                errors.append((f"tasks.{task_id}", "不是本申请的办件环节"))
            elif (message := _score_error(value)) is not None:
                errors.append((f"tasks.{task_id}", message))
        if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
            errors.append(("comment", "评价内容不超过 2000 字"))
        if errors:
            raise Invalid(errors)
        changes = Changes(actor, now)
        rows = [RatingRow(application_id=app.id, subject="application", task_id=None, department=None,
                          score=score, comment=(comment or "").strip() or None, rated_at=now)]
        for task_id, value in task_scores.items():
            task = app_tasks[task_id]
            rows.append(RatingRow(application_id=app.id, subject=task_id, task_id=task_id,
                                  department=task.department, score=value, comment=None, rated_at=now))
        session.add_all(rows)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict("该申请已评价，每件只能评价一次") from None
        lead = catalog.things[app.thing].lead if app.thing in catalog.things else None
        lead = lead or min(app_tasks.values(), key=lambda t: (t.stage, t.procedure)).department
        rectifications = []
        for row in rows:
            if row.score > settings.bad_rating_max:
                continue
            item = RectificationRow(
                application_id=app.id, task_id=row.task_id, rating_id=row.id,
                department=row.department or lead, score=row.score, comment=rows[0].comment, status="open",
                opened_at=now, due=calendar.add_working_days(now, settings.rectification_days),
            )
            rectifications.append(item)
        session.add_all(rectifications)
        session.flush()
        changes.audit("application.rated", "application", app.id, application_id=app.id,
                      data={"score": score, "tasks": task_scores})
        for item in rectifications:
            changes.audit("rectification.opened", "rectification", item.id, application_id=app.id,
                          department=item.department, after={"status": "open"},
                          data={"score": item.score, "due": item.due.isoformat(), "task": item.task_id})
        departments = sorted({t.department for t in app_tasks.values()})
        for department in departments:
            changes.event("application.rated", department=department, application_id=app.id, payload={
                "score": score,
                "tasks": {tid: s for tid, s in task_scores.items() if app_tasks[tid].department == department},
                "rectifications": [rectification_view(r) for r in rectifications if r.department == department],
            })
        changes.write(session)
        return rating_view(rows, rectifications)


def list_rectifications(engine: Engine, actor: Actor, *, department: str | None = None,
                        status: str | None = None) -> list[dict[str, Any]]:
    """Rectification items (整改) of a department, earliest due first."""
    if department is None and actor.department is not None:
        department = actor.department
    authorize(actor, "rectification:answer" if department else "report:read", department)
    with session_scope(engine) as session:
        statement = select(RectificationRow).order_by(RectificationRow.due, RectificationRow.id)
        if department is not None:
            statement = statement.where(RectificationRow.department == department)
        if status is not None:
            statement = statement.where(RectificationRow.status == status)
        return [rectification_view(r) for r in session.execute(statement).scalars()]


def answer_rectification(engine: Engine, actor: Actor, rectification_id: int, *, answer: Any,
                         now: datetime) -> dict[str, Any]:
    """The department's answer (整改答复) to a rectification opened by a bad rating; the applicant sees it with
    their rating. Another department's item is not found; an item already answered is a conflict."""
    text = answer.strip() if isinstance(answer, str) else ""
    if not text or len(text) > 2000:
        raise Invalid([("answer", "请填写整改答复（不超过 2000 字）")])
    with session_scope(engine) as session:
        item = session.execute(select(RectificationRow).where(RectificationRow.id == rectification_id)
                               .with_for_update()).scalar_one_or_none()
        if item is None or not can(actor, "rectification:answer", item.department):
            raise NotFound("rectification", str(rectification_id))
        authorize(actor, "rectification:answer", item.department)
        if item.status != "open":
            raise Conflict("该整改事项已答复")
        before = {"status": item.status}
        item.status, item.answer, item.answered_at = "answered", text, now
        session.flush()
        changes = Changes(actor, now)
        changes.audit("rectification.answered", "rectification", item.id, application_id=item.application_id,
                      department=item.department, before=before, after={"status": item.status},
                      data={"on_time": now.date() <= item.due})
        changes.event("rectification.answered", department=item.department, application_id=item.application_id,
                      payload={"rectification": rectification_view(item)})
        changes.write(session)
        return rectification_view(item)
