"""Demo cases (演示办件), made through the case services like any other: the demo restaurant company opens a
restaurant twice — one application finished, results delivered and rated; one in progress with a supplement
request (补正) waiting for the applicant. Needs the demo users (``accounts.demo``). Running it twice creates
nothing new: the submissions carry fixed idempotency keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from onething.accounts.api import NotFound, actor_for_user
from onething.accounts.errors import UnknownUser
from onething.cases.model import DecisionKind
from onething.cases.queries import get_application
from onething.cases.rating import rate_application
from onething.cases.service import Decision, decide_task, submit_application
from onething.catalog.model import Catalog
from onething.catalog.service import active_catalog
from onething.db import session_scope
from onething.intake import plan as make_plan
from onething.workdays import UnknownCalendarYear

THING = "open-restaurant"
APPLICANT = "demo-restaurant"
# Made-up values that pass every check; the identifiers are the demo users' own fictional ones.
VALUES: dict[str, Any] = {
    "enterprise_name": "北京示例餐饮有限公司", "legal_rep_name": "张三", "legal_rep_id_number": "110101199003070011",
    "legal_rep_phone": "13800138000", "premises_address": "北京市东城区示例胡同 8 号", "registered_capital": "50.00",
    "business_scope": "餐饮服务", "investor_names": "张三", "contact_name": "李四", "contact_phone": "13900139000",
    "enterprise_uscc": "91110105MA01ABCD00", "food_business_items": "热食类食品制售",
    "food_safety_manager_name": "李四", "food_safety_manager_id_number": "110101198511120025",
    "floor_area_sqm": 80, "seat_count": 30, "fire_safety_manager_name": "张三", "signboard_content": "示例面馆",
    "signboard_size": "4×1",
}
BY_TYPE: dict[str, Any] = {"text": "示例", "address": "北京市东城区示例胡同 8 号", "int": 1, "money": "1.00",
                           "date": "2026-01-05", "bool": False, "id_number": "110101199003070011",
                           "uscc": "91110105MA01ABCD00", "phone": "13800138000"}


def _form(catalog: Catalog) -> dict[str, Any]:
    fields = make_plan(catalog, THING, {}).form.fields
    return {f.id: VALUES.get(f.id, f.choices[0].value if f.type == "choice" else BY_TYPE.get(f.type, "示例"))
            for f in fields}


def _produced(catalog: Catalog, procedure: str) -> dict[str, Any]:
    """What the department enters on approval for the fields its procedure produces (the 营业执照's USCC)."""
    fields = {f.id: f for f in make_plan(catalog, THING, {}).form.fields}
    produced = catalog.procedures[procedure].produced_fields
    return {f: VALUES.get(f, BY_TYPE.get(fields[f].type, "示例")) for f in produced if f in fields}


def _decide(engine: Engine, catalog: Catalog, task: dict[str, Any], kind: DecisionKind, now: datetime,
            **extra: Any) -> dict[str, Any]:
    with session_scope(engine) as session:
        staff = actor_for_user(session, f"{task['department']}-staff")
    return decide_task(engine, staff, task["id"], Decision(kind=kind, **extra), expected_version=task["version"],
                       catalog=catalog, now=now)


def load_cases_demo(engine: Engine, now: datetime | None = None) -> list[str]:
    """The demo step: two open-restaurant applications, one finished and rated, one waiting for a supplement.
    ``now`` is the moment they are filed and decided (the system clock when not given)."""
    label, catalog = active_catalog(engine)
    if THING not in catalog.things:
        return [f"demo cases: skipped, the catalog has no {THING}"]
    try:
        with session_scope(engine) as session:
            applicant = actor_for_user(session, APPLICANT)
    except (UnknownUser, NotFound):
        return [f"demo cases: skipped, demo user {APPLICANT} missing (run the accounts demo step first)"]
    now = now if now is not None else datetime.now(UTC)
    form = _form(catalog)
    lines = []
    try:
        for key, finish in (("demo-open-restaurant-1", True), ("demo-open-restaurant-2", False)):
            submitted = submit_application(engine, applicant, catalog=catalog, catalog_version=label, thing=THING,
                                           answers={}, form=form, idempotency_key=key, now=now)
            app_id = submitted.application["id"]
            if not submitted.created:
                lines.append(f"demo cases: {app_id} already there")
                continue
            for _stage in range(3):
                for task in get_application(engine, applicant, app_id)["tasks"]:
                    if task["status"] == "ready" and not finish and task["department"] == "fire":
                        _decide(engine, catalog, task, DecisionKind.request_supplement, now,
                                reason="请补充消防安全责任人信息", fields=("fire_safety_manager_name",))
                    elif task["status"] == "ready":
                        task = _decide(engine, catalog, task, DecisionKind.accept, now)
                        if finish or task["procedure"] == "business-registration":
                            _decide(engine, catalog, task, DecisionKind.approve, now, result={"number": "DEMO-1"},
                                    produced=_produced(catalog, task["procedure"]))
            status = get_application(engine, applicant, app_id)["status"]
            if finish and status == "completed":
                rate_application(engine, applicant, app_id, score=5, comment="一次办好", tasks={}, catalog=catalog,
                                 now=now)
            lines.append(f"demo cases: {THING} {app_id} {status}")
    except UnknownCalendarYear as exc:
        lines.append(f"demo cases: skipped — {exc}")
    return lines


# --- 电子证照复用: 李四's newborn certificates reused in a later 入学 application ----------------------------------

NEWBORN_APPLICANT = "lisi"
NEWBORN_ANSWERS: dict[str, Any] = {"apply_ssc": False, "mother_employee_insured": False}
# 李四's newborn, as the demo registries (``exchange.demo``) describe them; the child's number is the one the
# police station assigns on 出生登记 (fictional, with a correct check character).
NEWBORN_VALUES: dict[str, Any] = {
    "applicant_name": "李四", "applicant_id_number": "110101198511120025", "applicant_phone": "13900139000",
    "spouse_name": "王五", "spouse_id_number": "110105198704180011", "marriage_date": "2023-05-20",
    "child_name": "王小宝", "child_sex": "male", "child_birth_date": "2026-11-10",
    "child_birth_place": "北京市东城区示例妇产医院（演示）", "mother_name": "李四",
    "mother_id_number": "110101198511120025", "father_name": "王五", "father_id_number": "110105198704180011",
    "applicant_address": "北京市东城区演示路66号2单元301", "household_head_name": "王五",
    "child_id_number": "11010120261110016X", "birth_certificate_number": "Q110012345",
}


def _typed(fields: Any) -> dict[str, Any]:
    return {f.id: NEWBORN_VALUES.get(f.id, f.choices[0].value if f.type == "choice" else BY_TYPE.get(f.type, "示例"))
            for f in fields if f.provided_by is None}


def load_certificate_reuse_demo(engine: Engine, now: datetime | None = None) -> list[str]:
    """李四 applies for 新生儿出生 and every department approves (the producing ones enter the child's numbers),
    issuing her the certificates; then she applies for 入学 with her consent, and her 预防接种证 certificate
    exempts the 预防接种证 material — the fetch on her 谁用了我的数据 names the certificate."""
    from onething.cases import prefill as shared_data

    label, catalog = active_catalog(engine)
    if "newborn" not in catalog.things or "school-enrollment" not in catalog.things:
        return ["demo certificate reuse: skipped, the catalog lacks 新生儿出生 or 入学"]
    try:
        with session_scope(engine) as session:
            lisi = actor_for_user(session, NEWBORN_APPLICANT)
    except (UnknownUser, NotFound):
        return [f"demo certificate reuse: skipped, demo user {NEWBORN_APPLICANT} missing"]
    now = now if now is not None else datetime.now(UTC)
    lines = []
    try:
        newborn_plan = make_plan(catalog, "newborn", NEWBORN_ANSWERS)
        submitted = submit_application(engine, lisi, catalog=catalog, catalog_version=label, thing="newborn",
                                       answers=NEWBORN_ANSWERS, form=_typed(newborn_plan.form.fields),
                                       idempotency_key="demo-newborn-lisi-1", now=now)
        app_id = submitted.application["id"]
        if not submitted.created:
            return [f"demo certificate reuse: {app_id} already there"]
        for _stage in range(len(newborn_plan.stages)):
            for task in get_application(engine, lisi, app_id)["tasks"]:
                if task["status"] != "ready":
                    continue
                task = _decide(engine, catalog, task, DecisionKind.accept, now)
                produced = {f: NEWBORN_VALUES[f] for f in catalog.procedures[task["procedure"]].produced_fields
                            if f in {p.id for p in newborn_plan.form.fields}}
                _decide(engine, catalog, task, DecisionKind.approve, now,
                        result={"number": f"DEMO-{task['procedure']}"}, produced=produced)
        lines.append(f"demo certificate reuse: lisi newborn {app_id} "
                     f"{get_application(engine, lisi, app_id)['status']}")
        enrol_plan = make_plan(catalog, "school-enrollment", {})
        ref = shared_data.new_ref()
        consent = shared_data.consent_to_prefill(engine, lisi, catalog, enrol_plan, ref=ref, now=now)
        enrolled = submit_application(engine, lisi, catalog=catalog, catalog_version=label,
                                      thing="school-enrollment", answers={}, form=_typed(enrol_plan.form.fields),
                                      idempotency_key="demo-school-enrollment-lisi-1", now=now,
                                      consent_id=consent.id)
        proofs = (enrolled.application["shared_data"] or {}).get("exempt_materials", {})
        reused = sorted(m for m, p in proofs.items() if p.get("certificate"))
        lines.append(f"demo certificate reuse: lisi school-enrollment {enrolled.application['id']}, "
                     f"exempt by her certificates: {', '.join(reused) or 'none'}")
    except UnknownCalendarYear as exc:
        lines.append(f"demo certificate reuse: skipped — {exc}")
    return lines
