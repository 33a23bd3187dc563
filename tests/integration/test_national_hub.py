"""National platform reporting on SQLite and PostgreSQL: 办件 status and 好差评 records written by the case
runtime's own services in the change's transaction, sent signed to a sandbox national hub — a real HTTP server
on 127.0.0.1 (a thread, or the `onething sandbox-national-hub` process) that verifies signatures and validates
every record — with retries while the hub is down, rejections visible to operators with their reasons, and a
daily reconciliation that sends again what the hub lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, func, select

from onething import db
from onething.accounts import api as accounts
from onething.accounts.model import Actor
from onething.audit.tables import AuditEntry
from onething.cases import api as cases
from onething.cases.tables import Delivery, OutboxEvent
from onething.catalog.model import Catalog
from onething.config import get_settings
from onething.delivery.service import claim_batch
from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_request, timestamp_of
from onething.hub.reconcile import list_reconciliations, list_records, reconcile
from onething.hub.sandbox import HubConfig, HubState, serve_hub
from onething.hub.sender import HubSender, record_body
from onething.hub.settings import HubSettings, get_hub_settings
from onething.hub.spec import china_date
from onething.hub.tables import HubReceipt, HubReconciliation
from tests.case_forms import hidden_inputs
from tests.live import free_port, serve_catalog

SECRET = "national-hub-test-secret-0123456789"
ID_ZHANG = "110101199003070011"   # fictional, checksum-valid
FORM = {"applicant_name": "张三", "applicant_id_number": ID_ZHANG, "applicant_phone": "13800138000"}


def now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """A clock the test moves by hand (from real time, so that signatures stay within the hub's tolerance)."""

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
def people(engine: Engine) -> dict[str, Actor]:
    with db.session_scope(engine) as session:
        accounts.create_user(session, name="zhang", role="applicant", id_number=ID_ZHANG)
        accounts.create_user(session, name="pboc-staff", role="staff", department="pboc")
    with db.session_scope(engine) as session:
        return {name: accounts.actor_for_user(session, name) for name in ("zhang", "pboc-staff")}


def hub_at(monkeypatch: pytest.MonkeyPatch, url: str, secret: str = SECRET) -> HubSettings:
    """Configure reporting the way a deployment does: environment variables, read afresh."""
    monkeypatch.setenv("ONETHING_NATIONAL_HUB_URL", url)
    monkeypatch.setenv("ONETHING_NATIONAL_HUB_SECRET", secret)
    monkeypatch.setenv("ONETHING_NATIONAL_HUB_PLATFORM", "sichuan-test")
    monkeypatch.setenv("ONETHING_NATIONAL_HUB_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("ONETHING_NATIONAL_HUB_TIMEOUT_SECONDS", "2")
    get_hub_settings.cache_clear()
    return get_hub_settings()


@pytest.fixture(autouse=True)
def fresh_hub_settings() -> Iterator[None]:
    get_hub_settings.cache_clear()
    yield
    get_hub_settings.cache_clear()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HubSettings, HubState]]:
    with serve_hub(HubConfig(secret=SECRET), free_port()) as (url, state):
        yield hub_at(monkeypatch, url), state


def submit(engine: Engine, catalog: Catalog, actor: Actor, key: str, region: str | None = "sichuan",
           at: datetime | None = None) -> dict[str, Any]:
    """个人信用报告查询 (one pboc task), planned with Sichuan's rules unless ``region`` is None."""
    submitted = cases.submit_application(engine, actor, catalog=catalog, catalog_version="test",
                                         thing="credit-report-query", answers={}, form=FORM, idempotency_key=key,
                                         now=at or now(), region=region)
    return submitted.application


