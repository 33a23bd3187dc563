"""Production defaults: no silent fallback to the demo, to a public key, to plain-http cookies or to "not migrated".

The suite's conftest sets a secret key and turns secure cookies off for its plain-http live servers; the tests
here take those away again to see what a deployment gets by default, and run `onething serve` itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from onething import config, db
from onething.accounts.service import TOKEN_PREFIX
from onething.audit.tables import AuditEntry
from onething.catalog.model import Catalog, Sharing
from onething.catalog.service import active_catalog, folder_label
from onething.config import ConfigurationError, Settings, get_settings
from onething.db import session_scope
from onething.exchange import service
from onething.exchange.errors import ProviderUnavailable
from onething.exchange.fetch import subject_ref
from onething.exchange.providers import NO_PROVIDER
from onething.web.app import create_app
from tests.live import CATALOG_DIR, LiveServer, free_port, serve

from .exchange_support import (
    GRANTED,
    NOW,
    SUBJECT,
    file_subject_records,
    make_users,
    procedure_id,
    resource_id,
    small_catalog,
)
from .test_api_catalog import assert_problem

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy",
                    "permissions-policy", "cross-origin-opener-policy")


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment of a deployment that set only its secret key: no demo, secure cookies by default."""
    monkeypatch.delenv("ONETHING_DEMO", raising=False)
    monkeypatch.delenv("ONETHING_SECURE_COOKIES", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- demo registries serve the demo only ------------------------------------------------------------------------

def test_outside_the_demo_a_holder_without_a_service_is_unavailable(database_url: str, production: None) -> None:
    engine = db.make_engine(database_url)
    catalog = small_catalog()
    actors = make_users(engine)
    file_subject_records(engine, catalog)  # fictional records in the demo registries: never served here
    remote = resource_id(Sharing.unconditional, False)
    with pytest.raises(ProviderUnavailable) as info:
        service.checked_fetch(engine, catalog, actors[f"{GRANTED}-staff"], consumer=GRANTED, subject=SUBJECT,
                              resource=remote, fields=["person_name"], purpose=procedure_id(GRANTED),
                              application_ref="app-1", consent_id=None, now=NOW)
    assert info.value.detail == NO_PROVIDER
    with session_scope(engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("exchange.fetch"))).one()
    assert entry.action == "exchange.fetch.unavailable" and entry.data["detail"] == NO_PROVIDER
    engine.dispose()


def test_demo_load_refuses_outside_the_demo(tmp_path: Path, production: None) -> None:
    env = {**os.environ, "ONETHING_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}"}
    loaded = subprocess.run([sys.executable, "-m", "onething", "demo", "load"], capture_output=True, text=True,
                            timeout=120, env=env, check=False)
    assert loaded.returncode == 2 and "ONETHING_DEMO=1" in loaded.stderr
    assert not (tmp_path / "prod.sqlite3").exists()  # nothing was written


# --- the secret key ---------------------------------------------------------------------------------------------

def test_the_app_refuses_to_start_without_a_long_secret_key(monkeypatch: pytest.MonkeyPatch,
                                                            catalog: Catalog, production: None) -> None:
    monkeypatch.delenv("ONETHING_SECRET_KEY")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="ONETHING_SECRET_KEY is not set"):
        create_app(engine=db.make_engine("sqlite://"), catalog=catalog)
    monkeypatch.setenv("ONETHING_SECRET_KEY", "short")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="ONETHING_SECRET_KEY is too short"):
        create_app(engine=db.make_engine("sqlite://"), catalog=catalog)


def test_pseudonyms_never_use_a_public_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str,
                                           production: None) -> None:
    engine = db.make_engine(database_url)
    public = "key:" + hmac.new(b"onething-pseudonym", SUBJECT.encode(), hashlib.sha256).hexdigest()[:40]
    monkeypatch.delenv("ONETHING_SECRET_KEY")
    get_settings.cache_clear()
    with session_scope(engine) as session, pytest.raises(ConfigurationError, match="ONETHING_SECRET_KEY"):
        subject_ref(session, SUBJECT)

    # The demo without a key: a random key made once in var/ and kept, so pseudonyms are stable but private.
    monkeypatch.setenv("ONETHING_DEMO", "1")
    monkeypatch.setattr(config, "default_var_dir", lambda: tmp_path / "var")
    get_settings.cache_clear()
    with session_scope(engine) as session:
        first = subject_ref(session, SUBJECT)
        again = subject_ref(session, SUBJECT)
    key_file = tmp_path / "var" / config.DEMO_KEY_FILE
    assert first == again and first.startswith("key:") and first != public
    assert (key_file.stat().st_mode & 0o777) == 0o600
    key_file.write_text("another-checkout-another-key\n")
    with session_scope(engine) as session:
        assert subject_ref(session, SUBJECT) not in {first, public}
    engine.dispose()


