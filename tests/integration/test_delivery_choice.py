"""送达方式 over real HTTP on SQLite and PostgreSQL: chosen on the apply form (邮寄 needs an address, the
errors shown at their fields with the values kept), limited by the catalog's ``guide.delivery`` through the
API, recorded and shown on the application and receipt; the tracking number is entered by staff of a
department whose task is approved — not by another department, not by the applicant — and audited.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from onething import db
from onething.accounts.api import SYSTEM, issue_token
from onething.audit.tables import AuditEntry
from onething.cases import dispatch
from onething.cases.errors import Invalid
from onething.intake import coerce_answers
from onething.intake import plan as make_plan
from tests.case_forms import checked_radios, create_people, hidden_inputs
from tests.integration.test_case_pages import APPLY, Pages, _task_link, application_id, submit
from tests.live import LiveServer


@pytest.fixture
def pages(live_server: LiveServer) -> Iterator[Pages]:
    assert live_server.engine is not None
    create_people(live_server.engine, ["samr", "fire"])
    world = Pages(live_server, {})
    yield world
    for client in world.clients.values():
        client.close()


def _apply_with(pages: Pages, **delivery: str) -> httpx.Response:
    """Submit the restaurant form as a browser, with the 送达 radio and address changed to ``delivery``."""
    client = pages.as_("acme")
    page = client.get(APPLY)
    original = client.post
    body_extra = {f"delivery.{k}": v for k, v in delivery.items()}

    def post(url: str, *, data: dict[str, str], files: object) -> httpx.Response:
        return original(url, data={**data, **body_extra}, files=files)

    client.post = post  # type: ignore[method-assign]
    try:
        return submit(pages, form_page=page)
    finally:
        client.post = original  # type: ignore[method-assign]


def _bearer(pages: Pages, name: str) -> dict[str, str]:
    """A department system's (or app's) bearer token for ``name``, as the API expects from non-browsers."""
    assert pages.server.engine is not None
    with db.session_scope(pages.server.engine) as session:
        return {"Authorization": f"Bearer {issue_token(session, SYSTEM, user_name=name, now=datetime.now(UTC))}"}


def _approve(pages: Pages, procedure: str, who: str) -> str:
    staff = pages.as_(who)
    task = _task_link(staff.get("/workbench").text, procedure)
    for kind in ("accept", "approve"):
        shown = hidden_inputs(staff.get(task).text)
        body = {"csrf_token": shown["csrf_token"], "kind": kind, "version": shown["version"]}
        if kind == "approve":
            body |= {"document": "营业执照", "number": "京市监（2026）1号"}
            if procedure == "business-registration":  # it produces the company's USCC, entered on approval
                body["produced.enterprise_uscc"] = "91110105MA01ABCD00"
        response = staff.post(f"{task}/decision", data=body)
        assert response.status_code == 303, response.text
    return task


def test_apply_form_offers_the_methods_and_preselects_electronic(pages: Pages) -> None:
    page = pages.as_("acme").get(APPLY)
    assert checked_radios(page.text) == {"delivery.method": "electronic"}
    for method in ("electronic", "post", "window"):
        assert f'id="delivery-{method}" value="{method}"' in page.text


def test_post_needs_an_address_and_keeps_the_values(pages: Pages) -> None:
    refused = _apply_with(pages, method="post", address="  ")
    assert refused.status_code == 422
    assert 'id="field-delivery-address-error"' in refused.text and "收件地址" in refused.text
    assert 'href="#field-delivery-address"' in refused.text
    assert checked_radios(refused.text) == {"delivery.method": "post"}
    unknown = _apply_with(pages, method="drone")
    assert unknown.status_code == 422 and 'id="field-delivery-method-error"' in unknown.text

    app_id = application_id(_apply_with(pages, method="post", address="北京市东城区示例路1号 张三 13800138000"))
    acme = pages.as_("acme")
    shown = acme.get(f"/me/applications/{app_id}").text
    assert re.search(r'id="application-delivery">邮寄至 北京市东城区示例路1号', shown)
    receipt = acme.get(f"/me/applications/{app_id}/receipt").text
    assert 'id="receipt-delivery">邮寄至 北京市东城区示例路1号' in receipt


def test_the_api_limits_methods_to_what_the_procedures_allow(live_server: LiveServer) -> None:
    catalog = live_server.app.state.catalog
    # 个人身后's procedures that name their methods (the death certificate, the bank's small-deposit withdrawal
    # are collected in person) share only 窗口自取: results go out together, so only that is offered.
    thing = catalog.things["after-death"]
    answers = coerce_answers(thing, {})
    plan = make_plan(catalog, thing, answers)
    assert {"death-medical-certificate", "deceased-small-deposit-withdrawal"} <= set(plan.procedure_ids())
    assert dispatch.allowed_methods(catalog, plan) == ("window",)
    with pytest.raises(Invalid) as refused:
        dispatch.checked_delivery(catalog, plan, {"method": "electronic"})
    assert "delivery.method" in str(refused.value)
    assert dispatch.checked_delivery(catalog, plan, {"method": "window", "address": ""}) == {
        "method": "window", "dispatches": []}


def test_tracking_number_by_the_approving_department_only(pages: Pages) -> None:
    app_id = application_id(_apply_with(pages, method="post", address="北京市东城区示例路1号"))
    samr = pages.as_("samr-staff")
    task = _task_link(samr.get("/workbench").text, "business-registration")
    # Before its task is approved: refused with a reason, nothing recorded.
    token = hidden_inputs(samr.get(task).text)["csrf_token"]
    early = samr.post(f"{task}/dispatch", data={"csrf_token": token, "tracking_number": "EMS1234567890"})
    assert early.status_code == 303
    assert "尚未办结" in samr.get(task).text

    _approve(pages, "business-registration", "samr-staff")
    page = samr.get(task).text
    assert 'action="' + task + '/dispatch"' in page
    token = hidden_inputs(page)["csrf_token"]
    bad = samr.post(f"{task}/dispatch", data={"csrf_token": token, "tracking_number": "<x>"})
    assert bad.status_code == 303 and "快递单号为" in samr.get(task).text
    done = samr.post(f"{task}/dispatch", data={"csrf_token": token, "tracking_number": "EMS1234567890",
                                               "carrier": "中国邮政 EMS"})
    assert done.status_code == 303
    assert "EMS1234567890" in samr.get(task).text

    # Another department (no approved task of its own here) and the applicant cannot record one.
    api = httpx.Client(base_url=pages.server.url, timeout=30)
    fire_api = api.post(f"/api/v1/applications/{app_id}/delivery", json={"tracking_number": "SF0000000001"},
                        headers=_bearer(pages, "fire-staff"))
    assert fire_api.status_code == 409
    assert api.post(f"/api/v1/applications/{app_id}/delivery", json={"tracking_number": "SF0000000001"},
                    headers=_bearer(pages, "acme")).status_code == 404
    acme = pages.as_("acme")
    other_dept_app = acme.get(f"/me/applications/{app_id}").text
    assert "快递单号 EMS1234567890" in other_dept_app and "SF0000000001" not in other_dept_app

    # The department system's API: a second parcel, audited without the address.
    sent = api.post(f"/api/v1/applications/{app_id}/delivery", json={"tracking_number": "SF0000000002"},
                    headers=_bearer(pages, "samr-staff"))
    api.close()
    assert sent.status_code == 200, sent.text
    assert [d["tracking_number"] for d in sent.json()["delivery"]["dispatches"]] == ["EMS1234567890",
                                                                                   "SF0000000002"]
    assert pages.server.engine is not None
    with db.session_scope(pages.server.engine) as session:
        entries = list(session.execute(select(AuditEntry).where(AuditEntry.action == "application.dispatched"))
                       .scalars())
    assert [e.data["tracking_number"] for e in entries] == ["EMS1234567890", "SF0000000002"]
    assert all("北京市" not in str(e.data) for e in entries)
    assert uuid.UUID(app_id)


def test_electronic_has_no_tracking_number(pages: Pages) -> None:
    app_id = application_id(submit(pages))
    task = _approve(pages, "business-registration", "samr-staff")
    samr = pages.as_("samr-staff")
    assert "/dispatch" not in samr.get(task).text
    with httpx.Client(base_url=pages.server.url, timeout=30) as api:
        refused = api.post(f"/api/v1/applications/{app_id}/delivery", json={"tracking_number": "EMS1234567890"},
                           headers=_bearer(pages, "samr-staff"))
    assert refused.status_code == 409
