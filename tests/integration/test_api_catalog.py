"""The read-only catalog API, pages and middleware over real HTTP, on SQLite and PostgreSQL.

The server serves the shipped catalog published into the test database; expectations are read from the same
catalog (its example cases), so these tests follow the content rather than freeze it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from onething import db
from onething.catalog.model import Catalog
from onething.catalog.service import load_valid_catalog
from onething.config import get_settings
from onething.web.app import create_app
from tests.live import LiveServer, serve

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "errors"}
SMALL_CATALOG = Path(__file__).resolve().parent.parent / "fixtures" / "catalog_small"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


# --- things ---------------------------------------------------------------------------------------------------

def test_things_lists_every_thing(http: httpx.Client, catalog: Catalog) -> None:
    body = http.get("/api/v1/things").json()
    assert body["count"] == len(catalog.things) == len(body["items"])
    restaurant = next(item for item in body["items"] if item["code"] == "open-restaurant")
    assert restaurant["name"] == "开办餐饮店"
    assert restaurant["audience"] == "enterprise"
    assert set(restaurant["lists"]) == set(catalog.lists_of("open-restaurant"))


def test_things_filters(http: httpx.Client, catalog: Catalog) -> None:
    individuals = http.get("/api/v1/things", params={"audience": "individual"}).json()["items"]
    assert {t["code"] for t in individuals} == {c for c, t in catalog.things.items() if t.audience == "individual"}

    stage = catalog.thing("open-restaurant").stage
    staged = http.get("/api/v1/things", params={"stage": stage}).json()["items"]
    assert "open-restaurant" in {t["code"] for t in staged}
    assert all(t["stage"] == stage for t in staged)

    listed = http.get("/api/v1/things", params={"list": "national-2024-1"}).json()["items"]
    assert {t["code"] for t in listed} == {i.code for i in catalog.lists["national-2024-1"].items}

    both = http.get("/api/v1/things", params={"list": "national-2024-1", "audience": "enterprise"}).json()
    assert all(t["audience"] == "enterprise" and "national-2024-1" in t["lists"] for t in both["items"])

    assert http.get("/api/v1/things", params={"list": "no-such-list"}).json() == {"count": 0, "items": []}


def test_things_bad_filter_is_a_problem_naming_the_field(http: httpx.Client) -> None:
    body = assert_problem(http.get("/api/v1/things", params={"audience": "martians"}), 422)
    assert [e["field"] for e in body["errors"]] == ["audience"]


@pytest.mark.parametrize("query", ["开办餐饮店", "餐饮", "open-restaurant", "我想开一家餐饮店", "开餐饮店要办什么"])
def test_search_finds_the_restaurant_first(http: httpx.Client, query: str) -> None:
    body = http.get("/api/v1/things", params={"q": query}).json()
    assert body["items"], f"nothing found for {query!r}"
    assert body["items"][0]["code"] == "open-restaurant"
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_search_by_procedure_name_and_no_match(http: httpx.Client) -> None:
    found = http.get("/api/v1/things", params={"q": "食品经营许可"}).json()["items"]
    assert "open-restaurant" in {t["code"] for t in found}
    assert http.get("/api/v1/things", params={"q": "火星移民"}).json()["count"] == 0


def test_search_colloquial_words_through_catalog_keywords() -> None:
    """A thing's `keywords` teach search colloquial names: 饭馆 → 开办餐饮店 (fixture catalog)."""
    small = load_valid_catalog(SMALL_CATALOG)
    with serve(create_app(engine=db.make_engine("sqlite://"), catalog=small)) as server:
        items = httpx.get(f"{server.url}/api/v1/things", params={"q": "想开个小饭馆"}).json()["items"]
    assert [t["code"] for t in items][:1] == ["open-restaurant"]


# --- guide and plan ---------------------------------------------------------------------------------------------

