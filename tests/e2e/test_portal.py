"""The applicant's path in headless Chromium at phone width: home → 开办餐饮店 → answers → plan.

Once with JavaScript (HTMX updates the plan as answers change) and once without (the form submits to the
same page). axe-core checks home, guide with plan, and lists for serious WCAG 2.1 A/AA violations.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.a11y import axe_violations
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


FIRE_ROUTE = "消防安全检查选择哪种办理方式？"


def answer_restaurant_questions(page: Any, *, fire_route: str) -> None:
    """``fire_route`` is the start of the chosen label: "一般程序" or "告知承诺"."""
    page.get_by_role("group", name="是否已取得营业执照？").get_by_label("否").check()
    page.get_by_role("group", name=FIRE_ROUTE).get_by_label(fire_route).check()
    page.get_by_role("group", name="是否同时零售卷烟、雪茄烟？").get_by_label("是").check()


def test_find_restaurant_answer_and_see_plan(page: Any, e2e_server: LiveServer) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(e2e_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling on a phone

    page.get_by_role("link", name="开办餐饮店").first.click()
    page.wait_for_url(re.compile(r"/things/open-restaurant$"))
    assert page.get_by_role("heading", level=1).inner_text() == "开办餐饮店"
    plan = page.locator("#plan")
    assert plan.locator("[data-procedure]").count() == 0

    answer_restaurant_questions(page, fire_route="一般程序")  # each change event → HTMX asks for the plan panel
    # Requests are serialised (hx-sync queue last), so the panel ends with the plan for every answer given;
    # a stale response never overwrites a newer one.
    plan.locator('[data-procedure="tobacco-retail-licence"]').wait_for()
    plan.locator('[data-procedure="fire-safety-check"]').wait_for()
    assert plan.locator('[data-procedure="business-registration"]').count() == 1
    assert "四减" in plan.inner_text()
    assert re.search(r"\d+%", plan.inner_text())
    assert "fire_route=inspection" in page.url  # the address follows the answers: a reload keeps them

    # The applicant chooses notify-and-commit instead: the plan follows, without a page load.
    page.get_by_role("group", name=FIRE_ROUTE).get_by_label("告知承诺").check()
    page.get_by_role("button", name="生成办理方案").click()
    plan.locator('[data-procedure="fire-safety-check-commitment"]').wait_for()
    assert plan.locator('[data-procedure="fire-safety-check"]').count() == 0
    assert page.get_by_role("heading", level=1).count() == 1

    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert errors == []  # htmx runs under the Content-Security-Policy without complaint

    page.get_by_role("link", name="重点事项清单").click()
    page.wait_for_url(re.compile(r"/lists$"))
    assert "官方公布" in page.locator("main").inner_text()


def test_accessibility(audit_page: Any, e2e_server: LiveServer) -> None:
    """No serious or critical WCAG 2.1 A/AA violations on home, the guide with its plan, and the lists."""
    page = audit_page
    page.goto(e2e_server.url + "/")
    assert axe_violations(page) == []

    page.goto(e2e_server.url + "/things/open-restaurant")
    assert axe_violations(page) == []
    answer_restaurant_questions(page, fire_route="一般程序")
    page.get_by_role("button", name="生成办理方案").click()
    page.locator('#plan [data-procedure="fire-safety-check"]').wait_for()
    assert axe_violations(page) == []

    page.goto(e2e_server.url + "/things/open-restaurant?plan=1&fire_route=abc")  # the error summary, too
    assert axe_violations(page) == []

    page.goto(e2e_server.url + "/lists")
    assert axe_violations(page) == []


def test_without_javascript_the_form_submits(page_without_js: Any, e2e_server: LiveServer) -> None:
    page = page_without_js
    page.goto(e2e_server.url + "/")
    page.get_by_label("搜索一件事").fill("餐饮店")
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url(re.compile(r"/search\?q="))
    page.get_by_role("link", name="开办餐饮店").first.click()
    page.wait_for_url(re.compile(r"/things/open-restaurant$"))

    answer_restaurant_questions(page, fire_route="一般程序")
    page.get_by_role("button", name="生成办理方案").click()
    page.wait_for_url(re.compile(r"/things/open-restaurant\?.*plan=1"))
    plan = page.locator("#plan")
    assert plan.locator('[data-procedure="fire-safety-check"]').count() == 1
    assert plan.locator('[data-procedure="tobacco-retail-licence"]').count() == 1
    assert "需提交" in plan.inner_text()
    # The answers survive the round trip.
    assert page.get_by_role("group", name=FIRE_ROUTE).get_by_label("一般程序").is_checked()
    assert page.get_by_role("group", name="是否已取得营业执照？").get_by_label("否").is_checked()
