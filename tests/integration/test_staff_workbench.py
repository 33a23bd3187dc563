"""The staff workbench over real HTTP on SQLite and PostgreSQL (issue 10, item 7): the queue's columns (办件编号,
applicant with a masked ID, received, due, overdue in working days), its search by 办件编号, filters and
pages; the task page offers only the decisions the task's status allows, under the name that status gives
them, and an approval without 文书名称/文号 is refused at its fields; the certificate is previewed first.

Applications are made through the apply page; the server's clock is the test's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest

from onething import db
from onething.accounts.api import actor_for_user, create_user
from onething.cases import api as cases
from onething.cases.tables import ApplicationRow
from onething.workdays import calendar_for, china_date
from tests.case_forms import (
    ANSWERS,
    PASSWORD,
    PDF,
    THING,
    checked_radios,
    create_people,
    form_body,
    hidden_inputs,
    resident_id,
    restaurant_plan,
    sign_in,
    typed_values,
)
from tests.live import LiveServer

APPLY = f"/things/{THING}/apply?{urlencode(ANSWERS)}"
MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)      # 09:00 Beijing, Monday 2 March 2026
LATER = datetime(2026, 4, 20, 2, 0, tzinfo=UTC)      # seven weeks on: every running task is overdue
ZHANG_ID = resident_id()


@dataclass
class Clock:
    now: datetime = MONDAY

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    server: LiveServer
    clock: Clock
    clients: dict[str, httpx.Client]

    def as_(self, who: str) -> httpx.Client:
        if who not in self.clients:
            client = httpx.Client(base_url=self.server.url, timeout=30, headers={"Accept": "text/html"})
            sign_in(client, who)
            self.clients[who] = client
        return self.clients[who]

    def submit(self, who: str) -> str:
        """Apply through the page; the new application's 办件编号."""
        client = self.as_(who)
        page = client.get(APPLY)
        assert page.status_code == 200, page.text
        hidden = hidden_inputs(page.text)
        if "idempotency_key" not in hidden:  # a person is asked for consent first: declined, they type it all
            declined = client.post(f"/things/{THING}/apply/consent", data={**hidden, "decision": "decline"})
            assert declined.status_code == 303, declined.text
            page = client.get(declined.headers["location"])
            hidden = hidden_inputs(page.text)
        data = form_body(typed_values(restaurant_plan(self.server.app.state.catalog)))
        data |= checked_radios(page.text)  # the preselected 送达方式, as a browser posts it
        data |= {"csrf_token": hidden["csrf_token"], "idempotency_key": hidden["idempotency_key"]}
        response = client.post(f"/things/{THING}/apply", data=data,
                               files={"material.registration_application": ("申请书.pdf", PDF, "application/pdf")})
        assert response.status_code == 303, response.text
        app_id = re.search(r"/me/applications/([0-9a-f-]{36})", response.headers["location"])
        assert app_id
        assert self.server.engine is not None
        with db.session_scope(self.server.engine) as session:
            number = session.get(ApplicationRow, app_id.group(1))
            assert number is not None
            return number.number


@pytest.fixture
def desk(live_server: LiveServer) -> Iterator[Desk]:
    engine = live_server.engine
    assert engine is not None
    clock = Clock()
    live_server.app.state.clock = clock
    create_people(engine, ["samr", "fire"])
    with db.session_scope(engine) as session:
        create_user(session, name="zhang", role="applicant", id_number=ZHANG_ID, display_name="张三",
                    password=PASSWORD, now=MONDAY)
        create_user(session, name="ops", role="operator", password=PASSWORD, now=MONDAY)
    world = Desk(live_server, clock, {})
    yield world
    for client in world.clients.values():
        client.close()


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-task="[^"]+"[^>]*data-number="([0-9]+)"', html)


def task_link(html: str, procedure: str, number: str) -> str:
    match = re.search(rf'data-procedure="{procedure}"[^>]*data-number="{number}"[^>]*>.*?'
                      r'<a href="(/workbench/tasks/[^"]+)"', html, re.S)
    assert match, html
    return match.group(1)


