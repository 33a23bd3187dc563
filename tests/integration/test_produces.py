"""Produce, then consume — and 已核验 — over real HTTP on SQLite and PostgreSQL.

新生儿出生: the applicant is never asked the child's 公民身份号码 (出生登记 produces it); the police station must
enter it, checked, when it approves 出生登记 (without it, or with a bad check digit → 422 problem+json); the
later 医保参保 task, its department and the applicant then see it. 个人身后 with the applicant's consent: the
居民死亡医学证明 fetched as proof makes its procedure 已核验 — created completed with its proof, never in a
department's queue — and the tasks after it are ready at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from onething import db
from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.audit.tables import AuditEntry
from onething.catalog.model import Catalog
from onething.intake import plan as make_plan
from tests.case_forms import PASSWORD, hidden_inputs, sign_in
from tests.live import LiveServer

from .test_api_catalog import assert_problem
from .test_data_sharing import TYPED, _bearer, _consent, demo, zhangsan  # noqa: F401 (fixtures)

NEWBORN = "newborn"
ANSWERS = {"apply_ssc": False, "mother_employee_insured": False}
LISI = "110101198511120025"          # fictional, checksum-valid (the demo's 李四)
WANGWU = "110105198704180011"
CHILD = "11010120261110016X"         # the child's number the police station assigns (fictional, valid)
MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SAMPLE = {"text": "示例", "address": "北京市东城区示例路1号", "date": "2026-02-20", "id_number": WANGWU,
          "phone": "13800138000"}


@dataclass
class Clock:
    now: datetime = MONDAY

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Newborn:
    server: LiveServer
    http: httpx.Client
    catalog: Catalog
    tokens: dict[str, str] = field(default_factory=dict)

    def get(self, who: str, path: str) -> httpx.Response:
        return self.http.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def decide(self, task: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        who = f"{task['department']}-staff"
        return self.http.post(f"/api/v1/tasks/{task['id']}/decision", json=body, headers={
            "Authorization": f"Bearer {self.tokens[who]}", "If-Match": str(task["version"])})

    def tasks(self, application_id: str) -> dict[str, dict[str, Any]]:
        response = self.get("lisi", f"/api/v1/applications/{application_id}")
        assert response.status_code == 200, response.text
        return {t["procedure"]: t for t in response.json()["tasks"]}


@pytest.fixture
def newborn(live_server: LiveServer, http: httpx.Client) -> Iterator[Newborn]:
    catalog: Catalog = live_server.app.state.catalog
    live_server.app.state.clock = Clock()
    departments = sorted({p.department for p in make_plan(catalog, NEWBORN, ANSWERS).procedures})
    engine = live_server.engine
    assert engine is not None
    names = ["lisi", *(f"{d}-staff" for d in departments)]
    with db.session_scope(engine) as session:
        create_user(session, name="lisi", role="applicant", id_number=LISI, display_name="李四", now=MONDAY)
        for department in departments:
            create_user(session, name=f"{department}-staff", role="staff", department=department, now=MONDAY,
                        password=PASSWORD)
    world = Newborn(server=live_server, http=http, catalog=catalog)
    with db.session_scope(engine) as session:
        for name in names:
            world.tokens[name] = issue_token(session, SYSTEM, user_name=name, now=MONDAY)
    yield world


def _form(catalog: Catalog) -> dict[str, Any]:
    """Every asked field typed — and a value for the child's number too, which must be ignored."""
    planned = make_plan(catalog, NEWBORN, ANSWERS)
    form = {f.id: (f.choices[0].value if f.type == "choice" else SAMPLE[f.type]) for f in planned.form.fields
            if f.provided_by is None}
    return form | {"child_id_number": LISI}


def _approve(world: Newborn, task: dict[str, Any], produced: dict[str, Any] | None = None) -> httpx.Response:
    accepted = world.decide(task, {"kind": "accept"})
    assert accepted.status_code == 200, accepted.text
    return world.decide(accepted.json(), {"kind": "approve", "result": {"number": "批-1"}, "produced": produced or {}})


