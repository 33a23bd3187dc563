"""个人身后“一件事” with shared data, in headless Chromium at phone width.

张三 (the demo applicant, his late father's death registered in the demo registries) signs in and opens the apply
page: the consent panel lists the resources, holders, fields and purpose; he agrees, sees the fields filled from
data locked with their source and the materials proven by data as 免提交, types the rest and submits. On
谁用了我的数据 he sees each use (department, resource, fields, purpose, 已调用) and revokes the consent.

axe-core checks the consent panel and the data-use page (serious or critical WCAG 2.1 A/AA violations fail).
Runs on its own SQLite database with the demo users, registries and grants built through the services.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from onething import db
from onething.accounts.demo import create_demo_users, demo_password
from onething.config import get_settings
from onething.exchange.demo import load_exchange_demo
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import PHONE
from tests.live import LiveServer, serve_catalog

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo (ONETHING_DEMO=1): the demo registries answer for the holders."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sharing') / 'sharing.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONETHING_DEMO", "1")
        get_settings.cache_clear()
        try:
            with serve_catalog(url) as server:
                assert server.engine is not None
                create_demo_users(server.engine)
                load_exchange_demo(server.engine)
                yield server
        finally:
            get_settings.cache_clear()


@pytest.fixture
def zhangsan(browser: Any, demo_server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(demo_server.url + "/login")
    page.get_by_label("用户名").fill("zhangsan")
    page.get_by_label("密码").fill(demo_password())
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(demo_server.url + "/me/applications")  # an applicant lands on 我的办件
    yield page
    context.close()
    assert errors == []


def _axe(browser: Any, page: Any, url: str) -> list[dict[str, Any]]:
    """axe-core on ``url`` in a context with the same session that bypasses the CSP (axe is injected inline)."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True,
                                  storage_state=page.context.storage_state())
    try:
        audit = context.new_page()
        audit.goto(url)
        return axe_violations(audit)
    finally:
        context.close()


def test_after_death_with_shared_data(browser: Any, demo_server: LiveServer, zhangsan: Any) -> None:
    page = zhangsan
    page.goto(demo_server.url + "/things/after-death/apply")

    # The consent panel first: exactly what would be fetched, from whom, for what.
    panel = page.locator("#consent")
    panel.get_by_role("heading", name=re.compile("授权调用您的数据")).wait_for()
    assert "办理个人身后“一件事”" in panel.locator("#consent-purpose").inner_text()
    death_row = panel.locator('li[data-resource="medical_death_certificate"]')
    assert "卫生健康委员会" in death_row.inner_text() and "死亡日期" in death_row.inner_text()
    assert "公安局" in panel.locator('li[data-resource="kinship_relation"]').inner_text()
    assert page.locator("#apply-form").count() == 0
    assert _axe(browser, page, page.url) == []

    panel.get_by_role("button", name="同意", exact=True).click()
    page.wait_for_url(re.compile(r"consent="))

    # Prefilled from data, locked, with the source named; materials proven by data need not be submitted.
    deceased = page.locator("#field-deceased_name")
    assert deceased.input_value() == "张建国" and not deceased.is_editable()
    assert page.locator('[data-locked="true"]').count() >= 8
    source = page.locator('[data-field="death_date"] .prefill-source').inner_text()
    assert "卫生健康委员会" in source and "报告错误" in source
    exempt = page.locator('li[data-status="exempt"]')
    assert exempt.count() == 5
    assert "免提交" in page.locator('li[data-material="death_certificate"]').inner_text()

    page.get_by_label(re.compile("申请人手机号码")).fill("13800138000")
    page.get_by_label(re.compile("开户银行")).fill("示例银行")
    page.get_by_label(re.compile("银行账号")).fill("6222020200112233")
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url(re.compile(r"/me/applications/[0-9a-f-]+(#top)?$"))
    death_proof = page.locator('li[data-material="death_certificate"]').inner_text()
    assert "免提交依据" in death_proof and "已记录" in death_proof and "审计记录 #" not in death_proof

    # 谁用了我的数据: the uses, then revoke.
    page.get_by_role("link", name="谁用了我的数据").first.click()
    page.wait_for_url(re.compile(r"/me/data-uses"))
    uses = page.locator("#uses-heading ~ .use-group").first.inner_text()
    for text in ("民政局", "居民死亡医学证明（推断）信息", "死亡日期", "遗体火化及火化证明出具", "已调用"):
        assert text in uses, text
    assert _axe(browser, page, page.url) == []

    revocable = page.get_by_role("link", name="撤回此授权…")
    before = revocable.count()
    assert before >= 1
    revocable.first.click()
    page.wait_for_url(re.compile(r"/me/consents/[^/]+/revoke$"))
    page.get_by_role("button", name="确认撤回授权").click()
    page.wait_for_url(re.compile(r"/me/data-uses$"))
    assert "授权已撤回" in page.locator(".notice").inner_text()
    assert page.get_by_role("link", name="撤回此授权…").count() == before - 1
