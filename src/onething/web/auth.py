"""Who is calling: FastAPI dependencies for authentication, CSRF protection and rate limits.

- ``current_actor`` / ``optional_actor``: a bearer token in ``Authorization`` (department systems, scripts),
  else the browser session cookie. A missing or bad credential answers 401 problem+json with
  ``WWW-Authenticate: Bearer``; a browser asking for a page is sent to ``/login`` instead.
- CSRF: every unsafe request (POST, PUT, PATCH, DELETE) authenticated by the session cookie must carry the
  session's synchroniser token — form field ``csrf_token`` or header ``X-CSRF-Token`` — or it is refused with
  403. Bearer requests are exempt: a browser never attaches a bearer token on its own. Pages put the token in
  their forms from ``request.state.csrf_token`` (see ``csrf_token()``); HTMX sends it as a header.
- ``rate_limit(scope, per_minute_setting)``: a fixed-window limit per client address, counted in this process
  and shared through the database in batches so that every server process shares it (ADR 022); over the
  limit → 429 with ``Retry-After``.

``install_auth(app)`` maps the accounts errors that services raise (``Forbidden``, ``NotFound`` …) to problems.
Database work runs in the thread pool; these dependencies never block the event loop.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from onething.accounts.errors import AuthenticationFailed, DuplicateUser, Forbidden, InvalidUser, NotFound
from onething.accounts.model import Actor, SignedIn
from onething.accounts.ratelimit import RateDecision, RateLimiter
from onething.accounts.service import actor_for_session, actor_for_token
from onething.config import Settings, get_settings
from onething.db import session_scope
from onething.web.problems import Problem, problem_response, wants_html

SESSION_COOKIE = "onething_session"
LOGIN_CSRF_COOKIE = "onething_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_UNSET = object()
security_log = logging.getLogger("onething.security")


def settings_of(request: Request) -> Settings:
    """The app's settings: ``app.state.settings`` when a test or embedder set one, else the environment's."""
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


def now_of(request: Request) -> datetime:
    """The current time, from ``app.state.clock`` when one is set (tests), else the system clock in UTC."""
    clock = getattr(request.app.state, "clock", None)
    return clock() if callable(clock) else datetime.now(UTC)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def client_address(request: Request) -> str:
    """The peer address; behind a proxy listed in ``ONETHING_TRUSTED_PROXIES`` the address it forwarded
    (``onething.web.server``), so that limits apply to clients, not to the load balancer."""
    return request.client.host if request.client else "unknown"


PASSWORD_PAGE = "/account/password"  # noqa: S105 - a path, not a password
# What an account that must replace its initial password may still reach: the change itself and signing out.
_PASSWORD_CHANGE_PATHS = frozenset({PASSWORD_PAGE, "/logout"})


class PasswordChangeRequired(Exception):
    """A browser session of an account that must change its initial password asked for something else."""


class LoginRequired(Exception):
    """A browser asked for a page that needs a signed-in user: answered with a redirect to ``/login``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def unauthorized(detail: str, *, invalid_token: bool = False) -> Problem:
    challenge = 'Bearer realm="onething"' + (', error="invalid_token"' if invalid_token else "")
    return Problem(401, detail=detail, type_="/problems/unauthorized", headers={"WWW-Authenticate": challenge})


def set_cookie(response: Response, request: Request, name: str, value: str, *, path: str = "/",
               max_age: int | None = None) -> None:
    """Cookies of ours: HttpOnly, SameSite=Lax, Secure when the site runs behind HTTPS."""
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="lax",
                        secure=settings_of(request).secure_cookies)


def delete_cookie(response: Response, request: Request, name: str, *, path: str = "/") -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="lax", secure=settings_of(request).secure_cookies)


async def _submitted_csrf_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        # Starlette caches the parsed form on the request, so the route's Form(...) parameters still work.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def verify_csrf(request: Request, expected: str) -> None:
    """Refuse (403) an unsafe request whose CSRF token does not match ``expected``."""
    submitted = await _submitted_csrf_token(request)
    if not submitted or not secrets.compare_digest(submitted.encode(), expected.encode()):
        raise Problem(403, "表单已失效", "安全校验（CSRF）未通过，请刷新页面后重试。", type_="/problems/csrf")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Authorization 头须为 “Bearer <令牌>”。", invalid_token=True)
    return token.strip()


def _lookup_token(engine: Engine, token: str, now: datetime) -> Actor | None:
    with session_scope(engine) as session:
        return actor_for_token(session, token, now)


def _lookup_session(engine: Engine, session_id: str, now: datetime) -> SignedIn | None:
    with session_scope(engine) as session:
        return actor_for_session(session, session_id, now)