def test_the_police_station_fills_the_childs_number_and_later_tasks_see_it(newborn: Newborn) -> None:
    world = newborn
    created = world.http.post("/api/v1/applications", json={
        "thing": NEWBORN, "answers": ANSWERS, "form": _form(world.catalog)}, headers={
        "Authorization": f"Bearer {world.tokens['lisi']}", "Idempotency-Key": "newborn-1"})
    assert created.status_code == 201, created.text
    application = created.json()
    app_id = application["id"]
    fields = {f["id"]: f for f in application["plan"]["form"]["fields"]}
    assert fields["child_id_number"]["provided_by"] == "birth-household-registration"
    assert fields["child_id_number"]["required"] is False
    assert "child_id_number" not in application["form"]  # what the client sent for it is not the applicant's
    planned = {p["id"]: p for p in application["plan"]["procedures"]}
    assert planned["birth-household-registration"]["produces"] == ["child_id_number"]
    assert planned["birth-medical-certificate"]["produces"] == ["birth_certificate_number"]

    # The plan says who fills it, and does not list it among what the applicant fills in.
    shown = world.http.get(f"/things/{NEWBORN}/plan", params={"apply_ssc": "false"})
    assert shown.status_code == 200
    household_row = shown.text.split('data-procedure="birth-household-registration"', 1)[1].split("</li>", 1)[0]
    assert "办结后由部门填写：子女公民身份号码（无需您填写）" in household_row
    asked = shown.text.split('class="field-list"', 1)[1].split("</ul>", 1)[0]
    assert "子女公民身份号码" not in asked and "出生医学证明编号" not in asked

    tasks = world.tasks(app_id)
    # The hospital's 出生医学证明 produces its number: without it the approval is refused.
    refused = _approve(world, tasks["birth-medical-certificate"])
    problem = assert_problem(refused, 422)
    assert [e["field"] for e in problem["errors"]] == ["produced.birth_certificate_number"]
    task = world.tasks(app_id)["birth-medical-certificate"]
    assert world.decide(task, {"kind": "approve", "result": {"number": "批-1"},
                               "produced": {"birth_certificate_number": "Q110012345"}}).status_code == 200
    assert _approve(world, world.tasks(app_id)["birth-registration-service"]).status_code == 200

    household = world.tasks(app_id)["birth-household-registration"]
    assert household["status"] == "ready"
    accepted = world.decide(household, {"kind": "accept"}).json()
    missing = world.decide(accepted, {"kind": "approve", "result": {"number": "户-1"}})
    assert [e["field"] for e in assert_problem(missing, 422)["errors"]] == ["produced.child_id_number"]
    bad = world.decide(accepted, {"kind": "approve", "result": {"number": "批-1"},
                                  "produced": {"child_id_number": CHILD[:-1] + "1"}})
    assert [e["field"] for e in assert_problem(bad, 422)["errors"]] == ["produced.child_id_number"]
    stranger = world.decide(accepted, {"kind": "approve", "result": {"number": "批-1"},
                                       "produced": {"child_id_number": CHILD, "child_name": "别的"}})
    assert {e["field"] for e in assert_problem(stranger, 422)["errors"]} == {"produced.child_name"}
    not_now = world.decide(accepted, {"kind": "reject", "reason": "不符合条件",
                                      "produced": {"child_id_number": CHILD}})
    assert {e["field"] for e in assert_problem(not_now, 422)["errors"]} == {"produced"}
    assert world.tasks(app_id)["birth-household-registration"]["status"] == "accepted"  # nothing changed
    approved = world.decide(accepted, {"kind": "approve", "result": {"number": "户-1"},
                                       "produced": {"child_id_number": CHILD.lower()}})
    assert approved.status_code == 200, approved.text

    # The next task's department, and the applicant, see the number in the application's form.
    enrolment = world.tasks(app_id)["resident-medical-enrolment"]
    assert enrolment["status"] == "ready"
    seen = world.get("nhsa-staff", f"/api/v1/applications/{app_id}")
    assert seen.status_code == 200 and seen.json()["form"]["child_id_number"] == CHILD
    assert world.get("nhsa-staff", f"/api/v1/tasks/{enrolment['id']}").status_code == 200
    # The child's number is not the applicant's to supplement.
    asked = world.decide(enrolment, {"kind": "request_supplement", "reason": "请核对", "fields": ["child_id_number"]})
    assert [e["field"] for e in assert_problem(asked, 422)["errors"]] == ["fields.child_id_number"]
    mine = world.get("lisi", f"/api/v1/applications/{app_id}").json()
    assert mine["form"]["child_id_number"] == CHILD and mine["form"]["birth_certificate_number"] == "Q110012345"

    # The 户口页 certificate carries it; the audit chain names the field, never the number.
    engine = world.server.engine
    assert engine is not None
    with db.session_scope(engine) as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.application_id == app_id)).all()
        decided = [e for e in entries if e.action == "task.decided" and (e.data or {}).get("produced")]
        assert [e.data["produced"] for e in decided] == [["birth_certificate_number"], ["child_id_number"]]
        assert all(CHILD not in str(e.data) + str(e.after) + str(e.before) for e in entries)
    from onething.certificates.tables import CertificateRow

    with db.session_scope(engine) as session:
        certificate = session.scalar(select(CertificateRow).where(CertificateRow.task_id == household["id"]))
        assert certificate is not None and certificate.fields["child_id_number"] == CHILD


