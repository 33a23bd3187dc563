"""Outbox delivery (事件投递): claim due events, post them to department webhooks, record every attempt.

The case runtime writes ``outbox_events`` in the transaction of each state change; nothing here runs inside a
submission. A worker claims a batch under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number
of workers share the outbox; SQLite has one writer at a time and the claim is a compare-and-set UPDATE), then
posts each event *outside* any transaction, then records the outcome in a second short transaction: one
``deliveries`` row per leg, and the event either delivered, scheduled for a retry with capped exponential
backoff, or — after ``max_attempts`` — dead, still listed, until an operator retries it.

Who receives what: an event naming a department goes to that department's webhook. An application-level
event (no department) fans out to every department with a task in that application and an active webhook;
each leg succeeds or fails on its own (a leg that succeeded is not posted again), and the event is delivered
when every leg is. An event with nobody to receive it (no active webhook) is marked delivered with
``last_error`` ``"skipped: …"``: those departments work on the workbench, and a queue that grows forever
would hide real failures. Delivery is at least once; receivers de-duplicate by event id.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from sqlalchemy import ColumnElement, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from onething import __version__
from onething.accounts.model import Actor
from onething.accounts.permissions import authorize
from onething.audit.service import append
from onething.cases.events import EVENT_KINDS
from onething.cases.tables import Delivery, OutboxEvent, TaskRow
from onething.delivery.settings import DeliverySettings
from onething.delivery.signing import (
    HEADER_ATTEMPT,
    HEADER_EVENT,
    HEADER_EVENT_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    sign,
    timestamp_of,
    verify_signature,
)
from onething.delivery.sms import SMS_KIND, SMS_TARGET, mask_phone, sms_settings
from onething.delivery.tables import DepartmentEndpoint
from onething.logging import mask

__all__ = [
    "EVENT_KINDS", "Attempt", "ClaimedEvent", "EndpointInfo", "Target", "backoff", "claim_batch",
    "disable_webhook", "enqueue", "event_body", "generate_secret", "list_endpoints", "plan_targets", "post_event",
    "record_outcome", "release", "set_webhook", "verify_signature",
]

log = logging.getLogger(__name__)

SKIPPED = "skipped: "
ERROR_LIMIT = 1000

Outcome = Literal["delivered", "skipped", "retrying", "dead"]

_jitter_source = random.SystemRandom()


class DeliveryError(Exception):
    """Base of the errors the delivery services raise on purpose."""


class InvalidEndpoint(DeliveryError):
    """A webhook URL or secret that cannot be used."""


class UnknownEndpoint(DeliveryError):
    """No webhook is configured for that department."""


@dataclass(frozen=True)
class ClaimedEvent:
    """An outbox event as the worker holds it while delivering."""

    id: int
    event_id: str
    kind: str
    department: str | None
    application_id: str | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    locked_until: datetime


@dataclass(frozen=True)
class Target:
    """One leg of a delivery: a department's webhook and the secret its events are signed with."""

    department: str
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt on one leg, as recorded in ``deliveries``."""

    department: str
    url: str
    status_code: int | None
    ok: bool
    error: str | None
    attempted_at: datetime
    duration_ms: int


@dataclass(frozen=True)
class EndpointInfo:
    """A department's webhook as operators see it: never the secret."""

    department: str
    url: str
    active: bool
    updated_at: datetime


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return value.astimezone(UTC)


# --- writing events ----------------------------------------------------------------------------------------

