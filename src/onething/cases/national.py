"""Records for the national platform (国家政务服务平台), derived from a transaction's own case events.

:meth:`onething.cases.events.Changes.write` calls :func:`national_events` with the events it is about to
insert, so each 办件 status change and each 好差评 yields its ``national.*`` outbox row in the same transaction
as the change — never one without the other. One record per application-wide change (the case runtime writes
``application.submitted`` once per department; the nation hears of it once), one per task decision.

Reporting is on only when the hub is configured (``ONETHING_NATIONAL_HUB_URL`` and ``…_SECRET``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onething.accounts.tables import User
from onething.cases.tables import ApplicationRow, OutboxEvent, RatingRow, TaskRow
from onething.hub import api as hub

# Case event → national 办件状态. Task decisions map by decision kind.
APPLICATION_STATUS = {"application.submitted": "received", "application.completed": "completed",
                      "application.rejected": "rejected", "application.withdrawn": "withdrawn"}
NATIONAL_DIVISION = "000000"  # the 办件编号 prefix of applications planned with the national definitions
DECISION_STATUS = {"accept": "accepted", "approve": "approved", "reject": "refused",
                   "request_supplement": "supplement_requested"}


def _task_id(payload: dict[str, Any]) -> str | None:
    for value in (payload.get("task"), (payload.get("supplement") or {}).get("task")):
        if isinstance(value, dict) and value.get("id"):
            return str(value["id"])
        if isinstance(value, str) and value:
            return value
    return None


def _planned(app: ApplicationRow, procedure: str) -> dict[str, Any]:
    for planned in (app.plan or {}).get("procedures", []):
        if planned.get("id") == procedure:
            return dict(planned)
    return {"id": procedure, "name": procedure}


def _division(number: str, platform_division: str | None) -> str:
    """The 行政区划代码 a record names: the 办件编号's region, or the platform's own for ``000000``."""
    prefix = number[:6]
    return platform_division if prefix == NATIONAL_DIVISION and platform_division else prefix


def national_events(session: Session, events: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The ``national.*`` outbox rows for ``events`` (outbox row dicts of one transaction), in their order."""
    settings = hub.get_hub_settings()
    if not settings.enabled or not events:
        return []
    wanted: list[tuple[str, str, str | None, dict[str, Any]]] = []  # (application, status|"rating", task, payload)
    seen: set[tuple[str, str, str | None]] = set()
    for event in events:
        kind, app_id, payload = event["kind"], event.get("application_id"), event.get("payload") or {}
        if not app_id:
            continue
        if kind in APPLICATION_STATUS:
            key: tuple[str, str, str | None] = (app_id, APPLICATION_STATUS[kind], None)
        elif kind == "task.decided":
            status = DECISION_STATUS.get(str((payload.get("decision") or {}).get("kind")))
            if status is None:
                continue
            key = (app_id, status, _task_id(payload))
        elif kind == "supplement.answered":
            key = (app_id, "supplement_answered", _task_id(payload))
        elif kind == "application.rated":
            key = (app_id, "rating", None)
        else:
            continue
        if key not in seen:
            seen.add(key)
            wanted.append((*key, payload))
    if not wanted:
        return []
    apps = {a: session.get(ApplicationRow, a) for a in {w[0] for w in wanted}}
    counts: dict[str, int] = {str(a): int(n) for a, n in session.execute(
        select(OutboxEvent.application_id, func.count(OutboxEvent.id))
        .where(OutboxEvent.application_id.in_(list(apps)),
               OutboxEvent.kind.in_((hub.NATIONAL_CASE, hub.NATIONAL_RATING)))
        .group_by(OutboxEvent.application_id))}
    rows: list[dict[str, Any]] = []
    for app_id, status, task_id, payload in wanted:
        app = apps[app_id]
        if app is None:
            continue
        counts[app_id] = counts.get(app_id, 0) + 1
        record_id = str(uuid.uuid4())
        common: dict[str, Any] = {
            "record_id": record_id, "platform": settings.platform, "sequence": counts[app_id],
            "case_number": app.number, "thing_code": app.thing,
            "thing_name": (app.plan or {}).get("thing_name") or app.thing,
            "division_code": _division(app.number, settings.division_code),
        }
        if status == "rating":
            kind, record = hub.NATIONAL_RATING, _rating(session, app, common)
        else:
            kind = hub.NATIONAL_CASE
            procedure = None
            if hub.CASE_STATUSES[status][1] == "item":
                task = session.get(TaskRow, task_id) if task_id else None
                procedure = hub.procedure_ref(_planned(app, task.procedure)) if task is not None else None
            reason = None
            if status == "refused":
                reason = str((payload.get("decision") or {}).get("reason") or "") or None
            record = hub.case_record(**common, status=status, occurred_at=now, procedure=procedure,
                                     promised_due=app.promised_due if status == "received" else None,
                                     reason=reason)
        rows.append({"event_id": record_id, "kind": kind, "department": None, "application_id": app_id,
                     "payload": record, "created_at": now, "available_at": now, "attempts": 0})
    return rows


def _rating(session: Session, app: ApplicationRow, common: dict[str, Any]) -> dict[str, Any]:
    ratings = list(session.scalars(select(RatingRow).where(RatingRow.application_id == app.id)
                                   .order_by(RatingRow.id)))
    whole = next(r for r in ratings if r.subject == "application")
    subjects = []
    for rating in ratings:
        if rating.task_id is None:
            continue
        task = session.get(TaskRow, rating.task_id)
        if task is not None:
            subjects.append({"procedure": hub.procedure_ref(_planned(app, task.procedure)), "level": rating.score})
    applicant = session.get(User, app.applicant_id)
    rater_kind = "法人和其他组织" if applicant is not None and applicant.uscc else "自然人"
    return hub.rating_record(**common, level=whole.score, rated_at=whole.rated_at, comment=whole.comment,
                             subjects=subjects, rater_kind=rater_kind)

