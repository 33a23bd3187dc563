"""The shipped catalog: valid, complete against LISTS.md, cases all pass, depth where the issue asks."""

from __future__ import annotations

from onething.catalog.model import Catalog
from onething.intake.cases import validate_catalog

from ..conftest import CATALOG_DIR

NATIONAL = {
    "national-2024-1": ["enterprise-info-change", "open-transport-company", "open-restaurant",
                        "listing-compliance-check", "utility-connection", "bankruptcy-info-check",
                        "employee-hiring", "credit-repair", "newborn", "school-enrollment",
                        "social-security-card", "disability-services", "retirement"],
    "national-2024-2": ["veteran-retirement", "enterprise-relocation", "second-hand-housing-transfer",
                        "marriage-childbirth", "household-migration", "medical-reimbursement"],
    "national-2025-1": ["individual-to-enterprise", "after-death", "car-trade-in-subsidy", "housing-fund-loan"],
    "national-2025-2": ["credit-report-query", "tax-credit-rating-query", "personal-startup"],
    "national-2026-1": ["tech-enterprise-support", "ip-protection", "sports-event", "childcare-subsidy",
                        "flexible-employment", "elderly-subsidy"],
    "yunnan-2025-1": ["open-convenience-store"],
    "sichuan-2024-1": ["enterprise-deregistration"],
}
IN_DEPTH = ["open-restaurant", "after-death", "newborn", "enterprise-info-change", "open-transport-company",
            "retirement", "school-enrollment", "flexible-employment", "enterprise-deregistration",
            "veteran-retirement", "open-convenience-store", "housing-fund-loan",
            "personal-startup"]


def test_validates_with_every_case_passing() -> None:
    _, problems = validate_catalog(CATALOG_DIR)
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_lists_carry_the_known_items(catalog: Catalog) -> None:
    for list_id, codes in NATIONAL.items():
        assert list_id in catalog.lists, list_id
        assert [item.code for item in catalog.lists[list_id].items] == codes


def test_every_thing_has_a_case_and_sourced_procedures(catalog: Catalog) -> None:
    for thing in catalog.things.values():
        assert thing.cases, f"{thing.code} has no example case"
        assert thing.source, f"{thing.code} has no source"
        for tp in thing.procedures:
            assert catalog.procedures[tp.id].department in catalog.departments


def test_in_depth_things_model_their_situations(catalog: Catalog) -> None:
    for code in IN_DEPTH:
        thing = catalog.things[code]
        assert len(thing.questions) >= 2, f"{code}: situations"
        assert any(tp.when for tp in thing.procedures), f"{code}: no conditional procedure"
        assert len(thing.cases) >= 3, f"{code}: fewer than 3 cases"
        plans = {tuple(sorted(case.expect.procedures)) for case in thing.cases}
        assert len(plans) >= 2, f"{code}: cases do not cover different plans"


def test_shared_ids_are_shared(catalog: Catalog) -> None:
    """One applicant_id_number field and one business_licence material, used across things."""
    def things_using(kind: str, item: str) -> set[str]:
        users = set()
        for thing in catalog.things.values():
            for tp in thing.procedures:
                uses = getattr(catalog.procedures[tp.id], kind)
                if any(use.id == item for use in uses):
                    users.add(thing.code)
        return users

    assert len(things_using("fields", "applicant_id_number")) >= 5
    assert len(things_using("materials", "business_licence")) >= 3


# --- facts corrected by review (each test fails on the catalog before the fix) ---------------------------------

def test_restaurant_fire_check_is_the_applicants_choice_not_a_size_split(catalog: Catalog) -> None:
    from onething.intake import plan

    thing = catalog.things["open-restaurant"]
    assert {q.id for q in thing.questions}.isdisjoint({"area_sqm", "seats"})
    fire = {p.id for p in plan(catalog, "open-restaurant", {"fire_route": "commitment"}).procedures}
    assert "fire-safety-check-commitment" in fire and "fire-safety-check" not in fire
    fire = {p.id for p in plan(catalog, "open-restaurant", {"fire_route": "inspection"}).procedures}
    assert "fire-safety-check" in fire and "fire-safety-check-commitment" not in fire


def test_fire_safety_check_limits_result_and_materials(catalog: Catalog) -> None:
    ordinary = catalog.procedures["fire-safety-check"]
    commitment = catalog.procedures["fire-safety-check-commitment"]
    assert ordinary.legal_days == 13 and ordinary.guide.legal_days_basis is not None
    for proc in (ordinary, commitment):
        assert proc.result is not None
        assert proc.result.name == "公众聚集场所投入使用、营业前消防安全检查意见书"
        assert {"fire_premises_layout_plan", "fire_facilities_plan"} <= {m.id for m in proc.materials}
        assert proc.sources
    assert commitment.note and "20 个工作日" in commitment.note and "3 个月" not in commitment.note


def test_death_certificates_are_alternatives_and_employees_get_the_account_lump_sum(catalog: Catalog) -> None:
    from onething.intake import plan

    unnatural = {p.id for p in plan(catalog, "after-death", {"death_place": "unnatural"}).procedures}
    assert "unnatural-death-determination" in unnatural and "death-medical-certificate" not in unnatural
    hospital = {p.id for p in plan(catalog, "after-death", {"death_place": "hospital"}).procedures}
    assert "death-medical-certificate" in hospital and "unnatural-death-determination" not in hospital
    assert "employee-pension-account-lump-sum" in hospital
    resident = {p.id for p in plan(catalog, "after-death", {"pension_scheme": "resident"}).procedures}
    assert "employee-pension-account-lump-sum" not in resident


def test_flexible_workers_medical_insurance_has_no_hukou_requirement(catalog: Catalog) -> None:
    for proc_id in ("flexible-employment-registration", "flexible-medical-enrolment"):
        assert all(not (m.id == "residence_permit" and m.required) for m in catalog.procedures[proc_id].materials)
    assert any("超大城市" in c for c in catalog.procedures["flexible-medical-enrolment"].guide.conditions)


def test_newborn_uses_birth_registration_fee_declaration_and_states_eligibility(catalog: Catalog) -> None:
    thing = catalog.things["newborn"]
    ids = {tp.id for tp in thing.procedures}
    assert {"birth-registration-service", "newborn-medical-fee-declaration"} <= ids
    assert thing.conditions and thing.eligible_when == "parents_married && born_in_hospital && parents_local"


def test_relocation_moves_the_housing_fund_and_retirement_seals_it_first(catalog: Catalog) -> None:
    assert "employer-housing-fund-relocation" in {tp.id for tp in catalog.things["enterprise-relocation"].procedures}
    withdrawal = next(tp for tp in catalog.things["retirement"].procedures if tp.id == "hpf-withdrawal-retirement")
    assert "hpf-account-sealing-retirement" in withdrawal.after


def test_list_dates_and_consistent_official_names(catalog: Catalog) -> None:
    first = catalog.lists["national-2024-1"]
    assert (str(first.date), str(first.published)) == ("2024-01-09", "2024-01-16")
    assert [t.code for t in catalog.things.values() if t.name.endswith("“一件事”")] == []


def test_every_thing_says_where_its_facts_come_from(catalog: Catalog) -> None:
    """A thing with no page to cite says so: confidence below high (never a high claim without a source)."""
    for thing in catalog.things.values():
        assert thing.sources or thing.confidence.value != "high" or thing.source, thing.code
    for code in ("after-death", "newborn", "open-restaurant"):
        things_sources = catalog.things[code].sources or [
            s for tp in catalog.things[code].procedures for s in catalog.procedures[tp.id].sources]
        assert things_sources, code
