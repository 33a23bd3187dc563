"""Sending records to the national hub: claim ``national.*`` outbox rows, POST each signed, record the answer.

The outbox machinery is the department workers' (``onething.delivery.service``): claims under a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), HTTP outside any transaction, one ``deliveries`` row per attempt
(department ``national-hub``), capped exponential backoff with jitter, dead after ``max_attempts``. What
differs is the answer:

- **2xx** ``{"status": "acknowledged", "receipt": …}`` — acknowledged: the row is delivered, the receipt kept;
- **422** ``{"status": "rejected", "problems": [{field, reason}]}`` — the hub refused the record as invalid.
  Sending the same bytes again cannot help, so the row is closed (``last_error`` ``"rejected: …"``) and the
  reasons are kept in ``hub_receipts`` for operators (``onething hub list --status rejected``);
- anything else, a timeout or a refused connection — a failed attempt, retried later.

Signing: ``X-Onething-Signature: sha256=<HMAC-SHA256(secret, timestamp + "." + METHOD + " " + path + "\\n" +
body)>`` (``onething.delivery.signing.sign_request``), so a signature covers where the request goes as well
as what it says; the hub refuses a timestamp more than 5 minutes from its clock.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from onething import __version__
from onething.cases.tables import Delivery, OutboxEvent
from onething.db import session_scope
from onething.delivery.service import Attempt, ClaimedEvent, claim_batch, record_outcome, release
from onething.delivery.settings import DeliverySettings
from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_request, timestamp_of
from onething.hub.api import NATIONAL_PREFIX
from onething.hub.settings import HubSettings, get_hub_settings
from onething.hub.tables import HubReceipt
from onething.logging import mask

log = logging.getLogger(__name__)

HUB = "national-hub"           # the ``deliveries.department`` of attempts to the hub
REJECTED = "rejected: "
HEADER_PLATFORM = "X-Onething-Platform"
HEADER_RECORD_ID = "X-Onething-Record-Id"
ERROR_LIMIT = 1000

HubOutcome = Literal["acknowledged", "rejected", "retrying", "dead"]


class HubNotConfigured(RuntimeError):
    """``ONETHING_NATIONAL_HUB_URL`` or ``ONETHING_NATIONAL_HUB_SECRET`` is not set."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def record_body(record: dict[str, Any]) -> bytes:
    """The bytes sent for one record: compact UTF-8 JSON with sorted keys (the same on every attempt)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def endpoint(settings: HubSettings, path: str) -> str:
    if not settings.url:
        raise HubNotConfigured("ONETHING_NATIONAL_HUB_URL is not set")
    return settings.url.rstrip("/") + path


def signed_headers(settings: HubSettings, method: str, url: str, body: bytes, now: datetime) -> dict[str, str]:
    """Headers of one signed request to the hub (the signature covers method, path with query, and body)."""
    if settings.secret is None:
        raise HubNotConfigured("ONETHING_NATIONAL_HUB_SECRET is not set")
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    timestamp = timestamp_of(now)
    return {
        "User-Agent": f"onething-hub/{__version__}",
        HEADER_PLATFORM: settings.platform,
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: sign_request(settings.secret.get_secret_value(), timestamp, method, target, body),
    }


@dataclass(frozen=True)
class Answer:
    """What the hub said to one record, or why nothing was said."""

    attempt: Attempt
    status: Literal["acknowledged", "rejected", "failed"]
    receipt: str | None = None
    problems: tuple[dict[str, Any], ...] = ()


def post_record(client: httpx.Client, settings: HubSettings, event: ClaimedEvent, now: datetime) -> Answer:
    """POST one record. Never raises: a failure is an :class:`Answer` with status ``failed``."""
    url = endpoint(settings, "/reports")
    body = record_body(event.payload)
    headers = {"Content-Type": "application/json; charset=utf-8", HEADER_RECORD_ID: event.event_id,
               **signed_headers(settings, "POST", url, body, now)}
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    status: Literal["acknowledged", "rejected", "failed"] = "failed"
    receipt: str | None = None
    problems: tuple[dict[str, Any], ...] = ()
    try:
        response = client.post(url, content=body, headers=headers, timeout=settings.timeout_seconds)
        status_code = response.status_code
        answer = _json(response)
        if 200 <= status_code < 300 and answer.get("status") == "acknowledged":
            status, receipt = "acknowledged", str(answer.get("receipt") or "") or None
        elif status_code == 422 and answer.get("status") == "rejected":
            status = "rejected"
            problems = tuple(p for p in answer.get("problems", []) if isinstance(p, dict))[:50]
            error = REJECTED + "; ".join(f"{p.get('field')}: {p.get('reason')}" for p in problems)
        else:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except Exception as exc:  # the hub's failure is data to record, never a crash of the sender
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    if error is not None:
        error = mask(error)[:ERROR_LIMIT]
    attempt = Attempt(HUB, url, status_code, status == "acknowledged", error, now.astimezone(UTC), duration_ms)
    log.info("national hub attempt", extra={"fields": {"record_id": event.event_id, "kind": event.kind,
                                                        "status_code": status_code, "answer": status}})
    return Answer(attempt, status, receipt, problems)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _delivery_settings(settings: HubSettings) -> DeliverySettings:
    return DeliverySettings(timeout_seconds=settings.timeout_seconds, batch_size=settings.batch_size,
                            lease_seconds=settings.lease_seconds, backoff_base_seconds=settings.backoff_base_seconds,
                            backoff_max_seconds=settings.backoff_max_seconds, max_attempts=settings.max_attempts,
                            poll_seconds=settings.poll_seconds)


def keep_receipt(session: Session, event: ClaimedEvent | OutboxEvent, answer: Answer, now: datetime) -> None:
    """Store (or replace) the hub's answer to one record."""
    payload = event.payload or {}
    row = session.get(HubReceipt, event.event_id)
    if row is None:
        row = HubReceipt(record_id=event.event_id, record_type=str(payload.get("record_type") or ""),
                         application_id=event.application_id, case_number=payload.get("case_number"),
                         status=answer.status, answered_at=now)
        session.add(row)
    row.status, row.receipt, row.answered_at = answer.status, answer.receipt, now
    row.problems = list(answer.problems) or None


