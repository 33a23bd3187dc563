"""Apply in steps (情形 → 信息 → 材料 → 核对 → 提交) over real HTTP on SQLite and PostgreSQL, as a browser without
JavaScript posts it: each step saves the draft server-side; errors are shown at their fields with the values
kept; 修改 from 核对 returns to 核对; a draft is resumed from 我的办件; another applicant's draft and an expired
one are 404; 提交 from 核对 makes exactly one application even when posted twice, with the draft's files
attached and the draft gone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select, update

from onething import db
from onething.cases.drafts import MAX_LIVE_DRAFTS
from onething.cases.settings import get_case_settings
from onething.cases.tables import ApplicationRow, DraftFileRow, DraftRow, FileRow
from onething.web.pages.apply_steps import field_groups
from tests.case_forms import (
    ANSWERS,
    PDF,
    THING,
    checked_radios,
    create_people,
    hidden_inputs,
    restaurant_plan,
    typed_values,
)
from tests.integration.test_case_pages import Pages
from tests.live import LiveServer

STEPS = f"/things/{THING}/steps?{urlencode(ANSWERS)}"


@pytest.fixture
def pages(live_server: LiveServer) -> Iterator[Pages]:
    assert live_server.engine is not None
    create_people(live_server.engine, ["samr", "fire"])
    world = Pages(live_server, {})
    yield world
    for client in world.clients.values():
        client.close()


def _count(pages: Pages, table: type) -> int:
    assert pages.server.engine is not None
    with db.session_scope(pages.server.engine) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _start(client: httpx.Client) -> str:
    """情形 → 开始填写: the draft's base URL."""
    page = client.get(STEPS)
    assert page.status_code == 200, page.text
    assert 'aria-current="step"' in page.text and "修改情形" in page.text
    body = {"csrf_token": hidden_inputs(page.text)["csrf_token"]} | {f"answer.{k}": v for k, v in ANSWERS.items()}
    if 'name="decision" value="agree"' in page.text:
        body["decision"] = "decline"
    started = client.post(f"/things/{THING}/steps", data=body)
    assert started.status_code == 303, started.text
    match = re.fullmatch(r"(/me/drafts/[0-9a-f-]{36})/info/1", started.headers["location"])
    assert match, started.headers["location"]
    return match.group(1)


def _post_info(client: httpx.Client, url: str, values: dict[str, str], **extra: str) -> httpx.Response:
    page = client.get(url)
    assert page.status_code == 200, page.text
    names = set(re.findall(r'name="field\.([a-z0-9_]+)"', page.text))
    body = {"csrf_token": hidden_inputs(page.text)["csrf_token"], **extra}
    body |= {f"field.{k}": v for k, v in values.items() if k in names}
    return client.post(url.split("?")[0], data=body)


def _fill_all(pages: Pages, client: httpx.Client, base: str, values: dict[str, str] | None = None) -> None:
    plan = restaurant_plan(pages.server.app.state.catalog)
    values = values if values is not None else typed_values(plan)
    groups = field_groups(plan)
    assert len(groups) >= 2  # one topic a page
    for number in range(1, len(groups) + 1):
        saved = _post_info(client, f"{base}/info/{number}", values)
        assert saved.status_code == 303, saved.text
        expected = f"{base}/info/{number + 1}" if number < len(groups) else f"{base}/materials"
        assert saved.headers["location"] == expected


def _upload(client: httpx.Client, base: str, data: bytes = PDF, content_type: str = "application/pdf"
            ) -> httpx.Response:
    page = client.get(f"{base}/materials")
    assert page.status_code == 200
    return client.post(f"{base}/materials", data={"csrf_token": hidden_inputs(page.text)["csrf_token"]},
                       files={"material.registration_application": ("申请书.pdf", data, content_type)})


def _submit(client: httpx.Client, base: str, check_page: httpx.Response | None = None,
            **delivery: str) -> httpx.Response:
    page = check_page or client.get(f"{base}/check")
    body = {"csrf_token": hidden_inputs(page.text)["csrf_token"]} | checked_radios(page.text)
    body |= {f"delivery.{k}": v for k, v in delivery.items()}
    return client.post(f"{base}/submit", data=body)


