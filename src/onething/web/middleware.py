"""HTTP middleware: request id, one access-log line per request, last-resort errors, security headers.

Both classes are plain ASGI middleware (no ``BaseHTTPMiddleware``) so that streaming responses and context
variables behave. :class:`RequestContextMiddleware` sits outside the routers: it sets the request id that every
log line carries, turns an exception that escaped every handler into a problem+json 500 (Starlette's own
last-resort handler would sit outside us and skip our headers), and logs the request once.
:class:`SecurityHeadersMiddleware` wraps everything, so even that 500 carries the headers.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onething.db import is_unavailable
from onething.logging import request_id
from onething.web.problems import database_unavailable, internal_error

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only when it is short and plain, so it cannot inject into logs or headers.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_logger = logging.getLogger("onething.access")
error_logger = logging.getLogger("onething.web")

# The portal loads only its own scripts and styles (htmx is served from /static). Swagger UI at /docs is served
# from the fastapi-offline package's assets under /static-docs (no CDN); it runs no inline script (see
# templates/docs.html), but its React components set inline styles, which only that page allows.
PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


def security_headers(path: str, *, hsts: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": DOCS_CSP if path.startswith(DOCS_PATHS) else PORTAL_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response; HSTS only when the site runs behind HTTPS."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"], hsts=self.hsts)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _incoming_request_id(headers: Mapping[str, str]) -> str | None:
    value = headers.get(REQUEST_ID_HEADER.lower())
    return value if value is not None and _SAFE_REQUEST_ID.match(value) else None


class RequestContextMiddleware:
    """Request id in, request id out; one structured access-log line; no exception leaks to the client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        rid = _incoming_request_id(raw) or uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error_logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                raise  # too late for a clean answer; the server closes the connection
            # A database that does not answer (reached outside the routers, e.g. in a middleware) is a 503.
            response = database_unavailable(Request(scope)) if is_unavailable(exc) else internal_error(Request(scope))
            await response(scope, receive, send_with_id)
        finally:
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            path = scope.get("path", "")
            query = scope.get("query_string", b"").decode("latin-1")
            target = f"{path}?{query}" if query else path
            access_logger.info(
                "%s %s %s %sms", scope.get("method"), target, status, elapsed,
                extra={"fields": {"method": scope.get("method"), "path": target, "status": status, "ms": elapsed}},
            )
            request_id.reset(token)