def enqueue(session: Session, kind: str, department: str | None, payload: dict[str, Any],
            application_id: str | None, now: datetime, *, event_id: str | None = None) -> str:
    """Add one event to the outbox inside the caller's transaction; return its event id. Due at once.

    The stored payload is the body receivers get, in the shape the case runtime writes
    (``onething.cases.events``): ``{event_id, kind, occurred_at, application, department, ...payload}``.
    ``department`` None means application-level: it fans out to the departments with a task in it.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    event_id = event_id or str(uuid.uuid4())
    now = utc(now)
    body = {"event_id": event_id, "kind": kind, "occurred_at": now.isoformat(), "application": application_id,
            "department": department, **payload}
    session.execute(insert(OutboxEvent).values(
        event_id=event_id, kind=kind, department=department, application_id=application_id, payload=body,
        created_at=now, available_at=now, attempts=0,
    ))
    return event_id


# --- department endpoints ----------------------------------------------------------------------------------

def generate_secret() -> str:
    """A new signing secret: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def _check_endpoint(url: str, secret: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidEndpoint(f"webhook URL must be http(s)://host/…, got {url!r}")
    if len(url) > 500:
        raise InvalidEndpoint("webhook URL longer than 500 characters")
    if not 16 <= len(secret) <= 200:
        raise InvalidEndpoint("signing secret must be 16 to 200 characters")


def set_webhook(session: Session, department: str, url: str, secret: str, now: datetime, *,
                actor: Actor) -> EndpointInfo:
    """Point a department's events at ``url``, signed with ``secret``; creates or replaces, and activates.
    Needs ``department:configure`` for the department; audited (the URL, never the secret)."""
    authorize(actor, "department:configure", department)
    _check_endpoint(url, secret)
    now = utc(now)
    row = session.get(DepartmentEndpoint, department)
    before = None if row is None else {"url": row.url, "active": row.active}
    if row is None:
        row = DepartmentEndpoint(department=department, url=url, secret=secret, active=True, created_at=now,
                                 updated_at=now)
        session.add(row)
    else:
        row.url, row.secret, row.active, row.updated_at = url, secret, True, now
    session.flush()
    append(session, actor, "department.webhook_set", "department_endpoint", department, now=now,
           department=department, before=before, after={"url": url, "active": True, "secret": "replaced"})
    log.info("webhook set", extra={"fields": {"department": department}})
    return EndpointInfo(department, url, True, now)


def disable_webhook(session: Session, department: str, now: datetime, *, actor: Actor) -> None:
    """Stop delivering to a department (its events are then skipped); the row and secret stay for re-enabling.
    Needs ``department:configure`` for the department; audited."""
    authorize(actor, "department:configure", department)
    row = session.get(DepartmentEndpoint, department)
    if row is None:
        raise UnknownEndpoint(f"no webhook configured for department {department!r}")
    before = {"url": row.url, "active": row.active}
    row.active, row.updated_at = False, utc(now)
    session.flush()
    append(session, actor, "department.webhook_disabled", "department_endpoint", department, now=utc(now),
           department=department, before=before, after={"url": row.url, "active": False})


def list_endpoints(session: Session) -> list[EndpointInfo]:
    rows = session.execute(select(DepartmentEndpoint.department, DepartmentEndpoint.url, DepartmentEndpoint.active,
                                  DepartmentEndpoint.updated_at).order_by(DepartmentEndpoint.department)).all()
    return [EndpointInfo(r.department, r.url, r.active, r.updated_at) for r in rows]


# --- claiming ----------------------------------------------------------------------------------------------

NATIONAL_PREFIX = "national."


def _claimable(now: datetime, max_attempts: int, kind_prefix: str | None = None) -> list[ColumnElement[bool]]:
    # Department workers never take records for the national hub (``national.*``); the hub sender takes only
    # those (``kind_prefix="national."``).
    kinds = (OutboxEvent.kind.startswith(kind_prefix) if kind_prefix is not None
             else ~OutboxEvent.kind.startswith(NATIONAL_PREFIX))
    return [
        kinds,
        OutboxEvent.delivered_at.is_(None),
        OutboxEvent.available_at <= now,
        or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until < now),
        OutboxEvent.attempts < max_attempts,
    ]


