"""Applications record their region and are planned with its rules — over real HTTP, SQLite and PostgreSQL,
against the catalog version published from the shipped folder (regions included)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from onething import db
from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.catalog.regions import resolve
from onething.catalog.store import latest_catalog
from onething.config import get_settings
from onething.intake import plan as make_plan
from tests.integration.test_cases_api import MONDAY, SAMPLE, USCC_ACME, Clock
from tests.live import LiveServer

THING = "enterprise-deregistration"
ANSWERS = {"simplified": True}


@pytest.fixture
def token(live_server: LiveServer) -> str:
    live_server.app.state.clock = Clock()
    assert live_server.engine is not None
    with db.session_scope(live_server.engine) as session:
        create_user(session, name="acme", role="applicant", uscc=USCC_ACME, now=MONDAY)
    with db.session_scope(live_server.engine) as session:
        return issue_token(session, SYSTEM, user_name="acme", now=MONDAY)


def _submit(http: httpx.Client, token: str, live_server: LiveServer, key: str, **extra: Any) -> httpx.Response:
    catalog = live_server.app.state.catalog
    region = extra.get("region")
    planned = make_plan(resolve(catalog, region if region in catalog.regions else None), THING, ANSWERS)
    form = {f.id: (f.choices[0].value if f.type == "choice" else SAMPLE[f.type]) for f in planned.form.fields}
    return http.post("/api/v1/applications", json={"thing": THING, "answers": ANSWERS, "form": form, **extra},
                     headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})


def _departments(application: dict[str, Any]) -> dict[str, str]:
    return {t["procedure"]: t["department"] for t in application["tasks"]}


def test_application_records_its_region_and_is_planned_with_its_rules(
        live_server: LiveServer, http: httpx.Client, token: str) -> None:
    assert live_server.engine is not None
    with db.session_scope(live_server.engine) as session:
        published = latest_catalog(session)
    assert published is not None and "qingdao" in published[1].regions  # the stored version carries regions

    created = _submit(http, token, live_server, "k-qingdao", region="qingdao")
    assert created.status_code == 201, created.text
    application = created.json()
    assert application["region"] == "qingdao"
    # 办件编号: Qingdao's 行政区划代码, the day received in China's time, a sequence; 19 digits.
    assert application["number"].startswith("370200260302") and len(application["number"]) == 19
    assert _departments(application)["deregistration-registration"] == "qingdao-xzsp"
    read = http.get(f"/api/v1/applications/{application['id']}", headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200 and read.json()["region"] == "qingdao"

    national = _submit(http, token, live_server, "k-national")
    assert national.status_code == 201, national.text
    assert national.json()["region"] is None
    assert national.json()["number"].startswith("000000260302")
    assert national.json()["number"] != application["number"]
    assert _departments(national.json())["deregistration-registration"] == "samr"

    # The same key with another region is another body: a conflict, not a replay.
    other = _submit(http, token, live_server, "k-qingdao", region="sichuan")
    assert other.status_code == 409, other.text

    unknown = _submit(http, token, live_server, "k-nowhere", region="atlantis")
    assert unknown.status_code == 422
    assert any(e.get("field") == "region" or e.get("pointer", "").endswith("region")
               for e in unknown.json().get("errors", [])), unknown.text


def test_platform_region_is_the_default(live_server: LiveServer, http: httpx.Client, token: str) -> None:
    live_server.app.state.settings = get_settings().model_copy(update={"region": "qingdao"})
    created = _submit(http, token, live_server, "k-default")
    assert created.status_code == 201, created.text
    assert created.json()["region"] == "qingdao"
    assert _departments(created.json())["deregistration-registration"] == "qingdao-xzsp"
