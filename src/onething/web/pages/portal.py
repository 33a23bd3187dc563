"""The applicant portal (办事门户): home, search, a thing's guide with its plan, and the key-item lists.

Server-rendered and complete without JavaScript: the guide's questions are a GET form whose submission
shows the plan on the same page. With JavaScript, HTMX asks ``/things/{code}/plan`` for the plan panel
alone whenever an answer changes. Routes parse, call ``catalog.service`` / ``intake``, and render.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from onething.catalog.conditions import compile_condition
from onething.catalog.errors import UnknownThing
from onething.catalog.model import Catalog, Question, QuestionType, Thing
from onething.catalog.service import thing_guide
from onething.intake import IntakeError, Plan, coerce_answers, plan
from onething.web.deps import REGION_COOKIE, get_catalog, get_region, get_region_catalog, get_thing_index
from onething.web.problems import Problem
from onething.web.search import ThingIndex
from onething.web.templating import render
from onething.web.views import find_things, group_by_audience_and_stage, list_summaries

router = APIRouter(include_in_schema=False)

# The planner speaks English to API clients; the portal says the same in Chinese.
_MESSAGES = (
    ("expected true or false", "请选择“是”或“否”"),
    ("expected an integer", "请输入整数"),
    ("expected a number ≥ 0", "请输入不小于 0 的整数"),
    ("expected one of", "请从给出的选项中选择"),
    ("this question has no default", "请回答此问题"),
)


def _chinese(message: str) -> str:
    for english, chinese in _MESSAGES:
        if message.startswith(english):
            return chinese
    return message


def _thing_or_404(catalog: Catalog, code: str) -> Thing:
    try:
        return catalog.thing(code)
    except UnknownThing:
        raise Problem(404, "找不到该一件事", f"没有编码为“{code}”的一件事，请从首页或搜索重新查找。",
                      type_="/problems/unknown-thing") from None


def options_of(question: Question) -> list[tuple[str, str]]:
    """(value as the form sends it, label) for a radio group."""
    if question.type is QuestionType.bool:
        return [("true", "是"), ("false", "否")]
    return [(_form_value(question, choice.value), choice.label) for choice in question.choices]


def _form_value(question: Question, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass
class GuideForm:
    """The state of the questions form: what to show in each input, and any error by question id."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    submitted: bool = False


@dataclass
class PlanOutcome:
    form: GuideForm
    plan: Plan | None = None
    stages: list[tuple[int, list[Any]]] = field(default_factory=list)
    # False when the answers fall outside the thing's 受理条件 (``eligible_when``): apply to each department.
    bundled: bool = True


def evaluate(catalog: Catalog, thing: Thing, params: Mapping[str, str]) -> PlanOutcome:
    """Parse the query string's answers (only this thing's questions), and plan when the form was submitted."""
    raw = {q.id: params[q.id] for q in thing.questions if q.id in params}
    values = {q.id: raw.get(q.id, _form_value(q, q.default)) for q in thing.questions}
    form = GuideForm(values=values, submitted="plan" in params or bool(raw))
    if not form.submitted:
        return PlanOutcome(form)
    try:
        result = plan(catalog, thing, coerce_answers(thing, raw))
    except IntakeError as exc:
        form.errors = {name: _chinese(message) for name, message in exc.errors}
        return PlanOutcome(form)
    stages = [(number, [p for p in result.procedures if p.id in ids])
              for number, ids in enumerate(result.stages, start=1)]
    bundled = thing.eligible_when is None or compile_condition(thing.eligible_when).evaluate(result.answers)
    return PlanOutcome(form, result, stages, bundled)


def _plan_query(thing: Thing, form: GuideForm) -> str:
    return urlencode({**{q.id: form.values[q.id] for q in thing.questions}, "plan": "1"})


@router.get("/")
def home(request: Request, catalog: Catalog = Depends(get_catalog),
         index: ThingIndex = Depends(get_thing_index)) -> Response:
    groups = group_by_audience_and_stage(find_things(catalog, index))
    return render(request, "home.html", {"groups": groups, "nav": "home", "thing_count": len(catalog.things)})


@router.get("/search")
def search(request: Request, q: str = Query("", max_length=100), catalog: Catalog = Depends(get_catalog),
           index: ThingIndex = Depends(get_thing_index)) -> Response:
    results = find_things(catalog, index, q=q) if q.strip() else []
    return render(request, "search.html", {"q": q, "results": results, "nav": "home"})


@router.get("/things/{code}")
def thing_page(request: Request, code: str, catalog: Catalog = Depends(get_region_catalog),
               region: str | None = Depends(get_region)) -> Response:
    thing = _thing_or_404(catalog, code)
    outcome = evaluate(catalog, thing, request.query_params)
    context = {
        "region": region, "regions": sorted(catalog.regions.values(), key=lambda r: (r.parent or "", r.code)),
        "thing": thing, "guide": thing_guide(catalog, code), "outcome": outcome, "nav": "home",
        "lists": {lst.id: lst for lst in catalog.lists.values()}, "QuestionType": QuestionType,
        "options_of": options_of,
    }
    return render(request, "thing.html", context, status_code=422 if outcome.form.errors else 200)


@router.get("/things/{code}/plan")
def plan_fragment(request: Request, code: str, catalog: Catalog = Depends(get_region_catalog)) -> Response:
    """The plan panel alone, for HTMX; the address bar follows so that a reload keeps the answers."""
    thing = _thing_or_404(catalog, code)
    params = dict(request.query_params)
    params.setdefault("plan", "1")
    outcome = evaluate(catalog, thing, params)
    headers = {"HX-Replace-Url": f"/things/{thing.code}?{_plan_query(thing, outcome.form)}"}
    return render(request, "_plan.html", {"thing": thing, "outcome": outcome},
                  status_code=422 if outcome.form.errors else 200, headers=headers)


@router.get("/region")
def pick_region(request: Request, region: str = Query("", max_length=64), next_: str = Query("/", alias="next",
                                                                                         max_length=500),
                catalog: Catalog = Depends(get_catalog)) -> Response:
    """选择地区: a plain GET form (works without JS) that remembers the region in a cookie and goes back."""
    target = next_ if next_.startswith("/") and not next_.startswith("//") and "\\" not in next_ else "/"
    response = RedirectResponse(target, status_code=303)
    if region in catalog.regions:
        response.set_cookie(REGION_COOKIE, region, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
    else:
        response.delete_cookie(REGION_COOKIE)  # 全国通用 (national), or a code we do not know
    return response


@router.get("/lists")
def lists_page(request: Request, catalog: Catalog = Depends(get_catalog)) -> Response:
    summaries = list_summaries(catalog)
    national = [s for s in summaries if s["issuer"] == "national"]
    local = [s for s in summaries if s["issuer"] != "national"]
    return render(request, "lists.html", {"national": national, "local": local, "nav": "lists"})
