"""Rate limits (限流) as a fixed-window counter in the database, so every server process shares one count.

A request is counted in the row (scope, client key, window start); the upsert is a single atomic statement on
both SQLite and PostgreSQL (``INSERT … ON CONFLICT DO UPDATE … RETURNING``). Client keys are stored as
SHA-256 digests: the table never holds an IP address. Old windows are deleted as new ones open.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from onething.accounts.tables import RateLimitCounter

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int
    limit: int
    retry_after: int   # seconds until the window resets (meaningful when not allowed)


def hit(session: Session, *, scope: str, client: str, limit: int, now: datetime,
        window_seconds: int = WINDOW_SECONDS) -> RateDecision:
    """Count one request of ``client`` in ``scope`` and say whether it is within ``limit`` per window.

    ``limit <= 0`` switches the limit off (nothing is counted).
    """
    if limit <= 0:
        return RateDecision(allowed=True, count=0, limit=limit, retry_after=0)
    epoch = now.timestamp()
    window_start = int(epoch // window_seconds) * window_seconds
    key = hashlib.sha256(f"{scope}\x00{client}".encode()).hexdigest()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(RateLimitCounter).values(scope=scope, client_key=key, window_start=window_start, count=1)
    statement = upsert.on_conflict_do_update(
        index_elements=["scope", "client_key", "window_start"],
        set_={"count": RateLimitCounter.count + 1},
    ).returning(RateLimitCounter.count)
    count = int(session.execute(statement).scalar_one())
    if count == 1:
        session.execute(delete(RateLimitCounter).where(RateLimitCounter.scope == scope,
                                                       RateLimitCounter.window_start < window_start))
    retry_after = max(1, math.ceil(window_start + window_seconds - epoch))
    return RateDecision(allowed=count <= limit, count=count, limit=limit, retry_after=retry_after)