def test_guide(http: httpx.Client, catalog: Catalog) -> None:
    thing = catalog.thing("open-restaurant")
    guide = http.get("/api/v1/things/open-restaurant").json()
    assert guide["name"] == "开办餐饮店"
    assert guide["lead"]["id"] == thing.lead and guide["lead"]["name"]
    assert [q["id"] for q in guide["questions"]] == [q.id for q in thing.questions]
    assert [p["id"] for p in guide["procedures"]] == [p.id for p in thing.procedures]
    assert all(p["department_name"] and p["promised_days"] is not None for p in guide["procedures"])
    assert guide["materials"] and all(m["name"] for m in guide["materials"])
    fire = next(p for p in guide["procedures"] if p["id"] == "fire-safety-check")
    assert {"conditions", "basis", "fees", "locations", "contacts", "result", "delivery"} <= fire["guide"].keys()
    assert fire["guide"]["legal_days"] == 13 and fire["guide"]["legal_days_basis"]["law"]
    assert fire["guide"]["result"]["name"] == "公众聚集场所投入使用、营业前消防安全检查意见书"
    assert all(s["url"].startswith("http") and s["accessed"] for s in fire["sources"])


def test_guide_page_shows_each_procedures_guide_and_says_what_is_unconfirmed(http: httpx.Client) -> None:
    page = http.get("/things/open-restaurant").text
    for part in ("受理条件", "法律依据", "收费标准", "办理地点", "咨询电话", "监督投诉电话", "办理结果", "送达方式",
                 "法定时限", "承诺时限", "原件/复印件", "份数", "纸质/电子", "来源渠道", "必要性"):
        assert part in page, part
    assert "《中华人民共和国消防法》 第十五条" in page
    assert "公众聚集场所投入使用、营业前消防安全检查意见书" in page
    assert "尚未收录：" in page and "尚待核实：" in page  # said per part, in words
    assert 'class="notice"' not in page and "未规定" not in page  # no page-wide banner, no claimed "no limit"
    assert "https://www.quyang.gov.cn/d/shiqiangongkai/9517.html" in page


def test_unknown_thing_is_a_404_problem(http: httpx.Client) -> None:
    body = assert_problem(http.get("/api/v1/things/no-such-thing"), 404)
    assert body["instance"] == "/api/v1/things/no-such-thing"
    assert body["type"] == "/problems/unknown-thing"
    body = assert_problem(http.post("/api/v1/things/no-such-thing/plan", json={"answers": {}}), 404)
    assert body["errors"][0]["field"] == "code"


def test_plan_follows_the_catalog_cases(http: httpx.Client, catalog: Catalog) -> None:
    thing = catalog.thing("open-restaurant")
    assert thing.cases
    for case in thing.cases:
        response = http.post("/api/v1/things/open-restaurant/plan", json={"answers": case.answers})
        assert response.status_code == 200, response.text
        plan = response.json()
        assert {p["id"] for p in plan["procedures"]} == set(case.expect.procedures), case.name
        if case.expect.promised_days is not None:
            assert plan["promised_days"] == case.expect.promised_days, case.name


def test_plan_shape(http: httpx.Client) -> None:
    plan = http.post("/api/v1/things/open-restaurant/plan", json={"answers": {"fire_route": "inspection"}}).json()
    assert plan["thing"] == "open-restaurant"
    assert "fire-safety-check" in {p["id"] for p in plan["procedures"]}
    assert all({"id", "name", "department", "stage"} <= p.keys() for p in plan["procedures"])
    fields = plan["form"]["fields"]
    assert len({f["id"] for f in fields}) == len(fields)
    assert all({"id", "label", "type", "required", "choices"} <= f.keys() for f in fields)
    assert all(m["status"] in {"submit", "exempt"} for m in plan["materials"])
    assert set(plan["reductions"]) == {"materials", "steps", "time", "trips"}
    assert all(0 <= value <= 1 for value in plan["reductions"].values())
    assert plan["promised_days"] <= plan["separately"]["days"]


def test_plan_without_a_body_uses_the_defaults(http: httpx.Client, catalog: Catalog) -> None:
    plan = http.post("/api/v1/things/open-restaurant/plan").json()
    thing = catalog.thing("open-restaurant")
    assert plan["answers"] == {q.id: q.default for q in thing.questions}


