"""新生儿出生 end to end in headless Chromium: 李四 (demo user lisi, demo registries) applies through the steps
(consent → prefilled fields → materials → 核对 → 提交); each department's staff accepts and approves its task on
the workbench in the plan's order (every approval with a 文号; 出生医学证明 enters its number, the police station
the child's 公民身份号码 that 出生登记 produces) until the application is 已办结; 李四 downloads a certificate PDF
(a PDF carrying the certificate number) and opens its ``/verify/{id}`` page (有效); a staff revocation through
the API (there is no page action) makes the page say 已撤销. Every applicant page is axe-clean at 375 px (and
1280 px), does not overflow at 375 px, and is saved as ``var/screenshots/newborn-*-375.png`` (not committed).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path
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

CHILD_ID = "110101202611200021"  # fictional, checksum-valid
BIRTH_CERTIFICATE = "Q110000001"  # fictional 出生医学证明编号
VALUES = {  # what 李四 types where the registries have nothing
    "child_name": "李小宝", "child_birth_date": "2026-11-20", "child_birth_place": "北京市东城区示例医院",
    "applicant_phone": "13800138000", "mother_phone": "13800138000", "contact_phone": "13800138000",
    "bank_name": "示例银行", "bank_account": "6222020200112233", "mailing_address": "北京市东城区示例路1号",
    "household_head_name": "李四", "marriage_date": "2020-05-20",
}
STAFF = ["nhc-staff", "mps-staff", "nhsa-staff", "hrss-staff", "tax-staff"]


@pytest.fixture(scope="module")
def newborn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('newborn') / 'newborn.sqlite3'}"
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


def _signed_in(browser: Any, server: LiveServer, user: str) -> Any:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(demo_password())
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def _fill_editable(page: Any) -> None:
    """Type into the fields the registries did not fill (the prefilled ones are read-only)."""
    controls = "main input[id^='field-'], main select[id^='field-'], main textarea[id^='field-']"
    for control in page.locator(controls).all():
        if control.get_attribute("readonly") is not None or control.get_attribute("type") in {"hidden", "radio"}:
            continue
        field = (control.get_attribute("id") or "").removeprefix("field-")
        if control.evaluate("el => el.tagName") == "SELECT":
            if not control.input_value():
                control.select_option(index=1)
        elif not control.input_value():
            control.fill(VALUES.get(field, "示例"))
    for group in page.locator("main fieldset").all():
        radios = group.locator("input[type=radio]")
        if radios.count() and not any(r.is_checked() for r in radios.all()):
            radios.first.check()


def _pdf_carries(pdf: bytes, text: str) -> bool:
    """``text`` in the PDF: raw, UTF-16 (the document info, octal-escaped) or hex, in the file or a deflated
    stream."""
    def unescape(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        return bytes([int(code, 8)]) if re.fullmatch(rb"[0-7]+", code) else code

    unescaped = re.sub(rb"\\([0-7]{1,3}|.)", unescape, pdf)
    streams = re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S)
    chunks = [pdf, unescaped] + [zlib.decompressobj().decompress(m.group(1)) for m in streams
                                 if m.group(1)[:1] == b"x"]
    wide = text.encode("utf-16-be")
    needles = [text.encode(), wide, wide.hex().encode(), wide.hex().upper().encode()]
    return any(needle in chunk for chunk in chunks for needle in needles)


def _approve_ready_tasks(page: Any, base: str, staff: str, numbers: list[str]) -> int:
    """Accept and approve every task ready in this department's queue; the number approved."""
    done = 0
    while True:
        page.goto(base + "/workbench")
        ready = page.locator('tr[data-status="ready"]')
        if ready.count() == 0:
            return done
        ready.first.get_by_role("link").first.click()
        page.wait_for_url(re.compile(r"/workbench/tasks/"))
        if page.get_by_role("button", name="受理", exact=True).count():
            page.get_by_role("button", name="受理", exact=True).click()
            page.get_by_role("status").filter(has_text="已受理").wait_for()
        for produced in page.locator("input[id^='produced-']").all():
            field = (produced.get_attribute("id") or "").removeprefix("produced-")
            produced.fill({"child_id_number": CHILD_ID, "birth_certificate_number": BIRTH_CERTIFICATE}[field])
        numbers.append(f"京{staff.removesuffix('-staff')}〔2026〕第{len(numbers) + 1:03d}号")
        page.get_by_label("文号").fill(numbers[-1])
        page.locator("#approve-button").click()
        page.get_by_role("status").filter(has_text="已办结").wait_for()
        done += 1


