"""The case runtime through a real HTTP server on SQLite and PostgreSQL: submit once, decide in DAG order,
supplement round trip, completion, results, rating — with the audit chain and the outbox written per change.

Users and tokens are made through the accounts service; everything else goes through the pinned API.
The server's clock is the test's (``app.state.clock``), so working-day arithmetic is checked exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from onething import db
from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.audit import service as audit
from onething.audit.tables import AuditEntry
from onething.cases.tables import ApplicationRow, OutboxEvent
from onething.catalog.model import Catalog
from onething.config import get_settings
from onething.intake import plan as make_plan
from tests.live import LiveServer

THING = "open-restaurant"
ID_ZHANG = "110101199003070011"     # fictional, checksum-valid
USCC_ACME = "91110105MA01ABCD00"
USCC_OTHER = "91110000MA01ABCD0J"
MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)        # 09:00 in Beijing, Monday 2 March 2026
THURSDAY = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)

SAMPLE = {"text": "示例", "address": "北京市东城区示例路1号", "int": 80, "money": "50.00", "date": "2026-01-05",
          "bool": True, "id_number": ID_ZHANG, "uscc": USCC_ACME, "phone": "13800138000"}


@dataclass
class Clock:
    now: datetime = MONDAY

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    """A served app with an applicant, a second applicant and staff of each department of the thing."""

    server: LiveServer
    http: httpx.Client
    clock: Clock
    catalog: Catalog
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers=self.as_(who), **kwargs)

    def post(self, who: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, headers={**self.as_(who), **(headers or {})}, **kwargs)

    def submit(self, key: str, body: dict[str, Any], who: str = "acme") -> httpx.Response:
        return self.post(who, "/api/v1/applications", json=body, headers={"Idempotency-Key": key})

    def decide(self, who: str, task: dict[str, Any], body: dict[str, Any],
               version: int | str | None = None) -> httpx.Response:
        """A decision; an approval without ``produced`` fills the fields its procedure produces with samples."""
        headers = {} if version == "omit" else {"If-Match": str(version if version is not None else task["version"])}
        if body.get("kind") == "approve" and "produced" not in body:
            body = {**body, "produced": self.produced_for(who, task)}
        return self.post(who, f"/api/v1/tasks/{task['id']}/decision", json=body, headers=headers)

    def produced_for(self, who: str, task: dict[str, Any]) -> dict[str, Any]:
        """Sample values of the fields the task's procedure produces (the 营业执照 produces the USCC)."""
        application = self.get(who, f"/api/v1/applications/{task['application']}")
        if application.status_code != 200:
            return {}
        plan = application.json()["plan"]
        produces = next((p.get("produces", []) for p in plan["procedures"] if p["id"] == task["procedure"]), [])
        types = {f["id"]: f["type"] for f in plan["form"]["fields"]}
        return {field_id: SAMPLE[types[field_id]] for field_id in produces}

    def tasks_of(self, application_id: str, who: str = "acme") -> dict[str, dict[str, Any]]:
        response = self.get(who, f"/api/v1/applications/{application_id}")
        assert response.status_code == 200, response.text
        return {t["procedure"]: t for t in response.json()["tasks"]}

    def staff_for(self, task: dict[str, Any]) -> str:
        return f"{task['department']}-staff"

    def accept_and_approve(self, task: dict[str, Any], result: dict[str, Any] | None = None) -> dict[str, Any]:
        who = self.staff_for(task)
        accepted = self.decide(who, task, {"kind": "accept"})
        assert accepted.status_code == 200, accepted.text
        approved = self.decide(who, accepted.json(), {"kind": "approve", "result": result or {"number": "T-1"}})
        assert approved.status_code == 200, approved.text
        return approved.json()


