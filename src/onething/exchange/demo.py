"""Exchange demo (演示): registries filled with fictional people and an enterprise, the grants the demo things
need (applied for and approved through the services), the directory published, and one consented intake
for each of 身后 and 新生儿出生 so that the data-use page has something true to show.

Everyone here is made up. The resident IDs and the USCC carry correct check characters (python-stdnum) so that
validation passes; they belong to nobody and must never be used for anything but this demo. The applicants
张三 and 李四 are the accounts demo users ``zhangsan`` and ``lisi``; the enterprise is ``demo-restaurant``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from onething.accounts.errors import UnknownUser
from onething.accounts.model import Actor
from onething.accounts.service import actor_for_user
from onething.catalog.model import Catalog, Sharing
from onething.catalog.service import active_catalog
from onething.config import get_settings
from onething.db import session_scope
from onething.exchange.consents import grant_consent, propose_consent, resource_needs
from onething.exchange.directory import publish_directory
from onething.exchange.fetch import collect_facts
from onething.exchange.grants import apply_for_grant, decide_grant
from onething.exchange.model import GrantStatus
from onething.exchange.providers import file_record
from onething.exchange.tables import ConsentRow, GrantRow
from onething.intake import plan

ZHANGSAN = "110101199003070011"      # 张三, applicant (accounts demo user zhangsan)
FATHER = "110101195806150033"        # 张建国, 张三's late father
MOTHER = "110101196002200044"        # 王秀英, 张三's mother
LISI = "110101198511120025"          # 李四, applicant (lisi), mother of a newborn
WANGWU = "110105198704180011"        # 王五, 李四's husband
RESTAURANT = "91110105MA01ABCD00"    # 示例餐饮有限公司 (demo-restaurant)

ADDRESS = "北京市东城区示例街道演示胡同8号"
DEATH = {"deceased_name": "张建国", "deceased_id_number": FATHER, "death_date": "2026-11-18",
         "death_place": "示例市第一人民医院（演示）", "death_cause": "心力衰竭"}
BIRTH = {"child_name": "王小宝", "child_sex": "male", "child_birth_date": "2026-11-10",
         "child_birth_place": "北京市东城区示例妇产医院（演示）", "birth_certificate_number": "Q110012345",
         "mother_name": "李四", "mother_id_number": LISI, "father_name": "王五", "father_id_number": WANGWU}

# (resource, subject key, relation, values)
RECORDS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("population_basic", ZHANGSAN, "self", {"applicant_name": "张三", "applicant_id_number": ZHANGSAN}),
    ("population_basic", LISI, "self", {"applicant_name": "李四", "applicant_id_number": LISI}),
    ("population_basic", WANGWU, "self", {"applicant_name": "王五", "applicant_id_number": WANGWU}),
    ("population_basic", MOTHER, "self", {"applicant_name": "王秀英", "applicant_id_number": MOTHER}),
    ("household_registration", ZHANGSAN, "self",
     {"applicant_name": "张三", "applicant_id_number": ZHANGSAN, "applicant_address": ADDRESS}),
    ("household_registration", FATHER, "self",
     {"applicant_name": "张建国", "applicant_id_number": FATHER, "applicant_address": ADDRESS}),
    ("household_registration", LISI, "self",
     {"applicant_name": "李四", "applicant_id_number": LISI, "applicant_address": "北京市东城区演示路66号2单元301"}),
    ("kinship_relation", ZHANGSAN, "近亲属",
     {"applicant_name": "张三", "applicant_id_number": ZHANGSAN, "relation_to_deceased": "child"}),
    ("medical_death_certificate", FATHER, "self", DEATH),
    ("medical_death_certificate", ZHANGSAN, "近亲属", DEATH),
    ("cremation_record", FATHER, "self",
     {"deceased_name": "张建国", "deceased_id_number": FATHER, "cremation_date": "2026-11-21",
      "funeral_home": "示例市殡仪馆（演示）"}),
    ("cremation_record", ZHANGSAN, "近亲属",
     {"deceased_name": "张建国", "deceased_id_number": FATHER, "cremation_date": "2026-11-21",
      "funeral_home": "示例市殡仪馆（演示）"}),
    ("housing_fund_account", ZHANGSAN, "近亲属", {"hpf_account_number": "110000123456（演示）"}),
    ("social_insurance_records", ZHANGSAN, "self",
     {"applicant_name": "张三", "applicant_id_number": ZHANGSAN, "enterprise_name": "示例科技有限公司（演示）"}),
    ("social_insurance_records", LISI, "self",
     {"applicant_name": "李四", "applicant_id_number": LISI, "enterprise_name": "示例文化传媒有限公司（演示）"}),
    ("birth_medical_certificate", LISI, "母亲", BIRTH),
    ("birth_medical_certificate", WANGWU, "父亲", BIRTH),
    ("marriage_registration", LISI, "self", {"spouse_name": "王五", "spouse_id_number": WANGWU,
                                             "marriage_date": "2023-05-20"}),
    ("marriage_registration", WANGWU, "self", {"spouse_name": "李四", "spouse_id_number": LISI,
                                               "marriage_date": "2023-05-20"}),
    ("business_registration", RESTAURANT, "self",
     {"enterprise_name": "示例餐饮有限公司（演示）", "enterprise_uscc": RESTAURANT, "legal_rep_name": "赵六",
      "premises_address": "北京市朝阳区示例路18号一层", "registered_capital": 50,
      "business_scope": "餐饮服务；食品销售（仅销售预包装食品）"}),
)

DEMO_THINGS = (("after-death", "zhangsan", ZHANGSAN, "demo-after-death-zhangsan"),
               ("newborn", "lisi", LISI, "demo-newborn-lisi"))
# Things whose departments get the demo grants: the consented intakes above, and 入学, where 李四 reuses her
# newborn's certificates (电子证照复用, ``cases.demo``).
GRANT_THINGS = (*(code for code, *_ in DEMO_THINGS), "school-enrollment")


def _actor(session: Any, name: str) -> Actor | None:
    try:
        return actor_for_user(session, name)
    except UnknownUser:
        return None


def _grants(session: Any, catalog: Catalog, now: datetime) -> int:
    """Apply for and approve every conditional grant the demo things' plans need."""
    settings = get_settings()
    made = 0
    for code in GRANT_THINGS:
        if code not in catalog.things:
            continue
        demo_plan = plan(catalog, code, {})
        for resource_id, (procedures, fields) in sorted(resource_needs(catalog, demo_plan).items()):
            resource = catalog.resources[resource_id]
            if resource.sharing is not Sharing.conditional:
                continue
            by_department: dict[str, set[str]] = {}
            for procedure_id in procedures:
                department = catalog.procedures[procedure_id].department
                if department != resource.holder:
                    by_department.setdefault(department, set()).add(procedure_id)
            for consumer, mine in sorted(by_department.items()):
                exists = session.scalar(select(GrantRow.id).where(
                    GrantRow.resource == resource_id, GrantRow.consumer == consumer,
                    GrantRow.status == GrantStatus.approved.value))
                applicant, holder = _actor(session, f"{consumer}-admin"), _actor(session, f"{resource.holder}-admin")
                if exists is not None or applicant is None or holder is None:
                    continue
                grant = apply_for_grant(
                    session, catalog, applicant, resource=resource_id,
                    purpose=f"办理{catalog.things[code].name}“一件事”",
                    procedures=sorted(mine), legal_basis="《政务数据共享条例》；国办发〔2024〕3号",
                    fields=[f for f in resource.fields if f in fields], expires_at=now + timedelta(days=365),
                    now=now, decision_days=settings.grant_decision_days)
                decide_grant(session, holder, grant.id, approve=True, reason="符合共享条件", now=now)
                made += 1
    return made


