"""受理回执, tracking and 撤回 over real HTTP on SQLite and PostgreSQL: the receipt page and PDF carry the
办件编号 and only the applicant may open them; 我的办件 and the application page say how late an application
is in working days from the same calendar the staff workbench uses (with the server's clock injected); 撤回
asks first and states its consequences.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import urlencode

import httpx
import pytest

from onething.workdays import calendar_for, china_date
from tests.case_forms import ANSWERS, THING, checked_radios, create_people, hidden_inputs, restaurant_plan, typed_values
from tests.integration.test_case_pages import Pages, application_id, submit
from tests.live import LiveServer

SUBMITTED = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)     # Monday 09:00 in Beijing
LATER = datetime(2026, 12, 18, 2, 0, tzinfo=UTC)        # weeks after every promise


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(live_server: LiveServer) -> Clock:
    clock = Clock(SUBMITTED)
    live_server.app.state.clock = clock
    return clock


@pytest.fixture
def pages(live_server: LiveServer, clock: Clock) -> Iterator[Pages]:
    assert live_server.engine is not None
    create_people(live_server.engine, ["samr", "fire"])
    world = Pages(live_server, {})
    yield world
    for client in world.clients.values():
        client.close()


def fresh(pages: Pages, who: str) -> httpx.Client:
    """A new browser session for ``who`` (after the clock moved past the old session's lifetime)."""
    old = pages.clients.pop(who, None)
    if old is not None:
        old.close()
    return pages.as_(who)


def pdf_text_contains(pdf: bytes, text: str) -> bool:
    """Whether ``text`` (ASCII) is drawn in the PDF: searched in its content streams, inflated if compressed."""
    if text.encode() in pdf:
        return True
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            if text.encode() in zlib.decompress(match.group(1)):
                return True
        except zlib.error:
            continue
    return False


def test_receipt_page_and_pdf_carry_the_number_for_the_applicant_alone(pages: Pages) -> None:
    app_id = application_id(submit(pages))
    acme = pages.as_("acme")
    page = acme.get(f"/me/applications/{app_id}")
    number = re.search(r'id="application-number">([0-9]{19})<', page.text)
    assert number, page.text
    number_text = number.group(1)
    assert f'href="/me/applications/{app_id}/receipt"' in page.text

    receipt = acme.get(f"/me/applications/{app_id}/receipt")
    assert receipt.status_code == 200
    assert f'id="receipt-number">{number_text}<' in receipt.text
    assert receipt.text.count("data-receipt-task") == 3
    assert "接下来" in receipt.text and "站内消息" in receipt.text
    assert 'href="/static/css/print.css" media="print"' in receipt.text
    assert acme.get("/static/css/print.css").status_code == 200

    pdf = acme.get(f"/me/applications/{app_id}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and pdf.content.rstrip().endswith(b"%%EOF")
    assert pdf_text_contains(pdf.content, number_text)

    api = acme.get(f"/api/v1/applications/{app_id}/receipt")
    assert api.status_code == 200 and api.headers["content-type"] == "application/pdf"
    assert pdf_text_contains(api.content, number_text)

    # Another applicant and the departments' staff see nothing: 404, never a hint the id exists.
    for who in ("other", "samr-staff"):
        client = pages.as_(who)
        for path in (f"/api/v1/applications/{app_id}/receipt",):
            assert client.get(path).status_code == 404, (who, path)
    assert pages.as_("other").get(f"/me/applications/{app_id}/receipt.pdf").status_code == 404
    assert pages.as_("other").get(f"/me/applications/{app_id}/receipt").status_code == 404


def test_overdue_in_words_from_the_staff_calendar(pages: Pages, clock: Clock) -> None:
    app_id = application_id(submit(pages))
    acme = pages.as_("acme")
    listing = acme.get("/me/applications")
    assert "已超期" not in listing.text
    number = re.search(r"data-number>([0-9]{19})<", listing.text)
    assert number and number.group(1).startswith("000000261102")

    clock.now = LATER
    catalog = pages.server.app.state.catalog
    calendar = calendar_for(catalog.calendar)
    today = china_date(LATER)
    detail = fresh(pages, "acme").get(f"/me/applications/{app_id}")
    promised = re.search(r"<dd>(\d{4}-\d{2}-\d{2}) 前", detail.text)
    assert promised, detail.text
    late = calendar.working_days_between(date.fromisoformat(promised.group(1)), today)
    assert late > 0
    assert f'id="application-overdue">已超期 {late} 个工作日<' in detail.text
    assert f"已超期 {late} 个工作日" in pages.as_("acme").get("/me/applications").text

    # The stage-1 task is late by the same count the workbench shows its department.
    task_late = re.search(r"data-task-overdue>已超期 (\d+) 个工作日<", detail.text)
    assert task_late, detail.text
    queue = fresh(pages, "samr-staff").get("/workbench")
    assert f"已超期 {task_late.group(1)} 个工作日" in queue.text


def test_withdraw_asks_first_and_states_its_consequences(pages: Pages) -> None:
    app_id = application_id(submit(pages))
    acme = pages.as_("acme")
    page = acme.get(f"/me/applications/{app_id}")
    assert f'href="/me/applications/{app_id}/withdraw"' in page.text
    confirm = acme.get(f"/me/applications/{app_id}/withdraw")
    assert confirm.status_code == 200
    assert "确定撤回" in confirm.text and "立即终止" in confirm.text and "3 个" in confirm.text
    token = hidden_inputs(confirm.text)["csrf_token"]

    # Without the confirmation field (a crafted or stray post) nothing happens: back to the question.
    stray = acme.post(f"/me/applications/{app_id}/withdraw", data={"csrf_token": token})
    assert stray.status_code == 303 and stray.headers["location"].endswith("/withdraw")
    assert 'id="application-status">已提交<' in acme.get(f"/me/applications/{app_id}").text
    # Another applicant cannot withdraw it.
    other = pages.as_("other")
    other_token = hidden_inputs(other.get("/me/applications").text)["csrf_token"]
    assert other.post(f"/me/applications/{app_id}/withdraw",
                      data={"csrf_token": other_token, "confirm": "yes"}).status_code == 404

    done = acme.post(f"/me/applications/{app_id}/withdraw", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303
    after = acme.get(done.headers["location"])
    assert 'id="application-status">已撤回<' in after.text and "申请已撤回" in after.text
    assert 'id="withdraw-link"' not in after.text
    again = acme.get(f"/me/applications/{app_id}/withdraw")
    assert again.status_code == 303 or "无法撤回" in again.text


def test_rows_tell_two_applications_for_the_same_thing_apart(pages: Pages) -> None:
    first = application_id(submit(pages))
    answers = {**ANSWERS, "has_signboard": "true"}
    acme = pages.as_("acme")
    form_page = acme.get(f"/things/{THING}/apply?{urlencode(answers)}")
    assert form_page.status_code == 200
    hidden = hidden_inputs(form_page.text)
    plan = restaurant_plan(pages.server.app.state.catalog, answers)
    data = {f"field.{k}": v for k, v in typed_values(plan).items()} | {f"answer.{k}": v for k, v in answers.items()}
    data |= {"csrf_token": hidden["csrf_token"], "idempotency_key": hidden["idempotency_key"]}
    data |= checked_radios(form_page.text)
    second = application_id(acme.post(f"/things/{THING}/apply", data=data))
    listing = acme.get("/me/applications").text
    rows = {app: re.search(rf'data-application="{app}">(.*?)</tr>', listing, re.S) for app in (first, second)}
    shown = {}
    for app, row in rows.items():
        assert row, listing
        text = re.search(r'class="muted telling">([^<]*)<', row.group(1))
        assert text, row.group(1)
        shown[app] = text.group(1)
    assert shown[first] == "是否设置户外招牌：否" and shown[second] == "是否设置户外招牌：是"


def test_only_what_still_needs_action_is_marked(pages: Pages) -> None:
    app_id = application_id(submit(pages))   # the registration application's file is uploaded with it
    page = pages.as_("acme").get(f"/me/applications/{app_id}").text
    item = re.search(r'data-material="registration_application"[^>]*>(.*?)</li>', page, re.S)
    assert item and "已提交" in item.group(1) and "需提交" not in item.group(1)
    plan = restaurant_plan(pages.server.app.state.catalog)
    still = [m for m in plan.materials if m.status == "submit" and m.required and m.id != "registration_application"]
    assert page.count("data-needs-action") == len(still)
