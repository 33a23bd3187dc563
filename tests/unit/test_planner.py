"""The intake planner on a small fixture catalog: applicability, ordering, merging, time, reductions."""

from __future__ import annotations

from pathlib import Path

import pytest

from onething.catalog.model import Catalog
from onething.catalog.service import load_valid_catalog
from onething.intake import InvalidAnswers, KnownFacts, MissingAnswers, PrefillValue, coerce_answers, plan

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini"


@pytest.fixture(scope="module")
def mini() -> Catalog:
    return load_valid_catalog(MINI)


def test_defaults_apply_and_conditions_select(mini: Catalog) -> None:
    result = plan(mini, "open-shop")
    assert result.procedure_ids() == ["licence", "food-permit"]
    assert result.answers == {"has_licence": False, "area": 40, "sign": "none"}
    assert result.stages == (("licence",), ("food-permit",))


def test_parallel_stages_and_critical_path(mini: Catalog) -> None:
    result = plan(mini, "open-shop", {"area": 120, "sign": "wall"})
    assert result.stages == (("licence",), ("food-permit", "fire-check"), ("signboard",))
    # licence 1 + max(food 5 + sign 2, fire 7) = 8, against 15 days separately.
    assert result.promised_days == 8
    assert result.separately.days == 15
    assert result.reductions.time == round(1 - 8 / 15, 4)


def test_inapplicable_predecessor_passes_its_own_on(mini: Catalog) -> None:
    result = plan(mini, "open-shop", {"has_licence": True, "sign": "wall"})
    by_id = {p.id: p for p in result.procedures}
    assert "licence" not in by_id
    assert by_id["food-permit"].after == ()
    assert by_id["signboard"].after == ("food-permit",)
    assert by_id["food-permit"].stage == 1


def test_merged_form_asks_each_field_once_with_required_union(mini: Catalog) -> None:
    result = plan(mini, "open-shop", {"area": 120})
    ids = [f.id for f in result.form.fields]
    assert len(ids) == len(set(ids))
    fields = {f.id: f for f in result.form.fields}
    assert fields["enterprise_name"].procedures == ("licence", "food-permit", "fire-check")
    # optional for the food permit, required for the fire check → required on the merged form
    assert fields["seat_count"].required is True
    assert plan(mini, "open-shop").form.fields[-1].id == "seat_count"
    assert {f.id: f for f in plan(mini, "open-shop").form.fields}["seat_count"].required is False


def test_materials_merged_and_exempted_by_facts(mini: Catalog) -> None:
    facts = KnownFacts(resources=frozenset({"population"}),
                       values={"applicant_name": PrefillValue(value="张三", resource="population", holder="samr")})
    result = plan(mini, "open-shop", {"area": 120}, facts)
    materials = {m.id: m for m in result.materials}
    assert list(materials) == ["id_card", "business_licence", "floor_plan"]
    assert materials["id_card"].status == "exempt"
    assert materials["id_card"].proven_by == "population"
    assert materials["id_card"].procedures == ("licence", "food-permit")
    assert materials["floor_plan"].procedures == ("food-permit", "fire-check")
    assert {f.id: f for f in result.form.fields}["applicant_name"].prefill is not None
    # 7 material slots separately (1 + 3 + 2 + …): id_card×2, business_licence×2, floor_plan×2, + licence's id_card
    assert result.separately.materials == 6
    assert result.together.materials == 2
    assert result.reductions.materials == round(1 - 2 / 6, 4)


def test_steps_and_trips_reductions(mini: Catalog) -> None:
    result = plan(mini, "open-shop")
    assert result.separately.steps == 8 and result.together.steps == 3
    assert result.separately.trips == 4 and result.together.trips == 0
    assert result.reductions.steps == round(1 - 3 / 8, 4)
    assert result.reductions.trips == 1.0


def test_bad_answers_are_named(mini: Catalog) -> None:
    with pytest.raises(InvalidAnswers) as caught:
        plan(mini, "open-shop", {"area": "big", "sign": "neon", "colour": 1})
    fields = [field for field, _ in caught.value.errors]
    assert sorted(fields) == ["area", "colour", "sign"]


def test_missing_answer_without_default(mini: Catalog) -> None:
    thing = mini.things["open-shop"]
    question = thing.questions[1].model_copy(update={"default": None})
    changed = thing.model_copy(update={"questions": (thing.questions[0], question, thing.questions[2])})
    with pytest.raises(MissingAnswers) as caught:
        plan(mini, changed, {})
    assert caught.value.names == ["area"]
    assert plan(mini, changed, {"area": 10}).procedure_ids() == ["licence", "food-permit"]


def test_coerce_answers_from_html_form(mini: Catalog) -> None:
    thing = mini.things["open-shop"]
    assert coerce_answers(thing, {"has_licence": "true", "area": "120", "sign": "wall", "x": "1"}) == {
        "has_licence": True, "area": 120, "sign": "wall", "x": "1"}
    assert coerce_answers(thing, {"area": ""}) == {}
    with pytest.raises(InvalidAnswers):
        coerce_answers(thing, {"area": "一百"})


def test_plan_json_has_the_pinned_keys(mini: Catalog) -> None:
    data = plan(mini, "open-shop").to_json()
    assert {"thing", "procedures", "form", "materials", "promised_days", "reductions"} <= data.keys()
    assert {"id", "name", "department", "stage"} <= data["procedures"][0].keys()
    assert {"id", "label", "type", "required", "choices"} <= data["form"]["fields"][0].keys()
    assert {"id", "name", "status"} <= data["materials"][0].keys()
    assert set(data["reductions"]) == {"materials", "steps", "time", "trips"}
