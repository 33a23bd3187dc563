"""The outbox worker: claim → deliver → record, in a loop that stops gracefully.

One class serves both shapes of deployment: ``onething worker`` processes beside PostgreSQL (any number of
them), and the in-process thread that ``onething serve`` starts for the embedded SQLite default. Database
transactions are short and never span an HTTP call, so a slow department holds no lock that submissions need.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from onething.db import session_scope
from onething.delivery.service import (
    ClaimedEvent,
    Outcome,
    claim_batch,
    plan_targets,
    post_event,
    record_outcome,
    release,
)
from onething.delivery.settings import DeliverySettings, get_delivery_settings

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunResult:
    """What one claim-and-deliver round did."""

    claimed: int = 0
    delivered: int = 0
    skipped: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


class Worker:
    """Delivers outbox events. ``run_once`` does one round (tests call it); ``run`` loops until ``stop``."""

    def __init__(self, engine: Engine, settings: DeliverySettings | None = None, *,
                 client: httpx.Client | None = None, clock: Callable[[], datetime] = utcnow,
                 jitter: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self.settings = settings or get_delivery_settings()
        self.clock = clock
        self.jitter = jitter
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=self.settings.timeout_seconds, follow_redirects=False)
        self._stop = threading.Event()

    # -- one round ----------------------------------------------------------------------------------------

    def run_once(self) -> RunResult:
        result = RunResult()
        now = self.clock()
        lease = timedelta(seconds=self.settings.lease_seconds)
        with session_scope(self.engine) as session:
            events = claim_batch(session, now, self.settings.batch_size, lease,
                                 max_attempts=self.settings.max_attempts)
        result.claimed = len(events)
        margin = timedelta(seconds=self.settings.timeout_seconds)
        for index, event in enumerate(events):
            # Never start a delivery that could outlive the lease: another worker may take the event then.
            if self._stop.is_set() or self.clock() + margin >= event.locked_until:
                result.released = self._release(events[index:])
                break
            result.count(self.deliver(event))
        return result

    def deliver(self, event: ClaimedEvent) -> Outcome:
        """Post one claimed event to each of its remaining legs and record the outcome."""
        with session_scope(self.engine) as session:
            targets, already_delivered = plan_targets(session, event)
        attempts = [post_event(self.client, event, target, self.clock(), self.settings.timeout_seconds)
                    for target in targets]
        with session_scope(self.engine) as session:
            return record_outcome(session, event, attempts, already_delivered, self.clock(), self.settings,
                                  self.jitter)

    def _release(self, events: list[ClaimedEvent]) -> int:
        with session_scope(self.engine) as session:
            return release(session, events)

    # -- the loop -----------------------------------------------------------------------------------------

    def run(self, poll_seconds: float | None = None, *, until_idle: bool = False,
            max_rounds: int | None = None) -> int:
        """Loop until :meth:`stop` (or, with ``until_idle``, until a round claims nothing); return rounds run.

        An empty round waits ``poll_seconds``; a database error is logged and waited out the same way, so a
        restarting database does not kill the worker.
        """
        poll = poll_seconds if poll_seconds is not None else self.settings.poll_seconds
        rounds = 0
        while not self._stop.is_set() and (max_rounds is None or rounds < max_rounds):
            rounds += 1
            try:
                result = self.run_once()
            except Exception:
                log.exception("delivery round failed")
                self._stop.wait(poll)
                continue
            if result.claimed == 0:
                if until_idle:
                    break
                self._stop.wait(poll)
        return rounds

    def stop(self) -> None:
        """Finish the event in hand, give back the rest of the batch, and leave the loop."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def start_thread(self, poll_seconds: float | None = None) -> threading.Thread:
        thread = threading.Thread(target=self._run_then_close, args=(poll_seconds,), name="onething-outbox-worker",
                                  daemon=True)
        thread.start()
        return thread

    def _run_then_close(self, poll_seconds: float | None) -> None:
        try:
            self.run(poll_seconds)
        finally:
            self.close()


@asynccontextmanager
async def inprocess_worker_lifespan(app: Any) -> AsyncIterator[None]:
    """FastAPI lifespan: run a :class:`Worker` thread beside the app while ``settings.inprocess_worker`` says so
    (by default: on for SQLite, the embedded single-process setup; off for PostgreSQL, which runs
    ``onething worker`` processes)."""
    from onething.config import get_settings

    engine: Engine = app.state.engine
    if not get_settings().resolved_inprocess_worker(engine.dialect.name):
        yield
        return
    from onething.hub.sender import HubSender
    from onething.hub.settings import get_hub_settings

    worker = Worker(engine)
    thread = worker.start_thread()
    # Records for the national hub, when one is configured: a sender thread beside the outbox worker.
    sender = HubSender(engine) if get_hub_settings().enabled else None
    sender_thread = sender.start_thread() if sender is not None else None
    log.info("in-process outbox worker started", extra={"fields": {"national_hub": sender is not None}})
    try:
        yield
    finally:
        worker.stop()
        if sender is not None:
            sender.stop()
        # Bounded: the event in hand finishes within one timeout per leg.
        await asyncio.to_thread(thread.join, worker.settings.timeout_seconds * 2 + 1)
        if sender is not None and sender_thread is not None:
            await asyncio.to_thread(sender_thread.join, sender.settings.timeout_seconds + 1)
        log.info("in-process outbox worker stopped")
