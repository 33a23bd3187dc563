"""The case pages without a browser: httpx against the live server, signed in through the login form, with
the session cookie and each page's CSRF token — on SQLite and PostgreSQL.

Applying through the page (one case for a double submission, errors next to their fields), an applicant
cannot open another's application, staff cannot open another department's task, and a decision made on a
stale page is refused with "该事项已被他人处理".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select

from onething import db
from onething.cases.tables import ApplicationRow
from tests.case_forms import (
    ANSWERS,
    PDF,
    THING,
    checked_radios,
    create_people,
    form_body,
    hidden_inputs,
    restaurant_plan,
    sign_in,
    typed_values,
)
from tests.live import LiveServer

APPLY = f"/things/{THING}/apply?{urlencode(ANSWERS)}"


@dataclass
class Pages:
    server: LiveServer
    clients: dict[str, httpx.Client]

    def as_(self, who: str) -> httpx.Client:
        if who not in self.clients:
            client = httpx.Client(base_url=self.server.url, timeout=30, headers={"Accept": "text/html"})
            sign_in(client, who)
            self.clients[who] = client
        return self.clients[who]


@pytest.fixture
def pages(live_server: LiveServer) -> Iterator[Pages]:
    assert live_server.engine is not None
    create_people(live_server.engine, ["samr", "fire"])
    world = Pages(live_server, {})
    yield world
    for client in world.clients.values():
        client.close()


def submit(pages: Pages, who: str = "acme", *, values: dict[str, str] | None = None,
           form_page: httpx.Response | None = None,
           upload: tuple[str, bytes, str] = ("申请书.pdf", PDF, "application/pdf")) -> httpx.Response:
    client = pages.as_(who)
    page = form_page or client.get(APPLY)
    assert page.status_code == 200, page.text
    hidden = hidden_inputs(page.text)
    plan = restaurant_plan(pages.server.app.state.catalog)
    data = form_body(values if values is not None else typed_values(plan))
    data |= {"csrf_token": hidden["csrf_token"], "idempotency_key": hidden["idempotency_key"]}
    data |= checked_radios(page.text)  # 送达方式: the preselected 电子送达
    files = {"material.registration_application": upload}
    return client.post(f"/things/{THING}/apply", data=data, files=files)


def applications(pages: Pages) -> int:
    assert pages.server.engine is not None
    with db.session_scope(pages.server.engine) as session:
        return int(session.scalar(select(func.count()).select_from(ApplicationRow)) or 0)


def application_id(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    match = re.match(r"/me/applications/([0-9a-f-]{36})(?:#top)?$", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def test_apply_once_even_when_sent_twice(pages: Pages) -> None:
    form_page = pages.as_("acme").get(APPLY)
    first = submit(pages, form_page=form_page)
    again = submit(pages, form_page=form_page)  # a double click: the same form, the same key
    assert application_id(first) == application_id(again)
    assert applications(pages) == 1
    page = pages.as_("acme").get(first.headers["location"])
    assert page.status_code == 200
    assert "申请已提交" in page.text and "申请书.pdf" in page.text
    assert page.text.count('data-task="') == 3


def test_errors_are_shown_next_to_their_fields(pages: Pages) -> None:
    plan = restaurant_plan(pages.server.app.state.catalog)
    values = typed_values(plan) | {"legal_rep_id_number": "110105194912310021", "contact_phone": "12345"}
    values.pop("enterprise_name")
    response = submit(pages, values=values)
    assert response.status_code == 422
    html = response.text
    assert 'class="error-summary"' in html and 'href="#field-enterprise_name"' in html
    for field_id in ("enterprise_name", "legal_rep_id_number", "contact_phone"):
        assert f'id="field-{field_id}-error"' in html
        assert re.search(rf'id="field-{field_id}"[^>]*aria-describedby="[^"]*field-{field_id}-error', html, re.S)
    assert applications(pages) == 0


def test_applicant_cannot_open_anothers_application(pages: Pages) -> None:
    app_id = application_id(submit(pages))
    other = pages.as_("other")
    assert other.get(f"/me/applications/{app_id}").status_code == 404
    token = hidden_inputs(other.get("/me/applications").text)["csrf_token"]
    refused = other.post(f"/me/applications/{app_id}/rating", data={"csrf_token": token, "score": "1"})
    assert refused.status_code == 404
    assert pages.as_("acme").get(f"/me/applications/{app_id}").status_code == 200


def _task_link(html: str, procedure: str) -> str:
    match = re.search(rf'data-procedure="{procedure}"[^>]*>.*?<th scope="row"><a href="(/workbench/tasks/[^"]+)"', html,
                      re.S)
    assert match, html
    return match.group(1)


def test_staff_cannot_open_another_departments_task(pages: Pages) -> None:
    submit(pages)
    samr = pages.as_("samr-staff")
    queue = samr.get("/workbench")
    assert queue.status_code == 200
    task = _task_link(queue.text, "business-registration")
    assert samr.get(task).status_code == 200
    fire = pages.as_("fire-staff")
    assert fire.get(task).status_code == 404
    assert "business-registration" not in fire.get("/workbench").text
    token = hidden_inputs(fire.get("/workbench").text)["csrf_token"]
    refused = fire.post(f"{task}/decision", data={"csrf_token": token, "kind": "accept", "version": "2"})
    assert refused.status_code == 404


def test_a_stale_page_says_someone_else_acted(pages: Pages) -> None:
    submit(pages)
    samr = pages.as_("samr-staff")
    task = _task_link(samr.get("/workbench").text, "business-registration")
    shown = hidden_inputs(samr.get(task).text)
    accept = {"csrf_token": shown["csrf_token"], "kind": "accept", "version": shown["version"]}
    first = samr.post(f"{task}/decision", data=accept)
    assert first.status_code == 303 and first.headers["location"] == task  # the notice is on the session
    assert "已受理" in samr.get(task).text
    stale = samr.post(f"{task}/decision", data=accept)  # a second window, still showing the old version
    assert stale.status_code == 409
    assert "该事项已被他人处理" in stale.text
    assert 'id="task-status">办理中<' in stale.text  # the fresh state, with the decisions it allows now
    assert 'value="approve"' in stale.text and 'value="accept"' not in stale.text


def test_reject_needs_a_reason_shown_at_its_field(pages: Pages) -> None:
    submit(pages)
    samr = pages.as_("samr-staff")
    task = _task_link(samr.get("/workbench").text, "business-registration")
    shown = hidden_inputs(samr.get(task).text)
    response = samr.post(f"{task}/decision", data={"csrf_token": shown["csrf_token"], "kind": "reject",
                                                   "version": shown["version"], "reason": " "})
    assert response.status_code == 422
    assert 'id="reject-reason-error"' in response.text
    assert 'aria-describedby="reject-reason-error"' in response.text


def test_pages_need_a_signed_in_person_of_the_right_role(pages: Pages) -> None:
    with httpx.Client(base_url=pages.server.url, headers={"Accept": "text/html"}) as anonymous:
        for path in ("/workbench", "/me/applications", APPLY):
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    assert pages.as_("samr-staff").get("/me/applications").status_code == 403
    assert pages.as_("acme").get("/workbench").status_code == 403


def test_a_refused_upload_leaves_the_application_and_says_which_file(pages: Pages) -> None:
    response = submit(pages, upload=("说明.txt", b"plain text", "text/plain"))
    app_id = application_id(response)
    assert "?" not in response.headers["location"]  # no message in the URL: it waits on the session
    page = pages.as_("acme").get(response.headers["location"])
    assert "未能上传" in page.text and "登记（备案）申请书" in page.text
    assert 'action="/me/applications/' + app_id + '/files"' in page.text  # 补传材料


def test_a_supplement_answer_shows_its_errors_at_the_fields(pages: Pages) -> None:
    app_id = application_id(submit(pages))
    samr = pages.as_("samr-staff")
    task = _task_link(samr.get("/workbench").text, "business-registration")
    shown = hidden_inputs(samr.get(task).text)
    asked = samr.post(f"{task}/decision", data={
        "csrf_token": shown["csrf_token"], "kind": "request_supplement", "version": shown["version"],
        "reason": "经营范围不规范", "fields": ["business_scope"], "materials": ["registration_application"]})
    assert asked.status_code == 303, asked.text
    acme = pages.as_("acme")
    page = acme.get(f"/me/applications/{app_id}")
    assert "需要您补正" in page.text and "经营范围不规范" in page.text
    action = re.search(rf'action="(/me/applications/{app_id}/supplements/[^"]+)"', page.text)
    assert action
    token = hidden_inputs(page.text)["csrf_token"]
    blank = acme.post(action.group(1), data={"csrf_token": token, "field.business_scope": ""})
    assert blank.status_code == 422
    assert 'id="field-business_scope-error"' in blank.text
    assert 'id="supplement-material-registration_application-error">请先上传补正材料' in blank.text
    answered = acme.post(action.group(1), data={"csrf_token": token, "field.business_scope": "餐饮服务"},
                         files={"material.registration_application": ("新申请书.pdf", PDF, "application/pdf")})
    assert answered.status_code == 303, answered.text
    assert "餐饮服务" in samr.get(task).text