# --- secure cookies, HSTS and headers ---------------------------------------------------------------------------

def test_secure_cookies_default_on_unless_demo(production: None) -> None:
    assert Settings().secure_cookies is True
    assert Settings(demo=True).secure_cookies is False
    assert Settings(demo=True, secure_cookies=True).secure_cookies is True
    assert Settings(secure_cookies=False).secure_cookies is False


def test_production_responses_carry_hsts_secure_cookies_and_no_server_header(
        live_server: LiveServer, production: None) -> None:
    app = create_app(engine=live_server.engine)

    def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/api/v1/explode", explode)
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        answers = {path: client.get(path) for path in
                   ("/", "/login", "/api/v1/things", "/api/v1/things/nope", "/api/v1/explode", "/nothing-here",
                    "/static/css/site.css", "/healthz", "/docs")}
    assert [answers[p].status_code for p in answers] == [200, 200, 200, 404, 500, 404, 200, 200, 200]
    for path, answer in answers.items():
        assert "server" not in answer.headers, path
        assert answer.headers["strict-transport-security"].startswith("max-age="), path
        for name in SECURITY_HEADERS:
            assert name in answer.headers, (path, name)
    login_cookie = answers["/login"].headers["set-cookie"]
    assert "secure" in login_cookie.lower() and "httponly" in login_cookie.lower()


def _wait_for(url: str, process: subprocess.Popen[str], timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_onething_serve_refuses_without_a_key_and_demo_serves_without_server_header(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in {"ONETHING_SECRET_KEY", "ONETHING_SECURE_COOKIES", "ONETHING_DEMO"}}
    env["ONETHING_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    refused = subprocess.run([sys.executable, "-m", "onething", "serve", "--port", str(free_port())],
                             capture_output=True, text=True, timeout=120, env=env, check=False)
    assert refused.returncode == 2
    assert "ONETHING_SECRET_KEY is not set" in refused.stderr

    port = free_port()
    env["ONETHING_SECRET_KEY"] = "a-key-for-this-test-only-0123456789abcdef"
    process = subprocess.Popen([sys.executable, "-m", "onething", "serve", "--demo", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        answer = _wait_for(f"http://127.0.0.1:{port}/api/v1/things", process)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert answer.status_code == 200
    assert "server" not in answer.headers
    assert "strict-transport-security" not in answer.headers  # the local demo runs on plain http
    assert answer.headers["x-frame-options"] == "DENY"


# --- a database that is down ------------------------------------------------------------------------------------

def test_a_database_that_is_down_answers_503_and_no_path_becomes_the_version(production: None) -> None:
    dead = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/nowhere?connect_timeout=2")
    label, _ = active_catalog(dead)
    assert label.startswith("unpublished ") and str(CATALOG_DIR) not in label and "/" not in label
    app = create_app(engine=dead)
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        health = client.get("/healthz")
        checkpoints = client.get("/api/v1/audit/checkpoints")
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {TOKEN_PREFIX}unknown-token"})
    body = assert_problem(health, 503)
    assert body["type"] == "/problems/database-unavailable" and body["database"] == "unreachable"
    assert body["catalog"] == label
    for answer in (checkpoints, me):
        problem = assert_problem(answer, 503)
        assert problem["type"] == "/problems/database-unavailable"
        assert answer.headers["retry-after"] == "5"
    dead.dispose()


def test_an_unknown_database_is_unreachable_not_unmigrated(postgres_server: str, tmp_path: Path,
                                                           catalog: Catalog, production: None) -> None:
    from sqlalchemy.engine import make_url

    unknown = db.make_engine(make_url(postgres_server).set(database="onething_no_such_database")
                             .render_as_string(hide_password=False))
    empty = db.make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    states = {}
    for name, engine in (("unknown", unknown), ("empty", empty)):
        with serve(create_app(engine=engine, catalog=catalog)) as server:
            states[name] = assert_problem(httpx.get(f"{server.url}/healthz", timeout=30), 503)
        engine.dispose()
    assert states["unknown"]["database"] == "unreachable"
    assert states["empty"]["database"] == "not migrated"
    assert states["empty"]["type"] == "/problems/database-not-migrated"


def test_a_folder_catalog_is_labelled_by_its_content(catalog: Catalog) -> None:
    label = folder_label(catalog)
    assert label == folder_label(catalog.model_copy()) and label.startswith("unpublished ")
    assert str(CATALOG_DIR) not in label
