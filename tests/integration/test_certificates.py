"""Certificates (电子证照) through a real HTTP server on SQLite and PostgreSQL: an approval with a result issues
a signed certificate in the same transaction; the holder lists and downloads it; anyone verifies it; an
altered row no longer verifies; the issuing department revokes it, audited and announced.

The signature is also checked here without onething's code: the signed bytes are rebuilt from the stored row
by the form docs/certificates.md states, and checked with the public key the API publishes.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, text

from onething import db
from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.audit.tables import AuditEntry
from onething.cases.tables import OutboxEvent
from tests.integration.test_cases_api import ID_ZHANG, MONDAY, USCC_ACME, World, body_for, count
from tests.integration.test_cases_api import world as world  # the fixture, reused

LICENCE = "business-registration"


def _engine(world: World) -> Any:
    engine = world.server.engine
    assert engine is not None
    return engine


@pytest.fixture
def zhang(world: World) -> str:
    """An individual applicant, so that a resident ID number is the certificate holder's identifier."""
    with db.session_scope(_engine(world)) as session:
        create_user(session, name="zhang", role="applicant", id_number=ID_ZHANG, display_name="张三", now=MONDAY)
    with db.session_scope(_engine(world)) as session:
        world.tokens["zhang"] = issue_token(session, SYSTEM, user_name="zhang", now=MONDAY)
    return "zhang"


def approved_licence(world: World, who: str, key: str, result: dict[str, Any] | None = None) -> dict[str, Any]:
    app = world.submit(key, body_for(world), who=who)
    assert app.status_code == 201, app.text
    application = app.json()
    licence = world.tasks_of(application["id"], who=who)[LICENCE]
    world.accept_and_approve(licence, result)
    return application


def certificates_of(world: World, who: str, application_id: str) -> httpx.Response:
    return world.get(who, f"/api/v1/applications/{application_id}/certificates")


def stored_row(world: World, certificate_id: str) -> dict[str, Any]:
    with db.session_scope(_engine(world)) as session:
        row = session.execute(text("SELECT * FROM certificates WHERE id = :id"), {"id": certificate_id}).mappings()
        return dict(row.one())


def independent_signed_bytes(row: dict[str, Any]) -> bytes:
    """The signed form as docs/certificates.md states it, rebuilt from the stored columns."""
    issued_at = row["issued_at"]
    if isinstance(issued_at, str):  # SQLite's raw column: offset-free UTC text
        issued_at = datetime.fromisoformat(issued_at)
    if issued_at.tzinfo is None:
        issued_at = issued_at.replace(tzinfo=UTC)
    fields = row["fields"] if isinstance(row["fields"], dict) else json.loads(row["fields"])

    def day(value: Any) -> str | None:
        return None if value is None else str(value)[:10]

    document = {
        "format": 1, "id": row["id"], "application": row["application_id"], "procedure": row["procedure"],
        "holder": {"name": row["holder_name"], "identifier": row["holder_identifier"], "kind": row["holder_kind"]},
        "issuer": {"department": row["issuer_department"], "name": row["issuer_name"]},
        "title": row["title"], "number": row["number"],
        "issued_at": issued_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "valid_from": day(row["valid_from"]), "valid_until": day(row["valid_until"]), "fields": fields,
        "algorithm": row["algorithm"], "key_id": row["key_id"],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_approval_issues_a_certificate_the_holder_downloads_and_anyone_verifies(world: World, zhang: str) -> None:
    application = approved_licence(world, zhang, "cert-1", {"number": "京市监准字〔2026〕第1号",
                                                             "valid_until": "2046-03-01", "经营范围": "餐饮服务"})
    listed = certificates_of(world, zhang, application["id"])
    assert listed.status_code == 200, listed.text
    assert listed.headers["Cache-Control"] == "no-store"
    [item] = listed.json()
    assert set(item) == {"id", "procedure", "title", "issued_at", "status"}
    assert (item["procedure"], item["title"], item["status"]) == (LICENCE, "营业执照", "issued")
    assert item["issued_at"] == MONDAY.isoformat()

    # Nobody but the holder sees or downloads it: another applicant, the issuing staff, an operator.
    for who in ("acme", "samr-staff", "ops"):
        assert certificates_of(world, who, application["id"]).status_code == 404, who
        assert world.get(who, f"/api/v1/certificates/{item['id']}/download").status_code == 404, who
    assert world.http.get(f"/api/v1/certificates/{item['id']}/download").status_code == 401

    pdf = world.get(zhang, f"/api/v1/certificates/{item['id']}/download")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["Cache-Control"] == "no-store"
    assert pdf.content.startswith(b"%PDF-")
    assert b"/Subtype /Image" in pdf.content                                 # the QR code
    assert f"{world.server.url}/verify/{item['id']}".encode() in pdf.content  # …and the link it encodes

    verified = world.http.get(f"/api/v1/certificates/{item['id']}/verify")   # no credentials
    assert verified.status_code == 200
    assert verified.json() == {"status": "valid", "title": "营业执照", "issuer": "市场监督管理局",
                               "issued_at": MONDAY.isoformat()}
    assert ID_ZHANG not in verified.text and "张三" not in verified.text
    page = world.http.get(f"/verify/{item['id']}")
    assert page.status_code == 200 and "有效" in page.text and "营业执照" in page.text
    assert ID_ZHANG not in page.text and "张三" not in page.text

    # What was stored and signed: the 文号, the holder's ID number, the validity and the extra field.
    row = stored_row(world, item["id"])
    assert (row["number"], row["holder_identifier"], row["holder_kind"]) == ("京市监准字〔2026〕第1号", ID_ZHANG,
                                                                              "person")
    assert str(row["valid_from"])[:10] == "2026-03-02" and str(row["valid_until"])[:10] == "2046-03-01"

    # An independent check of the Ed25519 signature with the published key.
    published = world.http.get("/api/v1/certificates/keys")
    assert published.status_code == 200
    [key] = [k for k in published.json() if k["id"] == row["key_id"]]
    assert (key["department"], key["algorithm"]) == ("samr", "Ed25519")
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    signature = base64.b64decode(row["signature"])
    public_key.verify(signature, independent_signed_bytes(row))
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, independent_signed_bytes({**row, "holder_identifier": "110101199003070027"}))
    # No private key is ever published.
    assert "private" not in published.text