def test_bad_answers_are_a_422_problem_naming_each_field(http: httpx.Client) -> None:
    answers = {"fire_route": "lots", "has_licence": "maybe", "no_such_question": 1}
    body = assert_problem(http.post("/api/v1/things/open-restaurant/plan", json={"answers": answers}), 422)
    assert body["type"] == "/problems/invalid-answers"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"answers.fire_route", "answers.has_licence", "answers.no_such_question"}
    assert all(e["message"] for e in body["errors"])


@pytest.mark.parametrize(("content", "field"), [
    (b'{"answers": [1, 2]}', "answers"),
    (b'{"answers": {}, "extra": 1}', "extra"),
    (b"{not json", None),
])
def test_malformed_plan_requests_are_422_problems(http: httpx.Client, content: bytes, field: str | None) -> None:
    response = http.post("/api/v1/things/open-restaurant/plan", content=content,
                         headers={"content-type": "application/json"})
    body = assert_problem(response, 422)
    assert body["type"] == "/problems/validation"
    assert body["errors"]
    if field is not None:
        assert field in {e["field"] for e in body["errors"]}


# --- lists, health, docs ----------------------------------------------------------------------------------------

def test_lists_show_declared_and_known_counts(http: httpx.Client, catalog: Catalog) -> None:
    lists = http.get("/api/v1/lists").json()
    by_id = {lst["id"]: lst for lst in lists}
    assert by_id.keys() == catalog.lists.keys()
    for required in ("national-2024-1", "national-2025-1", "national-2026-1", "yunnan-2025-1", "sichuan-2024-1"):
        assert required in by_id
    assert lists[0]["issuer"] == "national"
    for lst in lists:
        assert {"id", "issuer", "year", "batch", "title", "instrument", "date", "declared_count", "known_count",
                "items"} <= lst.keys()
        assert lst["known_count"] == len(lst["items"]) == len(catalog.lists[lst["id"]].items)
        assert all(item["code"] and item["name"] for item in lst["items"])
    assert "open-convenience-store" in {i["code"] for i in by_id["yunnan-2025-1"]["items"]}
    assert by_id["national-2024-1"]["declared_count"] == 13


def test_healthz(http: httpx.Client, catalog: Catalog) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] is True
    assert body["catalog"].startswith("version ")
    assert body["things"] == len(catalog.things)


def test_healthz_reports_an_unreachable_database(catalog: Catalog) -> None:
    dead = db.make_engine("postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=2")
    with serve(create_app(engine=dead, catalog=catalog)) as server:
        response = httpx.get(f"{server.url}/healthz", timeout=30)
    body = assert_problem(response, 503)
    assert body["type"] == "/problems/database-unavailable" and body["database"] == "unreachable"


