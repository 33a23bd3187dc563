"""Department systems on SQLite and PostgreSQL: the outbox worker delivering signed webhooks to sandbox
departments — real HTTP servers on 127.0.0.1, in a thread or as subprocesses — with retries, dead events,
fan-out legs, a department that is down or slow while applicants submit, auto-deciding through the API, and
a worker killed mid-delivery (no event lost; duplicates absorbed by the receiver's idempotency).

Events are made by the case runtime's own services (``submit_application``); only the fan-out test adds an
application-level event with ``delivery.service.enqueue``, since the runtime addresses every event to one
department.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from onething import db
from onething.accounts import api as accounts
from onething.accounts.model import Actor
from onething.cases.api import submit_application
from onething.cases.tables import Delivery, OutboxEvent
from onething.catalog.model import Catalog
from onething.config import get_settings
from onething.delivery.sandbox import SandboxConfig, serve_sandbox
from onething.delivery.service import claim_batch, enqueue, set_webhook
from onething.delivery.settings import DeliverySettings
from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, sign, timestamp_of
from onething.delivery.status import list_attempts, list_events, retry_event
from onething.delivery.worker import Worker
from tests.live import free_port, serve, serve_catalog

SECRET = "pboc-test-secret-0123456789abcdef"
ID_ZHANG = "110101199003070011"   # fictional, checksum-valid
USCC_ACME = "91110105MA01ABCD00"
FAST = DeliverySettings(timeout_seconds=2.0, batch_size=10, lease_seconds=30, backoff_base_seconds=2.0,
                        backoff_max_seconds=3600, max_attempts=5, poll_seconds=0.05)


def now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """A clock the test moves by hand (starting at real time, so that signatures stay within tolerance)."""

    def __init__(self) -> None:
        self.at = now()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def no_inprocess_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Live servers without the in-process worker (on by default for SQLite): the test runs its own."""
    monkeypatch.setenv("ONETHING_INPROCESS_WORKER", "false")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def applicant(engine: Engine) -> Actor:
    with db.session_scope(engine) as session:
        accounts.create_user(session, name="zhang", role="applicant", id_number=ID_ZHANG)
        return accounts.actor_for_user(session, "zhang")


def submit_credit_report(engine: Engine, catalog: Catalog, actor: Actor, key: str) -> dict[str, Any]:
    """One application for 个人信用报告查询: one pboc task, so two pboc events (submitted, task.ready)."""
    form = {"applicant_name": "张三", "applicant_id_number": ID_ZHANG, "applicant_phone": "13800138000"}
    submitted = submit_application(engine, actor, catalog=catalog, catalog_version="test", thing="credit-report-query",
                                   answers={}, form=form, idempotency_key=key, now=now())
    return submitted.application


def configure(engine: Engine, department: str, url: str, secret: str = SECRET) -> None:
    with db.session_scope(engine) as session:
        set_webhook(session, department, url, secret, now(), actor=accounts.SYSTEM)


def outbox(engine: Engine) -> list[OutboxEvent]:
    with db.session_scope(engine) as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- signatures over real HTTP -----------------------------------------------------------------------------


def test_sandbox_accepts_good_signatures_and_rejects_tampered_or_stale_ones() -> None:
    body = json.dumps({"event_id": "e-1", "kind": "task.ready", "department": "pboc"}).encode()
    with serve_sandbox(SandboxConfig(secret=SECRET, department="pboc"), free_port()) as (url, state):
        def post(payload: bytes, timestamp: str, signature: str) -> int:
            headers = {HEADER_TIMESTAMP: timestamp, HEADER_SIGNATURE: signature, "Content-Type": "application/json"}
            return httpx.post(url + "/webhook", content=payload, headers=headers, timeout=5).status_code

        ts = timestamp_of(now())
        assert post(body, ts, sign(SECRET, ts, body)) == 200
        assert post(body, ts, sign(SECRET, ts, body)) == 200               # a duplicate: accepted, stored once
        assert post(body.replace(b"pboc", b"tax_"), ts, sign(SECRET, ts, body)) == 401   # tampered body
        assert post(body, ts, sign("not-the-secret-0123456789", ts, body)) == 401       # another secret
        stale = timestamp_of(now() - timedelta(minutes=10))
        assert post(body, stale, sign(SECRET, stale, body)) == 401                       # replayed later
        assert post(body, ts, "") == 401
        stats = httpx.get(url + "/stats", timeout=5).json()
    assert stats["unique"] == 1 and stats["duplicates"] == 1 and stats["rejected"] == 4
    assert [e.event_id for e in state.events.values()] == ["e-1"]


