"""Bad input at the HTTP edge, through a real server on SQLite and PostgreSQL: never a 5xx, always problem+json.

Huge integers in ids and query parameters, lone surrogates and NUL in JSON, path and query text, invalid
UTF-8, bodies past the size limit (declared or streamed in chunks), floods of bad keys, and upload quotas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from onething import db
from onething.accounts.api import SYSTEM, create_user, issue_token
from onething.cases.settings import get_case_settings
from onething.web.limits import get_limit_settings
from tests.live import LiveServer

PROBLEM_JSON = "application/problem+json"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
USCC_ACME = "91110105MA01ABCD00"
HUGE = 2**64  # beyond every integer column and SQLite's INTEGER


@dataclass
class Actors:
    http: httpx.Client
    headers: dict[str, dict[str, str]]

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]


@pytest.fixture
def actors(live_server: LiveServer, http: httpx.Client) -> Actors:
    engine = live_server.engine
    assert engine is not None
    people = {"acme": ("applicant", None), "ops": ("operator", None), "auditor": ("auditor", None),
              "nhc-admin": ("dept_admin", "nhc")}
    headers = {}
    with db.session_scope(engine) as session:
        for name, (role, department) in people.items():
            extra: dict[str, Any] = {"uscc": USCC_ACME} if name == "acme" else {}
            create_user(session, name=name, role=role, department=department, now=NOW, **extra)
            headers[name] = {"Authorization": f"Bearer {issue_token(session, SYSTEM, user_name=name, now=NOW)}"}
    return Actors(http=http, headers=headers)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# --- numbers --------------------------------------------------------------------------------------------


def test_integers_beyond_64_bits_in_ids_and_query_parameters_are_422(actors: Actors) -> None:
    http = actors.http
    checks = [
        http.get(f"/api/v1/audit/entries?after_id={HUGE}", headers=actors["auditor"]),
        http.get(f"/api/v1/me/data-uses?before_id={HUGE}", headers=actors["acme"]),
        http.post(f"/api/v1/exchange/grants/{HUGE}/decision", headers=actors["nhc-admin"], json={"approve": True}),
        http.post(f"/api/v1/exchange/grants/{HUGE}/revoke", headers=actors["nhc-admin"], json={"reason": "x"}),
        http.post(f"/api/v1/exchange/corrections/{HUGE}/answer", headers=actors["nhc-admin"],
                  json={"corrected": True, "answer": "已更正"}),
        http.post(f"/api/v1/rectifications/{HUGE}/answer", headers=actors["nhc-admin"], json={"answer": "已整改"}),
        http.post("/api/v1/me/corrections", headers=actors["acme"], json={
            "resource": "medical_death_certificate", "description": "有误", "use_entry_id": HUGE}),
    ]
    for response in checks:
        body = assert_problem(response, 422)
        assert body["errors"], body


def test_openapi_declares_the_id_bounds(actors: Actors) -> None:
    spec = actors.http.get("/openapi.json").json()
    grant = spec["paths"]["/api/v1/exchange/grants/{grant_id}/decision"]["post"]["parameters"][0]["schema"]
    assert (grant["minimum"], grant["maximum"]) == (1, 2**31 - 1)
    after = next(p for p in spec["paths"]["/api/v1/audit/entries"]["get"]["parameters"] if p["name"] == "after_id")
    assert any(option.get("maximum") == 2**31 - 1 for option in after["schema"]["anyOf"])


# --- text -----------------------------------------------------------------------------------------------


def _correction(description_json: str) -> bytes:
    return ('{"resource": "medical_death_certificate", "fields": [], "description": '
            + description_json + "}").encode()


def test_lone_surrogates_and_nul_in_json_strings_are_400(actors: Actors) -> None:
    for escape in (r'"\ud800"', r'"a\udc00b"', r'"\u0000"', r'"ok \ud83d\ude00 \ud800"'):
        response = actors.http.post("/api/v1/me/corrections", content=_correction(escape),
                                    headers={**actors["acme"], "Content-Type": "application/json"})
        body = assert_problem(response, 400)
        assert body["type"] == "/problems/invalid-text" and body["errors"][0]["field"] == "body"
    untyped = actors.http.post("/api/v1/me/corrections", content=_correction(r'"\ud800"'), headers=actors["acme"])
    assert untyped.request.headers.get("content-type") is None  # FastAPI parses an untyped body as JSON
    assert_problem(untyped, 400)
    keyed = actors.http.post("/api/v1/things/open-restaurant/plan", content=b'{"answers": {"\\udfff": 1}}',
                             headers={"Content-Type": "application/json"})
    assert_problem(keyed, 400)
    paired = actors.http.post("/api/v1/me/corrections", content=_correction(r'"\ud83d\ude00 有误"'),
                              headers={**actors["acme"], "Content-Type": "application/json"})
    assert paired.status_code == 201, paired.text
    assert paired.json()["description"] == "\U0001f600 有误"


def test_nul_and_invalid_utf8_in_path_ids_are_400(actors: Actors) -> None:
    for path in ("/api/v1/applications/abc%00def", "/api/v1/tasks/%00", "/api/v1/applications/%ED%A0%80",
                 "/api/v1/tasks/%FF", "/api/v1/exchange/consents/%00/revoke"):
        method = actors.http.post if path.endswith("/revoke") else actors.http.get
        body = assert_problem(method(path, headers=actors["acme"]), 400)
        assert body["errors"][0]["field"] == "path"


def test_nul_and_invalid_utf8_in_query_strings_are_400(actors: Actors) -> None:
    for query in ("action=%00", "actor_name=a%00", "department=%ED%B0%80", "subject_id=%C3"):
        body = assert_problem(actors.http.get(f"/api/v1/audit/entries?{query}", headers=actors["auditor"]), 400)
        assert body["errors"][0]["field"] == "query"


def test_nul_in_a_form_body_is_400(actors: Actors) -> None:
    response = actors.http.post("/login", content=b"username=a%00&password=b",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    body = assert_problem(response, 400)
    assert body["errors"][0]["field"] == "body"


# --- size -----------------------------------------------------------------------------------------------


def test_a_body_declared_over_the_limit_is_413_before_it_is_read(actors: Actors) -> None:
    limit = get_limit_settings().max_body_bytes
    body = b'{"answers": {"x": "' + b"a" * limit + b'"}}'
    response = actors.http.post("/api/v1/things/open-restaurant/plan", content=body,
                                headers={"Content-Type": "application/json"})
    problem = assert_problem(response, 413)
    assert problem["type"] == "/problems/too-large" and str(limit) in problem["detail"]


class Sender:
    """A chunked body of ``total`` bytes handed out 64 KiB at a time, counting what the client took."""

    def __init__(self, total: int, first: bytes = b"") -> None:
        self.total = total
        self.first = first
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"a" * 65536
        if self.first:
            self.taken += len(self.first)
            yield self.first
        while self.taken < self.total:
            self.taken += len(chunk)
            yield chunk


MULTIPART_HEAD = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
                  b"Content-Type: application/pdf\r\n\r\n%PDF-")


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(actors: Actors) -> None:
    settings = get_limit_settings()
    for path, content_type, limit in [
        ("/api/v1/things/open-restaurant/plan", "application/json", settings.max_body_bytes),
        ("/api/v1/applications/anything/files", "multipart/form-data; boundary=xyz", settings.max_upload_body_bytes),
        ("/api/v1/things/open-restaurant/plan", "text/plain", settings.max_body_bytes),
    ]:
        total = 100 * 1024 * 1024
        sender = Sender(total, first=MULTIPART_HEAD if content_type.startswith("multipart") else b'{"answers": "')
        response = actors.http.post(path, content=iter(sender),
                                    headers={**actors["acme"], "Content-Type": content_type})
        problem = assert_problem(response, 413)
        assert problem["type"] == "/problems/too-large"
        assert "content-length" not in {k.lower() for k in response.request.headers}
        # The server stopped reading near the limit: the client could not hand over the whole 100 MB.
        assert limit < sender.taken < total / 4, (content_type, sender.taken)


def test_error_documents_list_fifty_errors_and_count_them_all(actors: Actors) -> None:
    answers = {f"unknown_{n}": 1 for n in range(5000)}
    response = actors.http.post("/api/v1/things/open-restaurant/plan", json={"answers": answers})
    body = assert_problem(response, 422)
    assert len(body["errors"]) == 50
    assert body["error_count"] >= 5000 and "仅列出前 50 处" in body["errors_note"]
    assert len(response.content) < 16 * 1024


# --- upload quotas --------------------------------------------------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 1000


@pytest.fixture
def small_quotas(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ONETHING_UPLOAD_MAX_FILES_PER_APPLICATION", "3")
    monkeypatch.setenv("ONETHING_UPLOAD_MAX_BYTES_PER_APPLICATION", "2500")
    monkeypatch.setenv("ONETHING_UPLOAD_MAX_FILES_PER_DAY", "4")
    get_case_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_case_settings.cache_clear()


def _application(actors: Actors, live_server: LiveServer, key: str) -> str:
    from tests.integration.test_cases_api import THING, valid_form

    catalog = live_server.app.state.catalog
    response = actors.http.post("/api/v1/applications", headers={**actors["acme"], "Idempotency-Key": key},
                                json={"thing": THING, "answers": {}, "form": valid_form(catalog)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_uploads_are_limited_per_application_and_per_applicant_per_day(
        actors: Actors, live_server: LiveServer, small_quotas: None) -> None:
    class Clock:
        now = NOW

        def __call__(self) -> datetime:
            return self.now

    clock = Clock()
    live_server.app.state.clock = clock

    def upload(application: str, size: int = len(PNG)) -> httpx.Response:
        data = PNG[:size] if size <= len(PNG) else PNG + b"0" * (size - len(PNG))
        return actors.http.post(f"/api/v1/applications/{application}/files", headers=actors["acme"],
                                data={"material": "premises_proof"},
                                files={"file": ("lease.png", data, "image/png")})

    first = _application(actors, live_server, "quota-1")
    assert upload(first).status_code == 201
    assert upload(first).status_code == 201
    over_bytes = assert_problem(upload(first), 409)  # 3 × 1008 bytes > 2500
    assert over_bytes["type"] == "/problems/upload-quota" and "合计不超过" in over_bytes["detail"]
    assert upload(first, size=100).status_code == 201
    over_count = assert_problem(upload(first, size=100), 409)
    assert "最多上传 3 个文件" in over_count["detail"]

    second = _application(actors, live_server, "quota-2")
    assert upload(second).status_code == 201  # the applicant's 4th file in 24 hours
    daily = assert_problem(upload(second), 429)
    assert daily["type"] == "/problems/upload-daily-quota" and "24 小时内最多上传 4 个文件" in daily["detail"]
    clock.now = NOW + timedelta(days=1, seconds=1)
    assert upload(second).status_code == 201

