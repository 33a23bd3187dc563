"""The read-only catalog API: one-things, a thing's guide, a plan for answers, and the key-item lists.

Routes parse the request, call ``catalog.service`` / ``intake``, and return JSON. Errors are problem details
(see ``onething.web.problems``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from onething.catalog.errors import UnknownThing
from onething.catalog.model import Audience, Catalog
from onething.catalog.service import thing_guide
from onething.intake import IntakeError, Plan, plan
from onething.web.deps import get_catalog, get_thing_index
from onething.web.problems import Problem, problem_responses
from onething.web.search import ThingIndex
from onething.web.views import find_things, list_summaries

router = APIRouter(prefix="/api/v1", tags=["catalog"])

UNKNOWN_THING = "/problems/unknown-thing"
INVALID_ANSWERS = "/problems/invalid-answers"


class ThingSummary(BaseModel):
    code: str
    name: str
    audience: str
    stage: str
    lead: str
    lists: list[str]
    confidence: str
    description: str | None = None
    score: float | None = Field(default=None, description="relevance to `q`, when a query was given")


class ThingPage(BaseModel):
    count: int
    items: list[ThingSummary]


class ListItemOut(BaseModel):
    code: str
    name: str | None
    audience: str | None
    confidence: str


class KeyItemListOut(BaseModel):
    id: str
    issuer: str
    issuer_name: str
    year: int
    batch: int
    title: str
    instrument: str | None
    date: str | None
    declared_count: int | None = Field(description="the official number of items (may exceed known_count)")
    known_count: int = Field(description="items onething has modelled")
    source: str | None
    confidence: str
    items: list[ListItemOut]


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"answers": {"has_licence": False, "fire_route": "commitment"}}]})

    answers: dict[str, Any] = Field(default_factory=dict,
                                    description="question id → answer; unanswered questions take their default")


def unknown_thing(code: str) -> Problem:
    return Problem(404, "找不到该一件事", f"没有编码为“{code}”的一件事。", type_=UNKNOWN_THING,
                   errors=[("code", "unknown thing")])


@router.get("/things", response_model=ThingPage, responses=problem_responses(422))
def list_things(
    catalog: Catalog = Depends(get_catalog),
    index: ThingIndex = Depends(get_thing_index),
    audience: Audience | None = Query(None, description="individual (个人) or enterprise (企业)"),
    stage: str | None = Query(None, max_length=50, description="life stage, e.g. 准入准营"),
    list_id: str | None = Query(None, alias="list", max_length=80, description="key-item list id"),
    q: str | None = Query(None, max_length=100, description="words: code, name, description, keywords"),
) -> dict[str, Any]:
    """One-things matching every filter; with `q`, ranked by relevance (Chinese queries are word-segmented)."""
    rows = find_things(catalog, index, audience=audience.value if audience else None, stage=stage,
                       list_id=list_id, q=q)
    return {"count": len(rows), "items": rows}


@router.get("/things/{code}", responses=problem_responses(404))
def get_thing(code: str, catalog: Catalog = Depends(get_catalog)) -> dict[str, Any]:
    """The guide (一次告知): questions, procedures with departments and time limits, materials, lists."""
    try:
        return thing_guide(catalog, code)
    except UnknownThing:
        raise unknown_thing(code) from None


@router.post("/things/{code}/plan", responses={200: {"model": Plan}, **problem_responses(404, 422)})
def plan_thing(code: str, body: PlanRequest | None = None,
               catalog: Catalog = Depends(get_catalog)) -> dict[str, Any]:
    """The plan for these answers: procedures by stage, merged form, materials, promised days, reductions.

    A bad or missing answer is a 422 problem whose `errors` name each field as `answers.<question id>`.
    """
    answers = body.answers if body is not None else {}
    try:
        result = plan(catalog, code, answers)
    except UnknownThing:
        raise unknown_thing(code) from None
    except IntakeError as exc:
        raise Problem(422, "回答不符合要求", "有回答缺失或不符合问题的类型，见 errors。", type_=INVALID_ANSWERS,
                      errors=[(f"answers.{field}", message) for field, message in exc.errors]) from None
    return result.to_json()


@router.get("/lists", response_model=list[KeyItemListOut])
def get_lists(catalog: Catalog = Depends(get_catalog)) -> list[dict[str, Any]]:
    """National and local key-item lists (重点事项清单); `declared_count` vs `known_count` shown as they are."""
    return list_summaries(catalog)
