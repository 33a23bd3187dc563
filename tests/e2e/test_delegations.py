"""An enterprise authorises its 经办人 on /me/agents in headless Chromium at phone width (375 px): the plain form
(name, resident ID, end date, things), the notice after the redirect, the grant listed with its agent masked,
and axe-core clean (no serious or critical WCAG 2.1 A/AA violations) before and after.

Runs on its own SQLite database; the enterprise account is made through the accounts service, the clock fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from onething import db
from onething.accounts.api import create_user
from tests.case_forms import PASSWORD, create_people, resident_id
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import PHONE
from tests.live import LiveServer, serve_catalog

pytestmark = pytest.mark.e2e

AGENT = resident_id("11010119900307003")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('agents') / 'agents.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    with serve_catalog(url) as live:
        assert live.engine is not None
        live.app.state.clock = lambda: datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
        create_people(live.engine, [])
        with db.session_scope(live.engine) as session:
            create_user(session, name="qian", role="applicant", id_number=AGENT, password=PASSWORD,
                        display_name="钱经办", now=datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
        yield live


def _axe(browser: Any, page: Any) -> list[dict[str, Any]]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True,
                                  storage_state=page.context.storage_state())
    try:
        audit = context.new_page()
        audit.goto(page.url)
        return axe_violations(audit)
    finally:
        context.close()


def test_enterprise_grants_an_agent_at_phone_width(browser: Any, server: LiveServer) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/login")
    page.get_by_label("用户名").fill("acme")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    page.goto(server.url + "/me/agents")
    assert page.get_by_role("heading", name="授权经办人").is_visible()
    assert _axe(browser, page) == []
    page.get_by_label("代办人姓名").fill("钱经办")
    page.get_by_label("代办人公民身份号码").fill(AGENT)
    page.get_by_label("授权截止日期").fill("2027-06-30")
    page.get_by_label("开办餐饮店").check()
    page.get_by_role("button", name="授权", exact=True).click()
    page.wait_for_url(server.url + "/me/agents")
    assert page.get_by_role("status").inner_text() == "已授权 钱经办 代为办理"
    card = page.locator(".use-card").filter(has_text="您授权 钱经办")
    assert card.is_visible() and "有效" in card.inner_text() and AGENT not in page.content()
    assert "开办餐饮店" in card.inner_text()
    # Fits 375 px: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert _axe(browser, page) == []
    # Revoking is one plain form too.
    card.get_by_role("button", name="撤销此授权").click()
    page.wait_for_url(server.url + "/me/agents")
    assert "已撤销" in page.locator(".use-card").filter(has_text="您授权 钱经办").inner_text()
    context.close()
    assert errors == []


def test_agent_sees_the_grant_and_the_family_form_at_phone_width(browser: Any, server: LiveServer) -> None:
    """The agent's own page: what they may do for whom, and the family claim form (consent or upload) — axe clean,
    nothing wider than 375 px, and a claim with neither consent nor document refused, naming the choice. (This
    context bypasses the CSP so that axe can be injected into the page the refused POST rendered.)"""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("用户名").fill("qian")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    page.goto(server.url + "/me/agents")
    assert page.get_by_role("heading", name="为家人办理").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(page) == []
    page.get_by_label("我是已故亲属的近亲属（办理身后事）").check()
    page.get_by_label("被代办人姓名").fill("张大山")
    page.get_by_label("被代办人公民身份号码").fill(resident_id("11010119560101001"))
    page.get_by_label("代办截止日期").fill("2027-03-01")
    page.get_by_role("button", name="提交").click()
    assert "请同意以共享数据核验关系，或上传关系证明材料" in page.get_by_role("alert").inner_text()
    assert page.url == server.url + "/me/agents/claim"  # the refusal rendered in place (422), form kept usable
    assert page.get_by_label("被代办人姓名").input_value() == "张大山"  # what was typed is kept
    assert axe_violations(page) == []
    context.close()
