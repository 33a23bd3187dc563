"""办事指南 of the social-insurance, housing-fund and tax procedures (issue 9, items 1–4): every procedure in
these files carries the four parts the issue requires, the national hotlines and its sources; the housing-fund
withdrawal limit cites the article that sets it."""

from __future__ import annotations

import yaml

from onething.catalog.model import Catalog

from ..conftest import CATALOG_DIR

FILES = ("hrss", "hrss-enterprise", "nhsa", "nhsa-enterprise", "hpf", "hpf-enterprise", "tax", "tax-individual")
DEPARTMENT_HOTLINE = {"hrss": "12333", "nhsa": "12393", "hpf": "12329", "tax": "12366"}
THINGS = ("employee-hiring", "flexible-employment", "retirement", "social-security-card", "medical-reimbursement",
          "tax-credit-rating-query", "credit-report-query", "car-trade-in-subsidy")


def _procedure_ids() -> list[str]:
    ids: list[str] = []
    for name in FILES:
        data = yaml.safe_load((CATALOG_DIR / "procedures" / f"{name}.yaml").read_text(encoding="utf-8"))
        ids += [item["id"] for item in data["procedures"]]
    return ids


def test_every_procedure_has_conditions_basis_contacts_result_and_sources(catalog: Catalog) -> None:
    ids = _procedure_ids()
    assert len(ids) >= 40
    for proc_id in ids:
        proc = catalog.procedures[proc_id]
        guide = proc.guide
        assert guide.conditions and guide.basis and proc.result is not None, proc_id
        assert guide.contacts is not None, proc_id
        assert "12345" in guide.contacts.enquiry and "12345" in guide.contacts.complaint, proc_id
        assert DEPARTMENT_HOTLINE[proc.department] in guide.contacts.enquiry, proc_id
        assert proc.sources, proc_id
        # No legal limit without its basis; an unknown limit is said in plain words.
        if proc.legal_days is None:
            assert any("法定时限" in note or "时限" in note for note in proc.unconfirmed), proc_id
        else:
            assert guide.legal_days_basis is not None, proc_id


def test_housing_fund_withdrawal_limit_is_article_25(catalog: Catalog) -> None:
    for proc_id in ("hpf-withdrawal-death", "hpf-withdrawal-retirement"):
        proc = catalog.procedures[proc_id]
        assert proc.legal_days == 3
        basis = proc.guide.legal_days_basis
        assert basis is not None and basis.article is not None and basis.article.startswith("第二十五条"), proc_id
    death = catalog.procedures["hpf-withdrawal-death"]
    assert any(b.article == "第二十四条第三款" for b in death.guide.basis)


def test_retirement_seals_the_housing_fund_account_with_a_source(catalog: Catalog) -> None:
    sealing = catalog.procedures["hpf-account-sealing-retirement"]
    assert sealing.sources and sealing.confidence.value == "medium"
    assert any(b.article == "第十五条第二款" for b in sealing.guide.basis)


def test_lump_sum_after_death_has_a_full_guide(catalog: Catalog) -> None:
    proc = catalog.procedures["employee-pension-account-lump-sum"]
    guide = proc.guide
    assert guide.fees == "不收费" and guide.locations and guide.delivery
    assert "employee-pension-account-lump-sum" in {tp.id for tp in catalog.things["after-death"].procedures}


def test_things_carry_sources_or_say_why_not(catalog: Catalog) -> None:
    for code in THINGS:
        thing = catalog.things[code]
        assert thing.sources or (thing.unconfirmed and thing.confidence.value == "low"), code
