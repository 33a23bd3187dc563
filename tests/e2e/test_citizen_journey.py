"""The citizen journey in headless Chromium: 谁用了我的数据 as cards at 375 px (no horizontal overflow), the
revoke confirmation, the auditor's home, search and entry, the operator's home and an action on it, the
staff's workbench with its 数据共享工作台, and the 数据资源目录 — each axe-clean at 1280 and 375 px.
Screenshots at 375 px go to ``var/screenshots/`` (not committed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from onething import db
from onething.accounts.demo import create_demo_users, demo_password
from onething.config import REPO_DIR
from onething.exchange.demo import load_exchange_demo
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import PHONE
from tests.live import LiveServer, serve_catalog

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 900}
SHOTS = REPO_DIR / "var" / "screenshots"


@pytest.fixture(scope="module")
def journey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('journey') / 'journey.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    with serve_catalog(url) as server:
        assert server.engine is not None
        create_demo_users(server.engine)
        load_exchange_demo(server.engine)
        yield server


def _signed_in(browser: Any, server: LiveServer, name: str, home: str) -> Any:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(demo_password())
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(server.url + home)
    return page


def _check(browser: Any, page: Any, url: str, shot: str) -> None:
    """axe-clean at 1280 and 375 px, no horizontal overflow at 375 px, and a 375 px screenshot."""
    state = page.context.storage_state()
    for viewport in (DESKTOP, PHONE):
        context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True, storage_state=state)
        try:
            audit = context.new_page()
            audit.goto(url)
            if viewport is PHONE:
                wide = audit.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert wide <= 0, f"{url} overflows by {wide}px at 375 px"
                SHOTS.mkdir(parents=True, exist_ok=True)
                audit.screenshot(path=str(SHOTS / f"{shot}-375.png"), full_page=True)
            assert axe_violations(audit) == [], (url, viewport)
        finally:
            context.close()


def test_data_uses_and_revoke_confirmation_on_a_phone(browser: Any, journey_server: LiveServer) -> None:
    page = _signed_in(browser, journey_server, "zhangsan", "/me/applications")
    try:
        page.goto(journey_server.url + "/things/after-death/apply")
        page.locator("#consent").get_by_role("button", name="同意", exact=True).click()
        page.wait_for_url(re.compile(r"consent="))
        page.reload()  # a re-render: nothing more is fetched

        page.get_by_role("link", name="谁用了我的数据").first.click()
        page.wait_for_url(re.compile(r"/me/data-uses$"))
        assert page.locator("table").count() == 0 and page.locator(".use-card").count() >= 1
        group = page.locator(".use-group").first.inner_text()
        assert "个人身后“一件事”" in group and "未提交" in group
        assert not re.search(r"[0-9a-f]{32}", page.locator("main").inner_text())  # no hex references
        _check(browser, page, page.url, "data-uses")

        page.get_by_role("link", name="撤回此授权…").first.click()
        page.wait_for_url(re.compile(r"/me/consents/[^/]+/revoke$"))
        assert "尚未提交的这份申请将不再自动预填" in page.locator("main").inner_text()
        _check(browser, page, page.url, "revoke-confirm")
        page.get_by_role("link", name="不撤回，返回").click()
        page.wait_for_url(re.compile(r"/me/data-uses$"))
        assert page.get_by_role("link", name="撤回此授权…").count() >= 1
    finally:
        page.context.close()


def test_auditor_home_and_search(browser: Any, journey_server: LiveServer) -> None:
    page = _signed_in(browser, journey_server, "auditor", "/auditor")
    try:
        nav = page.get_by_role("navigation", name="主导航")
        assert nav.get_by_role("link", name="审计查询").count() == 1
        assert nav.get_by_role("link", name="开放接口").count() == 0
        _check(browser, page, page.url, "auditor-home")
        page.get_by_label(re.compile("操作（前缀")).fill("exchange.consent")
        page.get_by_role("button", name="查询").click()
        page.wait_for_url(re.compile(r"action=exchange.consent"))
        assert page.locator(".entry-card").count() >= 1
        _check(browser, page, page.url, "auditor-search")
        page.locator(".entry-card a").first.click()
        page.wait_for_url(re.compile(r"/auditor/entries/\d+$"))
        _check(browser, page, page.url, "auditor-entry")
    finally:
        page.context.close()


def test_operator_home(browser: Any, journey_server: LiveServer) -> None:
    page = _signed_in(browser, journey_server, "operator", "/operator")
    try:
        nav = page.get_by_role("navigation", name="主导航")
        assert nav.get_by_role("link", name="运营管理").count() == 1
        for other in ("工作台", "审计查询"):
            assert nav.get_by_role("link", name=other).count() == 0
        _check(browser, page, page.url, "operator-home")
        # An action through its form: 停用 an account, with the notice on the page that follows.
        page.locator('[data-user="lisi"]').get_by_role("button", name=re.compile("停用")).click()
        page.get_by_role("status").filter(has_text="已停用 lisi").wait_for()
        page.locator('[data-user="lisi"]').get_by_role("button", name=re.compile("启用")).click()
        page.get_by_role("status").filter(has_text="已启用 lisi").wait_for()
        _check(browser, page, page.url, "operator-after-action")
    finally:
        page.context.close()


def test_staff_home_and_data_sharing_workbench(browser: Any, journey_server: LiveServer) -> None:
    for name in ("nhc-staff", "nhc-admin"):
        page = _signed_in(browser, journey_server, name, "/workbench")
        try:
            nav = page.get_by_role("navigation", name="主导航")
            assert nav.get_by_role("link", name="工作台").count() == 1
            assert nav.get_by_role("link", name="运营管理").count() == 0
            assert page.get_by_label("办件编号").count() == 1
            _check(browser, page, page.url, f"{name}-workbench")
            page.get_by_role("link", name="数据共享工作台").click()
            page.wait_for_url(journey_server.url + "/workbench/exchange")
            _check(browser, page, page.url, f"{name}-exchange-workbench")
        finally:
            page.context.close()


def test_data_resource_directory(browser: Any, journey_server: LiveServer) -> None:
    page = _signed_in(browser, journey_server, "nhc-staff", "/workbench")
    try:
        page.goto(journey_server.url + "/exchange/resources")
        _check(browser, page, page.url, "data-resources")
    finally:
        page.context.close()


def test_sign_in_page(browser: Any, journey_server: LiveServer) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(journey_server.url + "/login")
        _check(browser, page, page.url, "sign-in")
    finally:
        context.close()
