"""个人身后 applied in steps in headless Chromium (CSP enforced): 情形 with the consent → 信息 (one topic a page,
the prefilled fields read-only) → 材料 (the exempt materials with their proof, one upload) → 核对 (修改 returns
to 核对; the delivery choice) → 提交 → the application and its 受理回执. Every step is axe-clean at 1280 and
375 px, does not overflow at 375 px, and is saved as ``var/screenshots/steps-*-375.png`` (not committed).
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
from tests.case_forms import PDF
from tests.e2e.conftest import PHONE
from tests.e2e.test_citizen_journey import _check
from tests.live import LiveServer, serve_catalog

pytestmark = pytest.mark.e2e

TYPED = {"applicant_phone": "13800138000", "bank_name": "示例银行", "bank_account": "6222020200112233"}


@pytest.fixture(scope="module")
def steps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('steps') / 'steps.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONETHING_DEMO", "1")  # the demo registries answer for the holders
        get_settings.cache_clear()
        try:
            with serve_catalog(url) as server:
                assert server.engine is not None
                create_demo_users(server.engine)
                load_exchange_demo(server.engine)
                yield server
        finally:
            get_settings.cache_clear()


def test_after_death_in_steps_to_the_receipt(browser: Any, steps_server: LiveServer) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(steps_server.url + "/login")
        page.get_by_label("用户名").fill("zhangsan")
        page.get_by_label("密码").fill(demo_password())
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(steps_server.url + "/me/applications")

        page.goto(steps_server.url + "/things/after-death?plan=1#plan")
        page.get_by_role("link", name="在线申请", exact=True).click()
        page.wait_for_url(re.compile(r"/things/after-death/steps\?"))
        assert page.locator('[aria-current="step"]').inner_text().endswith("情形")
        _check(browser, page, page.url, "steps-1-situation")
        page.get_by_role("button", name="同意并开始填写").click()

        number = 0
        while "/info/" in (page.wait_for_url(re.compile(r"/(info/\d+|materials)$")) or page.url):
            number += 1
            assert page.url.endswith(f"/info/{number}")
            if number == 1:
                assert page.locator('[data-locked="true"]').count() >= 1
            _check(browser, page, page.url, f"steps-2-info-{number}")
            for field, value in TYPED.items():
                box = page.locator(f"#field-{field}")
                if box.count() and box.get_attribute("readonly") is None:
                    box.fill(value)
            page.get_by_role("button", name="保存并继续").click()
        assert number >= 2
        base = page.url.removesuffix("/materials")

        assert page.locator('[data-material="death_certificate"][data-status="exempt"]').count() == 1
        _check(browser, page, page.url, "steps-3-materials")
        page.locator('input[name="material.deceased_id_card"]').set_input_files(
            {"name": "身份证.pdf", "mimeType": "application/pdf", "buffer": PDF})
        page.get_by_role("button", name="保存并继续").click()
        page.wait_for_url(base + "/check")
        assert "身份证.pdf" in page.locator("#check-materials").inner_text()
        _check(browser, page, page.url, "steps-4-check")

        # 修改 from 核对 returns to 核对 with the change.
        page.locator('[data-field="bank_name"]').get_by_role("link", name=re.compile("^修改")).click()
        page.wait_for_url(re.compile(r"/info/\d+\?return=check#field-bank_name$"))
        page.locator("#field-bank_name").fill("另一示例银行")
        page.get_by_role("button", name="保存并返回核对").click()
        page.wait_for_url(base + "/check")
        assert "另一示例银行" in page.locator('[data-field="bank_name"]').inner_text()

        page.get_by_role("button", name="确认并提交申请").click()
        page.wait_for_url(re.compile(r"/me/applications/[0-9a-f-]{36}$"))
        assert "申请已提交" in page.locator("main").inner_text()
        _check(browser, page, page.url, "steps-5-submitted")
        page.get_by_role("link", name="受理回执（可打印）").click()
        page.wait_for_url(re.compile(r"/receipt$"))
        _check(browser, page, page.url, "steps-6-receipt")
        assert errors == []
    finally:
        context.close()