def decide(engine: Engine, catalog: Catalog, staff: Actor, task_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    task = cases.get_task(engine, staff, task_id)
    return cases.decide_task(engine, staff, task_id, cases.Decision(cases.DecisionKind(kind), **extra),
                             expected_version=task["version"], catalog=catalog, now=now())


def national_rows(engine: Engine) -> list[OutboxEvent]:
    with db.session_scope(engine) as session:
        return list(session.scalars(select(OutboxEvent).where(OutboxEvent.kind.startswith("national."))
                                    .order_by(OutboxEvent.id)))


def send_all(engine: Engine, settings: HubSettings, clock: Clock | None = None) -> None:
    sender = HubSender(engine, settings, clock=clock or now, jitter=lambda: 1.0)
    try:
        sender.run(0.0, until_idle=True, max_rounds=50)
    finally:
        sender.close()


# --- the life of an application, reported in order -----------------------------------------------------------

def test_an_applications_life_and_its_rating_reach_the_hub_in_order(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], hub: tuple[HubSettings, HubState]) -> None:
    settings, state = hub
    app = submit(engine, catalog, people["zhang"], "life")
    task_id = app["tasks"][0]["id"]
    decide(engine, catalog, people["pboc-staff"], task_id, "accept")
    decide(engine, catalog, people["pboc-staff"], task_id, "approve", result={"number": "PBOC-2026-0001"})
    cases.rate_application(engine, people["zhang"], app["id"], score=2, comment="等待时间太长",
                           tasks={task_id: 2}, catalog=catalog, now=now())

    rows = national_rows(engine)
    # Written with the changes themselves: one record per change, numbered within the 办件.
    assert [r.payload.get("status") or r.payload["record_type"] for r in rows] == [
        "received", "accepted", "approved", "completed", "rating"]
    assert [r.payload["sequence"] for r in rows] == [1, 2, 3, 4, 5]
    # Department workers never take them.
    with db.session_scope(engine) as session:
        claimed = claim_batch(session, now(), 100, timedelta(seconds=1))
        assert claimed and not any(e.kind.startswith("national.") for e in claimed)

    send_all(engine, settings)

    received = sorted(state.records.values(), key=lambda r: r.record["sequence"])
    assert [r.status for r in received] == ["acknowledged"] * 5, [r.problems for r in received]
    first = received[0].record
    assert first["case_number"] == app["number"] and first["division_code"] == "510000"
    assert first["platform"] == "sichuan-test" and first["status_name"] == "收件"
    assert first["promised_due"] == app["promised_due"]
    assert received[1].record["procedure"]["department"] == "pboc"
    rating = received[4].record
    assert (rating["level"], rating["level_name"], rating["comment"]) == (2, "不满意", "等待时间太长")
    assert rating["rectification_required"] is True and rating["subjects"][0]["level"] == 2
    assert rating["rater_kind"] == "自然人"
    assert "张三" not in str(state.records) and ID_ZHANG not in str(state.records)  # no personal data upward
    with db.session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(HubReceipt)
                              .where(HubReceipt.status == "acknowledged")) == 5
        assert {v.status for v in list_records(session)} == {"acknowledged"}


def test_supplement_and_withdrawal_are_reported_with_their_items(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], hub: tuple[HubSettings, HubState]) -> None:
    settings, state = hub
    app = submit(engine, catalog, people["zhang"], "supplement")
    task_id = app["tasks"][0]["id"]
    decide(engine, catalog, people["pboc-staff"], task_id, "request_supplement", reason="请核对手机号码",
           fields=["applicant_phone"])
    asked = cases.get_application(engine, people["zhang"], app["id"])
    supplement = next(s for s in asked["supplements"] if s["status"] == "open")
    cases.answer_supplement(engine, people["zhang"], app["id"], supplement["id"], {"applicant_phone": "13900139000"},
                            catalog=catalog, now=now())
    cases.withdraw_application(engine, people["zhang"], app["id"], now=now())
    send_all(engine, settings)
    received = sorted(state.records.values(), key=lambda r: r.record["sequence"])
    assert [(r.record["status"], r.status) for r in received] == [
        ("received", "acknowledged"), ("supplement_requested", "acknowledged"),
        ("supplement_answered", "acknowledged"), ("withdrawn", "acknowledged")]
    assert received[1].record["procedure"]["department"] == "pboc"
    assert received[2].record["procedure"] == received[1].record["procedure"]
    assert "procedure" not in received[3].record


