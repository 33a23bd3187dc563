"""Property tests of the planner over the whole shipped catalog (hypothesis)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onething.catalog.conditions import compile_condition
from onething.catalog.model import Catalog, QuestionType, Thing
from onething.catalog.service import load_valid_catalog
from onething.intake import KnownFacts, plan

from ..conftest import CATALOG_DIR


@lru_cache(maxsize=1)
def shipped() -> Catalog:
    return load_valid_catalog(CATALOG_DIR)


def _answers_for(thing: Thing) -> st.SearchStrategy[dict[str, Any]]:
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for question in thing.questions:
        if question.type is QuestionType.bool:
            parts[question.id] = st.booleans()
        elif question.type is QuestionType.int:
            parts[question.id] = st.integers(min_value=0, max_value=100_000)
        else:
            parts[question.id] = st.sampled_from([c.value for c in question.choices])
    return st.fixed_dictionaries({}, optional=parts)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Thing, dict[str, Any], KnownFacts]:
    catalog = shipped()
    thing = catalog.things[draw(st.sampled_from(sorted(catalog.things)))]
    answers = draw(_answers_for(thing))
    resources = draw(st.frozensets(st.sampled_from(sorted(catalog.resources)))) if catalog.resources else frozenset()
    return thing, answers, KnownFacts(resources=resources)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_laws(scenario: tuple[Thing, dict[str, Any], KnownFacts]) -> None:
    thing, answers, facts = scenario
    catalog = shipped()
    result = plan(catalog, thing, answers, facts)
    resolved = result.answers

    field_ids = [f.id for f in result.form.fields]
    assert len(field_ids) == len(set(field_ids)), "merged fields are unique"
    material_ids = [m.id for m in result.materials]
    assert len(material_ids) == len(set(material_ids)), "merged materials are unique"

    fields = {f.id: f for f in result.form.fields}
    planned_ids = set(result.procedure_ids())
    for planned in result.procedures:
        procedure = catalog.procedures[planned.id]
        for use in procedure.fields:
            if use.when and not compile_condition(use.when).evaluate(resolved):
                continue
            assert use.id in fields, f"{planned.id} needs {use.id}"
            assert planned.id in fields[use.id].procedures
            if use.required:
                provider = fields[use.id].provided_by
                assert fields[use.id].required or provider in planned_ids, \
                    f"{use.id} is required unless a result in the plan provides it"

    stage = {p.id: p.stage for p in result.procedures}
    for planned in result.procedures:
        assert all(stage[pred] < planned.stage for pred in planned.after)
    assert sum(len(s) for s in result.stages) == len(result.procedures)

    assert result.promised_days <= result.separately.days, "critical path ≤ sum"
    assert result.promised_days >= max((p.promised_days for p in result.procedures), default=0)
    for value in result.reductions.model_dump().values():
        assert 0.0 <= value <= 1.0
    for material in result.materials:
        if material.status == "exempt":
            assert material.proven_by in facts.resources


def test_every_thing_plans_with_defaults() -> None:
    catalog = shipped()
    for code in sorted(catalog.things):
        assert plan(catalog, code).procedures, f"{code}: defaults give an empty plan"