@pytest.mark.usefixtures("demo_mode")
def test_a_result_proven_by_shared_data_is_verified_not_pending(demo: LiveServer,  # noqa: F811
                                                                zhangsan: httpx.Client) -> None:  # noqa: F811
    token = _bearer(demo, "zhangsan")
    page, ref, consent = _consent(zhangsan)
    # The apply page's plan already says 已核验 for the procedure whose result the fetched data prove.
    planned_row = page.split('data-procedure="death-medical-certificate"', 1)[1].split("</li>", 1)[0]
    assert 'data-verified="true"' in planned_row and "已核验" in planned_row
    assert "居民死亡医学证明（推断）信息" in planned_row
    created = zhangsan.post("/api/v1/applications", headers={**token, "Idempotency-Key": "verified-1"},
                            json={"thing": "after-death", "answers": {}, "consent": consent, "form": TYPED})
    assert created.status_code == 201, created.text
    application = created.json()
    planned = {p["id"]: p for p in application["plan"]["procedures"]}
    assert planned["death-medical-certificate"]["verified_by"] == "medical_death_certificate"
    tasks = {t["procedure"]: t for t in application["tasks"]}
    death = tasks["death-medical-certificate"]
    proof = death["verified"]
    assert death["status"] == "approved" and proof["resource"] == "medical_death_certificate"
    assert proof["holder"] == "nhc" and proof["fetched_at"] and proof["audit_entry_id"]
    assert application["shared_data"]["verified_procedures"]["death-medical-certificate"] == proof
    # Its successors do not wait for it; the application is not yet in progress (no department started).
    assert tasks["cremation-certificate"]["status"] == "ready"
    assert tasks["death-household-cancellation"]["status"] == "ready"
    assert application["status"] == "submitted"
    # The proof is a served fetch on the applicant's data-use record.
    uses = {u["entry_id"]: u for u in zhangsan.get("/api/v1/me/data-uses", headers=token).json()}
    use = uses[proof["audit_entry_id"]]
    assert use["outcome"] == "served" and use["resource"] == "medical_death_certificate"
    assert use["application_ref"] == ref
    # No department works on it: it is in no queue, and deciding it is a conflict.
    queue = zhangsan.get("/api/v1/tasks", headers=_bearer(demo, "nhc-staff"), params={"status": "ready"})
    assert queue.status_code == 200 and death["id"] not in {t["id"] for t in queue.json()}
    decided = zhangsan.post(f"/api/v1/tasks/{death['id']}/decision", json={"kind": "accept"},
                            headers={**_bearer(demo, "nhc-staff"), "If-Match": str(death["version"])})
    assert_problem(decided, 409)
    # The applicant's page says 已核验 with the proof's resource and time.
    mine = zhangsan.get(f"/me/applications/{application['id']}")
    assert mine.status_code == 200
    row = mine.text.split('data-procedure="death-medical-certificate"', 1)[1].split("</li>", 1)[0]
    assert "已核验" in row and "居民死亡医学证明（推断）信息" in row


def test_the_workbench_asks_the_producing_department_for_the_childs_number(newborn: Newborn) -> None:
    world = newborn
    created = world.http.post("/api/v1/applications", json={
        "thing": NEWBORN, "answers": ANSWERS, "form": _form(world.catalog)}, headers={
        "Authorization": f"Bearer {world.tokens['lisi']}", "Idempotency-Key": "newborn-page"})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    assert _approve(world, world.tasks(app_id)["birth-medical-certificate"],
                    {"birth_certificate_number": "Q110012345"}).status_code == 200
    household = world.decide(world.tasks(app_id)["birth-household-registration"], {"kind": "accept"}).json()

    with httpx.Client(base_url=world.server.url, timeout=30) as staff:
        sign_in(staff, "mps-staff")
        page = staff.get(f"/workbench/tasks/{household['id']}")
        assert page.status_code == 200
        assert 'name="produced.child_id_number"' in page.text and "子女公民身份号码" in page.text
        # The child's number is not something to ask the applicant to supplement.
        assert 'id="supplement-field-child_id_number"' not in page.text
        body = {"csrf_token": hidden_inputs(page.text)["csrf_token"], "version": str(household["version"]),
                "kind": "approve", "document": "居民户口簿（新生儿户口页）", "number": "户-2"}
        missing = staff.post(f"/workbench/tasks/{household['id']}/decision", data=body)
        assert missing.status_code == 422 and 'id="produced-child_id_number-error"' in missing.text
        assert "请填写本事项产生的子女公民身份号码" in missing.text
        done = staff.post(f"/workbench/tasks/{household['id']}/decision",
                          data={**body, "produced.child_id_number": CHILD})
        assert done.status_code == 303, done.text

    with httpx.Client(base_url=world.server.url, timeout=30) as staff:
        sign_in(staff, "nhsa-staff")
        enrolment = world.tasks(app_id)["resident-medical-enrolment"]
        shown = staff.get(f"/workbench/tasks/{enrolment['id']}")
        assert shown.status_code == 200
        row = shown.text.split('data-field="child_id_number"', 1)[1].split("</div>", 1)[0]
        assert CHILD in row