def load_exchange_demo(engine: Engine) -> list[str]:
    """The demo step: registries, grants, directory publication, and one consented intake per demo thing."""
    _, catalog = active_catalog(engine)
    now = datetime.now(UTC)
    lines = []
    with session_scope(engine) as session:
        for resource_id, key, relation, values in RECORDS:
            if resource_id in catalog.resources:
                file_record(session, catalog.resources[resource_id], key, values, now, relation)
        made = _grants(session, catalog, now)
        operator = _actor(session, "operator")
        published = publish_directory(session, operator, catalog, now) if operator else []
        lines.append(f"exchange: {len(RECORDS)} registry records, {made} grants approved, "
                     f"{len(published)} directory entries published")
        for code, user, key, ref in DEMO_THINGS:
            applicant = _actor(session, user)
            if applicant is None or code not in catalog.things:
                continue
            if session.scalar(select(ConsentRow.id).where(ConsentRow.application_ref == ref)) is not None:
                continue
            demo_plan = plan(catalog, code, {})
            proposal = propose_consent(catalog, demo_plan)
            consent = grant_consent(session, catalog, applicant, application_ref=ref, purpose=proposal.purpose,
                                    procedures=proposal.procedures, resources=proposal.resources,
                                    fields=proposal.fields, expires_at=now + timedelta(days=60), now=now)
            facts, report = collect_facts(session, catalog, applicant, subject=key, plan=demo_plan,
                                          application_ref=ref, consent_id=consent.id, now=now)
            lines.append(f"exchange: {user} consented for {code}: {len(facts.values)} fields prefilled, "
                         f"{len(facts.resources)} resources proving materials, {len(report.refused)} not used")
    return lines
