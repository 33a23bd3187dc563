"""Unified sign-in in Chromium against a real OpenID Provider (npm oidc-provider): sign in through the provider's
page, step up to face verification, sign out of both — and the pages on the way pass axe (WCAG 2.1 AA)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onething import db
from onething.config import get_settings
from onething.web import oidc
from tests.e2e.a11y import axe_violations
from tests.live import LiveServer, serve_catalog
from tests.oidc.op import CLIENT_ID, CLIENT_SECRET, PASSWORD, Provider, run_provider

pytestmark = pytest.mark.e2e

ACCOUNTS = [{"login": "wangwu", "sub": "sub-wangwu", "max_acr": "L3",
             "claims": {"name": "王五", "id_number": "110101199202150030"}}]


@pytest.fixture
def oidc_site(tmp_path: Path) -> Iterator[tuple[LiveServer, Provider]]:
    url = f"sqlite:///{tmp_path / 'oidc-e2e.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(json.dumps(ACCOUNTS, ensure_ascii=False), encoding="utf-8")
    with serve_catalog(url) as server, run_provider(server.url, accounts_file=accounts_file) as op:
        server.app.state.settings = get_settings().model_copy(update={
            "oidc_issuer": op.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
            "secure_cookies": False, "secret_key": "e" * 48, "sign_in_rate_per_minute": 0})
        oidc.forget_provider()
        yield server, op
        oidc.forget_provider()


def _provider_sign_in(page: Any, *, level: str) -> None:
    page.fill("#login", "wangwu")
    page.fill("#password", PASSWORD)
    page.check(f"input[name=acr][value={level}]")
    page.click("button[type=submit]")


def test_sign_in_step_up_and_sign_out_in_chromium(browser: Any, oidc_site: tuple[LiveServer, Provider]) -> None:
    server, op = oidc_site
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(server.url + "/login")
        page.click("#oidc-login")
        page.wait_for_url(op.issuer + "/interaction/**")
        _provider_sign_in(page, level="L2")
        page.wait_for_url(server.url + "/me/applications")
        assert "王五" in page.content()

        # A face-verified level is asked for: the person is sent to step up, and comes back at L3.
        page.goto(server.url + "/auth/oidc/step-up?need=L3&next=/me/applications")
        assert "现场或人脸核验" in page.inner_text("main")
        page.click("#step-up-link")
        page.wait_for_url(op.issuer + "/interaction/**")
        assert page.is_checked("input[name=acr][value=L3]")  # the provider was asked for L3 (acr_values)
        _provider_sign_in(page, level="L3")
        page.wait_for_url(server.url + "/me/applications")
        level = page.evaluate("fetch('/api/v1/me', {headers: {Accept: 'application/json'}}).then(r => r.json())")
        assert level["assurance"] == "L3"

        # Sign out: onething's session ends, then the provider's (its confirmation page), back to the portal.
        page.goto(server.url + "/logout")
        page.click("form[action='/logout'] button[type=submit] >> nth=-1")
        page.wait_for_url(op.issuer + "/session/end**")
        page.click("button[name=logout]")
        page.wait_for_url(re.compile(re.escape(server.url) + r"/(\?.*)?$"))  # with the logout's state
        answer = page.evaluate("fetch('/api/v1/me', {headers: {Accept: 'application/json'}}).then(r => r.status)")
        assert answer == 401
        # The provider forgot the person too: signing in again asks for the password.
        page.goto(server.url + "/auth/oidc/login")
        page.wait_for_url(op.issuer + "/interaction/**")
        assert page.is_visible("#password")
    finally:
        context.close()


def test_sign_in_pages_are_accessible(audit_page: Any, oidc_site: tuple[LiveServer, Provider]) -> None:
    server, _ = oidc_site
    for path in ("/login", "/auth/oidc/step-up?need=L3&next=/"):
        audit_page.goto(server.url + path)
        assert axe_violations(audit_page) == [], path
