"""The full 办事指南 on a thing's guide page, at phone width: each procedure's guide opens, reads in the order
citizens expect, says in words what is still unconfirmed, and passes axe (WCAG 2.1 A/AA) opened and closed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.a11y import axe_violations
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

ORDER = ["受理条件", "法律依据", "收费标准", "办理地点", "咨询电话", "监督投诉电话", "办理结果", "送达方式",
         "法定时限", "承诺时限"]


def test_full_guide_per_procedure(audit_page: Any, e2e_server: LiveServer) -> None:
    page = audit_page
    page.goto(e2e_server.url + "/things/open-restaurant")
    assert page.locator(".notice").count() == 0  # no page-wide 待核实 banner
    assert "未规定" not in page.locator("main").inner_text()
    assert axe_violations(page) == []

    fire = page.locator("#proc-fire-safety-check")
    assert "尚未收录：" in fire.locator(".unconfirmed").inner_text()  # what is missing, said per procedure
    fire.get_by_text("办事指南：公众聚集场所投入使用、营业前消防安全检查（一般程序）").click()
    guide = fire.locator("dl.guide")
    guide.wait_for()
    terms = guide.locator("dt").all_inner_texts()
    assert terms[:len(ORDER)] == ORDER
    text = guide.inner_text()
    assert "第十五条" in text and "13 个工作日" in text and "检查意见书" in text
    materials = fire.locator(".guide-materials")
    assert "场所平面布置图" in materials.inner_text() and "场所消防设施平面图" in materials.inner_text()
    assert materials.locator("dt").all_inner_texts()[:5] == ["原件/复印件", "份数", "纸质/电子", "来源渠道", "必要性"]
    assert fire.get_by_role("link", name="曲阳县", exact=False).first.get_attribute("href", timeout=1000)

    page.locator("details.guide-details").evaluate_all("els => els.forEach(e => e.open = true)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling on a phone
    assert axe_violations(page) == []
