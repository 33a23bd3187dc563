"""The citizen journey over real HTTP on both databases: notices come only from the server-side session (a
crafted ``?notice=`` shows nothing), a draft's shared data is fetched once however often its form is shown,
an abandoned draft's consent expires (injected clock), the revoke step asks first, and each role lands on its
own home after sign-in with no menu link that answers 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from onething.accounts.demo import create_demo_users, demo_password
from onething.audit.tables import AuditEntry
from onething.config import get_settings
from onething.db import session_scope
from onething.exchange.demo import load_exchange_demo
from onething.exchange.fetch import FETCH_ACTION
from tests.case_forms import hidden_inputs
from tests.live import LiveServer

from .test_data_sharing import APPLY, _consent, _posted

CRAFTED = "您的账户已冻结，请致电 010-12345678 解冻"
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

# The exchange's holders are the demo registries here (set per test; never left to an earlier test's settings).
pytestmark = pytest.mark.usefixtures("demo_mode")


@pytest.fixture
def demo(live_server: LiveServer) -> LiveServer:
    assert live_server.engine is not None
    create_demo_users(live_server.engine)
    load_exchange_demo(live_server.engine)
    return live_server


@contextmanager
def _client(server: LiveServer, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, headers={"Accept": "text/html"}) as client:
        _sign_in(client, name)
        yield client


def _sign_in(client: httpx.Client, name: str, next_path: str | None = None) -> httpx.Response:
    token = hidden_inputs(client.get("/login").text)["csrf_token"]
    body = {"name": name, "password": demo_password(), "csrf_token": token}
    if next_path is not None:
        body["next"] = next_path
    response = client.post("/login", data=body)
    assert response.status_code == 303, response.text
    return response


@pytest.fixture
def zhangsan(demo: LiveServer) -> Iterator[httpx.Client]:
    with _client(demo, "zhangsan") as client:
        yield client


def _fetches(server: LiveServer, ref: str) -> dict[str, int]:
    """Audited fetch attempts for one application reference, by resource."""
    assert server.engine is not None
    with session_scope(server.engine) as session:
        rows = session.execute(select(AuditEntry.data).where(
            AuditEntry.application_id == ref,
            AuditEntry.action.startswith(FETCH_ACTION + ".", autoescape=True))).scalars().all()
    counts: dict[str, int] = {}
    for data in rows:
        counts[data["resource"]] = counts.get(data["resource"], 0) + 1
    return counts


# --- notices (flash) --------------------------------------------------------------------------------------


def test_a_crafted_notice_in_the_url_is_never_shown(demo: LiveServer, zhangsan: httpx.Client) -> None:
    for path in ("/me/data-uses", "/me/applications", "/"):
        page = zhangsan.get(path, params={"notice": CRAFTED, "done": "submitted", "failed": CRAFTED})
        assert page.status_code == 200 and CRAFTED not in page.text and "申请已提交" not in page.text, path
    with _client(demo, "nhc-staff") as staff:
        page = staff.get("/workbench/exchange", params={"notice": CRAFTED})
        assert page.status_code == 200 and CRAFTED not in page.text


def test_a_notice_is_shown_once_from_the_session(demo: LiveServer, zhangsan: httpx.Client) -> None:
    _, _, consent = _consent(zhangsan)
    confirm = zhangsan.get(f"/me/consents/{consent}/revoke")
    revoked = zhangsan.post(f"/me/consents/{consent}/revoke", data={"csrf_token": hidden_inputs(confirm.text)[
        "csrf_token"]})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/me/data-uses"
    assert "授权已撤回" in zhangsan.get("/me/data-uses").text
    assert "授权已撤回" not in zhangsan.get("/me/data-uses").text  # once: a reload shows nothing


# --- fetched once per draft -------------------------------------------------------------------------------


def test_a_draft_fetches_each_resource_once_however_often_it_is_shown(demo: LiveServer,
                                                                      zhangsan: httpx.Client) -> None:
    page, ref, consent = _consent(zhangsan)
    first = _fetches(demo, ref)
    assert first and set(first.values()) == {1}
    for _ in range(3):  # reloads of the prefilled form
        again = zhangsan.get(APPLY, params={"ref": ref, "consent": consent, "plan": "1"})
        assert again.status_code == 200 and 'data-locked="true"' in again.text
    invalid = zhangsan.post(APPLY, data=_posted(page, applicant_phone="not a phone"))  # shown again with errors
    assert invalid.status_code == 422 and 'data-locked="true"' in invalid.text
    assert _fetches(demo, ref) == first
    submitted = zhangsan.post(APPLY, data=_posted(page))
    assert submitted.status_code == 303, submitted.text
    assert _fetches(demo, ref) == first  # the submission uses the draft's facts, already on record
    uses = zhangsan.get("/me/data-uses").text
    assert ref not in uses and "个人身后“一件事”（" in uses and " 提交）" in uses  # a name, not the hex reference


# --- an abandoned draft's consent expires -----------------------------------------------------------------


def _at(server: LiveServer, moment: datetime) -> None:
    server.app.state.clock = lambda: moment


def _consent_state(client: httpx.Client, consent: str) -> str:
    page = client.get("/me/data-uses").text
    block = page.split(f'id="consent-{consent}"', 1)[1]
    match = re.search(r'<span class="tag[^"]*">([^<]+)</span>', block)
    assert match, block[:400]
    return match.group(1)


def test_an_abandoned_drafts_consent_expires_after_the_idle_time(demo: LiveServer) -> None:
    idle = timedelta(hours=get_settings().consent_draft_idle_hours)
    _at(demo, NOW)
    with _client(demo, "zhangsan") as client:
        _, ref, consent = _consent(client)
    # Still working on it just before the idle limit: the consent lasts another idle period from then.
    _at(demo, NOW + idle - timedelta(minutes=5))
    with _client(demo, "zhangsan") as client:
        assert client.get(APPLY, params={"ref": ref, "consent": consent, "plan": "1"}).status_code == 200
    _at(demo, NOW + idle + timedelta(hours=1))
    with _client(demo, "zhangsan") as client:
        assert _consent_state(client, consent) == "有效"
    _at(demo, NOW + 2 * idle)
    with _client(demo, "zhangsan") as client:
        assert _consent_state(client, consent) == "已过期"
        again = client.get(APPLY, params={"ref": ref, "consent": consent, "plan": "1"})
        assert 'data-locked="true"' not in again.text  # nothing is prefilled under an ended consent


def test_a_submitted_drafts_consent_does_not_idle_out(demo: LiveServer) -> None:
    idle = timedelta(hours=get_settings().consent_draft_idle_hours)
    _at(demo, NOW)
    with _client(demo, "zhangsan") as client:
        page, _, consent = _consent(client)
        assert client.post(APPLY, data=_posted(page)).status_code == 303
    _at(demo, NOW + 3 * idle)
    with _client(demo, "zhangsan") as client:
        assert _consent_state(client, consent) == "有效"


# --- revoking asks first ----------------------------------------------------------------------------------


def test_revoking_asks_first_and_says_what_changes(demo: LiveServer, zhangsan: httpx.Client) -> None:
    _, _, consent = _consent(zhangsan)
    confirm = zhangsan.get(f"/me/consents/{consent}/revoke")
    assert confirm.status_code == 200
    assert "撤回后会怎样" in confirm.text and "尚未提交的这份申请将不再自动预填" in confirm.text
    assert _consent_state(zhangsan, consent) == "有效"  # looking at the question changes nothing


# --- role homes -------------------------------------------------------------------------------------------

HOMES = {"zhangsan": "/me/applications", "nhc-staff": "/workbench", "nhc-admin": "/workbench",
         "operator": "/operator", "auditor": "/auditor"}
_NAV = re.compile(r'<nav class="site-nav"[^>]*>(.*?)</nav>', re.S)
_HREF = re.compile(r'href="(/[^"#?]*)"')


@pytest.mark.parametrize("name", sorted(HOMES))
def test_each_role_lands_on_its_home_and_its_menu_never_answers_403(demo: LiveServer, name: str) -> None:
    with httpx.Client(base_url=demo.url, timeout=30, headers={"Accept": "text/html"}) as client:
        landed = _sign_in(client, name)
        assert landed.headers["location"] == HOMES[name]
        home = client.get(HOMES[name])
        assert home.status_code == 200, home.text
        menu = _NAV.search(home.text)
        assert menu is not None
        links = set(_HREF.findall(menu.group(1))) - {"/logout"}
        assert HOMES[name] in links or name in ("nhc-staff", "nhc-admin")
        for link in links:
            assert client.get(link).status_code == 200, (name, link)


def test_an_explicit_next_page_still_wins(demo: LiveServer) -> None:
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        assert _sign_in(client, "auditor", "/exchange/resources").headers["location"] == "/exchange/resources"


def test_the_auditor_searches_the_log_as_html(demo: LiveServer, zhangsan: httpx.Client) -> None:
    _, ref, _ = _consent(zhangsan)
    with _client(demo, "auditor") as auditor:
        found = auditor.get("/auditor", params={"action": "exchange.consent", "actor_name": "zhangsan"})
        assert found.status_code == 200 and found.headers["content-type"].startswith("text/html")
        entries = re.findall(r'href="/auditor/entries/(\d+)"', found.text)
        assert entries and "exchange.consent.granted" in found.text
        detail = auditor.get(f"/auditor/entries/{entries[-1]}")  # the newest: the consent just granted
        assert detail.status_code == 200 and ref in detail.text and "本条哈希" in detail.text
        assert "盐值" in detail.text  # unchained by default (ADR 021): prev_hash holds the entry's salt
        none = auditor.get("/auditor", params={"action": "exchange.consent", "since": "2000-01-01",
                                               "until": "2000-01-02"})
        assert "没有符合条件的记录" in none.text
        chain = auditor.get("/auditor/chain")
        assert chain.status_code == 200 and "完好" in chain.text
    with _client(demo, "operator") as operator:
        assert operator.get("/auditor").status_code == 403  # separation of duties


def test_the_operator_home_lists_what_the_operator_can_do(demo: LiveServer) -> None:
    with _client(demo, "operator") as operator:
        page = operator.get("/operator")
        assert page.status_code == 200
        for text in ("部门与对接地址", "用户", "事项目录版本", "重点事项清单", "数据资源目录发布",
                     "开户", "zhangsan"):
            assert text in page.text, text