def record_answer(session: Session, event: ClaimedEvent, answer: Answer, now: datetime, settings: HubSettings,
                  jitter: Callable[[], float] | None = None) -> HubOutcome:
    """Move the record on after one attempt: acknowledged, rejected (closed, reasons kept), or retried/dead."""
    delivery = _delivery_settings(settings)
    if answer.status == "failed":
        outcome = record_outcome(session, event, [answer.attempt], False, now, delivery, jitter)
        return "dead" if outcome == "dead" else "retrying"
    if answer.status == "acknowledged":
        record_outcome(session, event, [answer.attempt], False, now, delivery, jitter)
    else:
        # The attempt itself is a row in ``deliveries`` (not ok: refused); the record is closed, not retried.
        a = answer.attempt
        session.add(Delivery(event_id=event.event_id, department=a.department, url=a.url,
                             status_code=a.status_code, ok=False, error=a.error, attempted_at=a.attempted_at,
                             duration_ms=a.duration_ms))
        session.execute(update(OutboxEvent).where(OutboxEvent.id == event.id, OutboxEvent.delivered_at.is_(None))
                        .values(delivered_at=now, locked_until=None, last_error=a.error,
                                attempts=event.attempts + 1)
                        .execution_options(synchronize_session=False))
    keep_receipt(session, event, answer, now)
    return answer.status


@dataclass
class SendResult:
    claimed: int = 0
    acknowledged: int = 0
    rejected: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0


class HubSender:
    """Sends ``national.*`` records. ``run_once`` does one round; ``run`` loops until :meth:`stop`."""

    def __init__(self, engine: Engine, settings: HubSettings | None = None, *, client: httpx.Client | None = None,
                 clock: Callable[[], datetime] = utcnow, jitter: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self.settings = settings or get_hub_settings()
        if not self.settings.enabled:
            raise HubNotConfigured("set ONETHING_NATIONAL_HUB_URL and ONETHING_NATIONAL_HUB_SECRET")
        self.clock = clock
        self.jitter = jitter
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=self.settings.timeout_seconds, follow_redirects=False)
        self._stop = threading.Event()

    def run_once(self) -> SendResult:
        result = SendResult()
        now = self.clock()
        lease = timedelta(seconds=self.settings.lease_seconds)
        with session_scope(self.engine) as session:
            events = claim_batch(session, now, self.settings.batch_size, lease,
                                 max_attempts=self.settings.max_attempts, kind_prefix=NATIONAL_PREFIX)
        result.claimed = len(events)
        margin = timedelta(seconds=self.settings.timeout_seconds)
        for index, event in enumerate(events):
            if self._stop.is_set() or self.clock() + margin >= event.locked_until:
                result.released = self._release(events[index:])
                break
            outcome = self.send(event)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def send(self, event: ClaimedEvent) -> HubOutcome:
        answer = post_record(self.client, self.settings, event, self.clock())
        with session_scope(self.engine) as session:
            return record_answer(session, event, answer, self.clock(), self.settings, self.jitter)

    def _release(self, events: Sequence[ClaimedEvent]) -> int:
        with session_scope(self.engine) as session:
            return release(session, events)

    def run(self, poll_seconds: float | None = None, *, until_idle: bool = False,
            max_rounds: int | None = None) -> int:
        poll = poll_seconds if poll_seconds is not None else self.settings.poll_seconds
        rounds = 0
        while not self._stop.is_set() and (max_rounds is None or rounds < max_rounds):
            rounds += 1
            try:
                result = self.run_once()
            except Exception:
                log.exception("national hub round failed")
                self._stop.wait(poll)
                continue
            if result.claimed == 0:
                if until_idle:
                    break
                self._stop.wait(poll)
        return rounds

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def start_thread(self, poll_seconds: float | None = None) -> threading.Thread:
        thread = threading.Thread(target=self._run_then_close, args=(poll_seconds,), name="onething-hub-sender",
                                  daemon=True)
        thread.start()
        return thread

    def _run_then_close(self, poll_seconds: float | None) -> None:
        try:
            self.run(poll_seconds)
        finally:
            self.close()