def test_the_served_app_sends_records_from_its_in_process_worker(
        database_url: str, engine: Engine, catalog: Catalog, people: dict[str, Actor],
        hub: tuple[HubSettings, HubState], monkeypatch: pytest.MonkeyPatch) -> None:
    _settings, state = hub
    monkeypatch.setenv("ONETHING_INPROCESS_WORKER", "true")
    get_settings.cache_clear()
    monkeypatch.setenv("ONETHING_NATIONAL_HUB_DIVISION_CODE", "510000")  # this platform's own region
    get_hub_settings.cache_clear()
    with serve_catalog(database_url):
        submit(engine, catalog, people["zhang"], "served", region=None)   # national definitions: 000000…
        deadline = time.monotonic() + 20
        while not state.records and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [(r.record["status"], r.status) for r in state.records.values()] == [("received", "acknowledged")]
    [stored] = state.records.values()
    assert stored.record["division_code"] == "510000" and stored.record["case_number"].startswith("000000")


def test_nothing_is_written_for_the_hub_until_it_is_configured(
        engine: Engine, catalog: Catalog, people: dict[str, Actor]) -> None:
    submit(engine, catalog, people["zhang"], "unconfigured")
    assert national_rows(engine) == []


# --- a hub that is down ----------------------------------------------------------------------------------------

def test_a_hub_that_is_down_is_tried_again_later(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    settings = hub_at(monkeypatch, f"http://127.0.0.1:{port}")  # nothing listens there yet
    submit(engine, catalog, people["zhang"], "down")
    clock = Clock()
    send_all(engine, settings, clock)
    [row] = national_rows(engine)
    assert row.delivered_at is None and row.attempts == 1 and row.available_at > clock()
    assert "ConnectError" in (row.last_error or "")
    with db.session_scope(engine) as session:
        assert [v.status for v in list_records(session, status="retrying")] == ["retrying"]

    with serve_hub(HubConfig(secret=SECRET, fail_first=1), port) as (_url, state):
        clock.advance(3)                     # the first backoff (2 s) has passed: the hub answers 503
        send_all(engine, settings, clock)
        [row] = national_rows(engine)
        assert row.delivered_at is None and row.attempts == 2 and "HTTP 503" in (row.last_error or "")
        send_all(engine, settings, clock)    # not due yet: nothing sent
        assert state.stats()["requests"] == 1
        clock.advance(5)
        send_all(engine, settings, clock)
        [row] = national_rows(engine)
        assert row.delivered_at is not None and row.attempts == 3 and row.last_error is None
        assert [r.status for r in state.records.values()] == ["acknowledged"]
    with db.session_scope(engine) as session:
        attempts = list(session.scalars(select(Delivery).where(Delivery.event_id == row.event_id)
                                        .order_by(Delivery.id)))
        assert [(a.status_code, a.ok) for a in attempts] == [(None, False), (503, False), (200, True)]


# --- rejections, visible to operators -----------------------------------------------------------------------

def test_a_rejected_record_is_listed_for_operators_with_its_reason(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], hub: tuple[HubSettings, HubState],
        database_url: str) -> None:
    settings, state = hub
    submit(engine, catalog, people["zhang"], "national-rules", region=None)  # 办件编号 000000…: no real region
    send_all(engine, settings)
    [stored] = state.records.values()
    assert stored.status == "rejected"
    assert [p["field"] for p in stored.problems] == ["division_code"]
    [row] = national_rows(engine)
    assert row.delivered_at is not None and (row.last_error or "").startswith("rejected: division_code")
    with db.session_scope(engine) as session:
        [view] = list_records(session, status="rejected")
    assert view.status == "rejected" and "行政区划代码" in view.problems[0]["reason"]

    env = {**os.environ, "ONETHING_DATABASE_URL": database_url}
    shown = subprocess.run([sys.executable, "-m", "onething", "hub", "list", "--status", "rejected"],
                           capture_output=True, text=True, env=env, timeout=60, check=True)
    assert row.event_id in shown.stdout and "收件" in shown.stdout
    assert "行政区划代码: 000000 不是 GB/T 2260 中的行政区划代码" in shown.stdout
    send_all(engine, settings)               # not retried: the same bytes would be refused again
    assert state.stats()["requests"] == 1