# --- retries, backoff, dead events -------------------------------------------------------------------------


def test_retries_with_backoff_until_the_department_answers(engine: Engine, catalog: Catalog,
                                                           applicant: Actor) -> None:
    application = submit_credit_report(engine, catalog, applicant, "retry-1")
    clock = Clock()
    with serve_sandbox(SandboxConfig(secret=SECRET, department="pboc", fail_first=4), free_port()) as (url, state):
        configure(engine, "pboc", url + "/webhook")
        worker = Worker(engine, FAST, clock=clock, jitter=lambda: 1.0)
        try:
            first = worker.run_once()                 # both events: 503
            assert (first.claimed, first.retrying) == (2, 2)
            events = outbox(engine)
            assert {e.kind for e in events} == {"application.submitted", "task.ready"}
            assert all(e.application_id == application["id"] for e in events)
            assert all(e.attempts == 1 and e.delivered_at is None and "HTTP 503" in (e.last_error or "")
                       for e in events)
            assert all(e.available_at == clock() + timedelta(seconds=2) for e in events)   # base · 2^0
            clock.advance(1.9)
            assert worker.run_once().claimed == 0     # not due yet
            clock.advance(0.1)
            assert worker.run_once().retrying == 2    # second failure: wait base · 2^1
            assert all(e.available_at == clock() + timedelta(seconds=4) for e in outbox(engine))
            clock.advance(4)
            third = worker.run_once()
            assert (third.claimed, third.delivered) == (2, 2)
        finally:
            worker.close()
        assert state.stats()["unique"] == 2 and state.stats()["failed"] == 4
    for event in outbox(engine):
        assert event.delivered_at is not None and event.attempts == 3 and event.last_error is None
        with db.session_scope(engine) as session:
            legs = list_attempts(session, event.event_id)
        assert [(a.status_code, a.ok) for a in legs] == [(503, False), (503, False), (200, True)]
        assert all(a.department == "pboc" and a.duration_ms >= 0 for a in legs)


def test_an_event_out_of_attempts_is_dead_visible_and_can_be_retried(engine: Engine, catalog: Catalog,
                                                                      applicant: Actor) -> None:
    submit_credit_report(engine, catalog, applicant, "dead-1")
    clock = Clock()
    settings = FAST.model_copy(update={"max_attempts": 3})
    worker = Worker(engine, settings, clock=clock, jitter=lambda: 1.0)
    try:
        with serve_sandbox(SandboxConfig(secret=SECRET, fail_first=1000), free_port()) as (url, _state):
            configure(engine, "pboc", url + "/webhook")
            outcomes = []
            for _ in range(3):
                outcomes.append(worker.run_once())
                clock.advance(3600)
            assert [o.retrying for o in outcomes] == [2, 2, 0] and outcomes[-1].dead == 2
            assert worker.run_once().claimed == 0     # dead: never claimed again by itself
        with db.session_scope(engine) as session:
            dead = list_events(session, status="dead", max_attempts=3)
            assert len(dead) == 2 and all(e.status == "dead" and e.attempts == 3 for e in dead)
            assert list_events(session, status="pending", max_attempts=3) == []
        # The operator fixes the department system and retries the events (back at real time: the sandbox
        # refuses signatures from three hours in the future).
        clock.at = now()
        with serve_sandbox(SandboxConfig(secret=SECRET), free_port()) as (url, state):
            configure(engine, "pboc", url + "/webhook")
            with db.session_scope(engine) as session:
                for event in dead:
                    retry_event(session, event.event_id, clock())
            assert worker.run_once().delivered == 2
            assert state.stats()["unique"] == 2
    finally:
        worker.close()


