"""Apply in steps with shared data (个人身后, the demo registries), over real HTTP on both databases: the consent
is given at 情形; the 信息 pages show the prefilled fields read-only with their source; 材料 shows the exempt
materials with their proof; 核对 lists the locked values; the submission re-fetches under the draft's consent
and records each proof; a value posted for a locked field is not taken.
"""

from __future__ import annotations

import html
import re

import httpx
import pytest

from onething.intake import coerce_answers
from onething.intake import plan as make_plan
from onething.web.pages.apply_steps import field_groups
from tests.case_forms import PDF, checked_radios, hidden_inputs
from tests.live import LiveServer

from .test_data_sharing import EXEMPT, TYPED, _bearer, demo, zhangsan  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("demo_mode")

THING = "after-death"
_INPUT = re.compile(r'name="field\.(?P<name>[^"]+)" type="[^"]+" value="(?P<value>[^"]*)"')


def test_consent_locked_fields_exempt_materials_through_the_steps(demo: LiveServer,  # noqa: F811
                                                                 zhangsan: httpx.Client) -> None:  # noqa: F811
    situation = zhangsan.get(f"/things/{THING}/steps")
    assert situation.status_code == 200
    for text in ("授权调用您的数据", "居民死亡医学证明（推断）信息", "同意并开始填写", "修改情形"):
        assert text in situation.text, text
    started = zhangsan.post(f"/things/{THING}/steps", data={**hidden_inputs(situation.text), "decision": "agree"})
    assert started.status_code == 303, started.text
    base = started.headers["location"].removesuffix("/info/1")

    catalog = demo.app.state.catalog
    thing = catalog.thing(THING)
    count = len(field_groups(make_plan(catalog, thing, coerce_answers(thing, {}))))
    locked = 0
    for number in range(1, count + 1):
        page = zhangsan.get(f"{base}/info/{number}")
        assert page.status_code == 200, page.text
        locked += page.text.count('data-locked="true"')
        body = {"csrf_token": hidden_inputs(page.text)["csrf_token"]}
        body |= {f"field.{m['name']}": html.unescape(m["value"]) for m in _INPUT.finditer(page.text)}
        body |= {f"field.{k}": v for k, v in TYPED.items() if f'name="field.{k}"' in page.text}
        if 'name="field.deceased_name"' in page.text:
            body["field.deceased_name"] = "冒名"  # a locked field: the posted value is not taken
        saved = zhangsan.post(f"{base}/info/{number}", data=body)
        assert saved.status_code == 303, saved.text
    assert locked >= 8

    materials = zhangsan.get(f"{base}/materials").text
    for material in EXEMPT:
        assert f'data-material="{material}" data-status="exempt"' in materials
    assert "已由卫生健康委员会" in materials
    uploaded = zhangsan.post(f"{base}/materials", data={"csrf_token": hidden_inputs(materials)["csrf_token"]},
                             files={"material.deceased_id_card": ("身份证.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 303, uploaded.text

    check = zhangsan.get(f"{base}/check").text
    assert "已预填·锁定" in check and "冒名" not in check and "身份证.pdf" in check
    submitted = zhangsan.post(f"{base}/submit", data={"csrf_token": hidden_inputs(check)["csrf_token"],
                                                      **checked_radios(check)})
    assert submitted.status_code == 303, submitted.text
    app_id = submitted.headers["location"].rsplit("/", 1)[-1]
    application = zhangsan.get(f"/api/v1/applications/{app_id}", headers=_bearer(demo, "zhangsan")).json()
    assert set(application["shared_data"]["exempt_materials"]) == EXEMPT
    assert application["form"]["deceased_name"] == "张建国"
    assert application["shared_data"]["prefilled_fields"]["death_date"]["locked"] is True
    assert [f["material"] for f in application["files"]] == ["deceased_id_card"]
