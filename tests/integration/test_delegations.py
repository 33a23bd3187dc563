"""Acting for others over real HTTP on SQLite and PostgreSQL (issue 11, items 3–4): an enterprise's 经办人
submits within the grant and is refused outside it (other thing, expired, revoked, other enterprise); a daughter
proves from shared data, with her consent, that she is next of kin of her late father and acts for him (refused
without the records or without consent); a document claim goes through staff review; an elderly person grants
a helper, sees every act and ends it. Every grant, use and revocation is on the audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from onething import db
from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.audit.tables import AuditEntry
from onething.cases.tables import ApplicationRow
from onething.catalog.model import Catalog
from onething.exchange.providers import file_record
from onething.intake import coerce_answers
from onething.intake import plan as make_plan
from tests.case_forms import ANSWERS, PDF, USCC_ACME, USCC_OTHER, checked_radios, resident_id
from tests.live import LiveServer

from .test_api_catalog import assert_problem

pytestmark = pytest.mark.usefixtures("demo_mode")  # the exchange's holders are the demo registries here

AGENT = resident_id("11010119900307003")       # 经办人 of acme (fictional)
DAUGHTER = resident_id("11010119880412002")    # a daughter
FATHER = resident_id("11010119560101001")      # her late father
ELDER = resident_id("11010119400203004")       # an elderly person who chooses a helper
STRANGER = resident_id("11010519851112002")
SAMPLE = {"text": "示例", "address": "北京市东城区示例路1号", "int": 80, "money": "50.00", "date": "2026-01-05",
          "bool": True, "id_number": FATHER, "uscc": USCC_ACME, "phone": "13800138000"}


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    server: LiveServer
    http: httpx.Client
    clock: Clock
    catalog: Catalog
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, path: str) -> httpx.Response:
        return self.http.get(path, headers=self.as_(who))

    def post(self, who: str, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(path, headers={**self.as_(who), **headers}, json=body)

    def submit(self, who: str, thing: str, key: str, on_behalf_of: str | None, answers: dict[str, Any]
               ) -> httpx.Response:
        body: dict[str, Any] = {"thing": thing, "answers": answers, "form": form_for(self.catalog, thing, answers)}
        if on_behalf_of is not None:
            body["on_behalf_of"] = on_behalf_of
        return self.post(who, "/api/v1/applications", body, **{"Idempotency-Key": key})

    def until(self, days: int) -> str:
        return (self.clock.now + timedelta(days=days)).isoformat()

    def entries(self, action: str) -> list[AuditEntry]:
        assert self.server.engine is not None
        with db.session_scope(self.server.engine) as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                        .order_by(AuditEntry.id)))


def answers_for(catalog: Catalog, thing: str) -> dict[str, Any]:
    """An answer to every question: its default, else its first choice, else false / 0."""
    out: dict[str, Any] = {}
    for question in catalog.thing(thing).questions:
        if question.default is not None:
            out[question.id] = question.default
        elif question.choices:
            out[question.id] = question.choices[0].value
        else:
            out[question.id] = 0 if question.type.value == "int" else False
    return out


def form_for(catalog: Catalog, thing: str, answers: dict[str, Any]) -> dict[str, Any]:
    """A valid merged form for the answers; {} where they do not fit the thing (the request is refused earlier)."""
    definition = catalog.thing(thing)
    try:
        planned = make_plan(catalog, definition, coerce_answers(definition, answers))
    except Exception:  # another thing's answers: the delegation check refuses first
        return {}
    return {f.id: (f.choices[0].value if f.type == "choice" else SAMPLE[f.type]) for f in planned.form.fields}


@pytest.fixture
def world(live_server: LiveServer, http: httpx.Client) -> Iterator[World]:
    catalog: Catalog = live_server.app.state.catalog
    clock = Clock(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    live_server.app.state.clock = clock
    engine = live_server.engine
    assert engine is not None
    people: list[dict[str, Any]] = [
        {"name": "acme", "uscc": USCC_ACME, "display_name": "示例餐饮有限公司"},
        {"name": "other", "uscc": USCC_OTHER, "display_name": "另一家公司"},
        {"name": "agent", "id_number": AGENT, "display_name": "钱经办"},
        {"name": "daughter", "id_number": DAUGHTER, "display_name": "张小红"},
        {"name": "father", "id_number": FATHER, "display_name": "张大山"},
        {"name": "elder", "id_number": ELDER, "display_name": "孙奶奶"},
        {"name": "stranger", "id_number": STRANGER, "display_name": "路人"}]
    with db.session_scope(engine) as session:
        for person in people:
            create_user(session, role="applicant", now=clock.now, **person)
        create_user(session, name="mps-staff", role="staff", department="mps", now=clock.now)
        create_user(session, name="samr-staff", role="staff", department="samr", now=clock.now)
        death = {"deceased_name": "张大山", "deceased_id_number": FATHER, "death_date": "2026-11-18",
                 "death_place": "示例医院", "death_cause": "心力衰竭"}
        file_record(session, catalog.resources["medical_death_certificate"], DAUGHTER, death, clock.now, "近亲属")
        file_record(session, catalog.resources["kinship_relation"], DAUGHTER,
                    {"applicant_name": "张小红", "applicant_id_number": DAUGHTER, "relation_to_deceased": "child"},
                    clock.now, "近亲属")
    world = World(server=live_server, http=http, clock=clock, catalog=catalog)
    with db.session_scope(engine) as session:
        for name in [p["name"] for p in people] + ["mps-staff", "samr-staff"]:
            world.tokens[name] = issue_token(session, SYSTEM, user_name=name, now=clock.now)
    yield world


def test_agent_acts_for_the_enterprise_only_within_the_grant(world: World) -> None:
    w = world
    assert_problem(w.http.get("/api/v1/delegations"), 401)
    # Nobody may act for acme before it grants anything.
    body = assert_problem(w.submit("agent", "open-restaurant", "k0", USCC_ACME, ANSWERS), 403)
    assert body["type"] == "/problems/not-authorised-to-act"

    granted = w.post("acme", "/api/v1/delegations", {"agent_id_number": AGENT, "agent_name": "钱经办",
                                                     "things": ["open-restaurant"], "valid_until": w.until(30)})
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    assert grant["kind"] == "enterprise" and grant["state"] == "active" and grant["role"] == "principal"
    assert grant["agent"]["id_number"] != AGENT and grant["agent"]["id_number"].endswith(AGENT[-4:])  # masked
    assert_problem(w.post("acme", "/api/v1/delegations", {"agent_id_number": "123", "agent_name": "",
                                                          "things": ["no-such-thing"],
                                                          "valid_until": w.until(-1)}), 422)

    # Within the grant: the enterprise is the applicant, the agent is recorded as the actor.
    submitted = w.submit("agent", "open-restaurant", "k1", USCC_ACME, ANSWERS)
    assert submitted.status_code == 201, submitted.text
    app = submitted.json()
    assert app["delegation"] == grant["id"] and app["acted_by"] is not None
    seen = w.get("acme", f"/api/v1/applications/{app['id']}")
    assert seen.status_code == 200 and seen.json()["acted_by_name"] == "钱经办"
    # The enterprise's own key is not the agent's: reusing it is a conflict, not a replay of the agent's.
    mine = w.post("acme", "/api/v1/applications", {"thing": "open-restaurant", "answers": ANSWERS,
                                                   "form": form_for(w.catalog, "open-restaurant", ANSWERS),
                                                   "on_behalf_of": USCC_ACME}, **{"Idempotency-Key": "k1"})
    assert_problem(mine, 403)  # the enterprise has no grant to act for itself
    same_key = w.post("acme", "/api/v1/applications", {"thing": "open-restaurant", "answers": ANSWERS,
                                                       "form": form_for(w.catalog, "open-restaurant", ANSWERS)},
                      **{"Idempotency-Key": "k1"})
    assert_problem(same_key, 409)
    replay = w.submit("agent", "open-restaurant", "k1", USCC_ACME, ANSWERS)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    # The agent uploads the materials of what they submitted; a stranger cannot.
    material = app["plan"]["materials"][0]["id"]
    upload = {"file": ("材料.pdf", PDF, "application/pdf")}
    uploaded = w.http.post(f"/api/v1/applications/{app['id']}/files", headers=w.as_("agent"),
                           data={"material": material}, files=upload)
    assert uploaded.status_code == 201, uploaded.text
    assert_problem(w.http.post(f"/api/v1/applications/{app['id']}/files", headers=w.as_("stranger"),
                               data={"material": material}, files=upload), 404)
    assert w.get("agent", f"/api/v1/applications/{app['id']}").status_code == 200
    assert [a["id"] for a in w.get("agent", "/api/v1/applications").json()] == [app["id"]]
    assert w.server.engine is not None
    with db.session_scope(w.server.engine) as session:
        row = session.get(ApplicationRow, app["id"])
        assert row is not None and row.applicant_id != row.acted_by_id
    submitted_entry = next(e for e in w.entries("application.submitted") if e.subject_id == app["id"])
    assert submitted_entry.actor_name == "agent"

    # Outside it: another thing, another enterprise, not the agent, then expired.
    for who, thing, principal in (("agent", "open-convenience-store", USCC_ACME),
                                  ("agent", "open-restaurant", USCC_OTHER),
                                  ("stranger", "open-restaurant", USCC_ACME)):
        refused = assert_problem(w.submit(who, thing, f"x-{who}-{thing}-{principal}", principal, ANSWERS), 403)
        assert refused["type"] == "/problems/not-authorised-to-act"
    w.clock.now += timedelta(days=31)
    assert_problem(w.submit("agent", "open-restaurant", "k2", USCC_ACME, ANSWERS), 403)
    assert_problem(w.get("agent", f"/api/v1/applications/{app['id']}"), 404)  # no longer sees it
    assert_problem(w.http.post(f"/api/v1/applications/{app['id']}/files", headers=w.as_("agent"),
                               data={"material": material}, files=upload), 404)  # nor uploads to it
    assert w.get("agent", "/api/v1/applications").json() == []
    listed = w.get("acme", "/api/v1/delegations").json()
    assert listed["delegations"][0]["state"] == "expired"

    # A new grant, revoked at once by the enterprise: refused again; the agent cannot revoke others' grants.
    again = w.post("acme", "/api/v1/delegations", {"agent_id_number": AGENT, "agent_name": "钱经办",
                                                   "valid_until": w.until(10)}).json()
    assert again["things"] is None
    every = w.submit("agent", "open-convenience-store", "k3", USCC_ACME, answers_for(w.catalog,
                                                                                  "open-convenience-store"))
    assert every.status_code == 201, every.text  # a grant without things covers every thing
    assert_problem(w.post("other", f"/api/v1/delegations/{again['id']}/revoke", {}), 404)
    revoked = w.post("acme", f"/api/v1/delegations/{again['id']}/revoke", {})
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert_problem(w.post("acme", f"/api/v1/delegations/{again['id']}/revoke", {}), 409)
    assert_problem(w.submit("agent", "open-restaurant", "k4", USCC_ACME, ANSWERS), 403)

    # Every grant, use and revocation is audited and shown to the enterprise.
    acts = [a["action"] for a in w.get("acme", "/api/v1/delegations").json()["acts"]]
    assert {"delegation.granted", "delegation.used", "delegation.revoked"} <= set(acts)
    assert len(w.entries("delegation.granted")) == 2 and len(w.entries("delegation.revoked")) == 1
    used = w.entries("delegation.used")
    assert [e.application_id for e in used] == [app["id"], every.json()["id"]]
    assert all(e.actor_name == "agent" for e in used)
    page = w.http.get("/me/agents", headers={**w.as_("acme"), "Accept": "text/html"})
    assert page.status_code == 200 and "钱经办" in page.text and "已撤销" in page.text


def test_daughter_acts_for_her_late_father_proven_from_shared_data(world: World) -> None:
    w = world
    claim = {"kind": "next_of_kin", "principal_id_number": FATHER, "principal_name": "张大山",
             "valid_until": w.until(90)}
    # Without consent (and no document): refused, nothing read.
    no_consent = assert_problem(w.post("daughter", "/api/v1/delegations", claim), 422)
    assert any(e["field"] == "consent" for e in no_consent["errors"])
    assert w.entries("exchange.fetch.served") == []
    # A stranger with no records: the reads are on record, the relationship is not proven.
    refused = assert_problem(w.post("stranger", "/api/v1/delegations", {**claim, "consent": True}), 422)
    assert any(e["field"] == "relationship" for e in refused["errors"])
    assert w.entries("delegation.proof_failed")

    proven = w.post("daughter", "/api/v1/delegations", {**claim, "consent": True})
    assert proven.status_code == 201, proven.text
    delegation = proven.json()
    assert delegation["state"] == "active" and delegation["basis"] == "exchange" and delegation["role"] == "agent"
    assert delegation["proof"]["proven"] is True and delegation["proof"]["audit_entries"]
    # Her consent and each read appear in her 谁用了我的数据.
    uses = w.get("daughter", "/api/v1/me/data-uses").json()
    mine = [u for u in uses if u.get("consent_id") == delegation["proof"]["consent_id"]]
    assert {u["resource"] for u in mine} >= {"medical_death_certificate", "kinship_relation"}

    submitted = w.submit("daughter", "after-death", "d1", FATHER, answers_for(w.catalog, "after-death"))
    assert submitted.status_code == 201, submitted.text
    assert submitted.json()["delegation"] == delegation["id"]
    assert_problem(w.submit("stranger", "after-death", "s1", FATHER, {}), 403)
    # The daughter may give it up; then she can no longer act.
    assert w.post("daughter", f"/api/v1/delegations/{delegation['id']}/revoke", {}).status_code == 200
    assert_problem(w.submit("daughter", "after-death", "d2", FATHER, {}), 403)


def test_document_claim_is_reviewed_by_staff(world: World) -> None:
    w = world
    page = w.http.get("/me/agents", headers={**w.as_("stranger"), "Accept": "text/html"})
    assert page.status_code == 200
    files = {"document": ("出生医学证明.pdf", PDF, "application/pdf")}
    data = {"kind": "guardian", "principal_id_number": resident_id("11010120200101001"),
            "principal_name": "小明", "valid_until": w.until(60)[:10]}
    posted = w.http.post("/me/agents/claim", headers=w.as_("stranger"), data=data, files=files,
                         follow_redirects=False)
    assert posted.status_code == 303, posted.text
    pending = w.get("stranger", "/api/v1/delegations").json()["delegations"][0]
    assert pending["status"] == "pending_review" and pending["basis"] == "document"
    queue = w.get("mps-staff", "/api/v1/delegations").json()["delegations"]
    assert [d["id"] for d in queue] == [pending["id"]]
    assert_problem(w.get("samr-staff", "/api/v1/delegations"), 403)
    document = w.get("mps-staff", f"/api/v1/delegations/{pending['id']}/document")
    assert document.status_code == 200 and document.content == PDF
    assert_problem(w.post("mps-staff", f"/api/v1/delegations/{pending['id']}/review", {"approve": False}), 422)
    decided = w.post("mps-staff", f"/api/v1/delegations/{pending['id']}/review",
                     {"approve": False, "reason": "材料不清晰"})
    assert decided.status_code == 200 and decided.json()["status"] == "refused"
    assert_problem(w.post("mps-staff", f"/api/v1/delegations/{pending['id']}/review", {"approve": True}), 409)
    reviewed = w.entries("delegation.reviewed")
    assert len(reviewed) == 1 and reviewed[0].actor_name == "mps-staff"
    # A second claim, approved on the review page: active, with the reviewer on record.
    posted = w.http.post("/me/agents/claim", headers=w.as_("stranger"), data={**data, "principal_name": "小明"},
                         files={"document": ("户口簿.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32, "image/png")},
                         follow_redirects=False)
    assert posted.status_code == 303
    second = w.get("mps-staff", "/api/v1/delegations").json()["delegations"][0]
    approved = w.http.post(f"/workbench/delegations/{second['id']}/review", headers=w.as_("mps-staff"),
                           data={"decision": "approve"}, follow_redirects=False)
    assert approved.status_code == 303
    assert w.get("stranger", f"/api/v1/delegations/{second['id']}").json()["state"] == "active"
    # Not a PDF/PNG/JPEG, or nothing at all: refused on the page, naming the field.
    bad = w.http.post("/me/agents/claim", headers={**w.as_("stranger"), "Accept": "text/html"}, data=data,
                      files={"document": ("x.exe", b"MZ\x90\x00", "application/octet-stream")})
    assert bad.status_code == 422 and "PDF、PNG 或 JPEG" in bad.text


def test_parent_proves_guardianship_of_a_newborn_from_the_birth_record(world: World) -> None:
    w = world
    child = resident_id("11010120261110001")
    assert w.server.engine is not None
    with db.session_scope(w.server.engine) as session:
        file_record(session, w.catalog.resources["birth_medical_certificate"], DAUGHTER,
                    {"child_name": "王小宝", "child_birth_date": "2026-11-10", "mother_id_number": DAUGHTER,
                     "father_id_number": STRANGER}, w.clock.now, "母亲")
    claim = {"kind": "guardian", "principal_id_number": child, "principal_name": "王小宝", "consent": True,
             "valid_until": w.until(365)}
    made = w.post("daughter", "/api/v1/delegations", claim)
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "active" and made.json()["kind"] == "guardian"
    # The father on the record has no birth record filed under him here: not proven from data.
    assert_problem(w.post("stranger", "/api/v1/delegations", claim), 422)
    wrong_name = assert_problem(w.post("daughter", "/api/v1/delegations", {**claim, "principal_name": "王大宝"}), 422)
    assert "姓名" in wrong_name["errors"][0]["message"]
    reads = w.entries("exchange.fetch.served")
    assert reads and all(e.data["purpose"].startswith("核验代办关系") for e in reads)
    assert all(e.data["basis"] == "relationship" and e.data["consent_id"] for e in reads)


def test_elderly_person_grants_a_helper_sees_every_act_and_ends_it(world: World) -> None:
    w = world
    granted = w.post("elder", "/api/v1/delegations", {"agent_id_number": DAUGHTER, "agent_name": "张小红",
                                                      "things": ["elderly-subsidy"], "valid_until": w.until(365)})
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    assert grant["kind"] == "helper" and grant["basis"] == "principal"
    held = w.get("daughter", "/api/v1/delegations").json()["delegations"]
    assert [(d["id"], d["role"]) for d in held] == [(grant["id"], "agent")]
    submitted = w.submit("daughter", "elderly-subsidy", "e1", ELDER, answers_for(w.catalog, "elderly-subsidy"))
    assert submitted.status_code == 201, submitted.text
    acts = w.get("elder", "/api/v1/delegations").json()["acts"]
    assert acts[-1]["action"] == "delegation.granted"
    assert acts[0]["action"] == "delegation.used" and acts[0]["actor"] == "张小红"
    page = w.http.get("/me/data-uses", headers={**w.as_("elder"), "Accept": "text/html"})
    assert page.status_code == 200 and "代办" in page.text and "张小红" in page.text
    assert w.post("elder", f"/api/v1/delegations/{grant['id']}/revoke", {}).status_code == 200
    assert_problem(w.submit("daughter", "elderly-subsidy", "e2", ELDER, {}), 403)


def test_agent_applies_for_the_enterprise_on_the_apply_page(world: World) -> None:
    """The plain apply form offers 为谁申请 to an agent whose grant covers the thing; choosing the enterprise
    submits in its name with the agent recorded and the uploaded material attached by the agent."""
    from urllib.parse import urlencode

    from tests.case_forms import form_body, hidden_inputs, restaurant_plan, typed_values

    w = world
    apply = f"/things/open-restaurant/apply?{urlencode(ANSWERS)}&consent=none"  # no prefill for another
    before = w.http.get(apply, headers=w.as_("agent"))
    assert before.status_code == 200 and "为谁申请" not in before.text
    grant = w.post("acme", "/api/v1/delegations", {"agent_id_number": AGENT, "agent_name": "钱经办",
                                                   "things": ["open-restaurant"], "valid_until": w.until(30)}).json()
    page = w.http.get(apply, headers=w.as_("agent"))
    assert "为谁申请" in page.text and "代 示例餐饮有限公司" in page.text and USCC_ACME not in page.text
    hidden = hidden_inputs(page.text)
    data = form_body(typed_values(restaurant_plan(w.catalog))) | checked_radios(page.text) | {
        "idempotency_key": hidden["idempotency_key"], "on_behalf_of": grant["id"]}
    sent = w.http.post("/things/open-restaurant/apply", headers=w.as_("agent"), data=data,
                       files={"material.registration_application": ("申请书.pdf", PDF, "application/pdf")},
                       follow_redirects=False)
    assert sent.status_code == 303, sent.text
    app_id = sent.headers["location"].split("/")[-1].split("#")[0]
    seen = w.get("acme", f"/api/v1/applications/{app_id}").json()
    assert seen["acted_by_name"] == "钱经办" and seen["delegation"] == grant["id"]
    assert [f["material"] for f in seen["files"]] == ["registration_application"]
    # Another's delegation id on the form does not help: refused (403), nothing made.
    other = w.post("elder", "/api/v1/delegations", {"agent_id_number": DAUGHTER, "agent_name": "张小红",
                                                    "valid_until": w.until(30)}).json()
    data["idempotency_key"] = "another-key"
    data["on_behalf_of"] = other["id"]
    refused = w.http.post("/things/open-restaurant/apply", headers=w.as_("agent"), data=data,
                          follow_redirects=False)
    assert refused.status_code == 403


def test_agent_applies_for_the_enterprise_in_steps(world: World) -> None:
    """为谁申请 is chosen at 情形: the draft is the agent's, the application the enterprise's with the agent
    recorded and the draft's file attached; another's delegation id is refused before any draft is made."""
    import re
    from urllib.parse import urlencode

    from tests.case_forms import checked_radios, restaurant_plan, typed_values

    w = world
    grant = w.post("acme", "/api/v1/delegations", {"agent_id_number": AGENT, "agent_name": "钱经办",
                                                   "things": ["open-restaurant"], "valid_until": w.until(30)}).json()
    headers = w.as_("agent")
    situation = w.http.get(f"/things/open-restaurant/steps?{urlencode(ANSWERS)}", headers=headers)
    assert "为谁申请" in situation.text and "代 示例餐饮有限公司" in situation.text
    answers = {f"answer.{k}": v for k, v in ANSWERS.items()}
    other = w.post("elder", "/api/v1/delegations", {"agent_id_number": DAUGHTER, "agent_name": "张小红",
                                                    "valid_until": w.until(30)}).json()
    refused = w.http.post("/things/open-restaurant/steps", headers=headers,
                          data={**answers, "on_behalf_of": other["id"]}, follow_redirects=False)
    assert refused.status_code == 422
    started = w.http.post("/things/open-restaurant/steps", headers=headers,
                          data={**answers, "on_behalf_of": grant["id"], "decision": "agree"}, follow_redirects=False)
    assert started.status_code == 303, started.text
    base = started.headers["location"].removesuffix("/info/1")
    values = typed_values(restaurant_plan(w.catalog))
    number = 1
    while True:
        saved = w.http.post(f"{base}/info/{number}", headers=headers, follow_redirects=False,
                            data={f"field.{k}": v for k, v in values.items()})
        assert saved.status_code == 303, saved.text
        if saved.headers["location"].endswith("/materials"):
            break
        number += 1
    uploaded = w.http.post(f"{base}/materials", headers=headers, follow_redirects=False,
                           files={"material.registration_application": ("申请书.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 303, uploaded.text
    check = w.http.get(f"{base}/check", headers=headers)
    assert 'id="check-on-behalf"' in check.text
    sent = w.http.post(f"{base}/submit", headers=headers, data=checked_radios(check.text), follow_redirects=False)
    assert sent.status_code == 303, sent.text
    app_id = re.sub(r".*/", "", sent.headers["location"])
    seen = w.get("acme", f"/api/v1/applications/{app_id}").json()
    assert seen["acted_by_name"] == "钱经办" and seen["delegation"] == grant["id"]
    assert seen["shared_data"] is None or not seen["shared_data"].get("consent")  # no prefill for another
    assert [f["material"] for f in seen["files"]] == ["registration_application"]
    # The principal does not see the agent's draft.
    assert w.http.get(f"{base}/check", headers=w.as_("acme")).status_code == 404
