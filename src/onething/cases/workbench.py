"""Reads the case pages need beyond ``cases.queries``: each task's history (when it became ready, was
accepted, decided, paused and resumed) from the audit chain, and an application's rating if it has one.

Read-only, one short transaction each, with the same visibility as ``queries.get_application``: an applicant
sees their own application, staff only their department's tasks, anything else is NotFound.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select

from onething.accounts.api import Actor
from onething.audit.service import entries_for
from onething.cases.records import visible_application
from onething.cases.tables import RatingRow, RectificationRow
from onething.cases.views import rating_view
from onething.db import session_scope

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