def test_every_step_then_one_application_even_when_submitted_twice(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    _fill_all(pages, acme, base)
    uploaded = _upload(acme, base)
    assert uploaded.status_code == 303 and uploaded.headers["location"] == f"{base}/check"
    check = acme.get(f"{base}/check")
    assert check.status_code == 200
    html = check.text
    plan = restaurant_plan(pages.server.app.state.catalog)
    for field in plan.form.fields:
        if field.provided_by is None:
            assert f'data-field="{field.id}"' in html
    assert "申请书.pdf" in html and html.count(">修改<") >= len(typed_values(plan))
    assert checked_radios(html) == {"delivery.method": "electronic"}
    assert _count(pages, DraftFileRow) == 1 and _count(pages, FileRow) == 0

    first = _submit(acme, base, check)
    second = _submit(acme, base, check)  # a double click: the same page posted again
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert re.fullmatch(r"/me/applications/[0-9a-f-]{36}", first.headers["location"])
    assert _count(pages, ApplicationRow) == 1
    assert _count(pages, DraftRow) == 0 and _count(pages, DraftFileRow) == 0 and _count(pages, FileRow) == 1
    shown = acme.get(first.headers["location"])
    assert "申请已提交" in shown.text and "申请书.pdf" in shown.text
    assert acme.get(f"{base}/check").status_code == 404  # the draft is gone


def test_errors_at_the_fields_with_values_kept(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    plan = restaurant_plan(pages.server.app.state.catalog)
    groups = field_groups(plan)
    number, field_id = next((n, f.id) for n, (_, _, fields) in enumerate(groups, start=1) for f in fields
                            if f.type == "phone")
    values = typed_values(plan) | {field_id: "12345"}
    refused = _post_info(acme, f"{base}/info/{number}", values)
    assert refused.status_code == 422
    html = refused.text
    assert 'class="error-summary"' in html and f'href="#field-{field_id}"' in html
    assert f'id="field-{field_id}-error"' in html and 'value="12345"' in html
    assert re.search(rf'id="field-{field_id}"[^>]*aria-describedby="[^"]*field-{field_id}-error', html, re.S)
    # The typed value was kept on the draft: the page shows it again later.
    assert 'value="12345"' in acme.get(f"{base}/info/{number}").text


def test_change_from_check_returns_to_check(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    _fill_all(pages, acme, base)
    assert _upload(acme, base).status_code == 303
    check = acme.get(f"{base}/check").text
    link = re.search(r'<a href="(' + re.escape(base) + r'/info/(\d+)\?return=check#field-enterprise_name)">修改',
                     check)
    assert link, check
    changed = _post_info(acme, link.group(1).replace("&amp;", "&"), {"enterprise_name": "新名称面馆"},
                         **{"return": "check"})
    assert changed.status_code == 303 and changed.headers["location"] == f"{base}/check"
    assert "新名称面馆" in acme.get(f"{base}/check").text
    materials = acme.get(f"{base}/materials?return=check").text
    assert 'name="return" value="check"' in materials
    again = acme.post(f"{base}/materials", data={"csrf_token": hidden_inputs(materials)["csrf_token"],
                                                   "return": "check"})
    assert again.status_code == 303 and again.headers["location"] == f"{base}/check"


def test_resume_from_my_applications(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    assert _post_info(acme, f"{base}/info/1", typed_values(restaurant_plan(pages.server.app.state.catalog))
                      ).status_code == 303
    mine = acme.get("/me/applications").text
    assert f'href="{base}">继续填写' in mine
    resumed = acme.get(base)
    assert resumed.status_code == 303 and resumed.headers["location"] == f"{base}/info/1"
    # 情形 shows the open draft too.
    assert f'href="{base}"' in acme.get(STEPS).text


def test_anothers_draft_and_an_expired_draft_are_404(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    other = pages.as_("other")
    for path in ("", "/info/1", "/materials", "/check"):
        assert other.get(base + path).status_code == 404
    token = hidden_inputs(other.get("/me/applications").text)["csrf_token"]
    assert other.post(f"{base}/submit", data={"csrf_token": token}).status_code == 404
    assert other.post(f"{base}/info/1", data={"csrf_token": token, "field.enterprise_name": "x"}).status_code == 404
    assert f'href="{base}"' not in other.get("/me/applications").text

    assert pages.server.engine is not None
    with db.session_scope(pages.server.engine) as session:
        session.execute(update(DraftRow).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert acme.get(f"{base}/check").status_code == 404
    assert f'href="{base}"' not in acme.get("/me/applications").text
    with db.session_scope(pages.server.engine) as session:
        session.execute(update(DraftRow).values(form={"enterprise_name": "过期的草稿"}))
    _start(acme)  # starting another draft deletes the applicant's expired one with its values
    with db.session_scope(pages.server.engine) as session:
        assert session.scalar(select(func.count()).select_from(DraftRow)) == 1
        assert session.scalar(select(func.count()).select_from(DraftRow).where(DraftRow.id == base[-36:])) == 0


def test_submit_with_errors_shows_check_with_links_to_the_fields(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    refused = _submit(acme, base)  # nothing filled in
    assert refused.status_code == 422
    assert 'class="error-summary"' in refused.text
    assert re.search(re.escape(base) + r"/info/\d\?return=check#field-enterprise_name", refused.text)
    post = _submit(acme, base, method="post", address=" ")
    assert post.status_code == 422 and 'href="#field-delivery-address"' in post.text
    assert _count(pages, ApplicationRow) == 0


def test_a_refused_upload_is_shown_at_its_material(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    refused = _upload(acme, base, data=b"not a pdf", content_type="application/pdf")
    assert refused.status_code == 422
    assert 'id="material-registration_application-error"' in refused.text
    assert 'href="#material-registration_application"' in refused.text
    assert _count(pages, DraftFileRow) == 0


def test_live_drafts_are_capped_per_applicant(pages: Pages) -> None:
    acme = pages.as_("acme")
    base = _start(acme)
    assert pages.server.engine is not None
    with db.session_scope(pages.server.engine) as session:
        draft = session.get(DraftRow, base[-36:])
        assert draft is not None
        for n in range(MAX_LIVE_DRAFTS - 1):
            session.add(DraftRow(id=f"{n:036d}", applicant_id=draft.applicant_id, thing=draft.thing,
                                 answers=draft.answers, form={}, ref=f"ref-{n}", step="info",
                                 created_at=draft.created_at, updated_at=draft.updated_at,
                                 expires_at=draft.expires_at))
    page = acme.get(STEPS)
    body = {"csrf_token": hidden_inputs(page.text)["csrf_token"]} | {f"answer.{k}": v for k, v in ANSWERS.items()}
    refused = acme.post(f"/things/{THING}/steps", data=body)
    assert refused.status_code == 303 and refused.headers["location"] == "/me/applications"
    assert "份未提交的申请，请先" in acme.get("/me/applications").text  # the notice, once
    assert _count(pages, DraftRow) == MAX_LIVE_DRAFTS


def test_draft_uploads_count_towards_the_daily_quota(pages: Pages, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file uploaded to a draft counts in the uploader's 24 hours, with files uploaded to applications."""
    monkeypatch.setenv("ONETHING_UPLOAD_MAX_FILES_PER_DAY", "1")
    get_case_settings.cache_clear()
    try:
        acme = pages.as_("acme")
        first = _start(acme)
        assert _upload(acme, first).status_code == 303
        second = _start(acme)
        refused = _upload(acme, second)
        assert refused.status_code == 422 and "24 小时内最多上传 1 个文件" in refused.text
        assert _count(pages, DraftFileRow) == 1
        # Replacing a draft's own file is still one more upload: refused too, the first file kept.
        assert _upload(acme, first).status_code == 422
        assert _count(pages, DraftFileRow) == 1
    finally:
        monkeypatch.delenv("ONETHING_UPLOAD_MAX_FILES_PER_DAY")
        get_case_settings.cache_clear()