def test_the_operator_page_shows_rejections_with_their_reasons(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], hub: tuple[HubSettings, HubState],
        database_url: str) -> None:
    settings, _state = hub
    submit(engine, catalog, people["zhang"], "operator-sees", region=None)
    send_all(engine, settings)
    password = "Operator-Pass-2026!"
    with db.session_scope(engine) as session:
        accounts.create_user(session, name="ops-li", role="operator", password=password)
    with serve_catalog(database_url) as server, httpx.Client(base_url=server.url, timeout=30,
                                                             headers={"Accept": "text/html"}) as client:
        token = hidden_inputs(client.get("/login").text)["csrf_token"]
        signed_in = client.post("/login", data={"name": "ops-li", "password": password, "csrf_token": token})
        assert signed_in.status_code == 303, signed_in.text
        page = client.get("/operator")
    assert page.status_code == 200
    assert "国家政务服务平台上报" in page.text and "被退回 1 条" in page.text
    assert "行政区划代码：000000 不是 GB/T 2260 中的行政区划代码" in page.text


# --- reconciliation -----------------------------------------------------------------------------------------

def test_reconciliation_sends_again_what_the_hub_lost(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch,
        database_url: str) -> None:
    with serve_hub(HubConfig(secret=SECRET, lose_first=1), free_port()) as (url, state):
        settings = hub_at(monkeypatch, url)
        app = submit(engine, catalog, people["zhang"], "lost")
        decide(engine, catalog, people["pboc-staff"], app["tasks"][0]["id"], "accept")
        send_all(engine, settings)
        lost, kept = national_rows(engine)
        assert lost.delivered_at is not None and kept.delivered_at is not None  # both acknowledged …
        assert list(state.records) == [kept.event_id]                           # … one forgotten
        day = china_date(lost.created_at)

        result = reconcile(engine, day, actor=accounts.SYSTEM, now=now(), settings=settings)
        assert (result.ours, result.at_hub) == (2, 1)
        assert result.missing == [lost.event_id] and result.resent == {lost.event_id: "acknowledged"}
        assert result.matched == [kept.event_id] and result.unknown == []
        assert set(state.records) == {lost.event_id, kept.event_id}

        env = {**os.environ, "ONETHING_DATABASE_URL": database_url}  # hub variables set by hub_at
        again = subprocess.run([sys.executable, "-m", "onething", "hub", "reconcile", "--date", day.isoformat(),
                                "--json", "--actor", "ops-zhou"], capture_output=True, text=True, env=env,
                               timeout=60, check=True)
        rerun = json.loads(again.stdout)
        assert rerun["missing"] == [] and sorted(rerun["matched"]) == sorted([lost.event_id, kept.event_id])
    with db.session_scope(engine) as session:
        runs = list_reconciliations(session)
        assert [(r.missing, r.resent) for r in runs] == [(0, 0), (1, 1)]
        assert session.scalar(select(func.count()).select_from(HubReconciliation)) == 2
        audited = list(session.scalars(select(AuditEntry.actor_name).where(AuditEntry.action == "hub.reconciled")
                                       .order_by(AuditEntry.id)))
        assert audited[-1] == "ops-zhou" and len(audited) == 2


