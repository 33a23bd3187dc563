"""Unified sign-in over real HTTP against a real OpenID Provider (the npm package oidc-provider, run by
tests/oidc/op.py), on SQLite and PostgreSQL: the code flow with PKCE, state and nonce; the ID token's checks;
the applicant created from claims and never overwritten by them; step-up; staff links; RP-initiated logout."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import httpx
import pytest
from sqlalchemy import Engine, select

from onething.accounts import oidc as accounts_oidc
from onething.accounts.assurance import StepUpRequired
from onething.accounts.model import SYSTEM
from onething.accounts.oidc import link_identity, use_nonce
from onething.accounts.service import actor_for_user, create_user
from onething.accounts.tables import OidcIdentity, User
from onething.audit.tables import AuditEntry
from onething.cases.service import submit_application
from onething.catalog.model import AssuranceLevel
from onething.config import Settings, get_settings
from onething.db import session_scope
from onething.web import oidc
from tests.live import LiveServer, serve_catalog
from tests.oidc.op import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    PASSWORD,
    Provider,
    authorize,
    confirm_logout,
    run_provider,
)

STAFF_PASSWORD = "correct horse battery staple 2026"
WANGWU = {"login": "wangwu", "sub": "sub-wangwu", "max_acr": "L3",
          "claims": {"name": "王五", "id_number": "110101199202150030"}}
ZHANGSAN = {"login": "zhangsan", "sub": "sub-zhangsan", "max_acr": "L3",
            "claims": {"name": "张三", "id_number": "110101199003070011"}}
OFFICER = {"login": "samr-officer", "sub": "sub-samr-officer", "max_acr": "L2",
           "claims": {"name": "窗口人员", "staff_account": "samr-staff", "department": "samr"}}


@dataclass
class Site:
    server: LiveServer
    op: Provider
    engine: Engine
    settings: Settings
    accounts_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    def set_accounts(self, accounts: list[dict[str, object]]) -> None:
        self.accounts_file.write_text(json.dumps(accounts, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    accounts_file = tmp_path / "op-accounts.json"
    accounts_file.write_text(json.dumps([WANGWU, ZHANGSAN, OFFICER], ensure_ascii=False), encoding="utf-8")
    with serve_catalog(database_url) as server, run_provider(server.url, accounts_file=accounts_file) as op:
        settings = get_settings().model_copy(update={
            "oidc_issuer": op.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
            "secure_cookies": False, "secret_key": "k" * 48, "sign_in_rate_per_minute": 0,
            "submit_rate_per_minute": 0})
        server.app.state.settings = settings
        oidc.forget_provider()
        assert server.engine is not None
        with session_scope(server.engine) as session:
            create_user(session, name="samr-staff", role="staff", department="samr", display_name="市场监管窗口",
                        password=STAFF_PASSWORD)
            create_user(session, name="zhangsan", role="applicant", id_number="110101199003070011",
                        display_name="张三", password=STAFF_PASSWORD)
        yield Site(server=server, op=op, engine=server.engine, settings=settings, accounts_file=accounts_file)
        oidc.forget_provider()


@pytest.fixture
def browser(site: Site) -> Iterator[httpx.Client]:
    """A cookie-keeping HTTP client that follows no redirect by itself (the tests look at each hop)."""
    with httpx.Client(timeout=30, follow_redirects=False, headers={"Accept": "text/html"}) as client:
        yield client


def sign_in(browser: httpx.Client, site: Site, login: str, *, acr: str = "L2", query: str = "") -> httpx.Response:
    callback = authorize(browser, f"{site.url}/auth/oidc/login{query}", login=login, acr=acr)
    return browser.get(callback)


def me(browser: httpx.Client, site: Site) -> httpx.Response:
    return browser.get(site.url + "/api/v1/me", headers={"Accept": "application/json"})


def actions(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_login_page_offers_unified_sign_in(browser: httpx.Client, site: Site) -> None:
    page = browser.get(site.url + "/login")
    assert page.status_code == 200
    assert 'href="/auth/oidc/login' in page.text and "统一身份认证登录" in page.text


def test_first_sign_in_creates_the_applicant_from_verified_claims(browser: httpx.Client, site: Site) -> None:
    start = browser.get(site.url + "/auth/oidc/login")
    assert start.status_code == 303
    request = parse_qs(urlparse(start.headers["location"]).query)
    assert request["code_challenge_method"] == ["S256"] and len(request["code_challenge"][0]) == 43
    assert request["state"][0] and request["nonce"][0] and request["client_id"] == [CLIENT_ID]
    assert "onething_oidc" in start.cookies or browser.cookies.get("onething_oidc")

    done = sign_in(browser, site, "wangwu", acr="L2")
    assert done.status_code == 303, done.text[-1500:]
    assert done.headers["location"] == "/me/applications"
    who = me(browser, site).json()
    assert who["role"] == "applicant" and who["display_name"] == "王五" and who["assurance"] == "L2"
    with session_scope(site.engine) as session:
        user = session.scalar(select(User).where(User.id_number == "110101199202150030"))
        assert user is not None and user.assurance == "L2" and user.password_hash is None
        link = session.scalar(select(OidcIdentity).where(OidcIdentity.user_id == user.id))
        assert link is not None and link.issuer == site.op.issuer and link.subject == "sub-wangwu"
    assert {"account.created", "account.oidc_linked"} <= set(actions(site.engine))


def test_a_later_sign_in_with_other_claims_overwrites_nothing(browser: httpx.Client, site: Site) -> None:
    assert sign_in(browser, site, "wangwu").status_code == 303
    browser.cookies.clear()
    changed = {**WANGWU, "claims": {"name": "王小五", "id_number": "110101200001010045"}}
    site.set_accounts([changed, ZHANGSAN, OFFICER])
    done = sign_in(browser, site, "wangwu")
    assert done.status_code == 303
    with session_scope(site.engine) as session:
        users = list(session.scalars(select(User).where(User.role == "applicant", User.name.like("u-%"))))
        assert [(u.display_name, u.id_number) for u in users] == [("王五", "110101199202150030")]
        mismatch = session.scalar(select(AuditEntry).where(AuditEntry.action == "account.claims_mismatch"))
        assert mismatch is not None and mismatch.data["fields"] == ["display_name", "id_number"]
        assert mismatch.data["applied"] is False
    home = browser.get(site.url + done.headers["location"])
    assert "不一致" in home.text and "未作更改" in home.text  # shown, once


def test_an_account_opened_at_the_counter_is_linked_by_its_identifier(browser: httpx.Client, site: Site) -> None:
    assert sign_in(browser, site, "zhangsan").status_code == 303
    who = me(browser, site).json()
    assert who["name"] == "zhangsan" and who["assurance"] == "L2"
    with session_scope(site.engine) as session:
        assert session.scalar(select(User.id).where(User.name.like("u-%"))) is None


def test_a_first_sign_in_below_real_name_level_creates_nothing(browser: httpx.Client, site: Site) -> None:
    done = sign_in(browser, site, "wangwu", acr="L1")
    assert done.status_code == 403 and "实名核验" in done.text
    assert me(browser, site).status_code == 401


def test_state_mismatch_is_refused(browser: httpx.Client, site: Site) -> None:
    callback = authorize(browser, f"{site.url}/auth/oidc/login", login="wangwu")
    parts = urlparse(callback)
    query = parse_qs(parts.query)
    query["state"] = ["forged-" + query["state"][0][:10]]
    forged = urlunparse(parts._replace(query=urlencode({k: v[0] for k, v in query.items()})))
    refused = browser.get(forged)
    assert refused.status_code == 400 and "不一致" in refused.text
    assert "onething_session" not in refused.cookies
    assert me(browser, site).status_code == 401
    # The genuine callback still works: the refusal was about the state, not the rest.
    assert browser.get(callback).status_code == 303


def test_a_callback_without_the_flow_cookie_is_refused(browser: httpx.Client, site: Site) -> None:
    callback = authorize(browser, f"{site.url}/auth/oidc/login", login="wangwu")
    with httpx.Client(timeout=30, follow_redirects=False) as stranger:  # another browser: no flow cookie
        assert stranger.get(callback).status_code == 400


def test_a_replayed_callback_is_refused(browser: httpx.Client, site: Site) -> None:
    callback = authorize(browser, f"{site.url}/auth/oidc/login", login="wangwu")
    flow_cookie = browser.cookies.get("onething_oidc")
    assert browser.get(callback).status_code == 303
    browser.cookies.clear()
    browser.cookies.set("onething_oidc", flow_cookie or "", domain="127.0.0.1", path="/auth/oidc")
    replay = browser.get(callback)
    assert replay.status_code == 400
    assert me(browser, site).status_code == 401


def test_a_nonce_is_accepted_once(site: Site) -> None:
    now = datetime(2026, 12, 2, 8, tzinfo=UTC)
    with session_scope(site.engine) as session:
        assert use_nonce(session, "n-1", now) is True
    with session_scope(site.engine) as session:
        assert use_nonce(session, "n-1", now) is False
        assert use_nonce(session, "n-2", now) is True


def _token_for(site: Site, browser: httpx.Client, client_id: str, secret: str,
               *, verifier: str | None = None) -> tuple[dict[str, object], oidc.FlowState]:
    """A real token response from the provider for ``client_id`` (driven by hand, not through onething)."""
    settings = site.settings.model_copy(update={"oidc_client_id": client_id, "oidc_client_secret": secret})
    meta = oidc.discover(settings)
    redirect = site.url + "/auth/oidc/callback"
    url, flow = oidc.authorization_url(settings, meta, redirect_uri=redirect, next_path="/", acr=None,
                                       force_login=False, now=int(datetime.now(UTC).timestamp()))
    callback = authorize(browser, url, login="wangwu")
    code = parse_qs(urlparse(callback).query)["code"][0]
    token = oidc.exchange_code(settings, meta, code=code, redirect_uri=redirect,
                               verifier=flow.verifier if verifier is None else verifier)
    return token, flow


def test_id_token_checks_audience_nonce_and_signature(browser: httpx.Client, site: Site) -> None:
    meta = oidc.discover(site.settings)
    keys = oidc.provider_keys(meta, site.settings)
    token, flow = _token_for(site, browser, OTHER_CLIENT_ID, CLIENT_SECRET + "-other")
    id_token = str(token["id_token"])
    now = int(datetime.now(UTC).timestamp())
    claims = oidc.validate_id_token(id_token, keys=keys, issuer=meta.issuer, client_id=OTHER_CLIENT_ID,
                                    nonce=flow.nonce, now=now)
    assert claims["sub"] == "sub-wangwu" and claims["acr"] == "L2"
    with pytest.raises(oidc.OidcError, match="aud"):  # issued to another client: not for onething
        oidc.validate_id_token(id_token, keys=keys, issuer=meta.issuer, client_id=CLIENT_ID, nonce=flow.nonce,
                               now=now)
    with pytest.raises(oidc.OidcError, match="nonce"):
        oidc.validate_id_token(id_token, keys=keys, issuer=meta.issuer, client_id=OTHER_CLIENT_ID, nonce="other",
                               now=now)
    with pytest.raises(oidc.OidcError, match="iss"):
        oidc.validate_id_token(id_token, keys=keys, issuer="http://127.0.0.1:1", client_id=OTHER_CLIENT_ID,
                               nonce=flow.nonce, now=now)
    with pytest.raises(oidc.OidcError, match="exp"):
        oidc.validate_id_token(id_token, keys=keys, issuer=meta.issuer, client_id=OTHER_CLIENT_ID,
                               nonce=flow.nonce, now=now + 24 * 3600)
    header, payload, signature = id_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    with pytest.raises(oidc.OidcError):
        oidc.validate_id_token(tampered, keys=keys, issuer=meta.issuer, client_id=OTHER_CLIENT_ID,
                               nonce=flow.nonce, now=now)


def test_the_provider_requires_the_pkce_verifier(browser: httpx.Client, site: Site) -> None:
    with pytest.raises(oidc.OidcError, match="token endpoint"):
        _token_for(site, browser, CLIENT_ID, CLIENT_SECRET, verifier="x" * 64)
    meta = oidc.discover(site.settings)
    no_pkce = browser.get(meta.authorization_endpoint + "?" + urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": site.url + "/auth/oidc/callback",
        "scope": "openid", "state": "s", "nonce": "n"}))
    assert no_pkce.status_code in (302, 303)
    assert "error=invalid_request" in no_pkce.headers["location"]


def test_step_up_from_a_password_to_real_name_and_face(browser: httpx.Client, site: Site) -> None:
    page = browser.get(site.url + "/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    signed = browser.post(site.url + "/login", data={"name": "zhangsan", "password": STAFF_PASSWORD,
                                                     "csrf_token": csrf.group(1), "next": "/"})
    assert signed.status_code == 303
    assert me(browser, site).json()["assurance"] == "L1"  # a password, where unified sign-in exists

    # The service refuses an L1 submission with step-up-required, naming the level (API) …
    home = browser.get(site.url + "/me/applications")
    token = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert token is not None
    refused = browser.post(site.url + "/api/v1/applications", json={"thing": "open-restaurant"},
                           headers={"Accept": "application/json", "X-CSRF-Token": token.group(1),
                                    "Idempotency-Key": "step-up-1"})
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"] == "/problems/step-up-required" and problem["required_level"] == "L2"

    # … and a page sends the person to step up, never a bare refusal.
    step_up = browser.get(site.url + "/auth/oidc/step-up?need=L2&next=/me/applications")
    assert step_up.status_code == 403 and 'id="step-up-link"' in step_up.text
    start = browser.get(site.url + "/auth/oidc/login?acr=L2&next=/me/applications")
    asked = parse_qs(urlparse(start.headers["location"]).query)
    assert asked["acr_values"] == ["L3 L2"] and asked["prompt"] == ["login"]
    callback = authorize(browser, start.headers["location"], login="zhangsan", acr="L2")
    done = browser.get(callback)
    assert done.status_code == 303 and done.headers["location"] == "/me/applications"
    assert me(browser, site).json()["assurance"] == "L2" and me(browser, site).json()["name"] == "zhangsan"

    # L3 (face) for a thing that needs it: the service says so, the provider verifies, the session carries it.
    catalog = site.server.app.state.catalog
    strict = catalog.model_copy(update={"things": {**catalog.things, "open-restaurant":
                                                   catalog.things["open-restaurant"].model_copy(
                                                       update={"assurance": AssuranceLevel.L3})}})
    with session_scope(site.engine) as session:
        actor = actor_for_user(session, "zhangsan")
    with pytest.raises(StepUpRequired) as raised:
        submit_application(site.engine, actor, catalog=strict, catalog_version="t", thing="open-restaurant",
                           answers={}, form={}, idempotency_key="k-1", now=datetime(2026, 12, 2, tzinfo=UTC))
    assert raised.value.required == "L3"
    callback = authorize(browser, f"{site.url}/auth/oidc/login?acr=L3&next=/me/applications", login="zhangsan",
                         acr="L3")
    assert browser.get(callback).status_code == 303
    assert me(browser, site).json()["assurance"] == "L3"
    with session_scope(site.engine) as session:
        assert session.scalar(select(User.assurance).where(User.name == "zhangsan")) == "L3"
    assert "account.assurance_raised" in actions(site.engine)


def test_step_up_the_provider_cannot_give_is_not_a_silent_refusal(browser: httpx.Client, site: Site) -> None:
    assert sign_in(browser, site, "wangwu", acr="L2").status_code == 303
    callback = authorize(browser, f"{site.url}/auth/oidc/login?acr=L3&next=/me/applications", login="wangwu", acr="L2")
    done = browser.get(callback)
    assert done.status_code == 303 and done.headers["location"].startswith("/auth/oidc/step-up?need=L3")
    page = browser.get(site.url + done.headers["location"])
    assert "L3" in page.text and 'id="step-up-link"' in page.text


def test_staff_sign_in_needs_a_link_granted_in_onething(browser: httpx.Client, site: Site) -> None:
    refused = sign_in(browser, site, "samr-officer")
    assert refused.status_code == 403 and "尚未在本平台授权" in refused.text
    assert me(browser, site).status_code == 401
    assert "account.oidc_refused" in actions(site.engine)
    with session_scope(site.engine) as session:
        assert session.scalar(select(User.id).where(User.name.like("u-%"))) is None  # no account from claims
        operator = create_user(session, name="ops", role="operator", display_name="运营")
        link_identity(session, actor_for_user(session, "ops") if operator else SYSTEM, user_name="samr-staff",
                      issuer=site.op.issuer, subject="sub-samr-officer", now=datetime(2026, 12, 2, tzinfo=UTC))
    browser.cookies.clear()
    done = sign_in(browser, site, "samr-officer")
    assert done.status_code == 303
    who = me(browser, site).json()
    assert who["name"] == "samr-staff" and who["role"] == "staff" and who["department"] == "samr"
    assert actions(site.engine).count("account.oidc_linked") == 1

    # A claim naming another department is refused (and audited), whatever the link says.
    site.set_accounts([WANGWU, ZHANGSAN, {**OFFICER, "claims": {**OFFICER["claims"], "department": "fire"}}])
    browser.cookies.clear()
    assert sign_in(browser, site, "samr-officer").status_code == 403
    assert actions(site.engine).count("account.oidc_refused") == 2


def test_sign_out_ends_the_provider_session_too(browser: httpx.Client, site: Site) -> None:
    assert sign_in(browser, site, "wangwu").status_code == 303
    # Single sign-on: while the provider's session lives, a new sign-in needs no form.
    again = browser.get(site.url + "/auth/oidc/login")
    hops = 0
    url = again.headers["location"]
    while "/auth/oidc/callback" not in url and hops < 10:
        answer = browser.get(url)
        assert answer.status_code in (302, 303), "the provider asked again although its session lives"
        url = answer.headers["location"] if answer.headers["location"].startswith("http") else \
            site.op.issuer + answer.headers["location"]
        hops += 1
    assert browser.get(url).status_code == 303

    page = browser.get(site.url + "/logout")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    out = browser.post(site.url + "/logout", data={"csrf_token": csrf.group(1)})
    assert out.status_code == 200  # a page that goes on to the provider (a cross-origin redirect of a POST
    link = re.search(r'id="provider-logout" href="([^"]+)"', out.text)  # would break the CSP's form-action)
    assert link is not None and f'content="0;url={link.group(1)}"' in out.text
    end_session_href = link.group(1).replace("&amp;", "&")
    end_session = urlparse(end_session_href)
    assert f"{end_session.scheme}://{end_session.netloc}" == site.op.issuer
    asked = parse_qs(end_session.query)
    assert asked["post_logout_redirect_uri"] == [site.url + "/"] and asked["id_token_hint"][0].count(".") == 2
    assert me(browser, site).status_code == 401  # onething's session is gone at once
    confirm = browser.get(end_session_href)
    assert confirm.status_code == 200 and "退出" in confirm.text
    back = confirm_logout(browser, confirm)
    assert back.status_code in (302, 303) and back.headers["location"].startswith(site.url + "/")

    # The provider's session ended: signing in again shows its form.
    start = browser.get(site.url + "/auth/oidc/login")
    answer = browser.get(start.headers["location"])
    assert answer.status_code in (302, 303) and "/interaction/" in answer.headers["location"]


def test_password_sign_in_gives_l2_without_unified_sign_in(tmp_path: Path, database_url: str) -> None:
    assert Settings(oidc_issuer="", password_assurance=None).resolved_password_assurance() == "L2"
    assert Settings(oidc_issuer="http://op", oidc_client_id="c").resolved_password_assurance() == "L1"
    assert accounts_oidc.CREATE_FROM_CLAIMS_LEVEL == "L2"
    with serve_catalog(database_url) as server:
        assert server.url  # the app starts without any OIDC setting; /auth/oidc/login is then 404
        answer = httpx.get(server.url + "/auth/oidc/login", headers={"Accept": "application/json"})
        assert answer.status_code == 404
    assert PASSWORD