def test_newborn_from_steps_to_certificate_and_revocation(browser: Any, newborn_server: LiveServer) -> None:
    base = newborn_server.url
    page = _signed_in(browser, newborn_server, "lisi")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    staff_pages: dict[str, Any] = {}
    try:
        page.goto(base + "/things/newborn?plan=1#plan")
        _check(browser, page, page.url, "newborn-0-plan")
        page.get_by_role("link", name="在线申请", exact=True).click()
        page.wait_for_url(re.compile(r"/things/newborn/steps\?"))
        _check(browser, page, page.url, "newborn-1-consent")
        page.get_by_role("button", name="同意并开始填写").click()

        number = 0
        while "/info/" in (page.wait_for_url(re.compile(r"/(info/\d+|materials)$")) or page.url):
            number += 1
            if number == 1:
                assert page.locator('[data-locked="true"]').count() >= 1  # prefilled from the registries
            _check(browser, page, page.url, f"newborn-2-info-{number}")
            _fill_editable(page)
            page.get_by_role("button", name="保存并继续").click()
            assert number < 20, "the info steps do not end"
        base_steps = page.url.removesuffix("/materials")
        assert page.locator('[data-status="exempt"]').count() >= 1  # proved by the shared data
        _check(browser, page, page.url, "newborn-3-materials")
        for upload in page.locator('input[type="file"][name^="material."]').all():
            upload.set_input_files({"name": "证明.pdf", "mimeType": "application/pdf", "buffer": PDF})
        page.get_by_role("button", name="保存并继续").click()
        page.wait_for_url(base_steps + "/check")
        _check(browser, page, page.url, "newborn-4-check")
        page.get_by_role("button", name="确认并提交申请").click()
        page.wait_for_url(re.compile(r"/me/applications/[0-9a-f-]{36}$"))
        application = page.url
        assert "申请已提交" in page.locator("main").inner_text()
        _check(browser, page, page.url, "newborn-5-submitted")

        # The departments decide in the plan's order, round after round, until nothing is ready.
        approved, numbers = 0, list[str]()
        for _ in range(6):
            progress = 0
            for staff in STAFF:
                if staff not in staff_pages:
                    staff_pages[staff] = _signed_in(browser, newborn_server, staff)
                progress += _approve_ready_tasks(staff_pages[staff], base, staff, numbers)
            approved += progress
            if progress == 0:
                break
        page.goto(application)
        tasks = page.locator("[data-task]")
        skipped = tasks.filter(has_text="无需办理").count()  # 出生医学证明 already issued: 已核验 from shared data
        assert approved + skipped == tasks.count() and approved >= 5, (approved, tasks.all_inner_texts())
        assert page.locator("#application-status").inner_text() == "已办结", tasks.all_inner_texts()
        assert CHILD_ID in page.locator("main").inner_text()
        _check(browser, page, page.url, "newborn-6-done")

        # A certificate: its PDF carries its number; its verify page says 有效.
        certificate = page.locator("[data-certificate]").first
        certificate_id = certificate.get_attribute("data-certificate")
        with page.expect_download() as download_info:
            certificate.get_by_role("link", name=re.compile("^下载")).click()
        pdf = Path(download_info.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF-")
        assert any(_pdf_carries(pdf, number) for number in numbers), numbers  # the 文号 is its number
        meta = page.request.get(f"{base}/api/v1/certificates/{certificate_id}/verify").json()
        assert meta["status"] == "valid", meta
        certificate.get_by_role("link", name="验真").click()
        page.wait_for_url(f"{base}/verify/{certificate_id}")
        verdict = page.locator("main").inner_text()
        assert "有效" in verdict and "已撤销" not in verdict, verdict
        _check(browser, page, page.url, "newborn-7-verify")

        # The issuing department revokes it (API: no page action exists); the page says 已撤销.
        revoked = None
        for staff_page in staff_pages.values():  # the issuing department's staff may; the others get a 403
            staff_page.goto(base + "/workbench")
            token = staff_page.locator('input[name="csrf_token"]').first.get_attribute("value")
            answer = staff_page.request.post(f"{base}/api/v1/certificates/{certificate_id}/revoke",
                                             data={"reason": "信息有误，依申请撤销（演示）"},
                                             headers={"X-CSRF-Token": token or ""})
            if answer.ok:
                revoked = answer
                break
            assert answer.status in {403, 404}, answer.text()
        assert revoked is not None
        page.reload()
        assert "已撤销" in page.locator("main").inner_text()
        _check(browser, page, page.url, "newborn-8-revoked")
        assert errors == []
    finally:
        for other in staff_pages.values():
            other.context.close()
        page.context.close()
