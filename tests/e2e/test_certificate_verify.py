"""The public certificate verification page (证照验真) in Chromium at 375 px: no sideways scrolling and no
serious WCAG 2.1 A/AA violations, for a valid, a revoked and an unknown certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from onething import db
from onething.accounts.api import create_user
from onething.certificates.api import issue_for_approval
from onething.certificates.tables import CertificateRow
from tests.e2e.a11y import axe_violations
from tests.live import LiveServer

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_verify_page_is_accessible_on_a_phone(audit_page: Any, e2e_server: LiveServer) -> None:
    engine = e2e_server.engine
    assert engine is not None
    with db.session_scope(engine) as session:
        holder = create_user(session, name="cert-e2e", role="applicant", uscc="91110105MA01E2E00U", now=NOW)
        session.flush()
        row = issue_for_approval(session, application_id="00000000-0000-0000-0000-00000000e2e0",
                                 task_id="00000000-0000-0000-0000-00000000e2e1", procedure="business-registration",
                                 applicant_id=holder.id, department="samr", department_name="市场监督管理局",
                                 title="营业执照", result={"number": "E2E-1"}, now=NOW)
        certificate_id = row.id
    page = audit_page
    page.goto(f"{e2e_server.url}/verify/{certificate_id}")
    assert "有效" in page.locator("main").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert axe_violations(page) == []

    with db.session_scope(engine) as session:
        stored = session.get(CertificateRow, certificate_id)
        assert stored is not None
        stored.status = "revoked"
    page.goto(f"{e2e_server.url}/verify/{certificate_id}")
    assert "已撤销" in page.locator("main").inner_text()
    assert axe_violations(page) == []

    page.goto(f"{e2e_server.url}/verify/no-such-certificate")
    assert "无法验证" in page.locator("main").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert axe_violations(page) == []