def test_queue_shows_who_what_when_and_finds_by_number(desk: Desk) -> None:
    acme = desk.submit("acme")
    zhang = desk.submit("zhang")
    samr = desk.as_("samr-staff")
    queue = samr.get("/workbench")
    assert queue.status_code == 200
    html = queue.text
    # Both applications, each with its number, applicant, thing and received time.
    assert set(rows(html)) == {acme, zhang}
    assert "示例餐饮有限公司" in html and "91110105MA01ABCD00" in html   # a company's USCC is public
    assert "张三" in html and ZHANG_ID not in html                       # a person's ID is masked
    assert ZHANG_ID[:4] + "*" * 10 + ZHANG_ID[-4:] in html
    assert "2026-03-02 09:00" in html and "开办餐饮店" in html
    for header in ("办件编号", "事项", "申请人", "一件事", "收件时间", "状态", "办结期限"):
        assert f'<th scope="col">{header}</th>' in html

    # Search by 办件编号: exactly that application's tasks; a prefix finds it too.
    found = samr.get("/workbench", params={"number": zhang}).text
    assert set(rows(found)) == {zhang}
    assert set(rows(samr.get("/workbench", params={"number": zhang[:-1]}).text)) >= {zhang}
    missing = samr.get("/workbench", params={"number": "9" * 19})
    assert missing.status_code == 200 and rows(missing.text) == [] and 'id="queue-empty"' in missing.text
    # Text that is no number is answered at the search field, not with an error page.
    wrong = samr.get("/workbench", params={"number": "abc' OR 1=1"})
    assert wrong.status_code == 200
    assert 'id="number-search-error"' in wrong.text and 'aria-invalid="true"' in wrong.text

    # Filters: status, thing (an unknown one is ignored), overdue.
    ready = samr.get("/workbench", params={"status": "ready"}).text
    assert 'data-status="waiting"' not in ready and set(rows(ready)) == {acme, zhang}
    waiting = samr.get("/workbench", params={"status": "waiting"}).text
    assert 'data-status="ready"' not in waiting and set(rows(waiting)) == {acme, zhang}
    assert set(rows(samr.get("/workbench", params={"thing": THING}).text)) == {acme, zhang}
    assert set(rows(samr.get("/workbench", params={"thing": "no-such-thing"}).text)) == {acme, zhang}
    assert rows(samr.get("/workbench", params={"overdue": "1"}).text) == []

    # Weeks later the ready tasks are overdue, counted in working days by the catalog's calendar.
    desk.clock.now = LATER
    desk.clients.pop("samr-staff").close()  # the idle session ended long ago: sign in again
    late = desk.as_("samr-staff").get("/workbench", params={"overdue": "1"}).text
    assert set(rows(late)) == {acme, zhang}, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", late))[:3000]
    assert 'data-status="waiting"' not in late
    calendar = calendar_for(desk.server.app.state.catalog.calendar)
    dues = re.findall(r'data-label="办结期限">(\d{4}-\d{2}-\d{2})\s*'
                      r'<span class="flag flag--overdue">已超期 (\d+) 个工作日', late)
    assert len(dues) == 2
    for due, days in dues:
        expected = calendar.working_days_between(datetime.fromisoformat(due).date(), china_date(LATER))
        assert int(days) == expected > 20


def test_queue_pages_and_sorts_in_the_database(desk: Desk) -> None:
    first, second, third = desk.submit("acme"), desk.submit("zhang"), desk.submit("acme")
    engine = desk.server.engine
    assert engine is not None
    with db.session_scope(engine) as session:
        staff = actor_for_user(session, "samr-staff")
    catalog = desk.server.app.state.catalog
    query = cases.QueueQuery(status="ready", sort="received", page_size=2)
    page1 = cases.queue(engine, staff, query, now=MONDAY, catalog=catalog)
    page2 = cases.queue(engine, staff, cases.QueueQuery(status="ready", sort="received", page_size=2, page=2),
                        now=MONDAY, catalog=catalog)
    assert (page1.total, page1.pages, page2.page) == (3, 2, 2)
    assert [r["number"] for r in page1.rows + page2.rows] == [first, second, third]
    newest = cases.queue(engine, staff, cases.QueueQuery(status="ready", sort="-received"), now=MONDAY,
                         catalog=catalog)
    assert [r["number"] for r in newest.rows] == [third, second, first]
    with pytest.raises(cases.Invalid):
        cases.queue(engine, staff, cases.QueueQuery(number="12ab"), now=MONDAY, catalog=catalog)


