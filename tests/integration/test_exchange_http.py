"""The exchange over real HTTP on both databases, with the shipped catalog: directory, grant → consent → fetch →
revoke → refused fetch (403 problem+json, on record), the citizen's data uses, corrections, the audit API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.db import session_scope
from onething.exchange.providers import file_record
from tests.live import LiveServer

from .test_api_catalog import assert_problem

# The exchange's holders are the demo registries here (holders without a service of their own).
pytestmark = pytest.mark.usefixtures("demo_mode")

ZHANGSAN = "110101199003070011"
FATHER = "110101195806150033"
DEATH = {"deceased_name": "张建国", "deceased_id_number": FATHER, "death_date": "2026-11-18",
         "death_place": "示例医院", "death_cause": "心力衰竭"}
USERS = (("zhangsan", "applicant", None, ZHANGSAN), ("nhc-admin", "dept_admin", "nhc", None),
         ("mca-admin", "dept_admin", "mca", None), ("mca-staff", "staff", "mca", None),
         ("hrss-staff", "staff", "hrss", None), ("auditor", "auditor", None, None))


def _tokens(server: LiveServer) -> dict[str, dict[str, str]]:
    from onething.catalog.service import active_catalog

    now = datetime.now(UTC)
    _, catalog = active_catalog(server.engine)
    headers = {}
    with session_scope(server.engine) as session:
        for name, role, department, id_number in USERS:
            create_user(session, name=name, role=role, department=department, id_number=id_number, now=now)
            headers[name] = {"Authorization": f"Bearer {issue_token(session, SYSTEM, user_name=name, now=now)}"}
        file_record(session, catalog.resources["medical_death_certificate"], ZHANGSAN, DEATH, now, "近亲属")
    return headers


def test_directory_needs_sign_in(live_server: LiveServer, http: httpx.Client) -> None:
    assert_problem(http.get("/api/v1/exchange/resources"), 401)
    headers = _tokens(live_server)
    for who in ("zhangsan", "mca-staff"):
        body = http.get("/api/v1/exchange/resources", headers=headers[who]).json()
        entry = next(e for e in body if e["id"] == "medical_death_certificate")
        assert {k: entry[k] for k in ("id", "holder", "sharing")} == {
            "id": "medical_death_certificate", "holder": "nhc", "sharing": "conditional"}
        assert "death_date" in entry["fields"] and entry["personal"] is True
        assert {e["sharing"] for e in body} <= {"unconditional", "conditional", "none"}
    page = http.get("/exchange/resources", headers={**headers["zhangsan"], "Accept": "text/html"})
    assert page.status_code == 200 and "政务数据资源目录" in page.text and "有条件共享" in page.text


def test_grant_consent_fetch_revoke(live_server: LiveServer, http: httpx.Client) -> None:
    h = _tokens(live_server)
    assert_problem(http.get("/api/v1/me/data-uses"), 401)
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    # mca applies for the conditional death certificate data; nhc decides; both see the due date.
    applied = http.post("/api/v1/exchange/grants", headers=h["mca-admin"], json={
        "resource": "medical_death_certificate", "purpose": "办理遗体火化", "procedures": ["cremation-certificate"],
        "legal_basis": "《殡葬管理条例》", "fields": ["deceased_name", "deceased_id_number", "death_date"],
        "expires_at": expires})
    assert applied.status_code == 201, applied.text
    grant = applied.json()
    assert grant["status"] == "pending" and grant["due"]
    assert_problem(http.post(f"/api/v1/exchange/grants/{grant['id']}/decision", headers=h["mca-admin"],
                             json={"approve": True}), 403)
    assert_problem(http.post(f"/api/v1/exchange/grants/{grant['id']}/decision", headers=h["nhc-admin"],
                             json={"approve": False}), 422)  # a refusal states why
    decided = http.post(f"/api/v1/exchange/grants/{grant['id']}/decision", headers=h["nhc-admin"],
                        json={"approve": True, "reason": "符合条件"})
    assert decided.json()["status"] == "approved"
    assert [g["id"] for g in http.get("/api/v1/exchange/grants", headers=h["mca-staff"]).json()] == [grant["id"]]
    assert_problem(http.post("/api/v1/exchange/grants", headers=h["mca-admin"], json={
        "resource": "population_basic", "purpose": "x", "procedures": ["cremation-certificate"], "legal_basis": "y",
        "fields": ["applicant_name"], "expires_at": expires}), 422)  # unconditional: nothing to apply for

    fetch = {"subject": ZHANGSAN, "resource": "medical_death_certificate", "purpose": "cremation-certificate",
             "fields": ["deceased_name", "death_date"], "application_ref": "app-1"}
    body = assert_problem(http.post("/api/v1/exchange/fetch", headers=h["mca-staff"], json=fetch), 403)
    assert body["type"] == "/problems/consent-required"

    consent = http.post("/api/v1/exchange/consents", headers=h["zhangsan"], json={
        "application_ref": "app-1", "purpose": "办理个人身后一件事", "procedures": ["cremation-certificate"],
        "resources": ["medical_death_certificate"], "fields": ["deceased_name", "deceased_id_number", "death_date"],
        "expires_at": expires})
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    fetch["consent_id"] = consent_id
    served = http.post("/api/v1/exchange/fetch", headers=h["mca-staff"], json=fetch)
    assert served.status_code == 200, served.text
    assert served.json()["values"] == {"deceased_name": "张建国", "death_date": "2026-11-18"}
    assert served.json()["holder"] == "nhc" and served.json()["grant_id"] == grant["id"]

    # Out of the grant's scope, another department, another purpose: refused.
    for who, change, kind in (("mca-staff", {"fields": ["death_cause"]}, "/problems/out-of-scope"),
                              ("mca-staff", {"fields": ["death_place"]}, "/problems/out-of-scope"),
                              ("hrss-staff", {"purpose": "employee-pension-death-benefits"},
                               "/problems/grant-required"),
                              ("mca-staff", {"purpose": "death-household-cancellation"}, "/problems/purpose")):
        refused = assert_problem(http.post("/api/v1/exchange/fetch", headers=h[who], json={**fetch, **change}), 403)
        assert refused["type"] == kind, (change, refused)

    # Revoke (as the page does: a plain form POST), then the next fetch is refused at once and recorded.
    revoked = http.post(f"/me/consents/{consent_id}/revoke", headers=h["zhangsan"], follow_redirects=False)
    assert revoked.status_code == 303
    body = assert_problem(http.post("/api/v1/exchange/fetch", headers=h["mca-staff"], json=fetch), 403)
    assert body["type"] == "/problems/consent-required" and "撤回" in body["detail"]
    assert_problem(http.post(f"/api/v1/exchange/consents/{consent_id}/revoke", headers=h["zhangsan"]), 409)
    assert_problem(http.post(f"/api/v1/exchange/consents/{consent_id}/revoke", headers=h["mca-staff"]), 404)

    uses = http.get("/api/v1/me/data-uses", headers=h["zhangsan"]).json()
    assert uses[0]["outcome"] == "refused" and uses[0]["reason"] == "consent"
    assert any(u["outcome"] == "served" and u["department"] == "mca" and u["consent_id"] == consent_id
               and u["grant_id"] == grant["id"] and u["application_ref"] == "app-1" for u in uses)
    assert all(u["resource"] == "medical_death_certificate" for u in uses)
    assert http.get("/api/v1/me/data-uses", headers=h["mca-staff"]).json() == []
    page = http.get("/me/data-uses", headers={**h["zhangsan"], "Accept": "text/html"})
    assert page.status_code == 200 and "谁用了我的数据" in page.text and "已拒绝" in page.text

    # Report an error in the data → a correction task on nhc's workbench, with a due date.
    reported = http.post("/api/v1/me/corrections", headers=h["zhangsan"], json={
        "resource": "medical_death_certificate", "fields": ["death_date"], "description": "死亡日期应为11月17日",
        "use_entry_id": uses[-1]["entry_id"]})
    assert reported.status_code == 201, reported.text
    tasks = http.get("/api/v1/exchange/corrections", headers=h["nhc-admin"]).json()
    assert [t["id"] for t in tasks] == [reported.json()["id"]] and tasks[0]["due"]
    assert http.get("/api/v1/exchange/corrections", headers=h["mca-staff"]).json() == []
    answered = http.post(f"/api/v1/exchange/corrections/{tasks[0]['id']}/answer", headers=h["nhc-admin"],
                         json={"corrected": True, "answer": "已核实更正"})
    assert answered.json()["status"] == "corrected"
    workbench = http.get("/workbench/exchange", headers={**h["nhc-admin"], "Accept": "text/html"})
    assert workbench.status_code == 200 and "数据纠错任务" in workbench.text and "收到的共享申请" in workbench.text

    # The audit API: public checkpoints, the auditor's search, nobody else's.
    assert http.get("/api/v1/audit/checkpoints").status_code == 200
    assert_problem(http.get("/api/v1/audit/entries"), 401)
    assert_problem(http.get("/api/v1/audit/entries", headers=h["zhangsan"]), 403)
    found = http.get("/api/v1/audit/entries", headers=h["auditor"],
                     params={"action_prefix": "exchange.fetch.", "application_id": "app-1"}).json()
    assert {e["action"] for e in found} == {"exchange.fetch.served", "exchange.fetch.refused"}
    assert all(ZHANGSAN not in str(e) for e in found), "resident IDs never go on the chain in clear"


def test_another_persons_consent_cannot_fetch_my_data(live_server: LiveServer, http: httpx.Client) -> None:
    """The reported attack: staff of the holder department, who saw applicant B's consent id, fetch with it and
    applicant A's ID number as the subject. Refused (403 problem+json), nothing of A's served, and the refusal
    is on A's data-use record — where A can see it — not on B's."""
    from onething.catalog.service import active_catalog

    victim, consenter = "110101198511120025", "110101195806150033"  # A and B, fictional, checksum-valid
    now = datetime.now(UTC)
    _, catalog = active_catalog(live_server.engine)
    h = {}
    with session_scope(live_server.engine) as session:
        for name, role, department, id_number in (("person-a", "applicant", None, victim),
                                                  ("person-b", "applicant", None, consenter),
                                                  ("mps-staff", "staff", "mps", None)):
            create_user(session, name=name, role=role, department=department, id_number=id_number, now=now)
            h[name] = {"Authorization": f"Bearer {issue_token(session, SYSTEM, user_name=name, now=now)}"}
        for id_number, person in ((victim, "甲某"), (consenter, "乙某")):
            file_record(session, catalog.resources["household_registration"], id_number,
                        {"applicant_name": person, "applicant_id_number": id_number, "applicant_address": "示例路1号"},
                        now)
    consent = http.post("/api/v1/exchange/consents", headers=h["person-b"], json={
        "application_ref": "app-b", "purpose": "办理户口注销", "procedures": ["death-household-cancellation"],
        "resources": ["household_registration"],
        "fields": ["applicant_name", "applicant_id_number", "applicant_address"],
        "expires_at": (now + timedelta(days=30)).isoformat()})
    assert consent.status_code == 201, consent.text
    attack = {"subject": victim, "resource": "household_registration", "purpose": "death-household-cancellation",
              "fields": ["applicant_name", "applicant_id_number", "applicant_address"], "application_ref": "app-b",
              "consent_id": consent.json()["id"]}

    refused = http.post("/api/v1/exchange/fetch", headers=h["mps-staff"], json=attack)
    body = assert_problem(refused, 403)
    assert body["type"] == "/problems/consent-subject-mismatch"
    assert victim not in refused.text and "甲某" not in refused.text and "示例路" not in refused.text

    # The consent still serves the person who gave it — the same call about B is served, on B's record.
    served = http.post("/api/v1/exchange/fetch", headers=h["mps-staff"], json={**attack, "subject": consenter})
    assert served.status_code == 200, served.text
    assert served.json()["values"]["applicant_name"] == "乙某"

    a_uses = http.get("/api/v1/me/data-uses", headers=h["person-a"]).json()
    assert [(u["outcome"], u["reason"], u["department"], u["resource"]) for u in a_uses] == [
        ("refused", "consent_subject", "mps", "household_registration")]
    assert a_uses[0]["consent_id"] is None, "B's consent is not shown to A as A's own"
    b_uses = http.get("/api/v1/me/data-uses", headers=h["person-b"]).json()
    assert [(u["outcome"], u["consent_id"]) for u in b_uses] == [("served", consent.json()["id"])]
    page = http.get("/me/data-uses", headers={**h["person-a"], "Accept": "text/html"})
    assert page.status_code == 200 and "所持授权不是您本人的" in page.text