def test_issued_with_the_approval_audited_and_announced(world: World) -> None:
    application = approved_licence(world, "acme", "cert-2")
    [item] = certificates_of(world, "acme", application["id"]).json()
    row = stored_row(world, item["id"])
    # The approval's 文号 (required) is the certificate number; the holder is the enterprise, by its USCC.
    assert row["number"] == "T-1"
    assert (row["holder_identifier"], row["holder_kind"]) == (USCC_ACME, "organisation")
    assert count(world, AuditEntry, AuditEntry.action == "certificate.issued", AuditEntry.subject_id == item["id"]) == 1
    assert count(world, OutboxEvent, OutboxEvent.kind == "certificate.issued",
                 OutboxEvent.application_id == application["id"]) == 1
    # The staff's task shows the certificate; the decision's other tasks issued nothing yet.
    assert count(world, AuditEntry, AuditEntry.action == "certificate.issued") == 1


def test_a_bad_validity_refuses_the_approval_and_issues_nothing(world: World) -> None:
    app = world.submit("cert-3", body_for(world)).json()
    licence = world.tasks_of(app["id"])[LICENCE]
    accepted = world.decide("samr-staff", licence, {"kind": "accept"}).json()
    backwards = {"number": "L-9", "valid_from": "2026-03-02", "valid_until": "2025-01-01"}
    refused = world.decide("samr-staff", accepted, {"kind": "approve", "result": backwards})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["result.valid_until"]
    assert world.tasks_of(app["id"])[LICENCE]["status"] == "accepted"
    assert certificates_of(world, "acme", app["id"]).json() == []


def test_an_altered_certificate_no_longer_verifies(world: World) -> None:
    application = approved_licence(world, "acme", "cert-4")
    [item] = certificates_of(world, "acme", application["id"]).json()
    assert world.http.get(f"/api/v1/certificates/{item['id']}/verify").json()["status"] == "valid"
    with db.session_scope(_engine(world)) as session:
        session.execute(text("UPDATE certificates SET valid_until = :d WHERE id = :id"),
                        {"d": "2099-12-31", "id": item["id"]})
    verified = world.http.get(f"/api/v1/certificates/{item['id']}/verify")
    assert verified.json() == {"status": "unknown", "title": None, "issuer": None, "issued_at": None}
    assert "无法验证" in world.http.get(f"/verify/{item['id']}").text
    unknown = world.http.get("/api/v1/certificates/00000000-0000-0000-0000-000000000000/verify")
    assert unknown.status_code == 200 and unknown.json()["status"] == "unknown"


def test_the_issuing_department_revokes_with_a_reason(world: World) -> None:
    application = approved_licence(world, "acme", "cert-5")
    [item] = certificates_of(world, "acme", application["id"]).json()
    path = f"/api/v1/certificates/{item['id']}/revoke"
    # Another department and the holder do not see it to revoke; the operator sees every case but may not.
    for who in ("fire-staff", "acme"):
        assert world.post(who, path, json={"reason": "x"}).status_code == 404, who
    assert world.post("ops", path, json={"reason": "x"}).status_code == 403
    missing = world.post("samr-staff", path, json={"reason": "  "})
    assert missing.status_code == 422 and missing.headers["content-type"] == "application/problem+json"
    revoked = world.post("samr-staff", path, json={"reason": "以欺骗手段取得许可"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revocation_reason"] == "以欺骗手段取得许可"
    assert world.post("samr-staff", path, json={"reason": "again"}).status_code == 409
    assert world.http.get(f"/api/v1/certificates/{item['id']}/verify").json()["status"] == "revoked"
    assert "已撤销" in world.http.get(f"/verify/{item['id']}").text
    assert certificates_of(world, "acme", application["id"]).json()[0]["status"] == "revoked"
    with db.session_scope(_engine(world)) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "certificate.revoked")).one()
        assert (entry.subject_id, entry.actor_name, entry.department) == (item["id"], "samr-staff", "samr")
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.kind == "certificate.revoked")).one()
        assert event.department == "samr" and event.payload["certificate"]["id"] == item["id"]


def test_pages_show_the_certificate_to_its_holder_and_its_issuer(world: World) -> None:
    application = approved_licence(world, "acme", "cert-6")
    [item] = certificates_of(world, "acme", application["id"]).json()
    page = world.get("acme", f"/me/applications/{application['id']}")
    assert page.status_code == 200
    assert f'href="/api/v1/certificates/{item["id"]}/download"' in page.text
    licence = world.tasks_of(application["id"])[LICENCE]
    task_page = world.get("samr-staff", f"/workbench/tasks/{licence['id']}")
    assert task_page.status_code == 200
    assert f'data-certificate="{item["id"]}"' in task_page.text and "已签发的电子证照" in task_page.text