def test_events_for_departments_without_a_webhook_are_skipped_visibly(engine: Engine, catalog: Catalog,
                                                                       applicant: Actor) -> None:
    submit_credit_report(engine, catalog, applicant, "skip-1")
    worker = Worker(engine, FAST)
    try:
        assert worker.run_once().skipped == 2
    finally:
        worker.close()
    with db.session_scope(engine) as session:
        events = list_events(session)
        assert {e.status for e in events} == {"skipped"}
        assert all("no active webhook for department pboc" in (e.last_error or "") for e in events)
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


# --- fan-out: an application-level event, one leg per department --------------------------------------------


def test_application_level_event_fans_out_with_a_status_per_leg(engine: Engine, catalog: Catalog) -> None:
    with db.session_scope(engine) as session:
        accounts.create_user(session, name="acme", role="applicant", uscc=USCC_ACME)
        acme = accounts.actor_for_user(session, "acme")
    form = {"enterprise_name": "示例餐饮有限公司", "enterprise_uscc": USCC_ACME, "administrator_name": "李四",
            "bankruptcy_case_number": "(2026)京01破1号"}
    application = submit_application(engine, acme, catalog=catalog, catalog_version="test",
                                     thing="bankruptcy-info-check", answers={}, form=form,
                                     idempotency_key="fan-1", now=now()).application
    assert {"samr", "tax"} <= {t["department"] for t in application["tasks"]}
    with db.session_scope(engine) as session:
        event_id = enqueue(session, "application.completed", None, {"thing": "bankruptcy-info-check"},
                           application["id"], now())
    clock = Clock()
    worker = Worker(engine, FAST, clock=clock, jitter=lambda: 1.0)
    samr_config = SandboxConfig(secret=SECRET, department="samr")
    tax_config = SandboxConfig(secret="tax-secret-0123456789abcdef", department="tax", fail_first=1)
    try:
        with serve_sandbox(samr_config, free_port()) as (samr_url, samr), \
                serve_sandbox(tax_config, free_port()) as (tax_url, tax):
            configure(engine, "samr", samr_url + "/webhook")
            configure(engine, "tax", tax_url + "/webhook", secret=tax_config.secret)
            worker.deliver(_claim_one(engine, event_id, clock()))       # samr ok, tax 503
            with db.session_scope(engine) as session:
                legs = [(a.department, a.ok) for a in list_attempts(session, event_id)]
                assert sorted(legs) == [("samr", True), ("tax", False)]
                event = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == event_id)).one()
                assert event.delivered_at is None and (event.last_error or "").startswith("tax: HTTP 503")
            clock.advance(2)
            worker.deliver(_claim_one(engine, event_id, clock()))       # only the tax leg again
            with db.session_scope(engine) as session:
                legs = [(a.department, a.ok) for a in list_attempts(session, event_id)]
                assert sorted(legs) == [("samr", True), ("tax", False), ("tax", True)]
                event = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == event_id)).one()
                assert event.delivered_at is not None
            assert samr.events[event_id].deliveries == 1 and samr.events[event_id].department == "samr"
            assert tax.events[event_id].deliveries == 1 and tax.events[event_id].department == "tax"
    finally:
        worker.close()


def _claim_one(engine: Engine, event_id: str, at: datetime) -> Any:
    with db.session_scope(engine) as session:
        claimed = [e for e in claim_batch(session, at, 100, timedelta(seconds=30)) if e.event_id == event_id]
    assert len(claimed) == 1
    return claimed[0]


