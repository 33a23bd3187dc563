"""The operator's and the auditor's pages over real HTTP on SQLite and PostgreSQL (issue 10, item 8).

The operator opens, disables, enables and unlocks accounts, sets and disables a department's webhook and
publishes the data-resource directory — each a CSRF-protected form whose service writes the audit entry. The
auditor searches the log by action, actor, 办件编号 and period and reads an entry as labelled rows, never raw
JSON. Every other role gets 403 from these pages and sees no link to them.
"""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from onething import db
from onething.accounts.api import create_user
from onething.audit.tables import AuditEntry
from tests.case_forms import PASSWORD, hidden_inputs

from .test_staff_workbench import MONDAY, ZHANG_ID, Desk, desk  # noqa: F401  (the fixture, reused)

NEW_PASSWORD = "Qiang-Mima-2026-operator"


def audited(desk: Desk, action: str, subject_id: str | None = None) -> int:  # noqa: F811
    assert desk.server.engine is not None
    with db.session_scope(desk.server.engine) as session:
        statement = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        if subject_id is not None:
            statement = statement.where(AuditEntry.subject_id == subject_id)
        return int(session.scalar(statement) or 0)


def token_of(client: httpx.Client, path: str) -> str:
    return hidden_inputs(client.get(path).text)["csrf_token"]


def add_auditor(desk: Desk) -> httpx.Client:  # noqa: F811
    assert desk.server.engine is not None
    with db.session_scope(desk.server.engine) as session:
        create_user(session, name="aud", role="auditor", password=PASSWORD, display_name="审计员", now=MONDAY)
    return desk.as_("aud")


def test_the_operator_acts_through_audited_forms(desk: Desk) -> None:  # noqa: F811
    ops = desk.as_("ops")
    page = ops.get("/operator")
    assert page.status_code == 200
    for form in ('action="/operator/users"', 'action="/operator/webhooks"'):
        assert form in page.text
    token = hidden_inputs(page.text)["csrf_token"]

    # 开户, with its errors at the fields; then 停用 / 启用 / 解锁.
    body = {"csrf_token": token, "name": "samr-new", "display_name": "新窗口", "role": "staff", "department": "",
            "password": NEW_PASSWORD}
    missing = ops.post("/operator/users", data=body)
    assert missing.status_code == 422 and 'id="user-department-error"' in missing.text
    assert NEW_PASSWORD not in missing.text  # a typed password is never echoed
    created = ops.post("/operator/users", data={**body, "department": "samr"})
    assert created.status_code == 303 and audited(desk, "account.created", "samr-new") == 1
    after = ops.get("/operator").text
    assert "已为 samr-new 开户" in after and 'data-user="samr-new"' in after
    again = ops.post("/operator/users", data={**body, "department": "samr"})
    assert again.status_code == 422 and 'id="user-name-error"' in again.text
    assert ops.post("/operator/users/samr-new/disable", data={"csrf_token": token}).status_code == 303
    assert audited(desk, "account.disabled", "samr-new") == 1
    assert "已停用 samr-new" in ops.get("/operator").text
    assert ops.post("/operator/users/samr-new/enable", data={"csrf_token": token}).status_code == 303
    assert audited(desk, "account.enabled", "samr-new") == 1
    ops.post("/operator/users/samr-new/unlock", data={"csrf_token": token})
    assert "samr-new 无需解锁" in ops.get("/operator").text and audited(desk, "account.unlocked") == 0
    assert ops.post("/operator/users/nobody/disable", data={"csrf_token": token}).status_code == 404
    assert ops.post("/operator/users/samr-new/delete", data={"csrf_token": token}).status_code == 404

    # A department's webhook: set (the secret is never shown), refused when malformed, disabled.
    secret = "s3cret-from-the-department-2026"
    hook = {"csrf_token": token, "department": "samr", "url": "https://samr.example.gov.cn/hook", "secret": secret}
    assert ops.post("/operator/webhooks", data=hook).status_code == 303
    listed = ops.get("/operator").text
    assert "https://samr.example.gov.cn/hook" in listed and secret not in listed
    assert audited(desk, "department.webhook_set", "samr") == 1
    ops.post("/operator/webhooks", data={**hook, "url": "ftp://samr.example"})
    assert "推送地址应以 http:// 或 https:// 开头" in ops.get("/operator").text
    assert audited(desk, "department.webhook_set", "samr") == 1
    assert ops.post("/operator/webhooks/samr/disable", data={"csrf_token": token}).status_code == 303
    assert audited(desk, "department.webhook_disabled", "samr") == 1
    assert ops.post("/operator/webhooks/fire/disable", data={"csrf_token": token}).status_code == 404

    # Directory publication: every pending change, one audit entry each; then nothing is pending.
    pending = len(re.findall(r"应于 \d{4}-\d{2}-\d{2} 前发布", ops.get("/operator").text))
    assert ops.post("/operator/directory/publish", data={"csrf_token": token}).status_code == 303
    assert audited(desk, "exchange.directory.published") == pending
    assert "目录的变更均已发布" in ops.get("/operator").text

    # Without the CSRF token nothing happens.
    forged = ops.post("/operator/users/samr-new/disable", data={})
    assert forged.status_code == 403 and audited(desk, "account.disabled", "samr-new") == 1