def test_openapi_and_docs(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    for path in ("/api/v1/things", "/api/v1/things/{code}", "/api/v1/things/{code}/plan", "/api/v1/lists"):
        assert path in spec["paths"]
    docs = http.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "<script>" not in docs.text  # no inline script: the CSP forbids it


def test_unknown_route_is_a_problem(http: httpx.Client) -> None:
    assert_problem(http.get("/api/v1/nothing-here"), 404)
    assert_problem(http.delete("/api/v1/things"), 405)


# --- middleware -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/api/v1/things", "/static/css/site.css", "/api/v1/things/nope"])
def test_security_headers(http: httpx.Client, path: str) -> None:
    headers = http.get(path).headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in headers["permissions-policy"]
    assert "strict-transport-security" not in headers  # secure_cookies is off


def test_hsts_when_secure_cookies(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONETHING_SECURE_COOKIES", "true")
    get_settings.cache_clear()
    try:
        app = create_app(engine=live_server.engine)
    finally:
        monkeypatch.delenv("ONETHING_SECURE_COOKIES")
        get_settings.cache_clear()
    with serve(app) as server:
        headers = httpx.get(f"{server.url}/healthz").headers
    assert headers["strict-transport-security"].startswith("max-age=")


def test_request_id_is_echoed_or_generated(http: httpx.Client) -> None:
    assert http.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = http.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert http.get("/healthz").headers["x-request-id"] != generated
    unsafe = http.get("/healthz", headers={"X-Request-ID": "a b<script>"}).headers["x-request-id"]
    assert unsafe != "a b<script>" and len(unsafe) == 32
    body = http.get("/api/v1/things/nope", headers={"X-Request-ID": "trace-42"}).json()
    assert body["request_id"] == "trace-42"


def test_access_log_line(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "onething.access" and "/api/v1/lists" in r.getMessage()]

    with caplog.at_level(logging.INFO, logger="onething.access"):
        http.get("/api/v1/lists", headers={"X-Request-ID": "log-me"})
        deadline = time.monotonic() + 5  # the line is written just after the response has been sent
        while not lines() and time.monotonic() < deadline:
            time.sleep(0.02)
    records = lines()
    assert len(records) == 1
    fields = records[0].fields  # type: ignore[attr-defined]
    assert fields["method"] == "GET" and fields["path"] == "/api/v1/lists" and fields["status"] == 200
    assert fields["ms"] >= 0


def test_unexpected_error_is_a_500_problem_without_traceback(live_server: LiveServer) -> None:
    app = create_app(engine=live_server.engine)

    def explode() -> None:
        raise RuntimeError("secret internals 110101199003077777")

    app.add_api_route("/api/v1/explode", explode)
    with serve(app) as server:
        response = httpx.get(f"{server.url}/api/v1/explode", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500)
    assert "secret internals" not in response.text
    assert body["request_id"] == "boom-1"
    assert response.headers["x-request-id"] == "boom-1"
    assert response.headers["x-frame-options"] == "DENY"


# --- pages (HTML over HTTP; the browser tests are in tests/e2e) ---------------------------------------------------

def test_pages_render(http: httpx.Client) -> None:
    home = http.get("/")
    assert home.status_code == 200 and '<html lang="zh-CN">' in home.text and "开办餐饮店" in home.text
    results = http.get("/search", params={"q": "餐饮店"})
    assert results.status_code == 200 and "/things/open-restaurant" in results.text
    assert http.get("/lists").status_code == 200
    guide = http.get("/things/open-restaurant")
    assert guide.status_code == 200 and 'name="fire_route"' in guide.text
    assert 'data-procedure="' not in guide.text  # no plan until the form is submitted


def test_answers_outside_the_joint_conditions_route_to_separate_applications(http: httpx.Client) -> None:
    page = http.get("/things/newborn")
    assert "受理条件" in page.text and "父母双方均为本省户籍" in page.text
    joint = http.get("/things/newborn", params={"plan": "1"}).text
    assert "在线申请" in joint and 'id="plan-separate"' not in joint
    separate = http.get("/things/newborn/plan", params={"parents_married": "false"}).text
    assert 'id="plan-separate"' in separate and "在线申请" not in separate
    assert 'data-procedure="birth-household-registration"' in separate  # still listed, to apply for one by one


def test_guide_form_submission_shows_the_plan(http: httpx.Client) -> None:
    page = http.get("/things/open-restaurant", params={"plan": "1", "fire_route": "inspection",
                                                         "has_licence": "false"})
    assert page.status_code == 200
    assert 'data-procedure="fire-safety-check"' in page.text
    assert "四减" in page.text and "需提交" in page.text
    fragment = http.get("/things/open-restaurant/plan", params={"fire_route": "commitment"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'data-procedure="fire-safety-check-commitment"' in fragment.text
    assert fragment.headers["hx-replace-url"].startswith("/things/open-restaurant?")


def test_guide_form_errors_name_the_question(http: httpx.Client) -> None:
    page = http.get("/things/open-restaurant", params={"plan": "1", "fire_route": "都行"})
    assert page.status_code == 422
    assert 'href="#q-fire_route"' in page.text and "请从给出的选项中选择" in page.text
    page = http.get("/things/utility-connection", params={"plan": "1", "power_kw": "很大"})
    assert page.status_code == 422
    assert 'href="#q-power_kw"' in page.text and "请输入整数" in page.text


def test_unknown_thing_page_is_html_404(http: httpx.Client) -> None:
    response = http.get("/things/no-such-thing", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "找不到" in response.text
