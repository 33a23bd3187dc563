from __future__ import annotations

import pytest

from onething.catalog.conditions import ConditionError, compile_condition


@pytest.mark.parametrize(("source", "answers", "expected"), [
    ("!has_licence", {"has_licence": False}, True),
    ("area > 300 || seats > 100", {"area": 10, "seats": 101}, True),
    ('kind == "mall"', {"kind": "street"}, False),
    ('kind in ["mall", "street"]', {"kind": "street"}, True),
    ("a && (b || c)", {"a": True, "b": False, "c": True}, True),
])
def test_evaluates(source: str, answers: dict[str, object], expected: bool) -> None:
    assert compile_condition(source).evaluate(answers) is expected


def test_names_are_the_answers_read() -> None:
    assert compile_condition('size(kind) > 0 && !x').names == {"kind", "x"}


@pytest.mark.parametrize("source", ["a >", "", "a ===", "__import__('os')"])
def test_rejects_what_does_not_parse(source: str) -> None:
    with pytest.raises(ConditionError):
        compile_condition(source).evaluate({"a": 1})


def test_non_boolean_and_type_errors() -> None:
    with pytest.raises(ConditionError, match="boolean"):
        compile_condition("a + 1").evaluate({"a": 1})
    with pytest.raises(ConditionError, match="could not be evaluated"):
        compile_condition("a > 1").evaluate({"a": "x"})
    with pytest.raises(ConditionError, match="needs answers"):
        compile_condition("a > 1").evaluate({})
