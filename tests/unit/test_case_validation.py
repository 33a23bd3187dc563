"""Merged-form checks (一表申请): every field type, required fields, prefill, supplements — all errors at once."""

from __future__ import annotations

from typing import Any

import pytest

from onething.cases.validation import validate_form
from onething.intake.model import ChoiceOut, FormField, PrefillValue

ID_ZHANG = "110101199003070011"
USCC_ACME = "91110105MA01ABCD00"


def field(id_: str, type_: str, required: bool = True, **extra: Any) -> FormField:
    return FormField(id=id_, label=id_, type=type_, required=required, procedures=("p",), **extra)


FIELDS = [
    field("name", "text"), field("seats", "int"), field("capital", "money"), field("opened", "date"),
    field("kind", "choice", choices=(ChoiceOut(value="llc", label="有限公司"), ChoiceOut(value=2, label="二"))),
    field("sells_tobacco", "bool"), field("rep_id", "id_number"), field("uscc", "uscc"), field("phone", "phone"),
    field("address", "address", required=False),
]
GOOD = {"name": " 示例 ", "seats": "40", "capital": 12.5, "opened": "2026-01-05", "kind": "llc",
        "sells_tobacco": False, "rep_id": ID_ZHANG.lower(), "uscc": USCC_ACME.lower(), "phone": "13800138000"}


def test_valid_form_is_normalised() -> None:
    values, errors = validate_form(FIELDS, GOOD)
    assert errors == []
    assert values == {"name": "示例", "seats": 40, "capital": "12.50", "opened": "2026-01-05", "kind": "llc",
                      "sells_tobacco": False, "rep_id": ID_ZHANG, "uscc": USCC_ACME, "phone": "13800138000"}


@pytest.mark.parametrize(("name", "value"), [
    ("name", 12), ("seats", "4.5"), ("seats", True), ("seats", -1), ("capital", "1.005"), ("capital", "abc"),
    ("capital", -3), ("opened", "2026-02-30"), ("opened", "05/01/2026"), ("kind", "plc"), ("sells_tobacco", "yes"),
    ("rep_id", ID_ZHANG[:-1] + "2"), ("rep_id", "1101011990"), ("uscc", USCC_ACME[:-1] + "1"),
    ("phone", "12800138000"), ("phone", "1380013800"),
])
def test_each_bad_value_is_named(name: str, value: Any) -> None:
    _, errors = validate_form(FIELDS, {**GOOD, name: value})
    assert [f for f, _ in errors] == [f"form.{name}"]


def test_every_error_at_once() -> None:
    form = {**GOOD, "phone": "1", "uscc": "x", "extra": 1}
    del form["name"], form["seats"]
    _, errors = validate_form(FIELDS, form)
    assert sorted(f for f, _ in errors) == sorted(
        ["form.phone", "form.uscc", "form.extra", "form.name", "form.seats"])


def test_choice_accepts_the_string_form_of_a_value() -> None:
    values, errors = validate_form(FIELDS, {**GOOD, "kind": "2"})
    assert errors == [] and values["kind"] == 2


def test_optional_blank_and_prefilled_fields() -> None:
    prefilled = field("company", "text", prefill=PrefillValue(value="示例餐饮", resource="business_registration"))
    values, errors = validate_form([*FIELDS, prefilled], {**GOOD, "address": "  "})
    assert errors == [] and "address" not in values and values["company"] == "示例餐饮"


def test_supplement_checks_only_the_asked_fields_and_requires_them() -> None:
    values, errors = validate_form(FIELDS, {"phone": "13900139000"}, only=["phone", "address"])
    assert values == {"phone": "13900139000"}
    assert errors == [("form.address", "请填写address")]
    _, errors = validate_form(FIELDS, {"phone": "13900139000", "name": "x"}, only=["phone"])
    assert [f for f, _ in errors] == ["form.name"]


def test_form_must_be_an_object() -> None:
    assert validate_form(FIELDS, ["x"])[1] == [("form", "应为对象（字段 → 值）")]  # type: ignore[arg-type]


def test_number_fields_keep_to_their_catalog_bounds() -> None:
    bounded = [field("seats", "int", min=1, max=500), field("capital", "money", min=0, max=1000)]
    values, errors = validate_form(bounded, {"seats": 500, "capital": "1000.00"})
    assert errors == [] and values == {"seats": 500, "capital": "1000.00"}
    _, errors = validate_form(bounded, {"seats": 501, "capital": "1000.01"})
    assert errors == [("form.seats", "seats：不能大于 500"), ("form.capital", "capital：不能大于 1000")]
    _, errors = validate_form(bounded, {"seats": 0, "capital": 5})
    assert errors == [("form.seats", "seats：不能小于 1")]


def test_int_fields_without_declared_bounds_are_still_bounded() -> None:
    _, errors = validate_form([field("seats", "int")], {"seats": 2**64})
    assert errors == [("form.seats", "seats：不能大于 1000000000000")]


def test_text_with_nul_is_refused() -> None:
    _, errors = validate_form([field("name", "text")], {"name": "a\x00b"})
    assert errors == [("form.name", "name：不能包含 NUL 字符")]
