"""Rate limits (限流): counted in each process, shared through the database in batches (ADR 022).

Each server process keeps its own count per (scope, client, one-minute window) and writes to the shared table
only now and then: when it has counted ``batch`` requests since it last wrote (``batch`` = 1/20 of the limit,
at least 1), when the count it knows of reaches the limit, or when a second has passed. A write adds the
process's unwritten requests to *its own* row — the table is keyed by (scope, client key, window, shard), the
shard being a random number drawn once per process — and reads back the sum over every process's row. So:

- no row is written by more than one process, and within a process at most one write per key is in flight
  (requests that arrive meanwhile are counted in memory and judged on what the process knows): fifty clients
  behind one proxy do not queue on one row lock;
- a limit of 30 a minute (batch 1) is exact as before; a limit of 6,000 (batch 300) costs a write per 300
  requests per process;
- tolerance: across P processes, at most ``limit + P × batch`` requests are let through in a window (each
  process may have let through one batch the others have not yet seen), on top of the fixed window's
  boundary effect (up to twice the limit across two adjacent windows), as before.

Client keys are SHA-256 digests: the table never holds an IP address. Old windows are deleted as new ones open.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from onething.accounts.tables import RateLimitCounter

WINDOW_SECONDS = 60
# A process writes its count at least this often (seconds, monotonic) while it is counting.
SYNC_SECONDS = 1.0
# A process writes after this share of the limit at the latest: batch = max(1, limit // BATCH_DIVISOR).
BATCH_DIVISOR = 20


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    limit: int
    retry_after: int   # seconds until the window resets (meaningful when not allowed)


def batch_for(limit: int) -> int:
    """How many requests a process may count before it writes: 1/20 of the limit, at least 1."""
    return max(1, limit // BATCH_DIVISOR)


def _client_key(scope: str, client: str) -> str:
    return hashlib.sha256(f"{scope}\x00{client}".encode()).hexdigest()


def _window(now: datetime, window_seconds: int) -> tuple[int, int]:
    epoch = now.timestamp()
    window_start = int(epoch // window_seconds) * window_seconds
    return window_start, max(1, math.ceil(window_start + window_seconds - epoch))


def add(session: Session, *, scope: str, key: str, window_start: int, shard: int, n: int) -> int:
    """Add ``n`` requests to this shard's row and return the window's total over all shards."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(RateLimitCounter).values(scope=scope, client_key=key, window_start=window_start,
                                             shard=shard, count=n)
    statement = upsert.on_conflict_do_update(
        index_elements=["scope", "client_key", "window_start", "shard"],
        set_={"count": RateLimitCounter.count + n},
    ).returning(RateLimitCounter.count)
    mine = int(session.execute(statement).scalar_one())
    if mine == n:   # this shard's first write in the window: clear the scope's old windows
        session.execute(delete(RateLimitCounter).where(RateLimitCounter.scope == scope,
                                                       RateLimitCounter.window_start < window_start))
    total = session.scalar(select(func.sum(RateLimitCounter.count)).where(
        RateLimitCounter.scope == scope, RateLimitCounter.client_key == key,
        RateLimitCounter.window_start == window_start))
    return int(total or 0)


def hit(session: Session, *, scope: str, client: str, limit: int, now: datetime,
        window_seconds: int = WINDOW_SECONDS, shard: int = 0) -> RateDecision:
    """Count one request of ``client`` in ``scope`` in the shared table at once (no batching).

    ``limit <= 0`` switches the limit off (nothing is counted). Servers use :class:`RateLimiter`.
    """
    if limit <= 0:
        return RateDecision(allowed=True, count=0, limit=limit, retry_after=0)
    window_start, retry_after = _window(now, window_seconds)
    count = add(session, scope=scope, key=_client_key(scope, client), window_start=window_start, shard=shard, n=1)
    return RateDecision(allowed=count <= limit, count=count, limit=limit, retry_after=retry_after)


@dataclass
class _Count:
    window_start: int
    known: int = 0            # the shared total when this process last wrote (its own writes included)
    pending: int = 0          # counted here, not yet written
    writing: int = 0          # requests in a write in flight in this process (0: none)
    written_at: float = field(default_factory=time.monotonic)
    blocked: bool = False     # the shared total was over the limit: refused until the window ends


class RateLimiter:
    """One process's view of the rate limits: counts in memory, writes to its own shard in batches."""

    def __init__(self, engine: Engine, *, shard: int | None = None, window_seconds: int = WINDOW_SECONDS,
                 sync_seconds: float = SYNC_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.shard = shard if shard is not None else secrets.randbelow(2**31)
        self.window_seconds = window_seconds
        self.sync_seconds = sync_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], _Count] = {}

    def hit_in_memory(self, *, scope: str, client: str, limit: int, now: datetime) -> RateDecision | None:
        """Count and decide without the database when no write is due (no thread needed); else None and
        nothing counted — call :meth:`hit` (in a worker thread: it may write)."""
        if limit <= 0:
            return RateDecision(allowed=True, count=0, limit=limit, retry_after=0)
        window_start, retry_after = _window(now, self.window_seconds)
        with self._lock:
            state = self._counts.get((scope, _client_key(scope, client)))
            if state is None or state.window_start != window_start:
                return None
            estimate = state.known + state.writing + state.pending + 1
            if state.blocked:
                state.pending += 1
                return RateDecision(allowed=False, count=estimate, limit=limit, retry_after=retry_after)
            due = (state.pending + 1 >= batch_for(limit) or estimate > limit
                   or self._clock() - state.written_at >= self.sync_seconds)
            if due and not state.writing:
                return None
            state.pending += 1
            return RateDecision(allowed=estimate <= limit, count=estimate, limit=limit, retry_after=retry_after)

    def hit(self, *, scope: str, client: str, limit: int, now: datetime) -> RateDecision:
        """Count one request and say whether it is within ``limit`` per window (``limit <= 0``: no limit)."""
        if limit <= 0:
            return RateDecision(allowed=True, count=0, limit=limit, retry_after=0)
        window_start, retry_after = _window(now, self.window_seconds)
        key = _client_key(scope, client)
        batch = batch_for(limit)
        with self._lock:
            state = self._counts.get((scope, key))
            if state is None or state.window_start != window_start:
                self._drop_old(window_start)
                state = _Count(window_start=window_start, written_at=self._clock() - self.sync_seconds)
                self._counts[(scope, key)] = state
            state.pending += 1
            estimate = state.known + state.writing + state.pending
            if state.blocked:
                return RateDecision(allowed=False, count=estimate, limit=limit, retry_after=retry_after)
            due = (state.pending >= batch or estimate > limit
                   or self._clock() - state.written_at >= self.sync_seconds)
            if not due or state.writing:
                # Judged on what this process knows; another thread's write is on its way.
                return RateDecision(allowed=estimate <= limit, count=estimate, limit=limit, retry_after=retry_after)
            n, state.pending, state.writing = state.pending, 0, state.pending
        try:
            from onething.db import session_scope

            with session_scope(self.engine) as session:
                total = add(session, scope=scope, key=key, window_start=window_start, shard=self.shard, n=n)
        except BaseException:
            with self._lock:
                state.pending += n
                state.writing = 0
            raise
        with self._lock:
            state.writing = 0
            state.known = total
            state.written_at = self._clock()
            state.blocked = total > limit
        # This request is within the total it wrote; those counted meanwhile were judged on their own.
        return RateDecision(allowed=total <= limit, count=total, limit=limit, retry_after=retry_after)

    def _drop_old(self, window_start: int) -> None:
        for k in [k for k, v in self._counts.items() if v.window_start != window_start]:
            del self._counts[k]
