"""Accounts on SQLite and PostgreSQL: users, passwords, API tokens, sessions, CSRF and rate limits — the last
three through a real HTTP server — and the `users` / `tokens` commands."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from onething import db
from onething.accounts import lifecycle, service
from onething.accounts.errors import DuplicateUser, InvalidUser, UnknownUser
from onething.accounts.model import SYSTEM, Role
from onething.accounts.tables import ApiToken, User, WebSession
from onething.catalog.service import load_valid_catalog
from onething.config import REPO_DIR, Settings, get_settings
from onething.web.auth import CSRF_HEADER, SESSION_COOKIE, CurrentActor
from tests.live import serve

ID_ZHANG = "110101199003070011"   # fictional, checksum-valid
ID_LI = "110101198511120025"
USCC_DEMO = "91110105MA01ABCD00"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


def add(engine: Engine, **kwargs: object) -> User:
    with db.session_scope(engine) as session:
        return service.create_user(session, **kwargs)  # type: ignore[arg-type]


# --- users -------------------------------------------------------------------------------------------------


def test_create_users_of_every_kind(engine: Engine) -> None:
    add(engine, name="zhang", role="applicant", id_number=ID_ZHANG.lower()[:-1] + "1", password="long-enough-2026")
    add(engine, name="acme", role=Role.applicant, uscc=USCC_DEMO.lower(), display_name="示例餐饮有限公司")
    add(engine, name="samr-staff", role="staff", department="samr")
    add(engine, name="ops", role="operator")
    with db.session_scope(engine) as session:
        users = {u.name: u for u in service.list_users(session)}
        assert users["zhang"].id_number == ID_ZHANG
        assert users["acme"].uscc == USCC_DEMO and users["acme"].display_name == "示例餐饮有限公司"
        assert users["samr-staff"].department == "samr" and users["samr-staff"].password_hash is None
        assert users["zhang"].password_hash and users["zhang"].password_hash.startswith("$argon2id$")
        assert "long-enough-2026" not in users["zhang"].password_hash
        assert [u.name for u in service.list_users(session, role=Role.staff)] == ["samr-staff"]


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"role": "applicant", "id_number": "110101199003070012"}, "id_number", "校验位"),
    ({"role": "applicant", "id_number": "11010119900307"}, "id_number", "18位"),
    ({"role": "applicant", "id_number": "110101209903070013"}, "id_number", "晚于今天"),
    ({"role": "applicant", "id_number": "110101199013070015"}, "id_number", "出生日期无效"),
    ({"role": "applicant", "uscc": "91110105MA01ABCD01"}, "uscc", "校验位"),
    ({"role": "applicant", "uscc": "91110105MA01ABCO00"}, "uscc", "无效字符"),
    ({"role": "applicant"}, "id_number", "公民身份号码"),
    ({"role": "applicant", "id_number": ID_ZHANG, "uscc": USCC_DEMO}, "uscc", "只填其一"),
    ({"role": "staff"}, "department", "必须指定所属部门"),
    ({"role": "dept_admin", "department": "Not A Dept"}, "department", "部门编码"),
    ({"role": "operator", "department": "samr"}, "department", "不属于部门"),
    ({"role": "staff", "department": "samr", "id_number": ID_ZHANG}, "id_number", "仅申请人"),
    ({"role": "king"}, "role", "角色"),
    ({"role": "auditor", "password": "short"}, "password", "密码长度"),
])
def test_invalid_users_name_the_field(engine: Engine, kwargs: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidUser) as info:
        add(engine, name="someone", **kwargs)
    fields = dict(info.value.errors)
    assert field in fields and message in fields[field], info.value.errors
    with db.session_scope(engine) as session:
        assert service.get_user(session, "someone") is None


def test_bad_names_and_duplicates(engine: Engine) -> None:
    with pytest.raises(InvalidUser, match="name"):
        add(engine, name="has space", role="operator")
    add(engine, name="zhang", role="applicant", id_number=ID_ZHANG)
    with pytest.raises(DuplicateUser, match="name"):
        add(engine, name="zhang", role="operator")
    with pytest.raises(DuplicateUser, match="id_number"):
        add(engine, name="zhang2", role="applicant", id_number=ID_ZHANG)
    add(engine, name="acme", role="applicant", uscc=USCC_DEMO)
    with pytest.raises(DuplicateUser, match="uscc"):
        add(engine, name="acme2", role="applicant", uscc=USCC_DEMO)


# --- passwords ---------------------------------------------------------------------------------------------


def test_password_authentication(engine: Engine) -> None:
    add(engine, name="zhang", role="applicant", id_number=ID_ZHANG, password="correct horse")
    add(engine, name="tokens-only", role="staff", department="fire")
    with db.session_scope(engine) as session:
        actor = lifecycle.attempt_sign_in(session, "zhang", "correct horse", NOW)
        assert actor is not None and actor.role is Role.applicant and actor.id_number == ID_ZHANG
        for name, password in [("zhang", "wrong horse"), ("nobody", "correct horse"), ("tokens-only", "x" * 10),
                               ("zhang", "x" * 5000)]:
            assert lifecycle.attempt_sign_in(session, name, password, NOW) is None
        lifecycle.disable_user(session, SYSTEM, user_name="zhang", now=NOW)
        assert lifecycle.attempt_sign_in(session, "zhang", "correct horse", NOW) is None


def test_unknown_user_costs_a_hash_verification(engine: Engine) -> None:
    add(engine, name="zhang", role="applicant", id_number=ID_ZHANG, password="correct horse")

    def timed(name: str) -> float:
        with db.session_scope(engine) as session:
            started = time.perf_counter()
            assert lifecycle.attempt_sign_in(session, name, "wrong horse", NOW) is None
            return time.perf_counter() - started

    timed("nobody")  # warm the dummy hash
    known = min(timed("zhang") for _ in range(3))
    unknown = min(timed("nobody") for _ in range(3))
    assert unknown > known / 3, (known, unknown)


# --- API tokens --------------------------------------------------------------------------------------------


def test_token_issue_verify_expire_revoke(engine: Engine) -> None:
    add(engine, name="samr-system", role="staff", department="samr")
    with db.session_scope(engine) as session:
        token = lifecycle.issue_token(session, SYSTEM, user_name="samr-system", expires_days=30, now=NOW)
        forever = lifecycle.issue_token(session, SYSTEM, user_name="samr-system", now=NOW)
    assert token.startswith("ot_") and len(token) > 40 and token != forever
    with db.session_scope(engine) as session:
        stored = list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
        assert [t.token_hash for t in stored] == [service.digest(token), service.digest(forever)]
        assert all(token not in (t.token_hash, t.prefix) for t in stored) and stored[0].prefix == token[:10]
        actor = service.actor_for_token(session, token, NOW + timedelta(days=1))
        assert actor is not None and actor.name == "samr-system" and actor.department == "samr"
        assert service.actor_for_token(session, token, NOW + timedelta(days=30)) is None        # expired
        assert service.actor_for_token(session, forever, NOW + timedelta(days=3650)) is not None
        tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert service.actor_for_token(session, tampered, NOW) is None
        assert service.actor_for_token(session, "not-a-token", NOW) is None
        info = service.list_tokens(session, user_name="samr-system")[0]
        assert info.last_used_at == NOW + timedelta(days=1)
        lifecycle.revoke_token(session, SYSTEM, token_id=info.id, now=NOW + timedelta(days=2))
        assert service.actor_for_token(session, token, NOW + timedelta(days=2)) is None         # revoked
        lifecycle.disable_user(session, SYSTEM, user_name="samr-system", now=NOW)
        assert service.actor_for_token(session, forever, NOW) is None                           # user stopped
    with db.session_scope(engine) as session, pytest.raises(UnknownUser):
        lifecycle.issue_token(session, SYSTEM, user_name="samr-system", now=NOW)
    with db.session_scope(engine) as session, pytest.raises(UnknownUser):
        lifecycle.issue_token(session, SYSTEM, user_name="nobody", now=NOW)


# --- sessions ----------------------------------------------------------------------------------------------


def test_session_lifecycle(engine: Engine) -> None:
    add(engine, name="zhang", role="applicant", id_number=ID_ZHANG, password="correct horse")
    with db.session_scope(engine) as session:
        actor = lifecycle.attempt_sign_in(session, "zhang", "correct horse", NOW)
        assert actor is not None
        new = service.start_session(session, actor=actor, now=NOW)
        other = service.start_session(session, actor=actor, now=NOW)
    assert new.session_id != other.session_id and new.csrf_token != other.csrf_token
    with db.session_scope(engine) as session:
        assert session.get(WebSession, new.session_id) is None   # stored hashed only
        signed = service.actor_for_session(session, new.session_id, NOW + timedelta(minutes=90))
        assert signed is not None and signed.actor == actor and signed.csrf_token == new.csrf_token
        # Idle for longer than the timeout since it was last seen (at +90 min): gone.
        assert service.actor_for_session(session, new.session_id, NOW + timedelta(minutes=211)) is None
        # Kept alive, it still ends at its absolute expiry.
        t = NOW
        while t < NOW + service.SESSION_LIFETIME - timedelta(hours=1):
            t += timedelta(hours=1)
            assert service.actor_for_session(session, other.session_id, t) is not None
        assert service.actor_for_session(session, other.session_id, NOW + service.SESSION_LIFETIME) is None
        service.end_session(session, new.session_id)
        assert service.actor_for_session(session, new.session_id, NOW) is None


# --- HTTP: a real server -----------------------------------------------------------------------------------


MINI_CATALOG = REPO_DIR / "tests" / "fixtures" / "mini"


def make_app(engine: Engine, **settings: object) -> FastAPI:
    from onething.web.app import create_app

    app = create_app(engine, load_valid_catalog(MINI_CATALOG))
    app.state.settings = Settings(**settings)  # type: ignore[arg-type]

    async def echo(actor: CurrentActor) -> dict[str, str]:   # an unsafe route behind current_actor
        return {"name": actor.name}

    app.add_api_route("/api/v1/test-echo", echo, methods=["POST"])
    return app


def _login_token(client: httpx.Client) -> str:
    page = client.get("/login", headers={"accept": "text/html"})
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def sign_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    token = _login_token(client)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token,
                                       "next": "/api/v1/me"})


@pytest.fixture
def users(engine: Engine) -> dict[str, str]:
    add(engine, name="zhang", role="applicant", id_number=ID_ZHANG, password="correct horse")
    add(engine, name="samr-system", role="staff", department="samr")
    with db.session_scope(engine) as session:
        return {"samr-system": lifecycle.issue_token(session, SYSTEM, user_name="samr-system", now=datetime.now(UTC))}


def test_bearer_tokens_over_http(engine: Engine, users: dict[str, str]) -> None:
    with serve(make_app(engine)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        anonymous = client.get("/api/v1/me")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.json()["status"] == 401
        for header in ("Bearer ot_nonsense", "Basic dXNlcjpwdw==", "Bearer"):
            bad = client.get("/api/v1/me", headers={"Authorization": header})
            assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"], header
        auth = {"Authorization": f"Bearer {users['samr-system']}"}
        me = client.get("/api/v1/me", headers=auth)
        assert me.status_code == 200
        assert me.json() == {"name": "samr-system", "display_name": "samr-system", "role": "staff",
                             "department": "samr", "permissions": ["certificate:revoke", "correction:answer",
                                                                   "rectification:answer",
                                                                   "task:decide", "task:read"],
                             "assurance": "L2"}  # a token acts at its account's level
        # Bearer requests need no CSRF token: a browser never sends this header by itself.
        assert client.post("/api/v1/test-echo", headers=auth).json() == {"name": "samr-system"}
        with db.session_scope(engine) as session:
            token_id = service.list_tokens(session, user_name="samr-system")[0].id
            lifecycle.revoke_token(session, SYSTEM, token_id=token_id, now=datetime.now(UTC))
        assert client.get("/api/v1/me", headers=auth).status_code == 401


def test_browser_session_and_csrf(engine: Engine, users: dict[str, str]) -> None:
    with serve(make_app(engine)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        # A page that needs a signed-in user sends the browser to the sign-in page.
        redirect = client.get("/logout", headers={"accept": "text/html"})
        assert redirect.status_code == 303
        # Sign-in needs the login form's double-submit token.
        assert client.post("/login", data={"name": "zhang", "password": "correct horse"}).status_code == 403
        token = _login_token(client)
        forged = client.post("/login", data={"name": "zhang", "password": "correct horse", "csrf_token": "x" * 43})
        assert forged.status_code == 403 and forged.headers["content-type"] == "application/problem+json"
        wrong = client.post("/login", data={"name": "zhang", "password": "wrong", "csrf_token": token})
        assert wrong.status_code == 400 and "用户名或密码错误" in wrong.text
        assert SESSION_COOKIE not in client.cookies

        response = sign_in(client, "zhang", "correct horse")
        assert response.status_code == 303 and response.headers["location"] == "/api/v1/me"
        cookie = response.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie
        assert client.get("/api/v1/me").json()["name"] == "zhang"

        # Unsafe requests with the cookie need the session's CSRF token (form field or header).
        assert client.post("/api/v1/test-echo").status_code == 403
        assert client.post("/api/v1/test-echo", headers={CSRF_HEADER: "forged"}).status_code == 403
        page = client.get("/logout", headers={"accept": "text/html"})
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match
        csrf = match.group(1)
        assert client.post("/api/v1/test-echo", headers={CSRF_HEADER: csrf}).json() == {"name": "zhang"}
        assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
        assert client.get("/api/v1/me").status_code == 200
        out = client.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        old = response.cookies[SESSION_COOKIE]
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, old)   # a copied cookie is worthless after sign-out
        assert client.get("/api/v1/me").status_code == 401
        client.cookies.clear()

        # An open redirect is refused: `next` stays on this site.
        token = _login_token(client)
        away = client.post("/login", data={"name": "zhang", "password": "correct horse", "csrf_token": token,
                                           "next": "//evil.example/"})
        assert away.status_code == 303 and away.headers["location"] == "/me/applications"  # the role's home


def test_secure_cookies_when_configured(engine: Engine, users: dict[str, str]) -> None:
    app = make_app(engine, secure_cookies=True)
    with serve(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert "Secure" in client.get("/login").headers["set-cookie"]


def test_sign_in_rate_limit_is_shared_by_processes(engine: Engine, users: dict[str, str]) -> None:
    # Two apps (as two server processes would be) over one database share one count. A fixed clock keeps all
    # six requests in one window.
    apps = [make_app(engine, sign_in_rate_per_minute=4), make_app(engine, sign_in_rate_per_minute=4)]
    for app in apps:
        app.state.clock = lambda: datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
    with serve(apps[0]) as one, serve(apps[1]) as two:
        answers = []
        for i in range(6):
            with httpx.Client(base_url=(one if i % 2 else two).url, timeout=30) as client:
                answers.append(client.post("/login", data={"name": "zhang", "password": "wrong"}))
        # Within the limit the request is judged (403: no CSRF token); past it, refused before anything else.
        assert [a.status_code for a in answers] == [403, 403, 403, 403, 429, 429], [a.text for a in answers]
        refused = answers[-1]
        assert refused.headers["retry-after"] == "45"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 429 and refused.json()["type"] == "/problems/rate-limited"


def test_rate_limit_counter(engine: Engine) -> None:
    from onething.accounts.ratelimit import hit

    start = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
    with db.session_scope(engine) as session:
        decisions = [hit(session, scope="submit", client="10.0.0.1", limit=2, now=start) for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False] and decisions[2].retry_after == 50
        assert hit(session, scope="submit", client="10.0.0.2", limit=2, now=start).allowed      # other client
        assert hit(session, scope="sign_in", client="10.0.0.1", limit=2, now=start).allowed     # other scope
        later = hit(session, scope="submit", client="10.0.0.1", limit=2, now=start + timedelta(seconds=50))
        assert later.allowed and later.count == 1                                              # next window
        assert hit(session, scope="submit", client="10.0.0.1", limit=0, now=start).allowed      # limit off
        from onething.accounts.tables import RateLimitCounter

        keys = list(session.scalars(select(RateLimitCounter.client_key)))
        assert all("10.0.0" not in key for key in keys)


def test_rate_limit_with_batches_holds_across_processes_within_the_tolerance(engine: Engine,
                                                                            users: dict[str, str]) -> None:
    # A limit of 60 a minute: each process writes every 3 requests (batch = 60 // 20), so two processes may let
    # through at most 60 + 2 × 3 (ADR 022). Eighty requests alternate between two live servers on one database.
    from onething.accounts.ratelimit import batch_for

    limit = 60
    apps = [make_app(engine, sign_in_rate_per_minute=limit), make_app(engine, sign_in_rate_per_minute=limit)]
    for app in apps:
        app.state.clock = lambda: datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
    with serve(apps[0]) as one, serve(apps[1]) as two, \
            httpx.Client(base_url=one.url, timeout=30) as first, httpx.Client(base_url=two.url, timeout=30) as second:
        codes = [(second if i % 2 else first).post("/login", data={"name": "zhang", "password": "wrong"}).status_code
                 for i in range(80)]
    admitted = sum(1 for code in codes if code != 429)
    assert set(codes) <= {403, 429}
    assert limit <= admitted <= limit + 2 * batch_for(limit), codes
    assert codes[-6:] == [429] * 6    # once the shared total is over, both refuse without asking again


def _writes_to_rate_limits(engine: Engine) -> tuple[list[tuple[str, object]], object]:
    from sqlalchemy import event

    writes: list[tuple[str, object]] = []

    def listen(conn: object, cursor: object, statement: str, parameters: object, context: object,
               executemany: bool) -> None:
        text = statement.lstrip().upper()
        if "RATE_LIMITS" in text and (text.startswith("INSERT") or text.startswith("UPDATE")):
            writes.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    return writes, listen


def test_rate_limiter_writes_in_batches_and_no_row_is_shared_by_processes(engine: Engine) -> None:
    # Fifty clients behind one proxy are one client address: 400 requests with a limit of 2,000 (batch 100).
    from sqlalchemy import event

    from onething.accounts.ratelimit import RateLimiter
    from onething.accounts.tables import RateLimitCounter

    now = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
    ticks = iter(range(10**6))
    limiters = [RateLimiter(engine, shard=1, clock=lambda: float(next(ticks)) / 1000),   # 1 ms per request
                RateLimiter(engine, shard=2, clock=lambda: float(next(ticks)) / 1000)]
    writes, listener = _writes_to_rate_limits(engine)
    try:
        decisions = [limiters[i % 2].hit(scope="submit", client="10.0.0.9", limit=2000, now=now) for i in range(400)]
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert all(d.allowed for d in decisions)
    # Each process wrote on its first request and then once per 100 of its own (or once a second): ≤ 3 each,
    # against 400 writes to one row before.
    assert 2 <= len(writes) <= 6, len(writes)
    with db.session_scope(engine) as session:
        rows = session.execute(select(RateLimitCounter.shard, RateLimitCounter.count)
                               .where(RateLimitCounter.scope == "submit")).all()
    assert sorted(shard for shard, _ in rows) == [1, 2]                   # one row per process, none shared
    assert sum(count for _, count in rows) <= 400


def test_rate_limiter_decides_in_memory_until_a_write_is_due(engine: Engine) -> None:
    from sqlalchemy import event

    from onething.accounts.ratelimit import RateLimiter

    now = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
    limiter = RateLimiter(engine, shard=3, clock=lambda: 0.0)
    assert limiter.hit_in_memory(scope="submit", client="c", limit=100, now=now) is None   # nothing known yet
    writes, listener = _writes_to_rate_limits(engine)
    try:
        assert limiter.hit(scope="submit", client="c", limit=100, now=now).count == 1      # writes (first)
        quick = [limiter.hit_in_memory(scope="submit", client="c", limit=100, now=now) for _ in range(4)]
        assert [d.count for d in quick if d is not None] == [2, 3, 4, 5] and len(writes) == 1
        # The fifth since the write is a batch (100 // 20): due, so the caller must take the writing path.
        assert limiter.hit_in_memory(scope="submit", client="c", limit=100, now=now) is None
        assert limiter.hit(scope="submit", client="c", limit=100, now=now).count == 6 and len(writes) == 2
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_rate_limiter_counts_requests_that_arrive_during_a_write_without_waiting(engine: Engine) -> None:
    # While one thread's write is in flight, the process's other requests are judged in memory: they never queue
    # on the row (or on the pool) behind it.
    import threading

    from sqlalchemy import event

    from onething.accounts.ratelimit import RateLimiter

    now = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
    limiter = RateLimiter(engine, shard=7, clock=lambda: 0.0)
    inside, release = threading.Event(), threading.Event()

    def hold(*_: object) -> None:
        if not inside.is_set():
            inside.set()
            release.wait(10)

    event.listen(engine, "before_cursor_execute", hold)
    try:
        writer = threading.Thread(target=limiter.hit, kwargs={"scope": "submit", "client": "c", "limit": 100,
                                                              "now": now})
        writer.start()
        assert inside.wait(10)
        quick = [limiter.hit(scope="submit", client="c", limit=100, now=now) for _ in range(3)]   # no deadlock
        release.set()
        writer.join(10)
    finally:
        event.remove(engine, "before_cursor_execute", hold)
    assert [d.allowed for d in quick] == [True, True, True] and quick[-1].count == 4


# --- CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ONETHING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_cli_users_and_tokens(cli_env: str, tmp_path: Path) -> None:
    from onething.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["users", "add", "samr-system", "--role", "staff", "--department", "samr"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["users", "add", "zhang", "--role", "applicant", "--id-number", ID_ZHANG,
                                 "--password-stdin"], input="correct horse\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["users", "add", "li", "--role", "applicant", "--id-number", ID_LI[:-1] + "0"])
    assert result.exit_code == 1 and "id_number" in result.output
    result = runner.invoke(app, ["users", "add", "x1", "--role", "applicant", "--id-number", ID_LI,
                                 "--uscc", USCC_DEMO])
    assert result.exit_code == 2

    result = runner.invoke(app, ["tokens", "issue", "samr-system", "--expires-days", "7"])
    assert result.exit_code == 0, result.output
    token = result.output.split()[-1]
    assert token.startswith("ot_")
    engine = db.make_engine(cli_env)
    try:
        with db.session_scope(engine) as session:
            actor = service.actor_for_token(session, token, datetime.now(UTC))
            assert actor is not None and actor.name == "samr-system"
            signed = lifecycle.attempt_sign_in(session, "zhang", "correct horse", datetime.now(UTC))
            assert signed is not None and signed.name == "zhang" and signed.must_change_password
    finally:
        engine.dispose()
    assert runner.invoke(app, ["tokens", "issue", "nobody"]).exit_code == 1

    listed = runner.invoke(app, ["users", "list", "--json"])
    assert listed.exit_code == 0
    assert ID_ZHANG not in listed.output and "110101********0011" in listed.output
    tokens = runner.invoke(app, ["tokens", "list", "samr-system"])
    assert tokens.exit_code == 0 and token not in tokens.output and token[:10] in tokens.output
    assert runner.invoke(app, ["tokens", "revoke", "1"]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["tokens", "list"]).output


def test_demo_users(engine: Engine) -> None:
    from onething.accounts.demo import DEMO_DEPARTMENTS, create_demo_users, demo_password

    first = create_demo_users(engine)
    assert "31 created" in first[0]   # operator, auditor, 3 applicants, staff + admin of 13 departments
    assert "0 created" in create_demo_users(engine)[0]
    with db.session_scope(engine) as session:
        users = {u.name: u for u in service.list_users(session)}
        assert {f"{d}-staff" for d in DEMO_DEPARTMENTS} <= users.keys()
        assert users["demo-restaurant"].uscc and users["zhangsan"].id_number
        actor = lifecycle.attempt_sign_in(session, "samr-admin", demo_password(), datetime.now(UTC))
        assert actor is not None and actor.role is Role.dept_admin and actor.department == "samr"
        assert not actor.must_change_password   # demo accounts are used as they are


def test_cli_token_is_last_word_in_a_real_process(database_url: str) -> None:
    import os
    import subprocess
    import sys

    command = str(Path(sys.executable).parent / "onething")
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url}
    subprocess.run([command, "users", "add", "fire-system", "--role", "staff", "--department", "fire"],
                   env=env, check=True, capture_output=True, timeout=120)
    issued = subprocess.run([command, "tokens", "issue", "fire-system"], env=env, check=True, capture_output=True,
                            text=True, timeout=120)
    token = issued.stdout.split()[-1]
    engine = db.make_engine(database_url)
    try:
        with db.session_scope(engine) as session:
            actor = service.actor_for_token(session, token, datetime.now(UTC))
            assert actor is not None and actor.department == "fire"
    finally:
        engine.dispose()
