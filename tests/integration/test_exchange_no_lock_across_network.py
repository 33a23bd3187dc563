"""No transaction holds the audit head — or stays open at all — while a holder's service is asked (PostgreSQL).

A real HTTP holder in a thread answers its first query at once and holds every later one until the test
releases it (a ``threading.Event``). While a query is held — the fetch is in flight — an unrelated audit append
in another transaction must commit, and no connection of the database may sit idle inside a transaction.
Before the fix, collecting facts appended the first served fetch (locking the audit head) and then asked the
next holder under that lock, so every other writer of the platform waited for the slowest holder.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, text

from onething import db
from onething.accounts.model import SYSTEM
from onething.audit.service import append
from onething.catalog.model import Sharing
from onething.db import session_scope
from onething.exchange import service
from onething.exchange.providers import Providers
from onething.intake import plan

from .exchange_support import (
    FIELDS,
    GRANTED,
    NOW,
    SUBJECT,
    file_subject_records,
    make_users,
    procedure_id,
    resource_id,
    small_catalog,
)

REMOTE = (resource_id(Sharing.unconditional, False), resource_id(Sharing.unconditional, True))
HELD = 30  # seconds a held query waits for the test at most (the provider timeout is longer)
HOLDER_SECRET = "no-lock-test-holder-secret"  # the platform signs its queries; this holder does not check them


class SlowHolder(ThreadingHTTPServer):
    """Answers the first ``answer_first`` queries at once; holds the others until ``release`` is set."""

    daemon_threads = True

    def __init__(self, answer_first: int) -> None:
        self.answer_first = answer_first
        self.count = 0
        self.lock = threading.Lock()
        self.in_flight = threading.Event()   # a query is being held
        self.release = threading.Event()     # the test lets it go
        self.answered = threading.Event()    # a held query has been answered
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: SlowHolder
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with self.server.lock:
            self.server.count += 1
            held = self.server.count > self.server.answer_first
        if held:
            self.server.in_flight.set()
            self.server.release.wait(HELD)
            self.server.answered.set()
        payload = json.dumps({"values": {"person_name": "张三（部门系统）", "person_id": body["subject"]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def slow_holder(answer_first: int) -> Iterator[SlowHolder]:
    server = SlowHolder(answer_first)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def _idle_in_transaction(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()")).scalar_one())


def _while_held(engine: Engine, holder: SlowHolder, work: Callable[[], Any]) -> Any:
    """Run ``work`` in a thread; while the holder holds a query, check that an unrelated append commits and
    that no transaction is open; then release the holder and return what ``work`` returned."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as exc:  # re-raised in the test thread below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert holder.in_flight.wait(HELD), "the holder never got the query to hold"
        appended = threading.Event()

        def unrelated() -> None:
            with session_scope(engine) as session:
                append(session, SYSTEM, "test.unrelated", "test", "1", now=NOW)
            appended.set()

        other = threading.Thread(target=unrelated)
        other.start()
        committed = appended.wait(HELD / 3)
        still_in_flight = not holder.answered.is_set()
        open_transactions = _idle_in_transaction(engine)
        holder.release.set()
        other.join(HELD)
        worker.join(HELD)
    finally:
        holder.release.set()
    if "error" in outcome:
        raise outcome["error"]
    assert committed and still_in_flight, "an unrelated audit append waited for a holder's service"
    assert open_transactions == 0, "a transaction stayed open while a holder's service was asked"
    return outcome["value"]


@pytest.fixture
def engine(postgres_database: str) -> Iterator[Engine]:
    engine = db.make_engine(postgres_database)
    yield engine
    engine.dispose()


def test_collecting_facts_holds_no_lock_while_a_holder_answers(engine: Engine) -> None:
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)
    the_plan = plan(catalog, "t-small", {})
    proposal = service.propose_consent(catalog, the_plan)
    with session_scope(engine) as session:
        consent = service.grant_consent(session, catalog, actors["subject"], application_ref="app-slow",
                                        purpose=proposal.purpose, procedures=proposal.procedures,
                                        resources=proposal.resources, fields=proposal.fields,
                                        expires_at=NOW + timedelta(days=30), now=NOW)
    with slow_holder(answer_first=1) as holder:  # the first resource at once, the second held
        providers = Providers(urls=dict.fromkeys(REMOTE, holder.url), timeout=HELD * 2,
                              secrets=dict.fromkeys(REMOTE, HOLDER_SECRET), demo=True)
        facts, report = _while_held(engine, holder, lambda: service.checked_collect_facts(
            engine, catalog, actors["subject"], subject=SUBJECT, plan=the_plan, application_ref="app-slow",
            consent_id=consent.id, now=NOW, providers=providers))
    assert set(report.served) == set(REMOTE) and set(REMOTE) <= facts.resources
    assert facts.values["person_name"].value == "张三（部门系统）"
    with session_scope(engine) as session:  # every attempt on record, on the subject's data-use page
        uses = service.data_uses(session, actors["subject"])
    assert sorted(u.resource for u in uses if u.outcome == "served") == sorted(REMOTE)


def test_a_single_checked_fetch_holds_no_transaction_while_a_holder_answers(engine: Engine) -> None:
    catalog = small_catalog()
    actors = make_users(engine)
    personal = resource_id(Sharing.unconditional, True)
    with session_scope(engine) as session:
        consent = service.grant_consent(session, catalog, actors["subject"], application_ref="app-one",
                                        purpose="示例", procedures=[procedure_id(GRANTED)], resources=[personal],
                                        fields=list(FIELDS), expires_at=NOW + timedelta(days=30), now=NOW)
    with slow_holder(answer_first=0) as holder:
        providers = Providers(urls={personal: holder.url}, timeout=HELD * 2, secrets={personal: HOLDER_SECRET},
                              demo=True)
        result = _while_held(engine, holder, lambda: service.checked_fetch(
            engine, catalog, actors[f"{GRANTED}-staff"], consumer=GRANTED, subject=SUBJECT, resource=personal,
            fields=list(FIELDS), purpose=procedure_id(GRANTED), application_ref="app-one", consent_id=consent.id,
            now=NOW, providers=providers))
    assert result.values["person_name"] == "张三（部门系统）" and result.audit_entry_id > 0
