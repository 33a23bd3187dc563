"""Providers, expiry, intake facts and the directory report, on both databases.

The holder's own system is `onething sandbox-provider` — a real HTTP server in a subprocess — stopped to see
the degraded path: the fetch is recorded as unavailable, the material stays "submit", nothing raises.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from onething import db
from onething.accounts.model import Role
from onething.audit.tables import AuditEntry
from onething.catalog.model import Sharing
from onething.catalog.store import publish
from onething.db import session_scope
from onething.delivery.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, sign_request, timestamp_of
from onething.exchange import service
from onething.exchange.errors import ConsentRequired, ProviderUnavailable
from onething.exchange.providers import HttpProvider, Providers
from onething.intake import plan
from tests.live import free_port

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

# The exchange's holders are the demo registries here (holders without a service of their own).
pytestmark = pytest.mark.usefixtures("demo_mode")

REMOTE = resource_id(Sharing.unconditional, False)
SANDBOX_SECRET = "sandbox-shared-secret-for-tests-only"


@contextmanager
def sandbox(tmp_path: Path, resource: str, records: dict,
            secret: str = SANDBOX_SECRET) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`onething sandbox-provider` in a subprocess, verifying queries signed with ``secret``."""
    data = tmp_path / "records.json"
    data.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "onething", "sandbox-provider", "--port", str(port),
                                "--resource", resource, "--data", str(data)],
                               env={**os.environ, "ONETHING_PROVIDER_SECRET": secret},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("sandbox provider did not start")
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onething", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ONETHING_DATABASE_URL": database_url}, check=False)


def test_http_provider_then_holder_down(database_url: str, tmp_path: Path) -> None:
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)
    staff = actors[f"{GRANTED}-staff"]
    request = dict(consumer=GRANTED, subject=SUBJECT, resource=REMOTE, fields=["person_name"],
                   purpose=procedure_id(GRANTED), application_ref="app-1", consent_id=None, now=NOW)
    records = {SUBJECT: {"person_name": "张三（部门系统）", "person_id": SUBJECT}}
    with sandbox(tmp_path, REMOTE, records) as (url, process):
        providers = Providers(urls={REMOTE: url}, secrets={REMOTE: SANDBOX_SECRET}, timeout=2, demo=True)
        served = service.checked_fetch(engine, catalog, staff, providers=providers, **request)
        assert served.values == {"person_name": "张三（部门系统）"}  # from the holder's system, not the registry
        missing = service.checked_fetch(engine, catalog, staff, providers=providers,
                                        **{**request, "subject": "110101198511120025"})
        assert missing.found is False and missing.values == {}
        process.terminate()
        process.wait(timeout=10)
        with pytest.raises(ProviderUnavailable):
            service.checked_fetch(engine, catalog, staff, providers=providers, **request)

        # Intake carries on: the resource served by the stopped holder is simply not known; its material is
        # uploaded instead, while the built-in registries still prove the others.
        the_plan = plan(catalog, "t-small", {})
        with session_scope(engine) as session:
            facts, report = service.collect_facts(session, catalog, actors["subject"], subject=SUBJECT,
                                                  plan=the_plan, application_ref="app-2", consent_id=None, now=NOW,
                                                  providers=providers)
        assert REMOTE in report.unavailable and REMOTE not in facts.resources
        assert report.refused[resource_id(Sharing.unconditional, True)] == "consent"  # no consent given
        assert report.refused[resource_id(Sharing.conditional, False)] == "no_grant"
    planned = {m.id: m.status for m in plan(catalog, "t-small", {}, facts).materials}
    assert planned[f"m-{REMOTE}"] == "submit"
    with session_scope(engine) as session:
        actions = list(session.execute(select(AuditEntry.action).where(AuditEntry.action.startswith("exchange.fetch")))
                       .scalars())
    assert actions.count("exchange.fetch.unavailable") == 2
    engine.dispose()


