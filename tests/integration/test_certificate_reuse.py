"""Certificates are reused (电子证照复用), over real HTTP on SQLite and PostgreSQL with the demo users, registries
and grants built through the services: 李四's newborn application issues her the 预防接种证 certificate; in a
later 入学 application, with her consent, the exchange answers 儿童预防接种信息 with that certificate, so the
预防接种证 material is exempt with the certificate as proof, and the fetch — naming the certificate — is on
her data-use record. Without consent, with a revoked consent, or once the certificate is revoked, it is not
used: the material is to be submitted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from onething.accounts.api import actor_for_user
from onething.accounts.demo import create_demo_users
from onething.cases import prefill as shared_data
from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.exchange.demo import load_exchange_demo
from onething.intake import plan as make_plan
from tests.live import LiveServer

from .test_data_sharing import _bearer

pytestmark = pytest.mark.usefixtures("demo_mode")

LISI = "110101198511120025"
CHILD = "11010120261110016X"
NEWBORN_ANSWERS = {"apply_ssc": False, "mother_employee_insured": False}
SAMPLE = {"text": "王小宝", "address": "北京市东城区演示路66号2单元301", "date": "2026-11-10", "id_number": CHILD,
          "phone": "13800138000"}
VACCINATION = "vaccination_certificate"
# What the demo registries hold about 李四 (locked when prefilled, so typed the same).
KNOWN = {"applicant_name": "李四", "applicant_id_number": LISI, "mother_name": "李四", "mother_id_number": LISI}


@pytest.fixture
def demo(live_server: LiveServer) -> LiveServer:
    assert live_server.engine is not None
    create_demo_users(live_server.engine)
    load_exchange_demo(live_server.engine)
    return live_server


def _form(catalog: Catalog, thing: str, answers: dict[str, Any]) -> dict[str, Any]:
    planned = make_plan(catalog, thing, answers)
    return {f.id: (f.choices[0].value if f.type == "choice" else KNOWN.get(f.id, SAMPLE[f.type]))
            for f in planned.form.fields if f.provided_by is None}


def _decide(http: httpx.Client, server: LiveServer, task: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    headers = {**_bearer(server, f"{task['department']}-staff"), "If-Match": str(task["version"])}
    answer = http.post(f"/api/v1/tasks/{task['id']}/decision", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _newborn_certificates(http: httpx.Client, server: LiveServer) -> list[dict[str, Any]]:
    """李四 applies for 新生儿出生; the hospital issues the 出生医学证明 and then the 预防接种证."""
    catalog: Catalog = server.app.state.catalog
    token = _bearer(server, "lisi")
    created = http.post("/api/v1/applications", headers={**token, "Idempotency-Key": "newborn-reuse"}, json={
        "thing": "newborn", "answers": NEWBORN_ANSWERS, "form": _form(catalog, "newborn", NEWBORN_ANSWERS)})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]

    def task(procedure: str) -> dict[str, Any]:
        tasks = http.get(f"/api/v1/applications/{app_id}", headers=token).json()["tasks"]
        return next(t for t in tasks if t["procedure"] == procedure)

    for procedure, produced in (("birth-medical-certificate", {"birth_certificate_number": "Q110012345"}),
                                ("vaccination-certificate", {})):
        accepted = _decide(http, server, task(procedure), {"kind": "accept"})
        _decide(http, server, accepted, {"kind": "approve", "result": {"number": f"{procedure}-1"},
                                         "produced": produced})
    listed = http.get(f"/api/v1/applications/{app_id}/certificates", headers=token)
    assert listed.status_code == 200, listed.text
    return list(listed.json())


def _consent(server: LiveServer, thing: str) -> tuple[str, str]:
    """李四 agrees to exactly the offered consent for a new draft of ``thing`` (the apply page's service)."""
    engine = server.engine
    assert engine is not None
    catalog: Catalog = server.app.state.catalog
    with session_scope(engine) as session:
        lisi = actor_for_user(session, "lisi")
    ref = shared_data.new_ref()
    consent = shared_data.consent_to_prefill(engine, lisi, catalog, make_plan(catalog, thing, {}), ref=ref,
                                             now=datetime.now(UTC))
    return ref, consent.id


def _enrol(http: httpx.Client, server: LiveServer, key: str, consent: str | None = None) -> dict[str, Any]:
    catalog: Catalog = server.app.state.catalog
    body: dict[str, Any] = {"thing": "school-enrollment", "answers": {},
                            "form": _form(catalog, "school-enrollment", {})}
    if consent is not None:
        body["consent"] = consent
    created = http.post("/api/v1/applications", headers={**_bearer(server, "lisi"), "Idempotency-Key": key},
                        json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _status(application: dict[str, Any], material: str) -> str:
    return str(next(m["status"] for m in application["plan"]["materials"] if m["id"] == material))


def test_a_newborn_certificate_exempts_a_later_material_with_consent(demo: LiveServer, http: httpx.Client) -> None:
    certificates = _newborn_certificates(http, demo)
    vaccination = next(c for c in certificates if c["procedure"] == "vaccination-certificate")
    assert vaccination["status"] == "issued"

    # Without consent nothing of hers is fetched: the 预防接种证 is to be submitted.
    plain = _enrol(http, demo, "enrol-plain")
    assert plain["shared_data"] is None and _status(plain, VACCINATION) == "submit"

    # With her consent, her own certificate answers 儿童预防接种信息: exempt, the certificate as proof.
    ref, consent = _consent(demo, "school-enrollment")
    reused = _enrol(http, demo, "enrol-reuse", consent)
    assert _status(reused, VACCINATION) == "exempt", reused["shared_data"]
    proof = reused["shared_data"]["exempt_materials"][VACCINATION]
    assert proof["resource"] == "vaccination_records" and proof["holder"] == "nhc"
    assert proof["certificate"]["id"] == vaccination["id"]
    assert proof["certificate"]["title"] == "预防接种证（电子档案）"
    assert proof["certificate"]["number"] == "vaccination-certificate-1"

    # The use is on her record (谁用了我的数据), naming the certificate, the department and the purpose.
    uses = {u["entry_id"]: u for u in http.get("/api/v1/me/data-uses", headers=_bearer(demo, "lisi")).json()}
    use = uses[proof["audit_entry_id"]]
    assert use["outcome"] == "served" and use["application_ref"] == ref and use["consent_id"] == consent
    assert use["certificate"]["id"] == vaccination["id"] and use["department"] == "edu"
    # The applicant's page says which certificate proved it.
    with httpx.Client(base_url=demo.url, timeout=30) as browser:
        from onething.accounts.demo import demo_password
        from tests.case_forms import sign_in

        sign_in(browser, "lisi", demo_password())
        page = browser.get(f"/me/applications/{reused['id']}")
        uses_page = browser.get("/me/data-uses")
    assert page.status_code == 200
    assert "您的电子证照《预防接种证（电子档案）》（vaccination-certificate-1）" in page.text
    card = uses_page.text.split(f'id="use-{proof["audit_entry_id"]}"', 1)[1].split("</li>", 1)[0]
    assert "核验的证照" in card and "您的电子证照《预防接种证（电子档案）》（vaccination-certificate-1）" in card

    # A revoked consent is refused (on record), and the material is to be submitted.
    ref2, consent2 = _consent(demo, "school-enrollment")
    revoked = http.post(f"/api/v1/exchange/consents/{consent2}/revoke", headers=_bearer(demo, "lisi"))
    assert revoked.status_code == 200, revoked.text
    refused = _enrol(http, demo, "enrol-refused", consent2)
    assert _status(refused, VACCINATION) == "submit"
    assert refused["shared_data"]["refused"].get("vaccination_records") == "consent"
    assert any(u["outcome"] == "refused" and u["application_ref"] == ref2 and u["resource"] == "vaccination_records"
               for u in http.get("/api/v1/me/data-uses", headers=_bearer(demo, "lisi")).json())

    # Once the issuing department revokes the certificate, it proves nothing any more.
    revoke = http.post(f"/api/v1/certificates/{vaccination['id']}/revoke", json={"reason": "信息有误，重新签发"},
                       headers=_bearer(demo, "nhc-staff"))
    assert revoke.status_code == 200, revoke.text
    _, consent3 = _consent(demo, "school-enrollment")
    after = _enrol(http, demo, "enrol-after-revoke", consent3)
    assert _status(after, VACCINATION) == "submit"
    assert VACCINATION not in after["shared_data"]["exempt_materials"]