# --- claims: leases, and SKIP LOCKED on PostgreSQL ------------------------------------------------------------


def test_claims_are_disjoint_and_expire(engine: Engine, catalog: Catalog, applicant: Actor) -> None:
    for i in range(3):
        submit_credit_report(engine, catalog, applicant, f"claim-{i}")     # 6 events
    at = now()
    lease = timedelta(seconds=30)
    with db.session_scope(engine) as session:
        first = claim_batch(session, at, 4, lease)
    with db.session_scope(engine) as session:
        second = claim_batch(session, at, 4, lease)
    assert len(first) == 4 and len(second) == 2
    assert not {e.event_id for e in first} & {e.event_id for e in second}
    with db.session_scope(engine) as session:
        assert claim_batch(session, at + timedelta(seconds=10), 10, lease) == []      # all leased
    with db.session_scope(engine) as session:
        again = claim_batch(session, at + lease + timedelta(seconds=1), 10, lease)   # a dead worker's lease ran out
    assert len(again) == 6

    if engine.dialect.name != "postgresql":
        return
    # Two workers at the same moment: the second skips the rows the first holds locked, without waiting.
    later = at + 2 * lease + timedelta(seconds=2)
    factory = db.session_factory(engine)
    holder, other = factory(), factory()
    try:
        held = claim_batch(holder, later, 4, lease)                 # transaction still open: rows locked
        started = time.monotonic()
        skipped = claim_batch(other, later, 10, lease)
        assert time.monotonic() - started < 2
        other.commit()
        holder.commit()
    finally:
        holder.close()
        other.close()
    assert len(held) == 4 and len(skipped) == 2
    assert not {e.event_id for e in held} & {e.event_id for e in skipped}


# --- a failing or slow department never slows submission ------------------------------------------------------


