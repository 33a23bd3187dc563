"""Test data for the case pages (integration and e2e): a small 开办餐饮店, valid fictional identifiers,
the merged form filled as an applicant would type it, a tiny PDF, and the users — made through the accounts
service — who apply and decide.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine
from stdnum.cn import ric

from onething import db
from onething.accounts.api import create_user
from onething.catalog.model import Catalog
from onething.intake import coerce_answers
from onething.intake import plan as make_plan
from onething.intake.model import Plan

THING = "open-restaurant"
# A small noodle shop without a licence or signboard: business registration (samr) first, then the food
# permit (samr) and the fire-safety commitment (fire) in parallel — two departments, a three-task DAG.
ANSWERS = {"has_licence": "false", "fire_route": "commitment", "has_signboard": "false",
           "own_drainage": "false", "sells_tobacco": "false"}
PASSWORD = "page-test-password-2026"
USCC_ACME = "91110105MA01ABCD00"     # fictional, checksum-valid
USCC_OTHER = "91110000MA01ABCD0J"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def resident_id(body: str = "11010519491231002") -> str:
    """A fictional resident ID (公民身份号码) with a correct check character (GB 11643)."""
    return body + ric.calc_check_digit(body + "0")  # stdnum reads the first 17 characters of an 18


SAMPLE = {"text": "示例", "address": "北京市东城区示例路1号", "int": "80", "money": "50", "date": "2026-01-05",
          "id_number": resident_id(), "uscc": USCC_ACME, "phone": "13800138000"}


def restaurant_plan(catalog: Catalog, answers: dict[str, str] | None = None) -> Plan:
    thing = catalog.thing(THING)
    return make_plan(catalog, thing, coerce_answers(thing, answers or ANSWERS))


def typed_values(plan: Plan) -> dict[str, str]:
    """Field id → what an applicant types (a choice's first option) for every field of the merged form that is
    asked (a field a procedure of the plan produces — the USCC of the business being registered — is not)."""
    return {f.id: (str(f.choices[0].value) if f.type == "choice" else SAMPLE.get(f.type, "示例"))
            for f in plan.form.fields if f.provided_by is None}  # a produced field is not the applicant's


def create_people(engine: Engine, departments: list[str]) -> None:
    """Two enterprise applicants (acme, other) and staff of each department (<dept>-staff)."""
    now = datetime.now(UTC)
    with db.session_scope(engine) as session:
        create_user(session, name="acme", role="applicant", uscc=USCC_ACME, password=PASSWORD,
                    display_name="示例餐饮有限公司", now=now)
        create_user(session, name="other", role="applicant", uscc=USCC_OTHER, password=PASSWORD, now=now)
        for department in departments:
            create_user(session, name=f"{department}-staff", role="staff", department=department,
                        password=PASSWORD, display_name=f"{department} 窗口", now=now)


_HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[^"]+)" value="(?P<value>[^"]*)"')


def hidden_inputs(html: str) -> dict[str, str]:
    """The first value of each hidden input on a page (CSRF token, idempotency key, version …)."""
    out: dict[str, str] = {}
    for match in _HIDDEN.finditer(html):
        out.setdefault(match.group("name"), match.group("value"))
    return out


_CHECKED = re.compile(r'<input type="radio" name="(?P<name>[^"]+)" id="[^"]*" value="(?P<value>[^"]*)" checked>')


def checked_radios(html: str) -> dict[str, str]:
    """The radio buttons a page renders checked, as a browser posts them unless the user picks another."""
    return {m.group("name"): m.group("value") for m in _CHECKED.finditer(html)}


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a browser does; the client keeps the session cookie."""
    page = client.get("/login")
    token = hidden_inputs(page.text)["csrf_token"]
    response = client.post("/login", data={"name": name, "password": password, "csrf_token": token, "next": "/"})
    assert response.status_code == 303, response.text


def form_body(values: dict[str, str]) -> dict[str, Any]:
    """The apply form's fields and hidden answers as a browser posts them."""
    return {f"field.{key}": value for key, value in values.items()} | {f"answer.{k}": v for k, v in ANSWERS.items()}
