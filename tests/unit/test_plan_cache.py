"""The submission's plan cache: the same Plan the planner gives, shared only within one catalog object."""

from __future__ import annotations

from pathlib import Path

import pytest

from onething.cases import service
from onething.cases.errors import Invalid
from onething.catalog.model import Catalog
from onething.catalog.service import load_valid_catalog
from onething.intake import coerce_answers, plan

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "mini"


@pytest.fixture
def mini() -> Catalog:
    return load_valid_catalog(MINI)


def test_cached_plan_is_the_planners_plan(mini: Catalog) -> None:
    answers = {"area": 120, "sign": "wall"}
    first = service._answers_plan(mini, "open-shop", answers, {})
    assert first == plan(mini, "open-shop", coerce_answers(mini.thing("open-shop"), answers))
    # Same catalog, same answers in another key order: the very same (frozen) Plan.
    assert service._answers_plan(mini, "open-shop", {"sign": "wall", "area": 120}, {}) is first
    # Other answers, another plan.
    assert service._answers_plan(mini, "open-shop", {"area": 40}, {}).procedure_ids() == ["licence", "food-permit"]


def test_another_catalog_object_never_shares_plans(mini: Catalog) -> None:
    first = service._answers_plan(mini, "open-shop", {"area": 120}, {})
    other = load_valid_catalog(MINI)
    again = service._answers_plan(other, "open-shop", {"area": 120}, {})
    assert again == first and again is not first


def test_refused_answers_are_never_cached(mini: Catalog) -> None:
    for _ in range(2):
        with pytest.raises(Invalid):
            service._answers_plan(mini, "open-shop", {"area": "big"}, {})
    assert all(key[2] != '{"area":"big"}' for key in service._plan_cache)


def test_the_cache_is_bounded(mini: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "PLAN_CACHE_SIZE", 3)
    for area in range(10, 20):
        service._answers_plan(mini, "open-shop", {"area": area}, {})
    assert len(service._plan_cache) <= 3
