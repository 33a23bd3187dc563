"""What operators see and do about the outbox (投递状态): every event's status, every leg's attempts, per
department counts, and retrying an event by hand. Status is derived, never stored twice:

- ``pending`` / ``retrying``: not delivered, attempts left (``retrying`` once an attempt failed);
- ``dead``: not delivered and out of attempts — kept and listed until `onething outbox retry`;
- ``delivered``: every leg answered 2xx; ``skipped``: nobody to receive it (``last_error`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from onething.cases.tables import Delivery, OutboxEvent
from onething.delivery.service import NATIONAL_PREFIX, SKIPPED, Attempt, DeliveryError, utc
from onething.delivery.settings import DeliverySettings

EventStatus = Literal["pending", "retrying", "delivered", "skipped", "dead"]


class UnknownEvent(DeliveryError):
    """No outbox event has that id."""


@dataclass(frozen=True)
class EventView:
    """An outbox event with its derived status, for `onething outbox list`."""

    event_id: str
    kind: str
    department: str | None
    application_id: str | None
    status: EventStatus
    attempts: int
    created_at: datetime
    available_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def _status(delivered_at: datetime | None, last_error: str | None, attempts: int, max_attempts: int) -> EventStatus:
    if delivered_at is not None:
        return "skipped" if (last_error or "").startswith(SKIPPED) else "delivered"
    if attempts >= max_attempts:
        return "dead"
    return "retrying" if attempts else "pending"


def list_events(session: Session, *, status: str | None = None, department: str | None = None,
                limit: int = 50, max_attempts: int | None = None) -> list[EventView]:
    """Outbox events, newest first; ``status`` one of pending (incl. retrying), dead, delivered, skipped."""
    max_attempts = max_attempts if max_attempts is not None else DeliverySettings().max_attempts
    query = select(OutboxEvent).order_by(OutboxEvent.id.desc()).limit(limit)
    if department is not None:
        query = query.where(OutboxEvent.department == department)
    if status == "pending":
        query = query.where(OutboxEvent.delivered_at.is_(None), OutboxEvent.attempts < max_attempts)
    elif status == "dead":
        query = query.where(OutboxEvent.delivered_at.is_(None), OutboxEvent.attempts >= max_attempts)
    elif status in ("delivered", "skipped"):
        skipped = OutboxEvent.last_error.startswith(SKIPPED)
        query = query.where(OutboxEvent.delivered_at.is_not(None),
                            skipped if status == "skipped" else or_(OutboxEvent.last_error.is_(None), ~skipped))
    elif status is not None:
        raise ValueError(f"unknown status {status!r}")
    return [EventView(r.event_id, r.kind, r.department, r.application_id,
                      _status(r.delivered_at, r.last_error, r.attempts, max_attempts), r.attempts, r.created_at,
                      r.available_at, r.delivered_at, r.last_error) for r in session.scalars(query)]


def retry_event(session: Session, event_id: str, now: datetime) -> None:
    """Make a dead, retrying or skipped event due again now, with a fresh attempt budget."""
    row = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == event_id)).one_or_none()
    if row is None:
        raise UnknownEvent(f"no outbox event {event_id!r}")
    if row.delivered_at is not None and not (row.last_error or "").startswith(SKIPPED):
        return  # delivered: receivers have it
    row.delivered_at, row.attempts, row.available_at, row.locked_until = None, 0, utc(now), None



def list_attempts(session: Session, event_id: str) -> list[Attempt]:
    """Every recorded attempt of one event, oldest first: the status of each leg, visible."""
    rows = session.scalars(select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id))
    return [Attempt(r.department or "", r.url, r.status_code, r.ok, r.error, r.attempted_at, r.duration_ms)
            for r in rows]


def delivery_summary(session: Session, max_attempts: int | None = None) -> dict[str, dict[str, int]]:
    """Per department (``"*"`` for fanned-out events): how many events are pending, dead, delivered, skipped.
    Records for the national hub (``national.*``) are not department deliveries: ``onething hub list``."""
    max_attempts = max_attempts if max_attempts is not None else DeliverySettings().max_attempts
    summary: dict[str, dict[str, int]] = {}

    def bucket(department: str | None) -> dict[str, int]:
        return summary.setdefault(department or "*", {"pending": 0, "dead": 0, "delivered": 0, "skipped": 0})

    count = func.count(OutboxEvent.id)
    departmental = ~OutboxEvent.kind.startswith(NATIONAL_PREFIX)
    for department, attempts, n in session.execute(
            select(OutboxEvent.department, OutboxEvent.attempts, count)
            .where(OutboxEvent.delivered_at.is_(None), departmental)
            .group_by(OutboxEvent.department, OutboxEvent.attempts)):
        bucket(department)["dead" if attempts >= max_attempts else "pending"] += int(n)
    closed = select(OutboxEvent.department, count).where(OutboxEvent.delivered_at.is_not(None), departmental)
    for department, n in session.execute(closed.group_by(OutboxEvent.department)):
        bucket(department)["delivered"] += int(n)
    for department, n in session.execute(closed.where(OutboxEvent.last_error.startswith(SKIPPED))
                                         .group_by(OutboxEvent.department)):
        bucket(department)["delivered"] -= int(n)
        bucket(department)["skipped"] += int(n)
    return summary