def claim_batch(session: Session, now: datetime, limit: int, lease: timedelta, *,
                max_attempts: int | None = None, kind_prefix: str | None = None) -> list[ClaimedEvent]:
    """Claim up to ``limit`` due, undelivered, unleased, not dead events until ``now + lease``.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers take disjoint batches without
    waiting. SQLite (one writer): the UPDATE re-checks the same conditions, so a row another worker claimed
    in between is simply not returned. Commit soon after: the claim is what the lease protects, not the lock.
    """
    now = utc(now)
    max_attempts = max_attempts if max_attempts is not None else DeliverySettings().max_attempts
    conditions = _claimable(now, max_attempts, kind_prefix)
    query = (select(OutboxEvent.id).where(*conditions)
             .order_by(OutboxEvent.available_at, OutboxEvent.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return []
    until = now + lease
    claimed = session.execute(
        update(OutboxEvent).where(OutboxEvent.id.in_(ids), *conditions).values(locked_until=until)
        .returning(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.kind, OutboxEvent.department,
                   OutboxEvent.application_id, OutboxEvent.payload, OutboxEvent.created_at, OutboxEvent.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    events = [ClaimedEvent(r.id, r.event_id, r.kind, r.department, r.application_id, dict(r.payload or {}),
                           r.created_at, r.attempts, until) for r in claimed]
    return sorted(events, key=lambda e: e.id)


def release(session: Session, events: Sequence[ClaimedEvent]) -> int:
    """Give back claimed events this worker will not deliver (stopping, or its lease running out)."""
    released = 0
    for event in events:
        result = session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event.id, OutboxEvent.locked_until == event.locked_until)
            .values(locked_until=None).execution_options(synchronize_session=False))
        released += int(getattr(result, "rowcount", 0) or 0)
    return released


# --- who receives an event ---------------------------------------------------------------------------------

def plan_targets(session: Session, event: ClaimedEvent) -> tuple[list[Target], bool]:
    """The legs still to deliver, and whether some leg already succeeded (a partly delivered fan-out).
    An ``sms.send`` event has one leg: the configured SMS gateway (none configured: no leg, skipped)."""
    if event.kind == SMS_KIND:
        gateway = sms_settings()
        if not gateway.gateway_url or not gateway.gateway_secret:
            return [], False
        return [Target(SMS_TARGET, gateway.gateway_url, gateway.gateway_secret)], False
    if event.department is not None:
        departments = [event.department]
    elif event.application_id is not None:
        departments = list(session.scalars(
            select(TaskRow.department).where(TaskRow.application_id == event.application_id)
            .distinct().order_by(TaskRow.department)))
    else:
        departments = []
    if not departments:
        return [], False
    done = set(session.scalars(select(Delivery.department).where(
        Delivery.event_id == event.event_id, Delivery.ok.is_(True))))
    rows = session.execute(select(DepartmentEndpoint.department, DepartmentEndpoint.url, DepartmentEndpoint.secret)
                           .where(DepartmentEndpoint.department.in_(departments),
                                  DepartmentEndpoint.active.is_(True))).all()
    by_department = {r.department: Target(r.department, r.url, r.secret) for r in rows}
    targets = [by_department[d] for d in departments if d in by_department and d not in done]
    return targets, bool(done)


# --- the HTTP leg ------------------------------------------------------------------------------------------

def event_body(event: ClaimedEvent, department: str) -> bytes:
    """The JSON a department receives: the stored payload (``{event_id, kind, occurred_at, application,
    department, ...}``) as compact UTF-8 JSON with sorted keys, the same bytes on every retry of one leg;
    a fanned-out event names the receiving department."""
    document = {**event.payload, "event_id": event.event_id, "kind": event.kind, "department": department}
    document.setdefault("application", event.application_id)
    document.setdefault("occurred_at", utc(event.created_at).isoformat())
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def post_event(client: httpx.Client, event: ClaimedEvent, target: Target, now: datetime,
               timeout: float) -> Attempt:
    """POST one signed event to one webhook. Never raises: every failure is an :class:`Attempt` to record."""
    body = event_body(event, target.department)
    timestamp = timestamp_of(now)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"onething-webhook/{__version__}",
        HEADER_EVENT_ID: event.event_id,
        HEADER_EVENT: event.kind,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: sign(target.secret, timestamp, body),
        HEADER_ATTEMPT: str(event.attempts + 1),
    }
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        response = client.post(target.url, content=body, headers=headers, timeout=timeout)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except Exception as exc:  # a department's failure is data to record, never a crash of the worker
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = error is None
    if error is not None:
        error = mask(error)[:ERROR_LIMIT]
    fields: dict[str, Any] = {"event_id": event.event_id, "event": event.kind, "department": target.department,
                              "status_code": status_code, "ok": ok, "duration_ms": duration_ms}
    if event.kind == SMS_KIND:
        fields["to"] = mask_phone(str(event.payload.get("to", "")))
    log.info("delivery attempt", extra={"fields": fields})
    return Attempt(target.department, target.url, status_code, ok, error, utc(now), duration_ms)


# --- recording the outcome ---------------------------------------------------------------------------------

def backoff(failures: int, settings: DeliverySettings, jitter: float | None = None) -> timedelta:
    """Wait after the ``failures``-th failed attempt: base·2^(failures-1) capped at the maximum, times a jitter
    in [0.5, 1] so that a department coming back is not hit by every retry at once."""
    exponent = min(max(failures - 1, 0), 62)
    delay = min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2.0 ** exponent)
    factor = jitter if jitter is not None else _jitter_source.uniform(0.5, 1.0)
    return timedelta(seconds=delay * factor)