def valid_form(catalog: Catalog, answers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid value for every field of the merged form the answers lead to."""
    planned = make_plan(catalog, THING, answers or {})
    return {f.id: (f.choices[0].value if f.type == "choice" else SAMPLE[f.type]) for f in planned.form.fields}


@pytest.fixture
def world(live_server: LiveServer, http: httpx.Client) -> Iterator[World]:
    catalog: Catalog = live_server.app.state.catalog
    clock = Clock()
    live_server.app.state.clock = clock
    world = World(server=live_server, http=http, clock=clock, catalog=catalog)
    departments = sorted({p.department for p in make_plan(catalog, THING, {}).procedures} | {"tax"})
    engine = live_server.engine
    assert engine is not None
    with db.session_scope(engine) as session:
        create_user(session, name="acme", role="applicant", uscc=USCC_ACME, now=MONDAY)
        create_user(session, name="other", role="applicant", uscc=USCC_OTHER, now=MONDAY)
        create_user(session, name="ops", role="operator", now=MONDAY)
        for department in departments:
            create_user(session, name=f"{department}-staff", role="staff", department=department, now=MONDAY)
    with db.session_scope(engine) as session:
        for name in ("acme", "other", "ops", *(f"{d}-staff" for d in departments)):
            world.tokens[name] = issue_token(session, SYSTEM, user_name=name, now=MONDAY)
    yield world


def body_for(world: World, **answers: Any) -> dict[str, Any]:
    return {"thing": THING, "answers": answers, "form": valid_form(world.catalog, answers)}


def count(world: World, model: Any, *conditions: Any) -> int:
    assert world.server.engine is not None
    with db.session_scope(world.server.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


# --- submission -----------------------------------------------------------------------------------------


def test_submit_twice_with_one_key_makes_one_case(world: World) -> None:
    body = body_for(world)
    first = world.submit("key-1", body)
    assert first.status_code == 201, first.text
    app = first.json()
    assert {"id", "status", "thing", "plan", "tasks", "supplements", "promised_due"} <= app.keys()
    assert app["status"] == "submitted" and app["thing"] == THING and app["supplements"] == []
    for task in app["tasks"]:
        assert {"id", "application", "procedure", "department", "status", "version", "due"} <= task.keys()
        assert task["application"] == app["id"]
    # The server's plan, not the client's: critical path 6 working days from Monday 2 March → 10 March.
    assert app["plan"]["promised_days"] == 6 and app["promised_due"] == "2026-03-10"
    stage_one = [t for t in app["tasks"] if not t["after"]]
    assert [t["procedure"] for t in stage_one] == ["business-registration"]
    assert stage_one[0]["status"] == "ready" and stage_one[0]["due"] == "2026-03-03"
    assert all(t["status"] == "waiting" and t["due"] is None for t in app["tasks"] if t["after"])

    again = world.submit("key-1", body)
    assert again.status_code == 201 and again.json()["id"] == app["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(world, ApplicationRow) == 1

    other_body = world.submit("key-1", {**body, "answers": {"fire_route": "inspection"}})
    assert other_body.status_code == 409
    assert other_body.headers["content-type"].startswith("application/problem+json")
    assert count(world, ApplicationRow) == 1

    # Keys are per applicant: another applicant's same key is another case.
    theirs = world.submit("key-1", {**body, "form": {**body["form"], "enterprise_uscc": USCC_OTHER}}, who="other")
    assert theirs.status_code == 201 and theirs.json()["id"] != app["id"]

    missing = world.http.post("/api/v1/applications", json=body, headers=world.as_("acme"))
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "Idempotency-Key"
    assert world.http.post("/api/v1/applications", json=body, headers={"Idempotency-Key": "x"}).status_code == 401


def test_422_lists_every_bad_field(world: World) -> None:
    form = valid_form(world.catalog)
    form.update({
        "legal_rep_phone": "12345",                 # phone
        "legal_rep_id_number": ID_ZHANG[:-1] + "2",  # resident ID check character
        # enterprise_uscc: produced by business registration (its department enters it, checked on approval —
        # tests/integration/test_produces.py), so what a client sends for it here is ignored, not an error.
        "enterprise_uscc": USCC_ACME[:-1] + "1",
        "registered_capital": "12.345",             # money: two decimals at most
        "enterprise_type": "no-such-choice",        # choice
        "unknown_field": "x",                       # not on the form
    })
    del form["enterprise_name"]                     # required
    response = world.submit("bad-1", {"thing": THING, "answers": {}, "form": form})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in problem["errors"]} == {
        "form.legal_rep_phone", "form.legal_rep_id_number", "form.registered_capital",
        "form.enterprise_type", "form.unknown_field", "form.enterprise_name",
    }
    bad_answers = world.submit("bad-2", {"thing": THING, "answers": {"fire_route": "many"}, "form": form})
    assert bad_answers.status_code == 422
    assert [e["field"] for e in bad_answers.json()["errors"]] == ["answers.fire_route"]
    unknown = world.submit("bad-3", {"thing": "no-such-thing", "answers": {}, "form": {}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "thing"
    assert count(world, ApplicationRow) == 0


# --- decisions ------------------------------------------------------------------------------------------


def test_decisions_follow_the_dag_with_versions_and_departments(world: World) -> None:
    app = world.submit("dag", body_for(world)).json()
    tasks = world.tasks_of(app["id"])
    licence, permit = tasks["business-registration"], tasks["food-business-permit"]

    # A waiting task cannot be decided yet.
    assert world.decide("samr-staff", permit, {"kind": "accept"}).status_code == 409
    # Approval needs acceptance first (受理 before 决定).
    assert world.decide("samr-staff", licence, {"kind": "approve", "result": {}}).status_code == 409
    # If-Match: missing → 428, stale → 412.
    assert world.decide("samr-staff", licence, {"kind": "accept"}, version="omit").status_code == 428
    assert world.decide("samr-staff", licence, {"kind": "accept"}, version=licence["version"] - 1).status_code == 412
    # Another department's task does not exist for the caller.
    assert world.decide("fire-staff", licence, {"kind": "accept"}).status_code == 404
    assert world.get("fire-staff", f"/api/v1/tasks/{licence['id']}").status_code == 404
    assert world.get("tax-staff", f"/api/v1/applications/{app['id']}").status_code == 404

    detail = world.get("samr-staff", f"/api/v1/tasks/{licence['id']}")
    assert detail.status_code == 200 and detail.headers["ETag"] == f'"{licence["version"]}"'
    accepted = world.decide("samr-staff", detail.json(), {"kind": "accept"}, version=detail.headers["ETag"])
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert accepted.headers["ETag"] == f'"{accepted.json()["version"]}"'
    assert world.get("acme", f"/api/v1/applications/{app['id']}").json()["status"] == "in_progress"
    # Reusing the old version now fails: someone else's change cannot be overwritten.
    assert world.decide("samr-staff", licence, {"kind": "approve", "result": {}}).status_code == 412

    # An approval names its document and number (文书名称、文号): the service refuses it without (422).
    blank = world.decide("samr-staff", accepted.json(), {"kind": "approve", "result": {"document": " "}})
    assert blank.status_code == 422 and blank.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in blank.json()["errors"]} >= {"result.document", "result.number"}, blank.text

    world.clock.now = THURSDAY
    approved = world.decide("samr-staff", accepted.json(), {"kind": "approve", "result": {"number": "L-1"}})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    after = world.tasks_of(app["id"])
    for name in ("food-business-permit", "fire-safety-check-commitment", "outdoor-signboard-permit"):
        # Ready now, due counted from Thursday: permit 5 working days → Thursday 12 March.
        assert after[name]["status"] == "ready"
    assert after["food-business-permit"]["due"] == "2026-03-12"
    # 告知承诺: 1 working day (window on the spot, online within one working day) → Friday 6 March.
    assert after["fire-safety-check-commitment"]["due"] == "2026-03-06"

    queue = world.get("samr-staff", "/api/v1/tasks", params={"status": "ready"})
    assert queue.status_code == 200
    assert [t["procedure"] for t in queue.json()] == ["food-business-permit"]
    assert all(t["department"] == "samr" for t in world.get("samr-staff", "/api/v1/tasks").json())
    assert world.get("samr-staff", "/api/v1/tasks", params={"department": "fire"}).status_code == 403
    assert world.get("samr-staff", "/api/v1/tasks", params={"status": "nonsense"}).status_code == 422
    # Staff see only their own department's work in the application.
    seen = world.get("fire-staff", f"/api/v1/applications/{app['id']}").json()
    assert {t["department"] for t in seen["tasks"]} == {"fire"}
    assert "registered_capital" not in seen["form"]

    rejected = world.decide("urban-staff", after["outdoor-signboard-permit"], {"kind": "reject"})
    assert rejected.status_code == 422 and rejected.json()["errors"][0]["field"] == "reason"


def test_applicant_sees_only_their_own(world: World) -> None:
    app = world.submit("mine", body_for(world)).json()
    assert world.get("other", f"/api/v1/applications/{app['id']}").status_code == 404
    assert world.get("other", f"/api/v1/applications/{app['id']}/results").status_code == 404
    assert world.post("other", f"/api/v1/applications/{app['id']}/rating", json={"score": 1}).status_code == 404
    assert world.get("other", "/api/v1/applications").json() == []
    assert [a["id"] for a in world.get("acme", "/api/v1/applications").json()] == [app["id"]]
    assert world.get("acme", "/api/v1/applications/00000000-0000-0000-0000-000000000000").status_code == 404
    # Applicants decide nothing.
    task = next(iter(world.tasks_of(app["id"]).values()))
    assert world.decide("acme", task, {"kind": "accept"}).status_code == 404
    assert world.get("ops", f"/api/v1/applications/{app['id']}").status_code == 200


# --- supplement, completion, results, rating ------------------------------------------------------------


def test_supplement_round_trip_completion_results_and_rating(world: World) -> None:
    app = world.submit("full", body_for(world)).json()
    tasks = world.tasks_of(app["id"])
    world.accept_and_approve(tasks["business-registration"], {"number": "L-1"})
    tasks = world.tasks_of(app["id"])
    world.accept_and_approve(tasks["outdoor-signboard-permit"])
    permit = world.decide("samr-staff", tasks["food-business-permit"], {"kind": "accept"}).json()

    # Monday: fire asks for a supplement (补正) — a field and a material.
    fire = tasks["fire-safety-check-commitment"]
    asked = world.decide("fire-staff", fire, {
        "kind": "request_supplement", "reason": "消防安全责任人信息有误，请补正并上传承诺书",
        "fields": ["fire_safety_manager_name"], "materials": ["fire_safety_commitment"]})
    assert asked.status_code == 200 and asked.json()["status"] == "supplement_required"
    seen = world.get("acme", f"/api/v1/applications/{app['id']}").json()
    assert seen["status"] == "supplement_required"
    [supplement] = seen["supplements"]
    assert {"id", "status", "reason", "fields", "materials"} <= supplement.keys()
    assert supplement["status"] == "open" and supplement["fields"] == ["fire_safety_manager_name"]
    # While paused, the department cannot move it.
    assert world.decide("fire-staff", asked.json(), {"kind": "accept"}).status_code == 409

    # Thursday: the applicant answers; the material must be uploaded first.
    world.clock.now = THURSDAY
    path = f"/api/v1/applications/{app['id']}/supplements/{supplement['id']}"
    incomplete = world.post("acme", path, json={"form": {"fire_safety_manager_name": "李四"}})
    assert incomplete.status_code == 422
    assert [e["field"] for e in incomplete.json()["errors"]] == ["materials.fire_safety_commitment"]
    upload = world.post("acme", f"/api/v1/applications/{app['id']}/files",
                        data={"material": "fire_safety_commitment"},
                        files={"file": ("承诺书.pdf", b"%PDF-1.7 commitment", "application/pdf")})
    assert upload.status_code == 201, upload.text
    answered = world.post("acme", path, json={"form": {"fire_safety_manager_name": "李四"}})
    assert answered.status_code == 200, answered.text
    after = answered.json()
    assert after["status"] == "in_progress" and after["form"]["fire_safety_manager_name"] == "李四"
    assert after["supplements"][0]["status"] == "answered"
    by_name = {t["procedure"]: t for t in after["tasks"]}
    # Only the asking task went back to work; approvals given stay; others untouched.
    assert by_name["fire-safety-check-commitment"]["status"] == "accepted"
    assert by_name["business-registration"]["status"] == "approved"
    assert by_name["outdoor-signboard-permit"]["status"] == "approved"
    assert by_name["food-business-permit"]["status"] == "accepted"
    assert by_name["food-business-permit"]["version"] == permit["version"]
    # The clock paused Monday → Thursday (3 working days): due moves from Tue 3 to Fri 6 March.
    assert by_name["fire-safety-check-commitment"]["paused_days"] == 3
    assert by_name["fire-safety-check-commitment"]["due"] == "2026-03-06"
    assert after["promised_due"] == "2026-03-13"
    assert world.post("acme", path, json={"form": {"fire_safety_manager_name": "王五"}}).status_code == 409

    # Results only once everything is approved.
    assert world.get("acme", f"/api/v1/applications/{app['id']}/results").status_code == 409
    assert world.post("acme", f"/api/v1/applications/{app['id']}/rating", json={"score": 5}).status_code == 409
    approve = world.decide("fire-staff", by_name["fire-safety-check-commitment"],
                           {"kind": "approve", "result": {"number": "XF-1"}})
    assert approve.status_code == 200
    last = world.decide("samr-staff", by_name["food-business-permit"],
                        {"kind": "approve", "result": {"number": "JY-1"}})
    assert last.status_code == 200
    done = world.get("acme", f"/api/v1/applications/{app['id']}").json()
    assert done["status"] == "completed" and done["completed_at"] is not None

    results = world.get("acme", f"/api/v1/applications/{app['id']}/results")
    assert results.status_code == 200
    items = results.json()["results"]
    assert sorted(r["procedure"] for r in items) == sorted(by_name)
    licence = next(r for r in items if r["procedure"] == "business-registration")
    assert licence["document"] == "营业执照" and licence["result"]["number"] == "L-1"

    # Rating once (好差评); a bad score opens a rectification for that department.
    rating = world.post("acme", f"/api/v1/applications/{app['id']}/rating", json={
        "score": 4, "comment": "整体顺利", "tasks": {by_name["food-business-permit"]["id"]: 2}})
    assert rating.status_code == 201, rating.text
    [item] = rating.json()["rectifications"]
    assert item["department"] == "samr" and item["status"] == "open" and item["due"] == "2026-03-12"
    again = world.post("acme", f"/api/v1/applications/{app['id']}/rating", json={"score": 5})
    assert again.status_code == 409
    assert [r["id"] for r in world.get("samr-staff", "/api/v1/rectifications").json()] == [item["id"]]
    assert world.get("fire-staff", "/api/v1/rectifications").json() == []
    # The department answers (整改答复) once; another department cannot see the item; the applicant sees the answer.
    answer_path = f"/api/v1/rectifications/{item['id']}/answer"
    assert world.post("fire-staff", answer_path, json={"answer": "已核实"}).status_code == 404
    assert world.post("samr-staff", answer_path, json={"answer": "  "}).status_code == 422
    answered = world.post("samr-staff", answer_path, json={"answer": "已核实，窗口人员已培训"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "answered" and answered.json()["answer"] == "已核实，窗口人员已培训"
    assert world.post("samr-staff", answer_path, json={"answer": "再次答复"}).status_code == 409
    seen = world.get("acme", f"/api/v1/applications/{app['id']}/rating").json()
    assert [(r["status"], r["answer"]) for r in seen["rectifications"]] == [("answered", "已核实，窗口人员已培训")]
    bad = world.submit("rate-bad", body_for(world))
    assert world.post("acme", f"/api/v1/applications/{bad.json()['id']}/rating",
                      json={"score": 9}).status_code == 409  # not finished yet: state first


def test_bad_scores_are_named(world: World) -> None:
    app = world.submit("scores", body_for(world)).json()
    for task in world.tasks_of(app["id"]).values():
        if task["status"] == "ready":
            world.accept_and_approve(task)
    for task in world.tasks_of(app["id"]).values():
        if task["status"] == "ready":
            world.accept_and_approve(task)
    assert world.get("acme", f"/api/v1/applications/{app['id']}").json()["status"] == "completed"
    response = world.post("acme", f"/api/v1/applications/{app['id']}/rating",
                          json={"score": 0, "tasks": {"nope": 3}})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"score", "tasks.nope"}
    whole = world.post("acme", f"/api/v1/applications/{app['id']}/rating", json={"score": 1, "comment": "太慢"})
    assert whole.status_code == 201
    # A bad rating of the whole goes to the thing's lead department (牵头部门).
    assert [r["department"] for r in whole.json()["rectifications"]] == [world.catalog.things[THING].lead]


def test_rejection_cancels_open_work(world: World) -> None:
    app = world.submit("reject", body_for(world)).json()
    licence = world.tasks_of(app["id"])["business-registration"]
    response = world.decide("samr-staff", licence, {"kind": "reject", "reason": "名称与已登记企业重复"})
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    after = world.get("acme", f"/api/v1/applications/{app['id']}").json()
    assert after["status"] == "rejected"
    assert {t["status"] for t in after["tasks"] if t["procedure"] != "business-registration"} == {"cancelled"}
    withdrawn = world.submit("withdraw", body_for(world)).json()
    response = world.post("acme", f"/api/v1/applications/{withdrawn['id']}/withdraw")
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    assert world.post("acme", f"/api/v1/applications/{withdrawn['id']}/withdraw").status_code == 409


# --- files ----------------------------------------------------------------------------------------------


def test_file_upload_limits_and_hash(world: World) -> None:
    app = world.submit("files", body_for(world)).json()
    url = f"/api/v1/applications/{app['id']}/files"
    ok = world.post("acme", url, data={"material": "premises_proof"},
                    files={"file": ("lease.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100, "image/png")})
    assert ok.status_code == 201
    import hashlib

    assert ok.json()["sha256"] == hashlib.sha256(b"\x89PNG\r\n\x1a\n" + b"0" * 100).hexdigest()
    assert ok.json()["material"] == "premises_proof" and ok.json()["size"] == 108
    listed = world.get("acme", f"/api/v1/applications/{app['id']}").json()["files"]
    assert [f["id"] for f in listed] == [ok.json()["id"]]
    wrong_type = world.post("acme", url, data={"material": "premises_proof"},
                            files={"file": ("x.exe", b"MZ...", "application/x-msdownload")})
    assert wrong_type.status_code == 415
    disguised = world.post("acme", url, data={"material": "premises_proof"},
                           files={"file": ("x.pdf", b"MZ not a pdf", "application/pdf")})
    assert disguised.status_code == 415
    unknown = world.post("acme", url, data={"material": "no_such_material"},
                         files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
    assert unknown.status_code == 422
    big = world.post("acme", url, data={"material": "premises_proof"},
                     files={"file": ("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "application/pdf")})
    assert big.status_code == 413
    theirs = world.post("other", url, data={"material": "premises_proof"},
                        files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})
    assert theirs.status_code == 404


def test_staff_see_only_their_own_departments_files(world: World) -> None:
    """File names and hashes are shown to the department whose procedure uses the material, not to others;
    the applicant (and an operator) see every file of the application."""
    app = world.submit("own-files", body_for(world)).json()
    url = f"/api/v1/applications/{app['id']}/files"
    department_of = {p["id"]: p["department"] for p in app["plan"]["procedures"]}
    users = {m["id"]: {department_of[p] for p in m["procedures"]} for m in app["plan"]["materials"]}
    only = {d: next(m for m, ds in users.items() if ds == {d}) for ds in users.values() if len(ds) == 1 for d in ds}
    assert len(only) >= 2, "the thing has materials used by one department each"
    mine, theirs = sorted(only)[:2]
    uploaded = {}
    for department in (mine, theirs):
        response = world.post("acme", url, data={"material": only[department]},
                              files={"file": (f"{department}-secret.pdf", b"%PDF-1.4 " + department.encode(),
                                              "application/pdf")})
        assert response.status_code == 201, response.text
        uploaded[department] = response.json()
    for who in ("acme", "ops"):
        assert {f["id"] for f in world.get(who, f"/api/v1/applications/{app['id']}").json()["files"]} == {
            f["id"] for f in uploaded.values()}
    seen = world.get(f"{mine}-staff", f"/api/v1/applications/{app['id']}")
    assert seen.status_code == 200
    assert [f["id"] for f in seen.json()["files"]] == [uploaded[mine]["id"]]
    assert uploaded[theirs]["sha256"] not in seen.text and f"{theirs}-secret.pdf" not in seen.text


def test_personal_responses_are_never_stored(world: World) -> None:
    """Cache-Control: no-store on every personal response, API and pages, errors included; public pages and
    static assets stay cacheable."""
    app = world.submit("no-store", body_for(world)).json()
    html = {"Accept": "text/html"}

    def page(who: str, path: str) -> httpx.Response:
        return world.http.get(path, headers={**world.as_(who), **html})

    personal = [world.get("acme", f"/api/v1/applications/{app['id']}"), world.get("acme", "/api/v1/applications"),
                world.get("acme", "/api/v1/me/data-uses"), page("acme", "/me/data-uses"),
                page("acme", "/me/applications"), page("acme", f"/me/applications/{app['id']}"),
                world.get("other", f"/api/v1/applications/{app['id']}"),  # 404 problem+json
                world.http.get("/api/v1/me/data-uses"),                     # 401, no credential
                page("acme", "/")]                                          # any page shown to someone signed in
    assert [r.status_code for r in personal] == [200, 200, 200, 200, 200, 200, 404, 401, 200]
    for response in personal:
        assert response.headers.get("cache-control") == "no-store", (response.request.url, response.headers)
    public = world.http.get("/", headers=html)
    static = world.get("acme", "/static/css/cases.css")
    assert public.status_code == static.status_code == 200
    assert "no-store" not in public.headers.get("cache-control", "")
    assert "no-store" not in static.headers.get("cache-control", "")


# --- audit and outbox -----------------------------------------------------------------------------------


def test_every_state_change_is_audited_and_sent(world: World) -> None:
    app = world.submit("audit", body_for(world)).json()
    n_tasks = len(app["tasks"])
    tasks = world.tasks_of(app["id"])
    world.accept_and_approve(tasks["business-registration"])
    tasks = world.tasks_of(app["id"])
    fire = tasks["fire-safety-check-commitment"]
    asked = world.decide("fire-staff", fire, {"kind": "request_supplement", "reason": "请补正",
                                              "fields": ["fire_safety_manager_name"]})
    sid = world.get("acme", f"/api/v1/applications/{app['id']}").json()["supplements"][0]["id"]
    assert world.post("acme", f"/api/v1/applications/{app['id']}/supplements/{sid}",
                      json={"form": {"fire_safety_manager_name": "李四"}}).status_code == 200
    assert asked.status_code == 200
    for task in world.tasks_of(app["id"]).values():
        if task["status"] in ("ready", "accepted"):
            if task["status"] == "ready":
                task = world.decide(world.staff_for(task), task, {"kind": "accept"}).json()
            approved = world.decide(world.staff_for(task), task, {"kind": "approve", "result": {"number": "T-2"}})
            assert approved.status_code == 200, approved.text
    assert world.post("acme", f"/api/v1/applications/{app['id']}/rating", json={"score": 5}).status_code == 201

    engine = world.server.engine
    assert engine is not None
    with db.session_scope(engine) as session:
        entries = list(session.execute(select(AuditEntry).where(AuditEntry.application_id == app["id"])
                                       .order_by(AuditEntry.id)).scalars())
        actions = [e.action for e in entries]
        assert actions.count("application.submitted") == 1
        assert actions.count("task.created") == n_tasks
        assert actions.count("task.ready") == n_tasks          # each task became ready once
        # accept + approve each; fire asked for a supplement instead of accepting, and resumed accepted
        assert actions.count("task.decided") == 2 * n_tasks
        assert actions.count("supplement.requested") == 1 and actions.count("supplement.answered") == 1
        assert actions.count("task.resumed") == 1
        assert actions.count("application.in_progress") == 2   # first acceptance, and back from the supplement
        assert actions.count("application.supplement_required") == 1
        assert actions.count("application.completed") == 1 and actions.count("application.rated") == 1
        decided = next(e for e in entries if e.action == "task.decided")
        assert decided.actor_name == "samr-staff" and decided.actor_role == "staff"
        assert decided.before == {"status": "ready", "version": 2}
        assert decided.after == {"status": "accepted", "version": 3}
        # No personal data in the audit trail: form values stay in the application.
        assert all(ID_ZHANG not in str(e.data) and "李四" not in str(e.data) for e in entries)
        checked, bad = audit.verify(session)
        assert bad is None and checked >= len(entries)

        events = list(session.execute(select(OutboxEvent).where(OutboxEvent.application_id == app["id"])
                                      .order_by(OutboxEvent.id)).scalars())
        kinds = [e.kind for e in events]
        departments = {t["department"] for t in app["tasks"]}
        assert kinds.count("application.submitted") == len(departments)
        assert kinds.count("task.ready") == n_tasks
        assert kinds.count("task.decided") == 2 * n_tasks
        assert kinds.count("supplement.requested") == 1 and kinds.count("supplement.answered") == 1
        assert kinds.count("application.completed") == len(departments)
        assert kinds.count("application.rated") == len(departments)
        assert all(e.payload["event_id"] == e.event_id and e.payload["kind"] == e.kind for e in events)
        assert len({e.event_id for e in events}) == len(events)

    # Tampering with one entry breaks the chain at that entry. (PostgreSQL refuses the UPDATE outright with a
    # trigger, so the forger must first switch it off, as a database owner could.)
    with db.session_scope(engine) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        victim = session.scalar(select(AuditEntry).where(AuditEntry.action == "application.completed"))
        assert victim is not None
        victim.data = {"forged": True}
        session.flush()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
    with db.session_scope(engine) as session:
        assert audit.verify(session)[1] == victim.id


# --- deadlines ------------------------------------------------------------------------------------------


def test_overdue_and_due_soon(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    app = world.submit("late", body_for(world)).json()
    licence = world.tasks_of(app["id"])["business-registration"]   # due Tuesday 3 March
    world.clock.now = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    soon = world.get("samr-staff", "/api/v1/tasks/due-soon").json()
    assert [t["id"] for t in soon] == [licence["id"]] and soon[0]["days_left"] == 0
    assert world.get("samr-staff", "/api/v1/tasks/overdue").json() == []
    world.clock.now = datetime(2026, 3, 6, 1, 0, tzinfo=UTC)
    late = world.get("samr-staff", "/api/v1/tasks/overdue").json()
    assert [(t["id"], t["overdue_days"]) for t in late] == [(licence["id"], 3)]
    assert world.get("fire-staff", "/api/v1/tasks/overdue").json() == []
    assert len(world.get("ops", "/api/v1/tasks/overdue").json()) == 1

    # The CLI lists the same from the database (real clock: March 2026 is long past).
    from onething.cli import app as cli

    assert world.server.engine is not None
    monkeypatch.setenv("ONETHING_DATABASE_URL", world.server.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["cases", "overdue", "--json"])
        assert result.exit_code == 0, result.output
        assert licence["id"] in result.output
        assert CliRunner().invoke(cli, ["cases", "due-soon", "--days", "3"]).exit_code == 0
    finally:
        get_settings.cache_clear()
        os.environ.pop("ONETHING_DATABASE_URL", None)


def test_due_date_in_an_unknown_year_is_an_explicit_error(world: World) -> None:
    # 2100 is known to nobody by construction (neither calendar.yaml nor any chinese-calendar release), so this
    # does not break when chinese-calendar learns a new year.
    world.clock.now = datetime(2100, 12, 27, 1, 0, tzinfo=UTC)
    response = world.submit("late-year", body_for(world))
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/calendar-year-unknown"
    assert "2100" in response.json()["detail"]
    assert count(world, ApplicationRow) == 0