@pytest.mark.parametrize("failure", ["slow", "down"])
def test_a_slow_or_down_department_does_not_slow_submission(database_url: str, engine: Engine, failure: str,
                                                            applicant: Actor, no_inprocess_worker: None) -> None:
    settings = FAST.model_copy(update={"timeout_seconds": 0.5})
    department = SandboxConfig(secret=SECRET, department="pboc", delay_ms=3000)
    with db.session_scope(engine) as session:
        token = accounts.issue_token(session, accounts.SYSTEM, user_name="zhang", now=now())
    with serve_catalog(database_url) as server, serve_sandbox(department, free_port()) as (sandbox_url, _state):
        url = sandbox_url + "/webhook" if failure == "slow" else f"http://127.0.0.1:{free_port()}/webhook"
        configure(engine, "pboc", url)
        # A worker busy with the failing department the whole time.
        worker = Worker(engine, settings)
        thread = worker.start_thread(poll_seconds=0.05)
        timings = []
        try:
            with httpx.Client(base_url=server.url, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                for i in range(4):
                    form = {"applicant_name": "张三", "applicant_id_number": ID_ZHANG,
                            "applicant_phone": "13800138000"}
                    started = time.monotonic()
                    answer = client.post("/api/v1/applications", headers={"Idempotency-Key": f"{failure}-{i}"},
                                         json={"thing": "credit-report-query", "answers": {}, "form": form})
                    timings.append(time.monotonic() - started)
                    assert answer.status_code == 201, answer.text
                    time.sleep(0.3)   # let the worker be mid-attempt when the next submission comes
            wait_for(lambda: all(e.attempts >= 1 for e in outbox(engine)), 10, "a first attempt at every event")
        finally:
            worker.stop()
            thread.join(timeout=10)
    print(f"\nsubmission latency with a {failure} department: max {max(timings) * 1000:.0f} ms")
    assert max(timings) < 1.0, timings            # a 3 s department, a 0.5 s timeout: neither shows here
    events = outbox(engine)
    assert len(events) == 8
    expected = "ReadTimeout" if failure == "slow" else "ConnectError"
    for event in events:
        assert event.delivered_at is None and event.attempts >= 1
        assert expected in (event.last_error or ""), event.last_error
        assert event.available_at > event.created_at


# --- auto-deciding sandbox department ---------------------------------------------------------------------


def test_sandbox_department_auto_decides_through_the_api(database_url: str, engine: Engine, applicant: Actor,
                                                         no_inprocess_worker: None) -> None:
    with db.session_scope(engine) as session:
        accounts.create_user(session, name="pboc-system", role="staff", department="pboc")
        token = accounts.issue_token(session, accounts.SYSTEM, user_name="pboc-system", now=now())
        applicant_token = accounts.issue_token(session, accounts.SYSTEM, user_name="zhang", now=now())
    with serve_catalog(database_url) as server:
        config = SandboxConfig(secret=SECRET, department="pboc", auto_decide=True, api_url=server.url, token=token)
        with serve_sandbox(config, free_port()) as (sandbox_url, state):
            configure(engine, "pboc", sandbox_url + "/webhook")
            worker = Worker(engine, FAST)
            thread = worker.start_thread(poll_seconds=0.05)
            try:
                with httpx.Client(base_url=server.url, timeout=30,
                                  headers={"Authorization": f"Bearer {applicant_token}"}) as client:
                    form = {"applicant_name": "张三", "applicant_id_number": ID_ZHANG,
                            "applicant_phone": "13800138000"}
                    created = client.post("/api/v1/applications", headers={"Idempotency-Key": "auto-1"},
                                          json={"thing": "credit-report-query", "answers": {}, "form": form})
                    assert created.status_code == 201, created.text
                    application_id = created.json()["id"]

                    def completed() -> bool:
                        answer = client.get(f"/api/v1/applications/{application_id}")
                        return bool(answer.json()["status"] == "completed")

                    wait_for(completed, 20, "the sandbox department to accept and approve", interval=0.1)
                    task = client.get(f"/api/v1/applications/{application_id}").json()["tasks"][0]
            finally:
                worker.stop()
                thread.join(timeout=10)
            assert task["status"] == "approved"
            stats = state.stats()
            assert stats["decisions"] == 2 and stats["decision_errors"] == []
            kinds = {e.kind for e in state.events.values()}
            assert {"application.submitted", "task.ready", "task.decided"} <= kinds


def test_inprocess_worker_runs_with_the_embedded_database(tmp_path: Path, catalog: Catalog) -> None:
    """SQLite (the embedded default): the web app's lifespan runs the worker; nothing else to start."""
    from onething.web.app import create_app

    url = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    try:
        with db.session_scope(engine) as session:
            accounts.create_user(session, name="zhang", role="applicant", id_number=ID_ZHANG)
            actor = accounts.actor_for_user(session, "zhang")
        with serve_sandbox(SandboxConfig(secret=SECRET), free_port()) as (sandbox_url, state):
            configure(engine, "pboc", sandbox_url + "/webhook")
            with serve(create_app(engine=engine, catalog=catalog)):
                submit_credit_report(engine, catalog, actor, "embedded-1")
                wait_for(lambda: state.stats()["unique"] == 2, 15, "the in-process worker to deliver")
        assert all(e.delivered_at is not None for e in outbox(engine))
    finally:
        engine.dispose()


# --- THE KILL TEST: a worker killed mid-delivery loses nothing ---------------------------------------------------


def _cli(*args: str, env: dict[str, str], log: Path, stdin: Any = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "onething", *args], env=env, stdin=stdin,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def test_worker_killed_mid_delivery_loses_nothing_and_delivers_once_in_effect(
        database_url: str, engine: Engine, catalog: Catalog, applicant: Actor, tmp_path: Path) -> None:
    applications = 15
    for i in range(applications):
        submit_credit_report(engine, catalog, applicant, f"kill-{i}")
    expected = {e.event_id for e in outbox(engine)}
    n = len(expected)
    assert n == 2 * applications

    env = {**os.environ, "ONETHING_DATABASE_URL": database_url, "ONETHING_DELIVERY_LEASE_SECONDS": "3",
           "ONETHING_DELIVERY_BATCH_SIZE": "5", "ONETHING_DELIVERY_TIMEOUT_SECONDS": "1",
           "ONETHING_INPROCESS_WORKER": "false"}
    port = free_port()
    sandbox = _cli("sandbox-department", "--port", str(port), "--department", "pboc", "--secret-stdin",
                   "--delay-ms", "150", env=env, log=tmp_path / "sandbox.log", stdin=subprocess.PIPE)
    assert sandbox.stdin is not None
    sandbox.stdin.write(SECRET.encode() + b"\n")
    sandbox.stdin.close()
    sandbox_url = f"http://127.0.0.1:{port}"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        def stats() -> dict[str, Any]:
            return dict(httpx.get(sandbox_url + "/stats", timeout=5).json())

        def sandbox_up() -> bool:
            try:
                return "unique" in stats()
            except httpx.HTTPError:
                return False

        wait_for(sandbox_up, 20, "the sandbox department to listen", interval=0.1)
        configure(engine, "pboc", sandbox_url + "/webhook")

        first = _cli("worker", "--poll-seconds", "0.1", env=env, log=tmp_path / "worker-1.log")
        workers.append(first)
        # Kill right after the receiver stored an event: the worker is then waiting for the (delayed) answer,
        # so that event is delivered in effect but not recorded as delivered.
        wait_for(lambda: stats()["unique"] >= n // 3, 60, "a third of the events to arrive", interval=0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL

        received_before = {e["event_id"] for e in httpx.get(sandbox_url + "/events", timeout=5).json()}
        recorded_before = {e.event_id for e in outbox(engine) if e.delivered_at is not None}
        in_flight = received_before - recorded_before
        assert 0 < len(recorded_before) < n
        assert len(in_flight) >= 1, "the kill should land mid-delivery"

        second = _cli("worker", "--poll-seconds", "0.1", env=env, log=tmp_path / "worker-2.log")
        workers.append(second)
        wait_for(lambda: all(e.delivered_at is not None for e in outbox(engine)), 90,
                 "the second worker to deliver the rest", interval=0.1)
        second.send_signal(signal.SIGTERM)         # graceful: finishes the event in hand and exits 0
        assert second.wait(timeout=15) == 0

        received = httpx.get(sandbox_url + "/events", timeout=5).json()
        final = stats()
    finally:
        for process in [*workers, sandbox]:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    ids = [e["event_id"] for e in received]
    assert len(set(ids)) == n and set(ids) == expected           # nothing lost
    assert len(ids) == n and final["unique"] == n                 # each event's effect exactly once
    assert final["duplicates"] >= len(in_flight)                  # ...although sent more than once
    redelivered = {e["event_id"] for e in received if e["deliveries"] > 1}
    assert in_flight <= redelivered
    with db.session_scope(engine) as session:
        ok_rows = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.ok.is_(True)))
    print(f"\nkill test ({engine.dialect.name}): N={n}, recorded before kill={len(recorded_before)}, "
          f"in flight at kill={len(in_flight)}, transport duplicates absorbed={final['duplicates']}, "
          f"receiver stored={final['unique']}, ok attempts recorded={ok_rows}")


