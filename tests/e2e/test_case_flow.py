"""One 开办餐饮店 case in headless Chromium at phone width, from the guide to the rating.

The applicant signs in, answers the guide's questions, applies (the merged form, a small PDF), and submits.
Staff of each department involved sign in in their own browser contexts and decide on the workbench in the
plan's order: 市场监管 registers the business; then 市场监管 (food permit, with one supplement round trip)
and 消防 (fire-safety commitment) in parallel. The applicant sees 已办结 with every result together and rates.

axe-core checks the apply form, the application page, the workbench queue and a task page (in contexts that
carry the same session but bypass the CSP, which forbids axe's injected script). A second test submits the
form with JavaScript turned off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.case_forms import (
    ANSWERS,
    PASSWORD,
    PDF,
    THING,
    USCC_ACME,
    create_people,
    restaurant_plan,
    typed_values,
)
from tests.e2e.a11y import axe_violations
from tests.e2e.conftest import PHONE
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 900}
PDF_FILE = {"name": "申请书.pdf", "mimeType": "application/pdf", "buffer": PDF}


@pytest.fixture(scope="module")
def people(e2e_server: LiveServer) -> LiveServer:
    assert e2e_server.engine is not None
    create_people(e2e_server.engine, ["samr", "fire"])
    return e2e_server


class Person:
    """One signed-in person in a browser context of their own (CSP enforced), failing on page errors."""

    def __init__(self, browser: Any, server: LiveServer, name: str) -> None:
        self.browser, self.server, self.name = browser, server, name
        self.context = browser.new_context(viewport=PHONE, locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.goto(server.url + "/login")
        self.page.get_by_label("用户名").fill(name)
        self.page.get_by_label("密码").fill(PASSWORD)
        self.page.get_by_role("button", name="登录").click()
        self.page.wait_for_url(re.compile(re.escape(server.url) + r"/(me/applications|workbench)$"))  # the role's home

    def goto(self, path: str) -> Any:
        self.page.goto(self.server.url + path)
        return self.page

    def axe(self, path: str | None = None, viewport: dict[str, int] = PHONE) -> list[dict[str, Any]]:
        """axe-core on ``path`` (default: the current page) in a CSP-bypassing context with this session."""
        context = self.browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True,
                                           storage_state=self.context.storage_state())
        try:
            page = context.new_page()
            page.goto((path and self.server.url + path) or self.page.url)
            return axe_violations(page)
        finally:
            context.close()

    def fits_phone(self) -> bool:
        return bool(self.page.evaluate("document.documentElement.scrollWidth <= 375"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def sign_in(browser: Any, people: LiveServer) -> Iterator[Any]:
    opened: list[Person] = []

    def open_as(name: str) -> Person:
        person = Person(browser, people, name)
        opened.append(person)
        return person

    yield open_as
    for person in opened:
        person.close()


def fill_merged_form(page: Any, values: dict[str, str]) -> None:
    for field_id, value in values.items():
        control = page.locator(f"#field-{field_id}")
        if control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)


def open_task(person: Person, procedure: str) -> Any:
    page = person.goto("/workbench")
    page.locator(f'tr[data-procedure="{procedure}"]').first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/workbench/tasks/"))
    return page


def decide(page: Any, button: str, notice: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()
    page.get_by_role("status").filter(has_text=notice).wait_for()


def approve(page: Any, number: str) -> None:
    """办结: the 文号 is required (the service refuses an approval without it), then the approve button."""
    page.get_by_label("文号").fill(number)
    page.locator("#approve-button").click()
    page.get_by_role("status").filter(has_text="已办结").wait_for()


def test_apply_decide_supplement_results_and_rating(sign_in: Any, people: LiveServer) -> None:
    catalog = people.app.state.catalog
    applicant = sign_in("acme")

    # Guide → plan → 在线申请 on one page (the stepped flow is walked in test_apply_steps_flow).
    page = applicant.goto(f"/things/{THING}")
    page.get_by_role("group", name="消防安全检查选择哪种办理方式？").get_by_label("告知承诺").check()
    page.get_by_role("group", name="是否设置户外招牌？").get_by_label("否").check()
    page.get_by_role("button", name="生成办理方案").click()
    page.locator('#plan [data-procedure="fire-safety-check-commitment"]').wait_for()
    page.get_by_role("link", name="一页填写全部内容").click()
    page.wait_for_url(re.compile(rf"/things/{THING}/apply\?"))
    assert "has_signboard=false" in page.url
    assert page.get_by_role("heading", level=1).inner_text() == "在线申请：开办餐饮店"
    assert applicant.axe() == []
    assert applicant.fits_phone()

    # The merged form: typed inputs with labels; a resident ID with a correct check character; one PDF.
    plan = restaurant_plan(catalog)
    values = typed_values(plan)
    assert page.get_by_label("法定代表人（负责人）公民身份号码").get_attribute("maxlength") == "18"
    assert page.locator("#field-legal_rep_phone").get_attribute("type") == "tel"
    fill_merged_form(page, values)
    page.locator('input[name="material.registration_application"]').set_input_files(PDF_FILE)
    page.get_by_role("button", name="提交申请").click()
    page.wait_for_url(re.compile(r"/me/applications/[0-9a-f-]{36}(#top)?$"))
    application_url = page.url.split("?")[0]
    assert "申请已提交" in page.get_by_role("status").inner_text()
    assert page.locator("#application-status").inner_text() == "已提交"
    assert page.locator("[data-task]").count() == 3
    assert "申请书.pdf" in page.locator("main").inner_text()

    # 市场监管 registers the business first (stage 1): accept, then approve with the document number.
    samr = sign_in("samr-staff")
    queue = samr.goto("/workbench")
    assert queue.locator('tr[data-procedure="business-registration"]').get_attribute("data-status") == "ready"
    assert queue.locator('tr[data-procedure="food-business-permit"]').get_attribute("data-status") == "waiting"
    assert samr.axe() == []
    task = open_task(samr, "business-registration")
    assert "SHA-256" in task.locator("main").inner_text()  # the uploaded file, with its hash
    assert samr.axe() == [] and samr.axe(viewport=DESKTOP) == []
    assert samr.fits_phone()
    decide(task, "受理", "已受理")
    # After acceptance: 不予许可 (not 不予受理), and the certificate previewed with the typed 文号 before issuing.
    assert task.get_by_role("button", name="不予许可").count() == 1
    assert task.get_by_role("button", name="不予受理").count() == 0
    task.get_by_label("文号").fill("京市监登字〔2026〕第001号")
    task.get_by_role("button", name="按以上填写更新预览").click()
    task.locator("#preview-number").filter(has_text="京市监登字〔2026〕第001号").wait_for()
    assert task.locator("#task-status").inner_text() == "办理中"
    task_path = task.url.removeprefix(people.url).removesuffix("/preview")  # the page with its preview, by GET
    assert samr.axe(task_path) == [] and samr.axe(task_path, viewport=DESKTOP) == []
    assert samr.fits_phone()
    # Registration produces the company's USCC: the department enters it (the applicant was never asked).
    task.get_by_label("统一社会信用代码").fill(USCC_ACME)
    approve(task, "京市监登字〔2026〕第001号")
    assert task.locator("#task-status").inner_text() == "已办结"

    # Stage 2 in parallel. 市场监管 asks for a supplement (补正) on the food permit.
    task = open_task(samr, "food-business-permit")
    decide(task, "受理", "已受理")
    task.get_by_label("补正理由").fill("食品经营项目填写不规范，请按目录名称填写，并补交食品安全规章制度。")
    task.get_by_label("食品经营项目").check()
    task.get_by_label("食品安全自查、从业人员健康管理、进货查验记录等保证食品安全的规章制度").check()
    decide(task, "发出补正告知", "补正告知")
    assert task.locator("#task-status").inner_text() == "待补正"

    fire = sign_in("fire-staff")
    task = open_task(fire, "fire-safety-check-commitment")
    decide(task, "受理", "已受理")
    approve(task, "京消承诺〔2026〕第001号")

    # The applicant answers the supplement: only the asked field and material.
    page = applicant.goto(application_url.removeprefix(people.url))
    assert page.locator("#application-status").inner_text() == "待补正"
    supplement = page.get_by_role("region", name="需要您补正")
    assert "食品经营项目填写不规范" in supplement.inner_text()
    assert applicant.axe() == []
    supplement.get_by_label("食品经营项目").fill("热食类食品制售")
    supplement.locator('input[type="file"]').set_input_files({**PDF_FILE, "name": "规章制度.pdf"})
    supplement.get_by_role("button", name="提交补正").click()
    page.get_by_role("status").filter(has_text="补正材料已提交").wait_for()
    assert page.locator("#application-status").inner_text() == "办理中"

    # 市场监管 approves the food permit: the last task, so the application completes.
    task = open_task(samr, "food-business-permit")
    assert "热食类食品制售" in task.locator("main").inner_text()
    approve(task, "京食经〔2026〕第001号")

    # Results together (统一出件), then the rating (好差评), once.
    page = applicant.goto(application_url.removeprefix(people.url))
    assert page.locator("#application-status").inner_text() == "已办结"
    results = page.locator("[data-result]")
    assert results.count() == 3
    assert "京市监登字〔2026〕第001号" in page.get_by_role("region", name="办理结果（统一出件）").inner_text()
    assert applicant.axe() == []
    assert applicant.fits_phone()
    rating = page.get_by_role("region", name="评价本次办理（好差评）")
    rating.get_by_role("group", name=re.compile("总体评价")).get_by_label("非常满意").check()
    rating.get_by_role("group", name=re.compile("食品经营许可")).get_by_label("满意", exact=True).check()
    rating.get_by_label(re.compile("意见建议")).fill("一次提交，三个部门并联办理，省心。")
    rating.get_by_role("button", name="提交评价").click()
    page.get_by_role("status").filter(has_text="感谢您的评价").wait_for()
    assert "非常满意" in page.locator("#rating-given").inner_text()
    assert page.get_by_role("button", name="提交评价").count() == 0

    page = applicant.goto("/me/applications")
    assert page.locator("[data-application]").first.get_by_text("已办结").count() == 1
    for person in (applicant, samr, fire):
        assert person.errors == [], person.name


def test_apply_without_javascript(browser: Any, people: LiveServer) -> None:
    """The plain form works with JavaScript off: an error summary first, then the submission."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(people.url + f"/things/{THING}/apply?{urlencode(ANSWERS)}")
        page.wait_for_url(re.compile(r"/login\?next="))
        page.get_by_label("用户名").fill("other")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(re.compile(rf"/things/{THING}/apply\?"))

        values = typed_values(restaurant_plan(people.app.state.catalog))
        fill_merged_form(page, {**values, "enterprise_name": "", "contact_phone": "123"})
        page.get_by_role("button", name="提交申请").click()
        summary = page.locator(".error-summary")
        assert "请修改以下 2 处" in summary.inner_text()
        assert page.locator("#field-contact_phone").get_attribute("aria-describedby") == "field-contact_phone-error"
        assert page.locator("#field-legal_rep_name").input_value() == values["legal_rep_name"]  # kept

        fill_merged_form(page, {"enterprise_name": "示例面馆有限公司", "contact_phone": "13900139000"})
        page.get_by_role("button", name="提交申请").click()
        page.wait_for_url(re.compile(r"/me/applications/[0-9a-f-]{36}(#top)?$"))
        assert page.locator("#application-status").inner_text() == "已提交"
    finally:
        context.close()