def record_outcome(session: Session, event: ClaimedEvent, attempts: Sequence[Attempt], already_delivered: bool,
                   now: datetime, settings: DeliverySettings,
                   jitter: Callable[[], float] | None = None) -> Outcome:
    """Write this round's attempts to ``deliveries`` and move the event on: delivered, skipped (nobody to
    receive it), or retrying later / dead. Touches the event only if nobody marked it delivered meanwhile."""
    now = utc(now)
    if attempts:
        session.execute(insert(Delivery), [
            {"event_id": event.event_id, "department": a.department, "url": a.url, "status_code": a.status_code,
             "ok": a.ok, "error": a.error, "attempted_at": a.attempted_at, "duration_ms": a.duration_ms}
            for a in attempts])
    pending = and_(OutboxEvent.id == event.id, OutboxEvent.delivered_at.is_(None))
    failed = [a for a in attempts if not a.ok]
    if not attempts:
        outcome: Outcome = "delivered" if already_delivered else "skipped"
        note = None if already_delivered else SKIPPED + _nobody(event)
        values: dict[str, Any] = {"delivered_at": now, "locked_until": None, "last_error": note}
    elif not failed:
        outcome = "delivered"
        values = {"delivered_at": now, "locked_until": None, "last_error": None, "attempts": event.attempts + 1}
    else:
        failures = event.attempts + 1
        outcome = "dead" if failures >= settings.max_attempts else "retrying"
        wait = backoff(failures, settings, jitter() if jitter is not None else None)
        error = "; ".join(f"{a.department}: {a.error}" for a in failed)[:ERROR_LIMIT]
        values = {"attempts": failures, "last_error": error, "available_at": now + wait, "locked_until": None}
    session.execute(update(OutboxEvent).where(pending).values(**values).execution_options(synchronize_session=False))
    if outcome == "dead":
        log.warning("delivery dead", extra={"fields": {"event_id": event.event_id, "event": event.kind,
                                                        "attempts": event.attempts + 1}})
    return outcome


def _nobody(event: ClaimedEvent) -> str:
    if event.kind == SMS_KIND:
        return "no SMS gateway configured (ONETHING_SMS_GATEWAY_URL, ONETHING_SMS_GATEWAY_SECRET)"
    if event.department is not None:
        return f"no active webhook for department {event.department}"
    return "no department with an active webhook is involved"
