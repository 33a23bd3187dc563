"""RFC 9457 problem details (``application/problem+json``) for every error the HTTP layer returns.

Routers raise :class:`Problem` (or let FastAPI raise its own HTTP and validation errors); the handlers
installed by :func:`install_problem_handlers` turn each into a problem document with ``type``, ``title``,
``status``, ``detail``, ``instance`` and ``errors: [{field, message}]``. Browsers asking for HTML outside
``/api/`` get the same information as a page instead. Nothing here ever sends a stack trace to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from onething.logging import request_id

PROBLEM_JSON = "application/problem+json"
# A problem document lists at most this many field errors and gives the total as ``error_count``, so a request
# with 200,000 bad keys cannot make a 16 MB answer.
MAX_LISTED_ERRORS = 50
logger = logging.getLogger("onething.web")

# Titles in Simplified Chinese for the statuses we return; others fall back to the HTTP reason phrase.
TITLES = {
    400: "请求有误",
    401: "需要登录",
    403: "没有权限",
    404: "找不到该资源",
    405: "不支持该请求方法",
    409: "请求与当前状态冲突",
    413: "请求内容过大",
    415: "不支持的内容类型",
    422: "请求内容未通过校验",
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务暂不可用",
}


class FieldError(BaseModel):
    field: str = Field(description="the request field at fault, e.g. `answers.area_sqm` or `q`")
    message: str


class ProblemDocument(BaseModel):
    """The problem+json body, for the OpenAPI document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
    error_count: int | None = Field(default=None, description=(
        f"how many field errors there were in all; only the first {MAX_LISTED_ERRORS} are listed in `errors`"))
    errors_note: str | None = Field(default=None, description="says that `errors` was cut short")
    request_id: str | None = None


_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors", "request_id"})


class Problem(Exception):
    """An error to answer with a problem document. ``type_`` is a URI reference naming the kind of problem."""

    def __init__(self, status: int, title: str | None = None, detail: str | None = None, *,
                 type_: str = "about:blank", errors: Iterable[tuple[str, str]] = (),
                 headers: dict[str, str] | None = None, extensions: dict[str, Any] | None = None) -> None:
        self.status = status
        self.extensions = extensions or {}  # RFC 9457 extension members
        self.title = title or _title(status)
        self.detail = detail
        self.type = type_
        self.errors = list(errors)
        self.headers = headers or {}
        super().__init__(f"{status} {self.title}: {detail or ''}")

    def document(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type, "title": self.title, "status": self.status, "detail": self.detail,
            "instance": instance,
            "errors": [{"field": field, "message": message} for field, message in self.errors[:MAX_LISTED_ERRORS]],
            **{k: v for k, v in self.extensions.items() if k not in _MEMBERS},
        }
        if len(self.errors) > MAX_LISTED_ERRORS:
            body["error_count"] = len(self.errors)
            body["errors_note"] = f"共 {len(self.errors)} 处错误，仅列出前 {MAX_LISTED_ERRORS} 处。"
        rid = request_id.get()
        if rid != "-":
            body["request_id"] = rid
        return body


def _title(status: int) -> str:
    if status in TITLES:
        return TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "错误"


def _reason_phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json answers for the given statuses."""
    return {status: {"model": ProblemDocument, "description": _title(status),
                     "content": {PROBLEM_JSON: {}}} for status in statuses}


def wants_html(request: Request) -> bool:
    """Pages answer errors with HTML for browsers; the API (and any non-browser client) gets problem+json."""
    if request.url.path.startswith("/api/") or request.url.path == "/healthz":
        return False
    return "text/html" in request.headers.get("accept", "")


def problem_response(request: Request, problem: Problem) -> Response:
    if wants_html(request):
        from onething.web.templating import render

        return render(request, "error.html", {"problem": problem}, status_code=problem.status,
                      headers=problem.headers)
    return JSONResponse(problem.document(instance=request.url.path), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=problem.headers)


def validation_errors(errors: Sequence[Any]) -> list[tuple[str, str]]:
    """FastAPI/Pydantic error dicts → (field, message); the location prefix (body/query/path) is dropped."""
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header", "cookie"}:
            loc = loc[1:]
        out.append((".".join(loc) or "body", str(error.get("msg", "invalid"))))
    return out


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(request, exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = _reason_phrase(exc.status_code)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = dict(exc.headers or {})
    return problem_response(request, Problem(exc.status_code, detail=detail, headers=headers))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problem = Problem(422, detail="请求中有字段不符合要求，见 errors。", type_="/problems/validation",
                      errors=validation_errors(exc.errors()))
    return problem_response(request, problem)


def internal_error(request: Request) -> Response:
    """The answer to an unexpected exception: a problem naming the request id, never the traceback."""
    return problem_response(request, Problem(500, detail="请稍后重试；如问题持续，请联系管理员并提供请求编号。",
                                             type_="/problems/internal"))


DATABASE_RETRY_AFTER = "5"


def database_unavailable_problem(extensions: dict[str, Any] | None = None) -> Problem:
    return Problem(503, detail="数据库暂时无法连接，请稍后重试。", type_="/problems/database-unavailable",
                   headers={"Retry-After": DATABASE_RETRY_AFTER}, extensions=extensions)


def database_unavailable(request: Request) -> Response:
    """The answer when the database does not answer: 503, never a 500 nor "not migrated"."""
    return problem_response(request, database_unavailable_problem())


async def _on_database_error(request: Request, exc: Exception) -> Response:
    # One line per request, not a traceback: an outage would otherwise flood the log.
    first_line = str(getattr(exc, "orig", exc)).splitlines()[0] if str(exc) else type(exc).__name__
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, first_line)
    return database_unavailable(request)


def install_problem_handlers(app: FastAPI) -> None:
    from sqlalchemy.exc import InterfaceError, OperationalError

    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(OperationalError, _on_database_error)
    app.add_exception_handler(InterfaceError, _on_database_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
