"""Account security (等保 level 3) on SQLite and PostgreSQL: forwarded headers believed only from listed proxies,
per-account sign-in lockout, the password policy, the forced change of an initial password, disabling and
enabling accounts, and the audit entries of every account, token and webhook change — through the services,
the `onething` commands and a real HTTP server."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from onething import db
from onething.accounts import lifecycle, service
from onething.accounts.errors import Forbidden, InvalidUser
from onething.accounts.model import SYSTEM, Actor, Role
from onething.accounts.tables import User
from onething.audit.tables import AuditEntry
from onething.config import Settings, get_settings
from onething.web.auth import CSRF_HEADER, PASSWORD_PAGE, SESSION_COOKIE
from tests.integration.test_accounts import ID_ZHANG, make_app, sign_in
from tests.live import serve

NOW = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
PASSWORD = "correct horse"          # zxcvbn 3
NEW_PASSWORD = "violet anchor mosaic 47"
POLICY = lifecycle.LockoutPolicy()  # 10 failures within 15 minutes lock for 15 minutes


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def zhang(engine: Engine) -> str:
    with db.session_scope(engine) as session:
        service.create_user(session, name="zhang", role="applicant", id_number=ID_ZHANG, password=PASSWORD, now=NOW)
    return "zhang"


def entries(engine: Engine, action: str | None = None) -> list[tuple[str, str, str]]:
    """(action, actor name, subject id) of the audit entries, in order."""
    with db.session_scope(engine) as session:
        query = select(AuditEntry.action, AuditEntry.actor_name, AuditEntry.subject_id).order_by(AuditEntry.id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def attempt(engine: Engine, name: str, password: str, now: datetime) -> Actor | None:
    with db.session_scope(engine) as session:
        return lifecycle.attempt_sign_in(session, name, password, now, POLICY)


# --- forwarded headers (item 1) ----------------------------------------------------------------------------


def _rotating_sign_ins(url: str, forwarded: list[str]) -> list[int]:
    codes = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for address in forwarded:
            codes.append(client.post("/login", data={"name": "zhang", "password": "wrong"},
                                     headers={"X-Forwarded-For": address}).status_code)
    return codes


def test_forwarded_for_does_not_reset_the_sign_in_limit(engine: Engine, zhang: str) -> None:
    # Served as `onething serve` serves (no proxy listed): a client naming a new address each time is still one
    # client. Before, uvicorn believed X-Forwarded-For from any loopback peer and every request was "new".
    settings = Settings(sign_in_rate_per_minute=3)
    app = make_app(engine, sign_in_rate_per_minute=3)
    app.state.clock = lambda: NOW
    with serve(app, settings=settings) as server:
        codes = _rotating_sign_ins(server.url, [f"203.0.113.{i}" for i in range(1, 6)])
    assert codes == [403, 403, 403, 429, 429]


def test_a_listed_proxy_forwards_the_client_address(engine: Engine, zhang: str) -> None:
    settings = Settings(sign_in_rate_per_minute=3, trusted_proxies="10.9.8.7, 127.0.0.0/8")
    app = make_app(engine, sign_in_rate_per_minute=3)
    app.state.clock = lambda: NOW
    with serve(app, settings=settings) as server:
        # Through the trusted proxy every forwarded client has its own count …
        assert _rotating_sign_ins(server.url, [f"203.0.113.{i}" for i in range(1, 6)]) == [403] * 5
        # … and one client forwarded four times reaches the limit.
        assert _rotating_sign_ins(server.url, ["198.51.100.7"] * 4) == [403, 403, 403, 429]


def test_trusted_proxies_must_be_addresses() -> None:
    from onething.web.server import server_config, trusted_proxies

    assert trusted_proxies(Settings()) == []
    assert trusted_proxies(Settings(trusted_proxies=" 10.0.0.1 ,192.168.0.0/16,")) == ["10.0.0.1/32",
                                                                                        "192.168.0.0/16"]
    with pytest.raises(ValueError, match="ONETHING_TRUSTED_PROXIES"):
        trusted_proxies(Settings(trusted_proxies="*"))
    config = server_config(object(), host="127.0.0.1", port=1, settings=Settings())
    assert config.proxy_headers is False and config.forwarded_allow_ips == []


# --- lockout (item 2) --------------------------------------------------------------------------------------


def test_ten_failures_lock_the_account_for_fifteen_minutes(engine: Engine, zhang: str) -> None:
    for i in range(9):
        assert attempt(engine, "zhang", "wrong horse", NOW + timedelta(minutes=i)) is None
    with db.session_scope(engine) as session:
        assert session.scalars(select(User.failed_sign_ins)).one() == 9
    assert entries(engine, "account.locked") == []
    assert attempt(engine, "zhang", "wrong horse", NOW + timedelta(minutes=14)) is None       # the 10th
    locked_at = NOW + timedelta(minutes=14)
    assert entries(engine, "account.locked") == [("account.locked", "system", "zhang")]
    # While locked even the right password is refused, and further failures neither count nor re-lock.
    assert attempt(engine, "zhang", PASSWORD, locked_at + timedelta(minutes=1)) is None
    assert attempt(engine, "zhang", "wrong horse", locked_at + timedelta(minutes=2)) is None
    assert attempt(engine, "zhang", PASSWORD, locked_at + timedelta(minutes=15) - timedelta(seconds=1)) is None
    actor = attempt(engine, "zhang", PASSWORD, locked_at + timedelta(minutes=15))
    assert actor is not None and actor.name == "zhang"
    assert len(entries(engine, "account.locked")) == 1
    with db.session_scope(engine) as session:
        user = session.scalars(select(User)).one()
        assert (user.failed_sign_ins, user.locked_until) == (0, None)


def test_failures_outside_the_window_start_a_new_count(engine: Engine, zhang: str) -> None:
    for i in range(9):
        assert attempt(engine, "zhang", "wrong horse", NOW + timedelta(seconds=i)) is None
    # The window runs from the first failure: fifteen minutes later the count starts again.
    for i in range(9):
        assert attempt(engine, "zhang", "wrong horse", NOW + timedelta(minutes=15, seconds=i)) is None
    assert attempt(engine, "zhang", PASSWORD, NOW + timedelta(minutes=16)) is not None
    assert entries(engine, "account.locked") == []


def test_a_success_clears_the_count(engine: Engine, zhang: str) -> None:
    for i in range(9):
        attempt(engine, "zhang", "wrong horse", NOW + timedelta(seconds=i))
    assert attempt(engine, "zhang", PASSWORD, NOW + timedelta(seconds=10)) is not None
    for i in range(9):
        attempt(engine, "zhang", "wrong horse", NOW + timedelta(seconds=20 + i))
    assert attempt(engine, "zhang", PASSWORD, NOW + timedelta(seconds=40)) is not None


def test_concurrent_failures_are_each_counted_and_lock_once(engine: Engine, zhang: str) -> None:
    def fail_together(count: int, at: datetime) -> None:
        barrier = threading.Barrier(count)
        errors: list[BaseException] = []

        def one() -> None:
            try:
                barrier.wait(timeout=30)
                assert attempt(engine, "zhang", "wrong horse", at) is None
            except BaseException as exc:  # reported by the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []

    fail_together(9, NOW)
    with db.session_scope(engine) as session:
        user = session.scalars(select(User)).one()
        assert (user.failed_sign_ins, user.locked_until) == (9, None)     # none lost to a lost update
    fail_together(6, NOW + timedelta(seconds=1))                          # the 10th … 15th at once
    with db.session_scope(engine) as session:
        assert session.scalars(select(User.locked_until)).one() == NOW + timedelta(minutes=15, seconds=1)
    assert entries(engine, "account.locked") == [("account.locked", "system", "zhang")]


def test_unknown_names_are_never_locked_and_answer_alike(engine: Engine, zhang: str) -> None:
    for i in range(12):
        assert attempt(engine, "nobody", "wrong horse", NOW + timedelta(seconds=i)) is None
    assert entries(engine) == []


def test_locked_account_over_http_and_cli_unlock(engine: Engine, zhang: str, cli_env: str) -> None:
    from onething.cli import app as cli

    app = make_app(engine, sign_in_rate_per_minute=0)
    clock = [NOW]
    app.state.clock = lambda: clock[0]
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        unknown = sign_in(client, "nobody", "wrong horse")
        for _ in range(10):
            wrong = sign_in(client, "zhang", "wrong horse")
        locked = sign_in(client, "zhang", PASSWORD)
        # One answer for an unknown name, a wrong password and a locked account: nothing tells them apart.
        assert unknown.status_code == wrong.status_code == locked.status_code == 400

        def message(response: httpx.Response) -> str:
            found = re.search(r'id="login-error">([^<]+)<', response.text)
            assert found
            return found.group(1)

        assert message(unknown) == message(wrong) == message(locked)
        assert "锁定 15 分钟" in message(locked)
        assert SESSION_COOKIE not in client.cookies

        result = CliRunner().invoke(cli, ["users", "unlock", "zhang", "--actor", "ops-wang"])
        assert result.exit_code == 0 and "unlocked user zhang" in result.output, result.output
        assert sign_in(client, "zhang", PASSWORD).status_code == 303
    assert entries(engine) == [("account.locked", "system", "zhang"), ("account.unlocked", "ops-wang", "zhang")]
    again = CliRunner().invoke(cli, ["users", "unlock", "zhang"])
    assert again.exit_code == 0 and "was not locked" in again.output
    assert CliRunner().invoke(cli, ["users", "unlock", "nobody"]).exit_code == 1


# --- password policy, forced change, disable / enable, audit (item 3) --------------------------------------


@pytest.mark.parametrize(("password", "problem"), [
    ("weakweak", "长度"),
    ("weakweakweak", "强度"),
    ("password2026", "强度"),
    ("qwertyuiop", "强度"),
    ("zhang-violet-anchor-47", "用户名"),
])
def test_password_policy_refuses_weak_passwords(engine: Engine, password: str, problem: str) -> None:
    with db.session_scope(engine) as session, pytest.raises(InvalidUser) as info:
        service.create_user(session, name="zhang", role="applicant", id_number=ID_ZHANG, password=password)
    assert [field for field, _ in info.value.errors] == ["password"] * len(info.value.errors)
    assert any(problem in message for _, message in info.value.errors), info.value.errors


def test_demo_password_passes_the_policy() -> None:
    from onething.accounts.demo import DEMO_PASSWORD_DEFAULT
    from onething.accounts.passwords import password_problems

    assert password_problems(DEMO_PASSWORD_DEFAULT, name="samr-admin") == []


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ONETHING_DATABASE_URL", database_url)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("LOGNAME", "tester")
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_cli_account_changes_are_audited_with_their_actor(engine: Engine, cli_env: str) -> None:
    from onething.cli import app as cli

    runner = CliRunner()
    weak = runner.invoke(cli, ["users", "add", "zhang", "--role", "applicant", "--id-number", ID_ZHANG,
                               "--password-stdin"], input="weakweak\n")
    assert weak.exit_code == 1 and "password" in weak.output
    added = runner.invoke(cli, ["users", "add", "zhang", "--role", "applicant", "--id-number", ID_ZHANG,
                                "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0 and "to be changed at first sign-in" in added.output, added.output
    assert runner.invoke(cli, ["users", "add", "samr-system", "--role", "staff", "--department", "samr",
                               "--actor", "ops-li"]).exit_code == 0
    issued = runner.invoke(cli, ["tokens", "issue", "samr-system"])
    assert issued.exit_code == 0 and issued.output.split()[-1].startswith("ot_")
    assert runner.invoke(cli, ["tokens", "revoke", "1", "--actor", "ops-li"]).exit_code == 0
    assert "already revoked" in runner.invoke(cli, ["tokens", "revoke", "1"]).output
    assert runner.invoke(cli, ["users", "set-password", "zhang", "--password-stdin"],
                         input="zhang-violet-anchor-47\n").exit_code == 1
    assert runner.invoke(cli, ["users", "set-password", "zhang", "--password-stdin"],
                         input=NEW_PASSWORD + "\n").exit_code == 0
    prompted = runner.invoke(cli, ["users", "set-password", "zhang"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert runner.invoke(cli, ["users", "disable", "zhang"]).exit_code == 0
    assert "already disabled" in runner.invoke(cli, ["users", "disable", "zhang"]).output
    assert runner.invoke(cli, ["users", "enable", "zhang"]).exit_code == 0
    webhook = runner.invoke(cli, ["departments", "set-webhook", "samr", "http://127.0.0.1:9/hook", "--force",
                                  "--secret-stdin"], input="s" * 32 + "\n")
    assert webhook.exit_code == 0, webhook.output
    assert runner.invoke(cli, ["departments", "disable-webhook", "samr", "--actor", "ops-li"]).exit_code == 0
    assert runner.invoke(cli, ["users", "disable", "zhang", "--actor", "bad actor"]).exit_code == 2
    assert entries(engine) == [
        ("account.created", "cli:tester", "zhang"),
        ("account.created", "ops-li", "samr-system"),
        ("token.issued", "cli:tester", "1"),
        ("token.revoked", "ops-li", "1"),
        ("account.password_reset", "cli:tester", "zhang"),
        ("account.password_reset", "cli:tester", "zhang"),
        ("account.disabled", "cli:tester", "zhang"),
        ("account.enabled", "cli:tester", "zhang"),
        ("department.webhook_set", "cli:tester", "samr"),
        ("department.webhook_disabled", "ops-li", "samr"),
    ]
    with db.session_scope(engine) as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "department.webhook_set")).one()
        assert "s" * 32 not in str(audited.after) and audited.after["url"] == "http://127.0.0.1:9/hook"


def test_account_changes_need_user_manage(engine: Engine, zhang: str) -> None:
    from onething.delivery.service import set_webhook

    staff = Actor(user_id=7, name="samr-staff", role=Role.staff, department="samr")
    admin = Actor(user_id=8, name="samr-admin", role=Role.dept_admin, department="samr")
    auditor = Actor(user_id=9, name="auditor", role=Role.auditor)
    changes = [
        lambda s, a: lifecycle.add_user(s, a, name="li", role="operator", now=NOW),
        lambda s, a: lifecycle.disable_user(s, a, user_name="zhang", now=NOW),
        lambda s, a: lifecycle.enable_user(s, a, user_name="zhang", now=NOW),
        lambda s, a: lifecycle.unlock_user(s, a, user_name="zhang", now=NOW),
        lambda s, a: lifecycle.reset_password(s, a, user_name="zhang", password=NEW_PASSWORD, now=NOW),
        lambda s, a: lifecycle.issue_token(s, a, user_name="zhang", now=NOW),
        lambda s, a: lifecycle.revoke_token(s, a, token_id=1, now=NOW),
    ]
    for actor in (staff, admin, auditor):
        for change in changes:
            with db.session_scope(engine) as session, pytest.raises(Forbidden) as info:
                change(session, actor)
            assert info.value.permission == "user:manage"
    with db.session_scope(engine) as session, pytest.raises(Forbidden):
        set_webhook(session, "fire", "http://127.0.0.1:9/", "s" * 32, NOW, actor=admin)
    with db.session_scope(engine) as session:
        set_webhook(session, "samr", "http://127.0.0.1:9/", "s" * 32, NOW, actor=admin)   # its own department
    assert entries(engine) == [("department.webhook_set", "samr-admin", "samr")]


def _csrf_of(client: httpx.Client, path: str) -> str:
    page = client.get(path, headers={"accept": "text/html"})
    assert page.status_code == 200, (path, page.status_code)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_an_initial_password_must_be_changed_first(engine: Engine) -> None:
    with db.session_scope(engine) as session:
        lifecycle.add_user(session, SYSTEM, name="zhang", role="applicant", id_number=ID_ZHANG, password=PASSWORD,
                           now=NOW)
        token = lifecycle.issue_token(session, SYSTEM, user_name="zhang", now=NOW)
    app = make_app(engine)
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        signed = sign_in(client, "zhang", PASSWORD)
        assert signed.status_code == 303
        assert signed.headers["location"] == f"{PASSWORD_PAGE}?next=/api/v1/me"
        # Every page leads to the change; the API with the session cookie is refused until it is done.
        for path in ("/", "/me/applications", "/lists"):
            page = client.get(path, headers={"accept": "text/html"})
            assert page.status_code == 303 and page.headers["location"].startswith(PASSWORD_PAGE), path
        refused = client.get("/api/v1/me")
        assert refused.status_code == 403 and refused.json()["type"] == "/problems/password-change-required"
        # A bearer token is a separate credential that the initial password never protected: it still works.
        assert httpx.get(server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        csrf = _csrf_of(client, PASSWORD_PAGE)
        mismatch = client.post(PASSWORD_PAGE, data={"csrf_token": csrf, "current_password": PASSWORD,
                                                    "new_password": NEW_PASSWORD,
                                                    "new_password_confirm": NEW_PASSWORD + "x"})
        assert mismatch.status_code == 400 and "不一致" in mismatch.text
        weak = client.post(PASSWORD_PAGE, data={"csrf_token": csrf, "current_password": PASSWORD,
                                                "new_password": "weakweak", "new_password_confirm": "weakweak"})
        assert weak.status_code == 400 and "密码长度" in weak.text
        wrong = client.post(PASSWORD_PAGE, data={"csrf_token": csrf, "current_password": "wrong horse",
                                                 "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
        assert wrong.status_code == 400 and "当前密码不正确" in wrong.text
        old_cookie = client.cookies[SESSION_COOKIE]
        changed = client.post(PASSWORD_PAGE, data={"csrf_token": csrf, "current_password": PASSWORD,
                                                   "new_password": NEW_PASSWORD,
                                                   "new_password_confirm": NEW_PASSWORD, "next": "/api/v1/me"})
        assert changed.status_code == 303 and changed.headers["location"] == "/api/v1/me"
        assert client.cookies[SESSION_COOKIE] != old_cookie
        assert client.get("/api/v1/me").json()["name"] == "zhang"
        home = client.get("/", headers={"accept": "text/html"})
        assert home.status_code == 200 and f'href="{PASSWORD_PAGE}"' in home.text       # changing again
        stale = httpx.get(server.url + "/api/v1/me", cookies={SESSION_COOKIE: old_cookie})
        assert stale.status_code == 401                                   # the old session ended with the change
    with db.session_scope(engine) as session:
        assert session.scalars(select(User.must_change_password)).one() is False
    assert [e[0] for e in entries(engine)] == ["account.created", "token.issued", "account.password_changed"]
    assert entries(engine)[-1] == ("account.password_changed", "zhang", "zhang")


def test_disabling_ends_sessions_and_tokens_at_once(engine: Engine, zhang: str) -> None:
    with db.session_scope(engine) as session:
        token = lifecycle.issue_token(session, SYSTEM, user_name="zhang", now=NOW)
    bearer = {"Authorization": f"Bearer {token}"}
    with serve(make_app(engine)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert sign_in(client, "zhang", PASSWORD).status_code == 303
        assert client.get("/api/v1/me").status_code == 200
        assert httpx.get(server.url + "/api/v1/me", headers=bearer).status_code == 200
        with db.session_scope(engine) as session:
            assert lifecycle.disable_user(session, SYSTEM, user_name="zhang", now=NOW)
        assert client.get("/api/v1/me").status_code == 401
        assert httpx.get(server.url + "/api/v1/me", headers=bearer).status_code == 401
        assert sign_in(client, "zhang", PASSWORD).status_code == 400
        with db.session_scope(engine) as session:
            assert lifecycle.enable_user(session, SYSTEM, user_name="zhang", now=NOW)
        assert httpx.get(server.url + "/api/v1/me", headers=bearer).status_code == 200
        assert sign_in(client, "zhang", PASSWORD).status_code == 303
        csrf = _csrf_of(client, PASSWORD_PAGE)
        assert client.post("/api/v1/test-echo", headers={CSRF_HEADER: csrf}).json() == {"name": "zhang"}
    assert [e[0] for e in entries(engine)] == ["token.issued", "account.disabled", "account.enabled"]


def test_demo_accounts_are_not_forced_to_change(engine: Engine, tmp_path: Path) -> None:
    from onething.accounts.demo import create_demo_users, demo_password

    create_demo_users(engine)
    with serve(make_app(engine)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        signed = sign_in(client, "samr-staff", demo_password())
        assert signed.status_code == 303 and signed.headers["location"] == "/api/v1/me"
        assert client.get("/api/v1/me").status_code == 200