def test_reconciliation_confirms_an_answer_we_never_heard_and_resends_a_dead_record(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    hub_at(monkeypatch, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ONETHING_NATIONAL_HUB_MAX_ATTEMPTS", "1")
    get_hub_settings.cache_clear()
    settings = get_hub_settings()
    app = submit(engine, catalog, people["zhang"], "dead")
    send_all(engine, settings)                       # nobody listens: one attempt, and it is dead
    [dead] = national_rows(engine)
    with db.session_scope(engine) as session:
        assert [v.record_id for v in list_records(session, status="dead", max_attempts=1)] == [dead.event_id]
    with serve_hub(HubConfig(secret=SECRET), port) as (_url, state):
        decide(engine, catalog, people["pboc-staff"], app["tasks"][0]["id"], "accept")
        send_all(engine, settings)                   # the new record goes; the dead one is left alone
        _dead, heard = national_rows(engine)
        assert list(state.records) == [heard.event_id]
        with db.session_scope(engine) as session:     # as if we died between the hub's answer and our commit
            session.execute(delete(HubReceipt).where(HubReceipt.record_id == heard.event_id))
            row = session.scalars(select(OutboxEvent).where(OutboxEvent.event_id == heard.event_id)).one()
            row.delivered_at = None
        result = reconcile(engine, china_date(dead.created_at), actor=accounts.SYSTEM, now=now(), settings=settings)
        assert result.confirmed == [heard.event_id] and result.resent == {dead.event_id: "acknowledged"}
        assert set(state.records) == {dead.event_id, heard.event_id}
    assert all(r.delivered_at is not None for r in national_rows(engine))
    with db.session_scope(engine) as session:
        assert {v.status for v in list_records(session, max_attempts=1)} == {"acknowledged"}


# --- signatures ----------------------------------------------------------------------------------------------

def test_the_hub_refuses_a_bad_signature(
        engine: Engine, catalog: Catalog, people: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_hub(HubConfig(secret=SECRET), free_port()) as (url, state):
        settings = hub_at(monkeypatch, url, secret="not-the-hubs-secret-0123456789")
        submit(engine, catalog, people["zhang"], "forged")
        send_all(engine, settings)
        [row] = national_rows(engine)
        assert row.delivered_at is None and "HTTP 401" in (row.last_error or "")
        assert state.stats()["bad_signatures"] == 1 and state.records == {}

        # A body changed after signing, and a signature replayed on another path, are refused too.
        body = record_body(row.payload)
        ts = timestamp_of(now())
        good = sign_request(SECRET, ts, "POST", "/reports", body)
        tampered = body.replace(b"sichuan-test", b"someone-else")
        answer = httpx.post(f"{url}/reports", content=tampered,
                            headers={HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: good})
        assert answer.status_code == 401
        listing = httpx.get(f"{url}/reconciliation?date=2026-12-02",
                            headers={HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: good})
        assert listing.status_code == 401
        stale = timestamp_of(now() - timedelta(minutes=10))
        answer = httpx.post(f"{url}/reports", content=body, headers={
            HEADER_TIMESTAMP: stale, HEADER_SIGNATURE: sign_request(SECRET, stale, "POST", "/reports", body)})
        assert answer.status_code == 401
        answer = httpx.post(f"{url}/reports", content=body, headers={HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: good})
        assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"


def test_the_sandbox_hub_runs_as_its_own_process(tmp_path: Any) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "onething", "sandbox-national-hub", "--port", str(port),
                                "--secret-stdin"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        assert process.stdin is not None
        process.stdin.write(f"{SECRET}\n".encode())
        process.stdin.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "sandbox-national-hub did not start"
            time.sleep(0.1)
        ts = timestamp_of(now())
        target = "/reconciliation?date=2026-12-02"
        listing = httpx.get(f"http://127.0.0.1:{port}{target}", headers={
            HEADER_TIMESTAMP: ts, HEADER_SIGNATURE: sign_request(SECRET, ts, "GET", target, b"")})
        assert listing.status_code == 200 and listing.json() == {"date": "2026-12-02", "records": []}
    finally:
        process.terminate()
        process.wait(timeout=10)
