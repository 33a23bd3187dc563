"""Input limits at the HTTP edge: body size and text hygiene, checked once for every request.

:class:`InputLimitsMiddleware` is plain ASGI and sits outside the routers. It refuses, with a 413 problem, a body
larger than the configured limit *before* it is read: at once when ``Content-Length`` says so, and while the
bytes stream in otherwise (a chunked body is counted as it arrives and the read stops at the limit). JSON and
form bodies have one limit (``ONETHING_MAX_BODY_BYTES``), multipart uploads a larger one
(``ONETHING_MAX_UPLOAD_BODY_BYTES``). It also refuses, with a 400 problem, text that no part of the platform can
store: bytes that are not UTF-8, NUL characters and unpaired UTF-16 surrogates (``"\\ud800"`` in JSON), in the
path, the query string, form bodies and JSON bodies (keys and values). PostgreSQL rejects NUL in text and
neither database driver can encode a lone surrogate, so without this check such input became a 500.

Numbers are bounded where they are declared (``Path``/``Query``/``Field`` constraints, so OpenAPI shows them);
:data:`MAX_ID` is the range of the integer id columns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Path, Query
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onething.web.problems import Problem, problem_response

logger = logging.getLogger("onething.web")

# Ids are INTEGER columns (32-bit on PostgreSQL); a larger number names nothing, so it is refused as input.
MAX_ID = 2**31 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalQueryId = Annotated[int | None, Query(ge=0, le=MAX_ID)]

TOO_LARGE_TYPE = "/problems/too-large"
BAD_TEXT_TYPE = "/problems/invalid-text"


class LimitSettings(BaseSettings):
    """Edge limits, from ``ONETHING_*`` environment variables like every other setting."""

    model_config = SettingsConfigDict(env_prefix="ONETHING_", extra="ignore")

    # JSON and form bodies (application/json, application/x-www-form-urlencoded, anything not multipart).
    max_body_bytes: int = 1024 * 1024
    # multipart/form-data bodies: one uploaded file (ONETHING_UPLOAD_MAX_BYTES, 10 MiB) plus the form around it.
    max_upload_body_bytes: int = 11 * 1024 * 1024


@lru_cache(maxsize=1)
def get_limit_settings() -> LimitSettings:
    return LimitSettings()


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit; the problem handlers answer 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"请求内容超过 {limit} 字节上限")
        self.limit = limit


async def _on_body_too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTooLarge)
    return problem_response(request, too_large(exc.limit))


def install_limits(app: FastAPI, settings: LimitSettings | None = None) -> None:
    """The size and text checks, and the 413 answer when a router's read of the body passes the limit."""
    app.add_exception_handler(BodyTooLarge, _on_body_too_large)
    app.add_middleware(InputLimitsMiddleware, settings=settings)


def too_large(limit: int) -> Problem:
    # ``Connection: close`` makes the server drop the connection after the answer instead of reading on (and
    # discarding) whatever the client still sends.
    return Problem(413, detail=f"请求内容超过 {limit} 字节上限", type_=TOO_LARGE_TYPE,
                   headers={"Connection": "close"})


def bad_text(where: str, why: str) -> Problem:
    return Problem(400, detail=f"请求中的文本无效：{why}", type_=BAD_TEXT_TYPE, errors=[(where, why)])


def text_fault(text: str) -> str | None:
    """Why ``text`` cannot be stored (NUL or an unpaired surrogate), or None when it is fine."""
    if "\x00" in text:
        return "不能包含 NUL 字符"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "包含无效的 Unicode 字符（不成对的代理项）"
    return None


def _bytes_fault(data: bytes, *, form: bool = False) -> str | None:
    """Why percent-encoded ``data`` (a path, a query string, a form body) is not storable text, or None."""
    raw = unquote_to_bytes(data.replace(b"+", b" ") if form else data)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "不是有效的 UTF-8 文本"
    return text_fault(text)


def _strings(document: Any) -> Iterable[str]:
    """Every string in a parsed JSON document, keys included; iterative, so depth costs no recursion."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def json_fault(body: bytes) -> str | None:
    """Why a JSON body holds text that cannot be stored, or None (a body that does not parse is the router's)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "不是有效的 UTF-8 文本"
    if "\\u" not in text and "\x00" not in text:
        return None  # escapes are the only way a valid UTF-8 body can carry a lone surrogate
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    for string in _strings(document):
        fault = text_fault(string)
        if fault is not None:
            return fault
    return None


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1")).split(";", 1)[0].strip().lower()
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class InputLimitsMiddleware:
    """Size limits on request bodies and text hygiene on paths, query strings, form and JSON bodies."""

    def __init__(self, app: ASGIApp, settings: LimitSettings | None = None) -> None:
        self.app = app
        self.settings = settings

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        response = problem_response(Request(scope), problem)
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings or get_limit_settings()
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
        fault = _bytes_fault(raw_path) or text_fault(scope["path"])
        if fault is not None:
            await self._refuse(scope, receive, send, bad_text("path", fault))
            return
        fault = _bytes_fault(scope.get("query_string", b""), form=True)
        if fault is not None:
            await self._refuse(scope, receive, send, bad_text("query", fault))
            return

        content_type = _content_type(scope)
        multipart = content_type.startswith("multipart/")
        limit = settings.max_upload_body_bytes if multipart else settings.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, too_large(limit))
            return

        # Small bodies that the routers parse whole anyway are read here (bounded) and their text checked once.
        # FastAPI parses a body without a Content-Type as JSON, so that one is checked as JSON too.
        if content_type in {"", "application/json", "application/x-www-form-urlencoded"} \
                or content_type.endswith("+json"):
            try:
                body = await _read_bounded(receive, limit)
            except BodyTooLarge:
                await self._refuse(scope, receive, send, too_large(limit))
                return
            is_form = content_type == "application/x-www-form-urlencoded"
            fault = _bytes_fault(body, form=True) if is_form else json_fault(body)
            if fault is not None:
                await self._refuse(scope, receive, send, bad_text("body", fault))
                return
            await self.app(scope, _replay(body, receive), send)
            return

        received = 0
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, counted, send_started)
        except BodyTooLarge as exc:  # reached us only where no handler turned it into a 413 already
            if started:
                raise
            await self._refuse(scope, receive, send, too_large(exc.limit))


async def _read_bounded(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the router sees an empty body
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body over once, then defers to the server's (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