def test_cli_configures_webhooks_without_ever_listing_secrets(database_url: str, engine: Engine) -> None:
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "onething", *args], capture_output=True, text=True, env=env,
                              input=stdin, timeout=120)

    unknown = run("departments", "set-webhook", "nosuch", "http://127.0.0.1:9/")     # checked against the catalog
    assert unknown.returncode == 1 and "nosuch" in unknown.stderr
    generated = run("departments", "set-webhook", "samr", "http://127.0.0.1:9/webhook", "--force")
    assert generated.returncode == 0, generated.stderr
    secret = generated.stdout.split()[-1]
    assert len(secret) >= 40
    given = run("departments", "set-webhook", "tax", "https://tax.example.gov.cn/hook", "--secret-stdin", "--force",
                stdin="tax-secret-from-a-vault-0123456789\n")
    assert given.returncode == 0 and "tax-secret-from-a-vault" not in given.stdout
    bad = run("departments", "set-webhook", "samr", "ftp://example/", "--secret-stdin", "--force",
              stdin="x" * 20 + "\n")
    assert bad.returncode == 1
    listed = run("departments", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout and "tax-secret-from-a-vault" not in listed.stdout
    assert [row["department"] for row in json.loads(listed.stdout)] == ["samr", "tax"]
    with db.session_scope(engine) as session:
        from onething.delivery.tables import DepartmentEndpoint

        stored = session.get(DepartmentEndpoint, "tax")
        assert stored is not None and stored.secret == "tax-secret-from-a-vault-0123456789"
        assert "tax-secret" not in repr(stored)
    once = run("worker", "--once")
    assert once.returncode == 0, once.stderr
    assert secret not in once.stdout + once.stderr
    outbox_listing = run("outbox", "list", "--json")
    assert outbox_listing.returncode == 0 and json.loads(outbox_listing.stdout) == []


def test_worker_stops_gracefully_from_another_thread(engine: Engine) -> None:
    worker = Worker(engine, FAST)
    thread = worker.start_thread(poll_seconds=5)
    time.sleep(0.2)
    started = time.monotonic()
    worker.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 2



def test_sandbox_department_enters_what_its_procedure_produces(database_url: str, engine: Engine,
                                                               no_inprocess_worker: None) -> None:
    """A sandbox 市场监管 approves business registration with the USCC it produces (the approval requires it);
    the application's form then carries it for the later tasks."""
    from tests.case_forms import ANSWERS, THING, restaurant_plan, typed_values

    with db.session_scope(engine) as session:
        accounts.create_user(session, name="samr-system", role="staff", department="samr")
        accounts.create_user(session, name="acme", role="applicant", uscc="91110000MA01ABCD0J")
        token = accounts.issue_token(session, accounts.SYSTEM, user_name="samr-system", now=now())
        applicant_token = accounts.issue_token(session, accounts.SYSTEM, user_name="acme", now=now())
    with serve_catalog(database_url) as server:
        form = typed_values(restaurant_plan(server.app.state.catalog))
        config = SandboxConfig(secret=SECRET, department="samr", auto_decide=True, api_url=server.url, token=token)
        with serve_sandbox(config, free_port()) as (sandbox_url, state):
            configure(engine, "samr", sandbox_url + "/webhook")
            worker = Worker(engine, FAST)
            thread = worker.start_thread(poll_seconds=0.05)
            try:
                with httpx.Client(base_url=server.url, timeout=30,
                                  headers={"Authorization": f"Bearer {applicant_token}"}) as client:
                    created = client.post("/api/v1/applications", headers={"Idempotency-Key": "auto-uscc"},
                                          json={"thing": THING, "answers": ANSWERS, "form": form})
                    assert created.status_code == 201, created.text
                    application_id = created.json()["id"]

                    def registered() -> bool:
                        tasks = client.get(f"/api/v1/applications/{application_id}").json()["tasks"]
                        return any(t["procedure"] == "business-registration" and t["status"] == "approved"
                                   for t in tasks)

                    wait_for(registered, 20, "the sandbox 市场监管 to register the business", interval=0.1)
                    application = client.get(f"/api/v1/applications/{application_id}").json()
            finally:
                worker.stop()
                thread.join(timeout=10)
            assert application["form"]["enterprise_uscc"] == "91110105MA01ABCD00"
            assert state.stats()["decision_errors"] == []
