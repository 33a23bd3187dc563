"""Before/after of round 5's per-request savings, in one run and one process (issue 12, item 4).

Submits ``--n`` applications through the service twice, interleaved in blocks so both see the same machine:

- *before*: what a submission did until round 5 besides the service call — the submit rate limit as one
  upsert of the shared counter row in its own transaction (the statement ADR 003's limiter ran), and the
  idempotency pre-check
  transaction (``_existing_submission``) — then ``submit_application``;
- *after*: the limiter's in-memory decision (``RateLimiter.hit_in_memory``, writing a batch when due), then
  ``submit_application`` (which no longer runs the pre-check without a data link).

It reports CPU ms (this process: the client is the same code, so all of it is "server" work) and wall ms per
submission for each. No HTTP: the HTTP stack is the same in both and would only add noise.

    python benchmarks/write_path_ab.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test --n 300
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
import uuid
from datetime import UTC, datetime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default=None)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--block", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("ONETHING_SECRET_KEY", secrets.token_urlsafe(48))

    from sqlalchemy.dialects import postgresql, sqlite

    from onething import db
    from onething.accounts.api import actor_for_user
    from onething.accounts.ratelimit import RateLimiter
    from onething.accounts.tables import RateLimitCounter
    from onething.bench.common import prepared_database
    from onething.bench.submit import THING, make_applicants, submission_form
    from onething.cases.api import submit_application
    from onething.cases.service import _existing_submission
    from onething.catalog.service import active_catalog

    with prepared_database(args.database) as (_url, engine):
        label, catalog = active_catalog(engine)
        run = uuid.uuid4().hex[:8]
        make_applicants(engine, 1, run)
        with db.session_scope(engine) as session:
            actor = actor_for_user(session, f"bench-{run}-0")
        form = submission_form()
        limiter = RateLimiter(engine)
        limit = 1_000_000_000
        client_key = "0" * 64
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

        def before() -> None:
            now = datetime.now(UTC)
            with db.session_scope(engine) as session:   # the pre-round-5 limiter: one upsert, RETURNING
                window = int(now.timestamp() // 60) * 60
                upsert = insert(RateLimitCounter).values(scope="submit", client_key=client_key,
                                                                     window_start=window, shard=0, count=1)
                session.execute(upsert.on_conflict_do_update(
                    index_elements=["scope", "client_key", "window_start", "shard"],
                    set_={"count": RateLimitCounter.count + 1}).returning(RateLimitCounter.count)).scalar_one()
            key = uuid.uuid4().hex
            with db.session_scope(engine) as session:
                _existing_submission(session, actor.user_id, key, "0" * 64)
            submit_application(engine, actor, catalog=catalog, catalog_version=label, thing=THING, answers={},
                               form=form, idempotency_key=key, now=now)

        def after() -> None:
            now = datetime.now(UTC)
            if limiter.hit_in_memory(scope="submit", client="127.0.0.1", limit=limit, now=now) is None:
                limiter.hit(scope="submit", client="127.0.0.1", limit=limit, now=now)
            submit_application(engine, actor, catalog=catalog, catalog_version=label, thing=THING, answers={},
                               form=form, idempotency_key=uuid.uuid4().hex, now=now)

        for _ in range(10):   # warm-up
            before()
            after()
        totals = {"before": [0.0, 0.0, 0], "after": [0.0, 0.0, 0]}
        done = 0
        while done < args.n:
            for name, step in (("before", before), ("after", after)):
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(args.block):
                    step()
                totals[name][0] += time.process_time() - cpu
                totals[name][1] += time.perf_counter() - wall
                totals[name][2] += args.block
            done += args.block
        result = {name: {"submissions": int(n), "cpu_ms_per_submission": round(cpu * 1000 / n, 2),
                         "wall_ms_per_submission": round(wall * 1000 / n, 2)}
                  for name, (cpu, wall, n) in totals.items()}
        result["backend"] = engine.dialect.name
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
