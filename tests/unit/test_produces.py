"""`produces:` and `result.resource`: the planner never asks what the thing itself produces, a procedure whose
result shared data already prove is 已核验, and the validator checks producers come before their consumers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from onething.catalog.service import load_valid_catalog
from onething.intake import KnownFacts, plan
from onething.intake.cases import validate_catalog

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini"
USCC = "91110105MA01ABCD00"


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


@pytest.fixture
def produced(tmp_path: Path) -> Path:
    """The mini catalog where 营业执照登记 produces the USCC that 食品经营许可 and 消防安全检查 ask for."""
    root = tmp_path / "catalog"
    shutil.copytree(MINI, root)
    _replace(root / "fields.yaml", "  - {id: seat_count,",
             "  - {id: enterprise_uscc, label: 统一社会信用代码, type: uscc}\n  - {id: seat_count,")
    samr = root / "procedures" / "samr.yaml"
    _replace(samr, "    materials: [id_card]\n",
             "    materials: [id_card]\n"
             "    result: {name: 营业执照, electronic: true, resource: business_registration}\n"
             "    produces: [enterprise_uscc]\n")
    _replace(samr, "fields: [applicant_name, enterprise_name, {id: seat_count",
             "fields: [applicant_name, enterprise_name, enterprise_uscc, {id: seat_count")
    _replace(root / "procedures" / "other.yaml", "fields: [enterprise_name, seat_count]",
             "fields: [enterprise_name, enterprise_uscc, seat_count]")
    return root


def _errors(root: Path) -> list[str]:
    _, problems = validate_catalog(root)
    return [str(p) for p in problems if p.severity == "error"]


def test_produced_field_is_not_asked_when_its_producer_comes_first(produced: Path) -> None:
    assert _errors(produced) == []
    catalog = load_valid_catalog(produced)
    result = plan(catalog, "open-shop", {"area": 120})
    uscc = next(f for f in result.form.fields if f.id == "enterprise_uscc")
    assert uscc.provided_by == "licence" and uscc.required is False
    licence = next(p for p in result.procedures if p.id == "licence")
    assert licence.produces == ("enterprise_uscc",) and licence.verified_by is None
    assert all(p.produces == () for p in result.procedures if p.id != "licence")


def test_produced_field_is_asked_when_the_producer_is_not_in_the_plan(produced: Path) -> None:
    catalog = load_valid_catalog(produced)
    result = plan(catalog, "open-shop", {"has_licence": True})
    uscc = next(f for f in result.form.fields if f.id == "enterprise_uscc")
    assert uscc.provided_by is None and uscc.required is True


def test_result_proven_by_shared_data_is_verified_and_produces_nothing(produced: Path) -> None:
    catalog = load_valid_catalog(produced)
    result = plan(catalog, "open-shop", {}, KnownFacts(resources=frozenset({"business_registration"})))
    licence = next(p for p in result.procedures if p.id == "licence")
    assert licence.verified_by == "business_registration" and licence.produces == ()
    uscc = next(f for f in result.form.fields if f.id == "enterprise_uscc")
    assert uscc.provided_by is None and uscc.required is True  # asked (or prefilled from the data)
    # Without that resource among the facts nothing is verified.
    other = plan(catalog, "open-shop", {}, KnownFacts(resources=frozenset({"population"})))
    assert all(p.verified_by is None for p in other.procedures)


def test_legacy_result_provides_still_works(produced: Path) -> None:
    samr = produced / "procedures" / "samr.yaml"
    _replace(samr, "    result: {name: 营业执照, electronic: true, resource: business_registration}\n"
                   "    produces: [enterprise_uscc]\n",
             "    result: {name: 营业执照, electronic: true, provides: [enterprise_uscc]}\n")
    assert _errors(produced) == []
    result = plan(load_valid_catalog(produced), "open-shop", {})
    assert next(f for f in result.form.fields if f.id == "enterprise_uscc").provided_by == "licence"


def test_consumer_not_after_its_producer_is_an_error_with_its_line(produced: Path) -> None:
    thing = produced / "things" / "open-shop.yaml"
    _replace(thing, "- {id: food-permit, after: [licence]}", "- {id: food-permit}")
    errors = _errors(produced)
    line = _line_of(thing, "- {id: food-permit}")
    ours = [e for e in errors if "produces" in e]
    assert len(ours) == 1, errors
    assert f"open-shop.yaml:{line}:" in ours[0]
    assert "food-permit asks 'enterprise_uscc', which licence produces" in ours[0]


def test_alternatives_that_never_apply_together_are_not_an_error(produced: Path) -> None:
    thing = produced / "things" / "open-shop.yaml"
    # fire-check only when the licence is held, i.e. never together with its producer (only when !has_licence)
    _replace(thing, '- {id: fire-check, when: "area > 100", after: [licence]}',
             '- {id: fire-check, when: "has_licence && area > 100"}')
    assert _errors(produced) == []
    _replace(thing, '- {id: fire-check, when: "has_licence && area > 100"}',
             '- {id: fire-check, when: "area > 100"}')
    assert any("fire-check asks 'enterprise_uscc'" in e for e in _errors(produced))


def test_produces_checks_its_fields_and_the_result_resource(produced: Path) -> None:
    samr = produced / "procedures" / "samr.yaml"
    _replace(samr, "    produces: [enterprise_uscc]\n",
             "    produces: [enterprise_uscc, no_such_field, applicant_name]\n")
    _replace(samr, "resource: business_registration}", "resource: nowhere}")
    errors = _errors(produced)
    line = _line_of(samr, "produces:")
    assert any(f"samr.yaml:{line}:" in e and "unknown field 'no_such_field'" in e for e in errors), errors
    assert any(f"samr.yaml:{line}:" in e and "both produces and asks field 'applicant_name'" in e
               for e in errors), errors
    assert any("unknown data resource 'nowhere'" in e for e in errors), errors


def test_result_resource_must_be_held_by_the_issuing_department(produced: Path) -> None:
    _replace(produced / "resources.yaml", "{id: business_registration, name: 登记信息, holder: samr",
             "{id: business_registration, name: 登记信息, holder: fire")
    assert any("business_registration is held by fire, not by samr" in e for e in _errors(produced))


def test_shipped_newborn_never_asks_the_childs_id_number() -> None:
    catalog = load_valid_catalog(Path(__file__).resolve().parents[2] / "catalog")
    for facts in (KnownFacts(), KnownFacts(resources=frozenset({"birth_medical_certificate"}))):
        result = plan(catalog, "newborn", {}, facts)
        child = next(f for f in result.form.fields if f.id == "child_id_number")
        assert child.provided_by == "birth-household-registration" and not child.required
    verified = plan(catalog, "after-death", {}, KnownFacts(resources=frozenset({"medical_death_certificate"})))
    assert next(p for p in verified.procedures if p.id == "death-medical-certificate").verified_by == (
        "medical_death_certificate")


def test_the_form_check_ignores_a_value_for_a_produced_field(produced: Path) -> None:
    from onething.cases.validation import validate_form

    result = plan(load_valid_catalog(produced), "open-shop", {})
    form = {"applicant_name": "张三", "applicant_id_number": "110101199003070011", "enterprise_name": "示例",
            "enterprise_uscc": "not even valid"}
    values, errors = validate_form(result.form.fields, form)
    assert errors == [] and "enterprise_uscc" not in values
    # Asked for in a supplement it would be checked — but a department cannot ask for it (cases service).
    _, asked = validate_form(result.form.fields, {"enterprise_uscc": "bad"}, only=["enterprise_uscc"])
    assert [name for name, _ in asked] == ["form.enterprise_uscc"]
