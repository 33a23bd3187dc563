"""The portal lets a person pick their region with a plain form (no JS): the choice is remembered in a cookie,
``?region=`` works too, and the thing page shows the region's definition."""

from __future__ import annotations

import httpx

from tests.live import LiveServer

PAGE = "/things/enterprise-deregistration"
# Qingdao's 行政审批局 as the department that handles a procedure (the national page may cite its plan as a source).
QINGDAO_DEPT = "<dd>青岛市行政审批服务局</dd>"


def test_region_picker_form_cookie_and_query(live_server: LiveServer, http: httpx.Client) -> None:
    national = http.get(PAGE)
    assert national.status_code == 200
    assert 'action="/region"' in national.text and "全国通用" in national.text and "青岛市" in national.text
    assert QINGDAO_DEPT not in national.text

    by_query = http.get(PAGE, params={"region": "qingdao"})
    assert by_query.status_code == 200 and QINGDAO_DEPT in by_query.text

    picked = http.get("/region", params={"region": "qingdao", "next": PAGE}, follow_redirects=False)
    assert picked.status_code == 303 and picked.headers["location"] == PAGE
    assert "onething_region=qingdao" in picked.headers["set-cookie"]
    http.cookies.set("onething_region", "qingdao")
    remembered = http.get(PAGE)
    assert QINGDAO_DEPT in remembered.text
    assert '<option value="qingdao" selected>' in remembered.text

    http.cookies.clear()
    offsite = http.get("/region", params={"region": "atlantis", "next": "//evil.example/"}, follow_redirects=False)
    assert offsite.status_code == 303 and offsite.headers["location"] == "/"
    assert 'onething_region=""' in offsite.headers["set-cookie"] or "Max-Age=0" in offsite.headers["set-cookie"]