def test_http_provider_times_out() -> None:
    catalog = small_catalog()
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        provider = HttpProvider(f"http://127.0.0.1:{listener.getsockname()[1]}", SANDBOX_SECRET, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable):
            provider.fetch(catalog.resources[REMOTE], SUBJECT, ["person_name"])
        assert time.monotonic() - started < 3


def test_sandbox_provider_answers_signed_queries_only(tmp_path: Path) -> None:
    catalog = small_catalog()
    remote = catalog.resources[REMOTE]
    records = {SUBJECT: {"person_name": "张三（部门系统）", "person_id": SUBJECT}}
    now = datetime.now(UTC)  # the sandbox checks signatures against its own clock, as a real holder would
    with sandbox(tmp_path, REMOTE, records) as (url, _process):
        assert HttpProvider(url, SANDBOX_SECRET).fetch(remote, SUBJECT, ["person_name"]) == {
            "person_name": "张三（部门系统）"}
        refusals = {
            "wrong secret": HttpProvider(url, "not-the-holder-secret"),
            "ten minutes old": HttpProvider(url, SANDBOX_SECRET, clock=lambda: now - timedelta(minutes=10)),
            "ten minutes ahead": HttpProvider(url, SANDBOX_SECRET, clock=lambda: now + timedelta(minutes=10)),
        }
        for provider in refusals.values():
            with pytest.raises(ProviderUnavailable, match="HTTP 401"):
                provider.fetch(remote, SUBJECT, ["person_name"])

        path = f"/resources/{REMOTE}/query"
        body = json.dumps({"subject": SUBJECT, "fields": ["person_name"]}).encode()
        timestamp = timestamp_of(datetime.now(UTC))
        unsigned = httpx.post(url + path, content=body, headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401 and "张三" not in unsigned.text
        # A signature for another path (another resource of the same holder) or another body does not carry over.
        elsewhere = sign_request(SANDBOX_SECRET, timestamp, "POST", "/resources/other/query", body)
        other_body = sign_request(SANDBOX_SECRET, timestamp, "POST", path, body.replace(b"person_name", b"person_id"))
        for signature in (elsewhere, other_body, "sha256=" + "0" * 64, ""):
            answer = httpx.post(url + path, content=body, headers={HEADER_TIMESTAMP: timestamp,
                                                                   HEADER_SIGNATURE: signature})
            assert answer.status_code == 401 and "张三" not in answer.text
        good = sign_request(SANDBOX_SECRET, timestamp, "POST", path, body)
        answer = httpx.post(url + path, content=body, headers={HEADER_TIMESTAMP: timestamp, HEADER_SIGNATURE: good})
        assert answer.status_code == 200 and answer.json()["values"] == {"person_name": "张三（部门系统）"}


def test_http_provider_without_a_secret_sends_nothing() -> None:
    catalog = small_catalog()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.settimeout(0.5)
        provider = Providers(urls={REMOTE: f"http://127.0.0.1:{listener.getsockname()[1]}"}, demo=True)
        with pytest.raises(ProviderUnavailable, match="ONETHING_EXCHANGE_PROVIDER_SECRETS"):
            provider.for_resource(None, catalog.resources[REMOTE]).fetch(  # type: ignore[arg-type]
                catalog.resources[REMOTE], SUBJECT, ["person_name"])
        with pytest.raises(TimeoutError):
            listener.accept()  # the subject never left the platform


def test_sandbox_provider_will_not_start_without_a_secret(tmp_path: Path) -> None:
    data = tmp_path / "records.json"
    data.write_text("{}", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ONETHING_PROVIDER_SECRET"}
    started = subprocess.run([sys.executable, "-m", "onething", "sandbox-provider", "--port", str(free_port()),
                              "--resource", REMOTE, "--data", str(data)], capture_output=True, text=True,
                             timeout=60, env=env, check=False)
    assert started.returncode == 2 and "ONETHING_PROVIDER_SECRET" in started.stderr


def test_consent_expires_and_closes_with_the_application(database_url: str) -> None:
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)
    personal = resource_id(Sharing.unconditional, True)
    with session_scope(engine) as session:
        consent = service.grant_consent(session, catalog, actors["subject"], application_ref="app-9", purpose="示例",
                                        procedures=[procedure_id(GRANTED)], resources=[personal], fields=list(FIELDS),
                                        expires_at=NOW + timedelta(days=30), now=NOW)
    request = dict(consumer=GRANTED, subject=SUBJECT, resource=personal, fields=list(FIELDS),
                   purpose=procedure_id(GRANTED), application_ref="app-9", consent_id=consent.id)
    staff = actors[f"{GRANTED}-staff"]
    assert service.checked_fetch(engine, catalog, staff, now=NOW + timedelta(days=1), **request).found
    with pytest.raises(ConsentRequired, match="过期"):
        service.checked_fetch(engine, catalog, staff, now=NOW + timedelta(days=31), **request)

    closed_at = NOW + timedelta(days=2)
    with session_scope(engine) as session:
        assert service.close_consents_for(session, "app-9", closed_at, after_close_days=3) == 1
        assert service.close_consents_for(session, "app-9", closed_at, after_close_days=3) == 0  # idempotent
    assert service.checked_fetch(engine, catalog, staff, now=closed_at + timedelta(days=2), **request).found
    with pytest.raises(ConsentRequired):
        service.checked_fetch(engine, catalog, staff, now=closed_at + timedelta(days=3), **request)
    with session_scope(engine) as session:
        uses = service.data_uses(session, actors["subject"])
    assert [u.outcome for u in uses] == ["refused", "served", "refused", "served"]
    engine.dispose()


def test_facts_for_prefills_and_exempts_with_consent(database_url: str) -> None:
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)
    the_plan = plan(catalog, "t-small", {})
    proposal = service.propose_consent(catalog, the_plan)
    assert set(proposal.resources) == {resource_id(Sharing.unconditional, True), resource_id(Sharing.conditional, True)}
    with session_scope(engine) as session:
        consent = service.grant_consent(session, catalog, actors["subject"], application_ref="app-7",
                                        purpose=proposal.purpose, procedures=proposal.procedures,
                                        resources=proposal.resources, fields=proposal.fields,
                                        expires_at=NOW + timedelta(days=30), now=NOW)
        facts = service.facts_for(session, catalog, actors["subject"], subject=SUBJECT, plan=the_plan,
                                  application_ref="app-7", consent_id=consent.id, now=NOW)
    # Unconditional data (the procedure declares the materials) needs no grant; conditional data needs one.
    assert facts.resources == {resource_id(Sharing.unconditional, True), resource_id(Sharing.unconditional, False)}
    statuses = {m.id: m.status for m in plan(catalog, "t-small", {}, facts).materials}
    assert statuses[f"m-{resource_id(Sharing.unconditional, True)}"] == "exempt"
    assert statuses[f"m-{resource_id(Sharing.conditional, True)}"] == "submit"
    assert statuses[f"m-{resource_id(Sharing.none, True)}"] == "submit"
    assert facts.values["person_name"].holder == "hold"
    engine.dispose()


def test_directory_changes_must_be_published_in_time(database_url: str) -> None:
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    with session_scope(engine) as session:
        publish(session, catalog, source="test", actor="test", now=NOW - timedelta(days=30))
    stale = _cli(database_url, "exchange", "stale")
    assert stale.returncode == 1 and f"{len(catalog.resources)} overdue" in stale.stdout
    with session_scope(engine) as session:
        assert len(service.stale_changes(session, catalog, NOW, 10)) == len(catalog.resources)
        with pytest.raises(Exception, match="catalog:publish"):
            service.publish_directory(session, actors["subject"], catalog, NOW)
    with session_scope(engine) as session:
        published = service.publish_directory(session, actors["operator"], catalog, NOW)
        assert len(published) == len(catalog.resources)
    fresh = _cli(database_url, "exchange", "stale")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "0 overdue, 0 pending" in fresh.stdout
    assert actors["operator"].role is Role.operator
    engine.dispose()
