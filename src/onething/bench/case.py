"""``onething bench case``: whole cases through the services — submitted, then every decision to completion.

Each case is the bench thing (``open-restaurant``: four procedures in stages) submitted by a bench applicant
through ``submit_application``; then, stage by stage, each department's staff accepts (受理) and approves (准予)
its ready task through ``decide_task`` — the same calls the API and the workbench make, every step committed
(tasks, application status, outbox events, audit entries, certificates). ``threads`` cases run concurrently
(1: one after another, comparable to a workflow engine's serialised rate). The figure is completed cases per
second; each case is checked to have ended ``completed``.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from onething import db
from onething.bench.common import backend_of, latency_summary, machine, prepared_database, resident_id, safe_url
from onething.bench.submit import THING, submission_form
from onething.config import get_settings

MAX_CASES = 100_000


def run_case(*, cases: int, threads: int = 1, database: str | None = None) -> dict[str, Any]:
    """Run ``cases`` whole cases in ``threads`` threads; completed cases per second."""
    from onething.accounts.api import actor_for_user, create_user
    from onething.cases.api import Decision, DecisionKind, decide_task, get_application, submit_application
    from onething.catalog.service import active_catalog
    from onething.intake import plan as make_plan

    if not 1 <= cases <= MAX_CASES:
        raise ValueError(f"cases must be 1–{MAX_CASES}")
    if not 1 <= threads <= 64:
        raise ValueError("threads must be 1–64")
    settings = get_settings()
    if not settings.secret_key and not settings.demo:
        # A throwaway database: the department signing keys it makes are sealed with a key of this run's own.
        os.environ["ONETHING_SECRET_KEY"] = secrets.token_urlsafe(48)
        get_settings.cache_clear()
    form = submission_form()
    with prepared_database(database) as (database_url, engine):
        label, catalog = active_catalog(engine)
        departments = sorted({p.department for p in make_plan(catalog, THING, {}).procedures})
        run = uuid.uuid4().hex[:6]
        base = int(run, 16) % 30_000 * 1000
        with db.session_scope(engine) as session:
            for i in range(threads):
                create_user(session, name=f"case-{run}-{i}", role="applicant", id_number=resident_id(base + i))
            for department in departments:
                create_user(session, name=f"case-{run}-{department}", role="staff", department=department)
        with db.session_scope(engine) as session:
            applicants = [actor_for_user(session, f"case-{run}-{i}") for i in range(threads)]
            staff = {d: actor_for_user(session, f"case-{run}-{d}") for d in departments}
        durations: list[float] = []
        statuses: dict[str, int] = {}
        decisions = [0]
        failures: list[str] = []
        lock = threading.Lock()
        todo = [cases]

        def one_case(applicant: Any) -> None:
            now = datetime.now(UTC)
            started = time.perf_counter()
            submitted = submit_application(engine, applicant, catalog=catalog, catalog_version=label, thing=THING,
                                           answers={}, form=form, idempotency_key=f"case-{uuid.uuid4().hex}",
                                           now=now)
            app_id = submitted.application["id"]
            made = 0
            for _stage in range(10):   # at most as many stages as procedures
                ready = [t for t in get_application(engine, applicant, app_id)["tasks"] if t["status"] == "ready"]
                if not ready:
                    break
                for task in ready:
                    actor = staff[task["department"]]
                    accepted = decide_task(engine, actor, task["id"], Decision(kind=DecisionKind.accept),
                                           expected_version=task["version"], catalog=catalog, now=now)
                    decide_task(engine, actor, task["id"], Decision(kind=DecisionKind.approve,
                                                                    result={"number": "BENCH-1"}),
                                expected_version=accepted["version"], catalog=catalog, now=now)
                    made += 2
            status = str(get_application(engine, applicant, app_id)["status"])
            with lock:
                durations.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                decisions[0] += made

        def worker(slot: int) -> None:
            while True:
                with lock:
                    if todo[0] <= 0 or failures:
                        return
                    todo[0] -= 1
                try:
                    one_case(applicants[slot])
                except Exception as exc:
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}"[:300])

        one_case(applicants[0])   # warm-up: caches, pools (not timed, not counted)
        durations.clear()
        statuses.clear()
        decisions[0] = 0
        workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        started = time.perf_counter()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise RuntimeError(f"a case failed: {failures[0]}")
        completed = statuses.get("completed", 0)
        return {
            "bench": "case", "backend": backend_of(database_url), "database": safe_url(database_url),
            "thing": THING, "cases": len(durations), "threads": threads, "statuses": statuses,
            "decisions": decisions[0], "seconds": round(elapsed, 3),
            "cases_per_s": round(completed / elapsed, 1) if elapsed else 0.0,
            "decisions_per_s": round(decisions[0] / elapsed, 1) if elapsed else 0.0,
            "case_latency": latency_summary(durations), "machine": machine(),
        }
