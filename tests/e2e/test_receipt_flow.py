"""Apply to 受理回执 in headless Chromium at 375 px: the apply form with the 送达 choice (邮寄 and an address),
the application page with its 办件编号, the printable receipt and its PDF, 我的办件, and 撤回 with its
confirmation page — axe-core finds no serious or critical WCAG 2.1 AA violation on any of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from onething import db
from onething.accounts.api import create_user
from tests.case_forms import ANSWERS, PASSWORD, THING, restaurant_plan, typed_values
from tests.e2e.test_case_flow import PDF_FILE, fill_merged_form, sign_in  # noqa: F401  (the fixture)
from tests.live import LiveServer, serve_catalog

pytestmark = pytest.mark.e2e

APPLICANT = "receipt-applicant"
USCC = "91110105MA01RCPT07"   # fictional, checksum-valid


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server and applicant of this module's own: the withdrawn application's cancelled tasks must not
    appear in the department queues the other e2e modules walk on the shared server."""
    url = f"sqlite:///{tmp_path_factory.mktemp('receipt') / 'receipt.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.session_scope(engine) as session:
        create_user(session, name=APPLICANT, role="applicant", uscc=USCC, password=PASSWORD,
                    display_name="回执示例餐饮有限公司", now=datetime.now(UTC))
    engine.dispose()
    with serve_catalog(url) as server:
        yield server


def test_apply_to_receipt_and_withdraw_at_phone_width(sign_in: Any, people: LiveServer) -> None:  # noqa: F811
    applicant = sign_in(APPLICANT)
    page = applicant.goto(f"/things/{THING}/apply?{urlencode({**ANSWERS, 'plan': '1'})}")
    fill_merged_form(page, typed_values(restaurant_plan(people.app.state.catalog)))
    page.locator('input[name="material.registration_application"]').set_input_files(PDF_FILE)
    assert page.get_by_role("radio", name="电子送达").is_checked()
    page.get_by_role("radio", name="邮寄").check()
    page.get_by_role("button", name="提交申请").click()
    # 邮寄 without an address: the error at its field, the choice kept.
    page.locator("#field-delivery-address-error").wait_for()
    assert page.get_by_role("radio", name="邮寄").is_checked()
    assert applicant.axe() == []
    fill_merged_form(page, typed_values(restaurant_plan(people.app.state.catalog)))
    page.locator('input[name="material.registration_application"]').set_input_files(PDF_FILE)
    page.get_by_role("textbox", name=re.compile("^收件地址")).fill("北京市东城区示例路1号 张三 13800138000")
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url(re.compile(r"/me/applications/[0-9a-f-]{36}(#top)?$"))
    application_path = "/" + page.url.split("/", 3)[3].split("#")[0]
    number = page.locator("#application-number").inner_text()
    assert re.fullmatch(r"[0-9]{19}", number)
    assert page.locator("#application-delivery").inner_text().startswith("邮寄至 北京市东城区示例路1号")
    assert applicant.fits_phone() and applicant.axe() == []

    page.get_by_role("link", name="受理回执（可打印）").click()
    page.wait_for_url(re.compile(r"/receipt$"))
    assert page.locator("#receipt-number").inner_text() == number
    assert page.locator("[data-receipt-task]").count() == 3
    assert applicant.fits_phone() and applicant.axe() == []
    page.emulate_media(media="print")
    assert not page.locator(".site-header").is_visible() and page.locator("#receipt-number").is_visible()
    page.emulate_media(media="screen")
    pdf = page.request.get(applicant.server.url + application_path + "/receipt.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and number.encode() in pdf.body()

    listing = applicant.goto("/me/applications")
    assert number in listing.locator("tbody").inner_text()
    assert applicant.axe() == []

    page = applicant.goto(application_path)
    page.get_by_role("link", name="撤回申请").click()
    page.wait_for_url(re.compile(r"/withdraw$"))
    assert "立即终止" in page.locator("#withdraw-consequences").inner_text()
    assert applicant.fits_phone() and applicant.axe() == []
    page.get_by_role("button", name="确认撤回").click()
    page.wait_for_url(re.compile(re.escape(application_path) + r"(#top)?$"))
    assert page.locator("#application-status").inner_text() == "已撤回"
    assert "申请已撤回" in page.get_by_role("status").inner_text()
    # The one console message is the browser noting the deliberate 422 above.
    assert [e for e in applicant.errors if "status of 422" not in e] == []