def test_other_roles_get_403_and_no_link(desk: Desk) -> None:  # noqa: F811
    auditor = add_auditor(desk)
    for who, client in (("acme", desk.as_("acme")), ("samr-staff", desk.as_("samr-staff")), ("aud", auditor)):
        assert client.get("/operator").status_code == 403, who
        token = token_of(client, "/")
        for path in ("/operator/users/ops/disable", "/operator/webhooks/samr/disable", "/operator/directory/publish"):
            assert client.post(path, data={"csrf_token": token}).status_code == 403, (who, path)
        assert 'href="/operator"' not in client.get("/").text
    for who in ("acme", "samr-staff", "ops"):
        client = desk.as_(who)
        assert client.get("/auditor").status_code == 403, who
        assert client.get("/auditor/entries/1").status_code == 403, who
        assert client.get("/auditor/chain").status_code == 403, who
        assert 'href="/auditor"' not in client.get("/").text
    assert audited(desk, "account.disabled", "ops") == 0


def test_the_auditor_searches_by_number_actor_action_and_period(desk: Desk) -> None:  # noqa: F811
    first, second = desk.submit("acme"), desk.submit("zhang")
    auditor = add_auditor(desk)
    found = auditor.get("/auditor", params={"application": second})
    assert found.status_code == 200
    numbers = set(re.findall(r'data-number="([0-9]*)"', found.text))
    assert numbers == {second} and "application.submitted" in found.text
    assert ZHANG_ID not in found.text
    assert set(re.findall(r'data-number="([0-9]*)"', auditor.get("/auditor", params={"application": first}).text)) \
        == {first}
    unknown = auditor.get("/auditor", params={"application": "9" * 19})
    assert unknown.status_code == 200 and 'id="f-application-error"' in unknown.text
    wrong = auditor.get("/auditor", params={"application": "abc"})
    assert wrong.status_code == 422 and 'aria-invalid="true"' in wrong.text

    by_actor = auditor.get("/auditor", params={"actor_name": "zhang", "action": "application."}).text
    assert "application.submitted" in by_actor and set(re.findall(r'data-number="([0-9]*)"', by_actor)) == {second}
    in_period = auditor.get("/auditor", params={"action": "application.submitted", "since": "2026-03-02",
                                                "until": "2026-03-02"}).text
    assert len(re.findall(r'href="/auditor/entries/\d+"', in_period)) == 2
    before = auditor.get("/auditor", params={"action": "application.submitted", "until": "2026-03-01"}).text
    assert "没有符合条件的记录" in before
    assert auditor.get("/auditor", params={"since": "03/02/2026"}).status_code == 422

    # One entry, readable: labelled rows, the 办件编号, no raw JSON and no unmasked ID number.
    entry = re.search(r'href="/auditor/entries/(\d+)"', found.text)
    assert entry
    detail = auditor.get(f"/auditor/entries/{entry.group(1)}")
    assert detail.status_code == 200
    assert '<pre class="json">' not in detail.text and "audit-values" in detail.text
    assert f">{second}</a>" in detail.text and ZHANG_ID not in detail.text and "本条哈希" in detail.text
    chain = auditor.get("/auditor/chain")
    assert chain.status_code == 200 and "完好" in chain.text
