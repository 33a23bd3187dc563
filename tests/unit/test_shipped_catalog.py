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
    "national-2025-1": ["individual-to-enterprise", "after-death", "car-trade-in-subsidy"],
    "national-2025-2": ["credit-report-query", "tax-credit-rating-query"],
    "national-2026-1": ["tech-enterprise-support", "ip-protection", "sports-event", "childcare-subsidy",
                        "flexible-employment", "elderly-subsidy"],
    "yunnan-2025-1": ["open-convenience-store"],
    "sichuan-2024-1": ["enterprise-deregistration"],
}
IN_DEPTH = ["open-restaurant", "after-death", "newborn", "enterprise-info-change", "open-transport-company",
            "retirement", "school-enrollment", "flexible-employment", "enterprise-deregistration",
            "veteran-retirement", "open-convenience-store"]


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