def test_only_the_decisions_the_status_allows_under_their_names(desk: Desk) -> None:
    number = desk.submit("acme")
    samr = desk.as_("samr-staff")
    task = task_link(samr.get("/workbench").text, "business-registration", number)
    page = samr.get(task).text
    # The applicant's data and materials come before the decisions.
    assert page.index('id="form-heading"') < page.index('id="materials-heading"') < page.index('id="decide"')
    assert number in page and "示例餐饮有限公司" in page
    decide = page[page.index('id="decide"'):]
    assert 'value="accept"' in decide and 'value="reject"' in decide and 'value="approve"' not in decide
    assert "不予受理" in decide and "不予许可" not in decide     # at intake the refusal is 不予受理

    # A decision the status does not allow is refused by the service, whatever the page offered.
    shown = hidden_inputs(page)
    refused = samr.post(f"{task}/decision", data={"csrf_token": shown["csrf_token"], "kind": "approve",
                                                  "version": shown["version"], "number": "X-1"})
    assert refused.status_code == 409 and 'id="task-status">待受理<' in refused.text
    accepted = samr.post(f"{task}/decision", data={"csrf_token": shown["csrf_token"], "kind": "accept",
                                                   "version": shown["version"]})
    assert accepted.status_code == 303
    page = samr.get(task).text
    decide = page[page.index('id="decide"'):]
    assert 'value="approve"' in decide and 'value="accept"' not in decide
    assert "不予许可" in decide and "不予受理" not in decide     # after acceptance it is 不予许可


def test_approval_needs_document_and_number_and_previews_the_certificate(desk: Desk) -> None:
    number = desk.submit("acme")
    samr = desk.as_("samr-staff")
    task = task_link(samr.get("/workbench").text, "business-registration", number)
    shown = hidden_inputs(samr.get(task).text)
    samr.post(f"{task}/decision", data={"csrf_token": shown["csrf_token"], "kind": "accept",
                                        "version": shown["version"]})
    page = samr.get(task).text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    base = {"csrf_token": shown["csrf_token"], "kind": "approve", "version": version.group(1)}

    # The preview: the certificate as these values would issue it; nothing is decided.
    assert 'id="certificate-preview"' in page and "签发时自动编号" in page
    preview = samr.post(f"{task}/preview", data={**base, "number": "京市监登字〔2026〕第9号",
                                                 "valid_until": "2031-03-01"})
    assert preview.status_code == 200
    assert 'id="preview-number">京市监登字〔2026〕第9号<' in preview.text and "2031-03-01" in preview.text
    assert 'id="task-status">办理中<' in preview.text

    # Blank 文书名称 and 文号: refused by the service, each error at its field; the task stays accepted.
    blank = samr.post(f"{task}/decision", data={**base, "document": " ", "number": ""})
    assert blank.status_code == 422
    for name, message in (("document", "请填写文书名称"), ("number", "请填写文号")):
        assert f'id="approve-{name}-error">{message}<' in blank.text
        assert re.search(rf'id="approve-{name}"[^>]*aria-invalid="true"', blank.text, re.S)
    assert 'id="task-status">办理中<' in blank.text

    # Registration produces the company's USCC: the department enters it with the approval.
    done = samr.post(f"{task}/decision", data={**base, "number": "京市监登字〔2026〕第9号",
                                               "produced.enterprise_uscc": "91110105MA01ABCD00"})
    assert done.status_code == 303, done.text
    after = samr.get(task).text
    assert 'id="task-status">已办结<' in after and "已签发的电子证照" in after and "京市监登字〔2026〕第9号" in after


def test_the_workbench_is_for_department_staff_only(desk: Desk) -> None:
    number = desk.submit("acme")
    task = task_link(desk.as_("samr-staff").get("/workbench").text, "business-registration", number)
    for who in ("acme", "ops"):
        client = desk.as_(who)
        assert client.get("/workbench").status_code == 403
        assert client.get(task).status_code == 403
        token = hidden_inputs(client.get("/").text).get("csrf_token", "")
        assert client.post(f"{task}/preview", data={"csrf_token": token, "number": "X"}).status_code == 403
    assert 'href="/workbench"' not in desk.as_("ops").get("/operator").text  # no link that answers 403
