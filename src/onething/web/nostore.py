"""``Cache-Control: no-store`` on every response that may carry personal data, by one rule in one place.

A response is personal when the request carried a credential (a bearer token or the session cookie) — whatever
it shows, it was shown to someone signed in — or when it is under ``/api/v1/`` or ``/me`` (a 401 there names
no one, but no-store costs nothing and keeps the rule simple). Static assets (``/static``, ``/static-docs``)
stay cacheable. The rule overrides any caching header a route set: a personal answer is never stored by a
browser or a shared cache (a proxy, the back button on a shared computer).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onething.web.auth import SESSION_COOKIE

NO_STORE = "no-store"
PERSONAL_PREFIXES = ("/api/v1/", "/me/")
STATIC_PREFIXES = ("/static/", "/static-docs/")


def _has_credential(scope: Scope) -> bool:
    cookie = SESSION_COOKIE.encode("latin-1") + b"="
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return True
        if name == b"cookie" and any(part.strip().startswith(cookie) for part in value.split(b";")):
            return True
    return False


def is_personal(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if path.startswith(STATIC_PREFIXES):
        return False
    return path == "/me" or path.startswith(PERSONAL_PREFIXES) or _has_credential(scope)


class NoStoreMiddleware:
    """Set ``Cache-Control: no-store`` on every personal response (see the module's rule)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_personal(scope):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Cache-Control"] = NO_STORE
            await send(message)

        await self.app(scope, receive, send_no_store)