async def _authenticate(request: Request) -> Actor | None:
    """Resolve the caller once per request; the result is kept on ``request.state``."""
    cached = getattr(request.state, "actor", _UNSET)
    if cached is not _UNSET:
        assert cached is None or isinstance(cached, Actor)
        return cached
    actor: Actor | None = None
    token = _bearer(request)
    if token is not None:
        actor = await run_in_threadpool(_lookup_token, _engine(request), token, now_of(request))
        if actor is None:
            security_log.info("bearer token refused", extra={"fields": {"event": "token_refused",
                                                                        "client": client_address(request)}})
            raise unauthorized("令牌无效、已过期或已吊销。", invalid_token=True)
        request.state.auth_method = "bearer"
    else:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            signed = await run_in_threadpool(_lookup_session, _engine(request), session_id, now_of(request))
            if signed is not None:
                request.state.csrf_token = signed.csrf_token
                request.state.auth_method = "session"
                if request.method not in SAFE_METHODS:
                    await verify_csrf(request, signed.csrf_token)
                actor = signed.actor
                if actor.must_change_password and request.url.path not in _PASSWORD_CHANGE_PATHS:
                    request.state.actor = actor
                    if request.method in SAFE_METHODS and wants_html(request):
                        raise PasswordChangeRequired()
                    raise Problem(403, "须先修改初始密码", "请先在“修改密码”页面设置新密码。",
                                  type_="/problems/password-change-required")
    request.state.actor = actor
    return actor


async def optional_actor(request: Request) -> Actor | None:
    """The caller, or None for an anonymous request. A bearer token that is present but bad still answers 401."""
    return await _authenticate(request)


async def current_actor(request: Request) -> Actor:
    """The caller; 401 (or, for a browser page, a redirect to the sign-in page) when nobody is signed in."""
    actor = await _authenticate(request)
    if actor is not None:
        return actor
    if request.method in SAFE_METHODS and wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    raise unauthorized("请先登录，或在 Authorization 头中提供 Bearer 令牌。")


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page (the signed-in session's), or "" when there is no session."""
    token = getattr(request.state, "csrf_token", "")
    return token if isinstance(token, str) else ""


def _count(limiter: RateLimiter, scope: str, client: str, limit: int, now: datetime) -> RateDecision:
    return limiter.hit(scope=scope, client=client, limit=limit, now=now)


def rate_limit(scope: str, per_minute_setting: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency that allows ``settings.<per_minute_setting>`` requests per minute per client in ``scope``.

    Use as ``dependencies=[Depends(rate_limit("submit", "submit_rate_per_minute"))]``. A setting of 0 turns the
    limit off.
    """
    if per_minute_setting not in Settings.model_fields:
        raise ValueError(f"no setting {per_minute_setting!r} in onething.config.Settings")

    async def limit_requests(request: Request) -> None:
        limit = int(getattr(settings_of(request), per_minute_setting))
        if limit <= 0:
            return
        limiter: RateLimiter = request.app.state.rate_limiter
        client, now = client_address(request), now_of(request)
        # Most requests are counted in memory; only one that must write goes to a worker thread.
        decision = limiter.hit_in_memory(scope=scope, client=client, limit=limit, now=now)
        if decision is None:
            decision = await run_in_threadpool(_count, limiter, scope, client, limit, now)
        if not decision.allowed:
            security_log.info("rate limited", extra={"fields": {"event": "rate_limited", "scope": scope,
                                                                "client": client_address(request)}})
            raise Problem(429, detail=f"请求过于频繁，请 {decision.retry_after} 秒后再试。",
                          type_="/problems/rate-limited",
                          headers={"Retry-After": str(decision.retry_after)})

    limit_requests.__name__ = f"rate_limit_{scope}"
    return limit_requests


# --- errors services raise → problems -------------------------------------------------------------------


async def _on_login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


async def _on_password_change_required(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PASSWORD_PAGE}?next={quote(target, safe='/')}", status_code=303)


async def _on_accounts_error(request: Request, exc: Exception) -> Response:
    problem: Problem
    if isinstance(exc, NotFound):
        problem = Problem(404, detail="没有找到该记录。", type_="/problems/not-found")
    elif isinstance(exc, Forbidden) and exc.permission == "delegation:act":  # delegations.NotAuthorisedToAct
        problem = Problem(403, "无权代办", str(exc), type_="/problems/not-authorised-to-act")
    elif isinstance(exc, Forbidden):
        problem = Problem(403, detail="您的账号无权执行此操作。", type_="/problems/forbidden")
    elif isinstance(exc, InvalidUser):
        problem = Problem(422, detail=str(exc), type_="/problems/validation", errors=exc.errors)
    elif isinstance(exc, DuplicateUser):
        problem = Problem(409, detail=str(exc), type_="/problems/duplicate", errors=exc.errors)
    elif isinstance(exc, AuthenticationFailed):
        problem = unauthorized("用户名或密码错误。")
    else:  # pragma: no cover - every handled type is listed in install_auth
        raise exc
    return problem_response(request, problem)


def install_auth(app: FastAPI) -> None:
    """Register the handlers that turn accounts errors into problems (NotFound → 404, Forbidden → 403 …)."""
    app.add_exception_handler(LoginRequired, _on_login_required)
    app.add_exception_handler(PasswordChangeRequired, _on_password_change_required)
    for error in (NotFound, Forbidden, InvalidUser, DuplicateUser, AuthenticationFailed):
        app.add_exception_handler(error, _on_accounts_error)


def template_context(request: Request, **extra: Any) -> dict[str, Any]:
    """What page templates need for the account bar and forms: the actor (if resolved) and the CSRF token."""
    return {"actor": getattr(request.state, "actor", None), "csrf_token": csrf_token(request), **extra}
