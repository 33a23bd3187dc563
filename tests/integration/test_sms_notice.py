"""短信通知 through the outbox, on SQLite and PostgreSQL: submitting through the apply page queues one
``sms.send`` event in the same transaction; the delivery worker posts it, signed, to the sandbox SMS gateway
(a real HTTP peer) with the 办件编号 and the applicant's mobile; logs show the number masked only. Without a
gateway configured the event is skipped, not retried. The receipt says where the SMS goes (masked).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from onething import db
from onething.cases.tables import OutboxEvent
from onething.delivery.sandbox_sms import SmsState, serve_sms_sandbox
from onething.delivery.settings import DeliverySettings
from onething.delivery.worker import Worker
from tests.case_forms import create_people
from tests.integration.test_case_pages import APPLY, Pages, application_id, submit
from tests.live import LiveServer, free_port

SECRET = "sms-sandbox-secret-for-tests-0123456789"
PHONE = "13800138000"   # tests.case_forms.SAMPLE["phone"], what the form's phone fields are filled with


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SmsState]]:
    monkeypatch.setenv("ONETHING_INPROCESS_WORKER", "false")   # this test's worker delivers
    with serve_sms_sandbox(SECRET, free_port()) as (url, state):
        yield url, state


@pytest.fixture
def pages(gateway: tuple[str, SmsState], live_server: LiveServer) -> Iterator[Pages]:
    assert live_server.engine is not None
    create_people(live_server.engine, ["samr", "fire"])
    world = Pages(live_server, {})
    yield world
    for client in world.clients.values():
        client.close()


def _sms_events(pages: Pages) -> list[OutboxEvent]:
    assert pages.server.engine is not None
    with db.session_scope(pages.server.engine) as session:
        rows = list(session.execute(select(OutboxEvent).where(OutboxEvent.kind == "sms.send")).scalars())
        session.expunge_all()
        return rows


def _deliver(pages: Pages) -> None:
    assert pages.server.engine is not None
    worker = Worker(pages.server.engine, DeliverySettings(backoff_base_seconds=0.01, batch_size=50))
    try:
        worker.run(poll_seconds=0.05, until_idle=True)
    finally:
        worker.close()


def test_sms_goes_through_the_outbox_to_the_gateway(pages: Pages, gateway: tuple[str, SmsState],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    url, state = gateway
    monkeypatch.setenv("ONETHING_SMS_GATEWAY_URL", url)
    monkeypatch.setenv("ONETHING_SMS_GATEWAY_SECRET", SECRET)
    caplog.set_level(logging.INFO)
    app_id = application_id(submit(pages))
    events = _sms_events(pages)
    assert len(events) == 1 and events[0].application_id == app_id   # queued with the submission
    number = re.search(r'id="application-number">([0-9]{19})<',
                       pages.as_("acme").get(f"/me/applications/{app_id}").text)
    assert number

    _deliver(pages)
    deadline = time.monotonic() + 10
    while not state.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = list(state.messages.values())
    assert len(messages) == 1
    assert messages[0]["to"] == PHONE and number.group(1) in messages[0]["text"]
    assert _sms_events(pages)[0].delivered_at is not None

    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "138****8000" in logged
    assert PHONE not in logged

    receipt = pages.as_("acme").get(f"/me/applications/{app_id}/receipt").text
    assert "短信" in receipt and "138****8000" in receipt and PHONE not in receipt

    # A forged request (wrong secret) is refused by the gateway.
    forged = httpx.post(url, json={"event_id": "x", "to": PHONE, "text": "假"},
                        headers={"X-Onething-Timestamp": "0", "X-Onething-Signature": "sha256=00"})
    assert forged.status_code == 401 and len(state.messages) == 1


def test_without_a_gateway_no_sms_is_queued_and_a_queued_one_is_skipped(
        pages: Pages, gateway: tuple[str, SmsState], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONETHING_SMS_GATEWAY_URL", raising=False)
    monkeypatch.delenv("ONETHING_SMS_GATEWAY_SECRET", raising=False)
    app_id = application_id(submit(pages))
    assert _sms_events(pages) == []
    assert "短信" not in pages.as_("acme").get(f"/me/applications/{app_id}/receipt").text
    # Queued while a gateway was configured, delivered after it was removed: skipped, recorded, not retried.
    monkeypatch.setenv("ONETHING_SMS_GATEWAY_URL", gateway[0])
    monkeypatch.setenv("ONETHING_SMS_GATEWAY_SECRET", SECRET)
    submit(pages, form_page=pages.as_("acme").get(APPLY))
    monkeypatch.delenv("ONETHING_SMS_GATEWAY_URL")
    _deliver(pages)
    event = _sms_events(pages)[0]
    assert event.delivered_at is not None and "no SMS gateway" in (event.last_error or "")
    assert not gateway[1].messages
