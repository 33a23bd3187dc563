"""Shared data in the apply flow, over real HTTP on both databases, with the demo registries and grants built
through the services (``accounts.demo``, ``exchange.demo``): consent → prefilled, locked fields and exempt
materials → submission re-fetches and records each proof → the fetches on the applicant's data-use list; the
client cannot claim exemptions or change a locked value; a revoked consent and a holder that is down both fall
back to upload without blocking submission; closing the application closes its consent.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from onething.accounts.api import SYSTEM, issue_token
from onething.accounts.demo import create_demo_users, demo_password
from onething.audit import tree
from onething.config import get_settings
from onething.db import session_scope
from onething.exchange.demo import load_exchange_demo
from tests.case_forms import checked_radios, hidden_inputs, sign_in
from tests.live import LiveServer

from .test_api_catalog import assert_problem
from .test_exchange_providers import SANDBOX_SECRET as SECRET
from .test_exchange_providers import sandbox

# The exchange's holders are the demo registries here (holders without a service of their own).
pytestmark = pytest.mark.usefixtures("demo_mode")

APPLY = "/things/after-death/apply"
EXEMPT = {"applicant_id_card", "death_certificate", "household_register_book", "kinship_proof",
          "household_cancellation_proof"}
TYPED = {"applicant_phone": "13800138000", "bank_name": "示例银行", "bank_account": "6222020200112233"}
_FIELD = re.compile(r'name="field\.(?P<name>[^"]+)" type="[^"]+" value="(?P<value>[^"]*)"')


@pytest.fixture
def demo(live_server: LiveServer) -> LiveServer:
    assert live_server.engine is not None
    create_demo_users(live_server.engine)
    load_exchange_demo(live_server.engine)
    return live_server


@pytest.fixture
def zhangsan(demo: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        sign_in(client, "zhangsan", demo_password())
        yield client


def _bearer(server: LiveServer, name: str) -> dict[str, str]:
    assert server.engine is not None
    with session_scope(server.engine) as session:
        return {"Authorization": f"Bearer {issue_token(session, SYSTEM, user_name=name, now=datetime.now(UTC))}"}


def _consent(client: httpx.Client) -> tuple[str, str, str]:
    """Open the apply page, see the consent panel, agree: (prefilled page, application ref, consent id)."""
    panel = client.get(APPLY)
    assert panel.status_code == 200, panel.text
    agreed = client.post(APPLY + "/consent", data={**hidden_inputs(panel.text), "decision": "agree"})
    assert agreed.status_code == 303, agreed.text
    query = parse_qs(urlsplit(agreed.headers["location"]).query)
    page = client.get(agreed.headers["location"])
    assert page.status_code == 200, page.text
    return page.text, query["ref"][0], query["consent"][0]


def _posted(page: str, **typed: str) -> dict[str, str]:
    """What a browser posts from the apply page: hidden inputs, the (read-only) prefilled inputs, typed values."""
    body = {**hidden_inputs(page), **checked_radios(page)}
    body |= {f"field.{m['name']}": html.unescape(m["value"]) for m in _FIELD.finditer(page)
             if f"field.{m['name']}" not in body}
    return body | {f"field.{name}": value for name, value in {**TYPED, **typed}.items()}


def _submit_page(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post(APPLY, data=body)
    assert response.status_code == 303, response.text
    return response.headers["location"].split("#")[0].split("?")[0].rsplit("/", 1)[-1]


def _form_values() -> dict[str, str]:
    """The after-death form as an API client fills it, every field typed (no shared data)."""
    return {"deceased_name": "张建国", "deceased_id_number": "110101195806150033", "death_date": "2026-11-18",
            "death_place": "示例医院", "applicant_name": "张三", "applicant_id_number": "110101199003070011",
            "relation_to_deceased": "child", "cremation_date": "2026-11-21", "funeral_home": "示例殡仪馆",
            "hpf_account_number": "110000123456", **TYPED}


def _statuses(application: dict[str, Any]) -> dict[str, str]:
    return {m["id"]: m["status"] for m in application["plan"]["materials"]}


def test_consent_prefill_exempt_submit_and_uses(demo: LiveServer, zhangsan: httpx.Client) -> None:
    panel = zhangsan.get(APPLY)
    assert panel.status_code == 200
    # The consent panel comes first: exactly which resources, holders, fields, for what, until when.
    for text in ("授权调用您的数据", "居民死亡医学证明（推断）信息", "卫生健康委员会", "死亡原因", "公安局",
                 "办理个人身后“一件事”", "授权有效期至", "同意", "不同意（自行填写并上传材料）"):
        assert text in panel.text, text
    assert 'id="apply-form"' not in panel.text

    page, ref, consent = _consent(zhangsan)
    assert page.count('data-locked="true"') >= 8 and "数据有误？报告错误" in page
    assert "来源：卫生健康委员会·居民死亡医学证明（推断）信息" in page
    for material in EXEMPT:
        assert f'data-material="{material}" data-status="exempt"' in page
    assert 'data-material="deceased_id_card" data-status="submit"' in page

    # Whatever the client claims about exemptions or prefill is not even read.
    forged = {"exempt": "deceased_id_card", "material_status.deceased_id_card": "exempt",
              "prefill.applicant_phone": "13900139000"}
    app_id = _submit_page(zhangsan, _posted(page) | forged)
    token = _bearer(demo, "zhangsan")
    application = zhangsan.get(f"/api/v1/applications/{app_id}", headers=token).json()
    shared = application["shared_data"]
    assert shared["application_ref"] == ref and shared["consent"] == consent
    assert set(shared["exempt_materials"]) == EXEMPT
    assert {m for m, s in _statuses(application).items() if s == "exempt"} == EXEMPT
    assert shared["exempt_materials"]["death_certificate"]["resource"] == "medical_death_certificate"
    assert shared["exempt_materials"]["death_certificate"]["holder"] == "nhc"
    assert shared["prefilled_fields"]["death_date"]["locked"] is True
    assert application["form"]["deceased_name"] == "张建国" and application["form"]["death_date"] == "2026-11-18"

    # Each proof is a served fetch on the chain, listed among the applicant's data uses.
    uses = {u["entry_id"]: u for u in zhangsan.get("/api/v1/me/data-uses", headers=token).json()}
    for proof in shared["exempt_materials"].values():
        use = uses[proof["audit_entry_id"]]
        assert use["outcome"] == "served" and use["application_ref"] == ref and use["consent_id"] == consent
        assert use["resource"] == proof["resource"] and use["department"] and use["purpose"]

    # 证明: each use on 谁用了我的数据 links its inclusion proof, served once the sequencer has taken it in.
    death_use = shared["exempt_materials"]["death_certificate"]["audit_entry_id"]
    uses_page = zhangsan.get("/me/data-uses")
    assert f'href="/api/v1/audit/entries/{death_use}/proof"' in uses_page.text and "证明" in uses_page.text
    assert zhangsan.get(f"/api/v1/audit/entries/{death_use}/proof").status_code == 404  # not yet a leaf
    assert demo.engine is not None
    with session_scope(demo.engine) as session:
        tree.integrate(session, datetime(2026, 12, 2, tzinfo=UTC))
    proof = zhangsan.get(f"/api/v1/audit/entries/{death_use}/proof")
    assert proof.status_code == 200 and f"id {death_use}\n" in proof.json()["leaf"]

    mine = zhangsan.get(f"/me/applications/{app_id}")
    death_proof = shared["exempt_materials"]["death_certificate"]["audit_entry_id"]
    assert "免提交依据" in mine.text and "已记录" in mine.text and f"审计记录 #{death_proof}" not in mine.text
    task = next(t for t in application["tasks"] if t["procedure"] == "cremation-certificate")
    with httpx.Client(base_url=demo.url, timeout=30) as staff:
        sign_in(staff, "mca-staff", demo_password())
        task_page = staff.get(f"/workbench/tasks/{task['id']}")
    assert task_page.status_code == 200 and "免提交依据" in task_page.text and "审计记录 #" in task_page.text
    # Staff see the proofs, never the applicant's consent id (it let a holder's staff fetch with it).
    assert consent not in task_page.text
    seen = zhangsan.get(f"/api/v1/applications/{app_id}", headers=_bearer(demo, "mca-staff"))
    assert seen.status_code == 200 and seen.json()["shared_data"]["consent"] is None
    assert consent not in seen.text and seen.json()["shared_data"]["exempt_materials"]


def test_locked_values_reports_and_closing(demo: LiveServer, zhangsan: httpx.Client) -> None:
    token = _bearer(demo, "zhangsan")
    _, ref, consent = _consent(zhangsan)
    body = {"thing": "after-death", "answers": {}, "consent": consent}

    # A locked field with another value is refused, naming the field.
    changed = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "lock-1"},
                            json={**body, "form": {**TYPED, "deceased_name": "李某"}})
    problem = assert_problem(changed, 422)
    assert any(e["field"] == "form.deceased_name" for e in problem["errors"])

    # Without the consent the same client gets no exemption at all, whatever it sends.
    plain = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "plain-1"},
                          json={"thing": "after-death", "answers": {}, "form": _form_values()})
    assert plain.status_code == 201, plain.text
    assert plain.json()["shared_data"] is None and set(_statuses(plain.json()).values()) == {"submit"}

    # With it: locked fields come from the fetch, materials are exempt with their proof.
    given = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "api-1"},
                          json={**body, "form": TYPED})
    assert given.status_code == 201, given.text
    application = given.json()
    assert application["shared_data"]["application_ref"] == ref
    assert set(application["shared_data"]["exempt_materials"]) == EXEMPT
    assert application["form"]["death_cause"] == "心力衰竭"
    again = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "api-1"},
                          json={**body, "form": TYPED})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    reused = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "api-2"},
                           json={**body, "form": TYPED})
    assert any(e["field"] == "consent" for e in assert_problem(reused, 422)["errors"])
    stranger = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "api-3"},
                             json={**body, "consent": "no-such-consent", "form": TYPED})
    assert_problem(stranger, 422)

    # After reporting an error in the death certificate data, its fields are editable on a new application.
    reported = zhangsan.post("/api/v1/me/corrections", headers=token, json={
        "resource": "medical_death_certificate", "fields": ["death_cause"], "description": "死亡原因有误"})
    assert reported.status_code == 201, reported.text
    page, _, second = _consent(zhangsan)
    assert 'data-field="death_cause" data-locked' not in page and "您已报告该数据有误" in page
    corrected = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "api-4"},
                              json={**body, "consent": second, "form": {**TYPED, "death_cause": "其他疾病"}})
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["form"]["death_cause"] == "其他疾病"

    # Withdrawing closes the consent: it now ends consent_after_close_days after the withdrawal.
    before = next(c for c in zhangsan.get("/api/v1/me/consents", headers=token).json() if c["id"] == consent)
    withdrawn = zhangsan.post(f"/api/v1/applications/{application['id']}/withdraw", headers=token)
    assert withdrawn.status_code == 200, withdrawn.text
    after = next(c for c in zhangsan.get("/api/v1/me/consents", headers=token).json() if c["id"] == consent)
    limit = datetime.now(UTC) + timedelta(days=get_settings().consent_after_close_days, minutes=5)
    assert datetime.fromisoformat(after["expires_at"]) <= limit
    assert datetime.fromisoformat(after["expires_at"]) < datetime.fromisoformat(before["expires_at"])


def test_revoked_consent_still_submits(demo: LiveServer, zhangsan: httpx.Client) -> None:
    token = _bearer(demo, "zhangsan")
    page, ref, consent = _consent(zhangsan)
    revoked = zhangsan.post(f"/api/v1/exchange/consents/{consent}/revoke", headers=token)
    assert revoked.status_code == 200, revoked.text

    app_id = _submit_page(zhangsan, _posted(page))  # the page still shows the prefilled values
    application = zhangsan.get(f"/api/v1/applications/{app_id}", headers=token).json()
    assert set(_statuses(application).values()) == {"submit"}
    shared = application["shared_data"]
    assert shared["exempt_materials"] == {} and set(shared["refused"].values()) == {"consent"}
    refused = [u for u in zhangsan.get("/api/v1/me/data-uses", headers=token).json()
               if u["application_ref"] == ref and u["outcome"] == "refused"]
    assert {u["resource"] for u in refused} >= {"medical_death_certificate", "population_basic"}
    assert all(u["reason"] == "consent" and u["consent_id"] == consent for u in refused)


def test_holder_down_degrades(demo: LiveServer, zhangsan: httpx.Client, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    with sandbox(tmp_path, "medical_death_certificate", {}) as (url, process):
        process.terminate()
        process.wait(timeout=10)
        monkeypatch.setenv("ONETHING_EXCHANGE_PROVIDERS", json.dumps({"medical_death_certificate": url}))
        monkeypatch.setenv("ONETHING_EXCHANGE_PROVIDER_SECRETS", json.dumps({"medical_death_certificate": SECRET}))
        monkeypatch.setenv("ONETHING_PROVIDER_TIMEOUT_SECONDS", "1")
        get_settings.cache_clear()
        try:
            page, ref, _ = _consent(zhangsan)
            assert 'id="holder-unavailable"' in page and "卫生健康委员会（居民死亡医学证明（推断）信息）" in page
            assert 'data-field="death_date" data-locked' not in page
            assert 'data-material="death_certificate" data-status="submit"' in page
            assert 'data-material="kinship_proof" data-status="exempt"' in page  # other holders still answer
            app_id = _submit_page(zhangsan, _posted(page, death_date="2026-11-18", death_place="示例医院"))
        finally:
            monkeypatch.delenv("ONETHING_EXCHANGE_PROVIDERS")
            monkeypatch.delenv("ONETHING_EXCHANGE_PROVIDER_SECRETS")
            monkeypatch.delenv("ONETHING_PROVIDER_TIMEOUT_SECONDS")
            get_settings.cache_clear()
    token = _bearer(demo, "zhangsan")
    application = zhangsan.get(f"/api/v1/applications/{app_id}", headers=token).json()
    assert _statuses(application)["death_certificate"] == "submit"
    assert _statuses(application)["kinship_proof"] == "exempt"
    assert application["shared_data"]["unavailable"] == {"medical_death_certificate": "nhc"}
    assert application["form"]["death_date"] == "2026-11-18"
    uses = zhangsan.get("/api/v1/me/data-uses", headers=token).json()
    assert any(u["outcome"] == "unavailable" and u["application_ref"] == ref for u in uses)
