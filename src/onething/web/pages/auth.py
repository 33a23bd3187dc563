"""Sign-in (登录) and sign-out (退出) pages for browser sessions.

The sign-in form has no session yet to hold a CSRF token, so it uses a double-submit cookie: the form's hidden
``csrf_token`` must equal the ``onething_login_csrf`` cookie, which a cross-site page can neither read nor set.
A successful sign-in always starts a new session (no fixation) and drops the old one.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import Engine
from starlette.responses import RedirectResponse, Response

from onething.accounts.errors import AuthenticationFailed
from onething.accounts.model import Actor, NewSession
from onething.accounts.service import authenticate_password, end_session, start_session
from onething.db import session_scope
from onething.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    OptionalActor,
    client_address,
    delete_cookie,
    now_of,
    rate_limit,
    set_cookie,
    template_context,
)
from onething.web.deps import get_engine
from onething.web.problems import Problem
from onething.web.templating import render

router = APIRouter(include_in_schema=False)
# Security events (sign-in, sign-out) go to their own logger so that operators can keep them ≥ 6 months.
security_log = logging.getLogger("onething.security")

_LOGIN_CSRF_MAX_AGE = 3600


def safe_next(target: str | None) -> str:
    """Only local paths: never send a freshly signed-in user to another site (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 32 for ch in target):
        return "/"
    return target


def _login_page(request: Request, *, next_path: str, token: str, name: str = "", error: str | None = None,
                status_code: int = 200) -> Response:
    response = render(request, "auth/login.html",
                      template_context(request, next=next_path, login_csrf=token, name=name, error=error),
                      status_code=status_code, headers={"Cache-Control": "no-store"})
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, path="/login", max_age=_LOGIN_CSRF_MAX_AGE)
    return response


def _fresh_login_token(request: Request) -> str:
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    # Reuse the cookie's token so that two open sign-in tabs both work; mint one when it is absent or odd.
    return existing if 32 <= len(existing) <= 64 and existing.replace("-", "").replace("_", "").isalnum() \
        else secrets.token_urlsafe(32)


@router.get("/login")
async def login_form(request: Request, actor: OptionalActor,
                     next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    if actor is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_path=safe_next(next), token=_fresh_login_token(request))


def _sign_in(engine: Engine, name: str, password: str, old_session: str | None, request: Request) -> NewSession:
    now = now_of(request)
    with session_scope(engine) as session:
        actor: Actor = authenticate_password(session, name, password, now)
        if old_session:
            end_session(session, old_session)
        return start_session(session, actor=actor, now=now)


@router.post("/login", dependencies=[Depends(rate_limit("sign_in", "sign_in_rate_per_minute"))])
def login(
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        raise Problem(403, "表单已失效", "登录页面已过期或安全校验未通过，请刷新登录页后重试。", type_="/problems/csrf")
    target = safe_next(next)
    if not name.strip() or not password:
        return _login_page(request, next_path=target, token=cookie, name=name, error="请输入用户名和密码。",
                           status_code=400)
    try:
        new = _sign_in(engine, name.strip(), password, request.cookies.get(SESSION_COOKIE), request)
    except AuthenticationFailed:
        security_log.info("sign-in failed", extra={"fields": {"event": "sign_in_failed", "user": name[:64],
                                                              "client": client_address(request)}})
        return _login_page(request, next_path=target, token=cookie, name=name, error="用户名或密码错误。",
                           status_code=400)
    security_log.info("signed in", extra={"fields": {"event": "signed_in", "user": name.strip(),
                                                     "client": client_address(request)}})
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, new.session_id)
    delete_cookie(response, request, LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.get("/logout")
async def logout_form(request: Request, actor: OptionalActor) -> Response:
    """A confirmation page: signing out changes state, so it happens only by POST with the CSRF token."""
    if actor is None or getattr(request.state, "auth_method", None) != "session":
        return RedirectResponse("/", status_code=303)
    return render(request, "auth/logout.html", template_context(request), headers={"Cache-Control": "no-store"})


def _sign_out(engine: Engine, session_id: str) -> None:
    with session_scope(engine) as session:
        end_session(session, session_id)


@router.post("/logout")
def logout(request: Request, engine: Annotated[Engine, Depends(get_engine)], actor: OptionalActor) -> Response:
    # optional_actor has already checked the CSRF token of a live session (403 on mismatch).
    session_id = request.cookies.get(SESSION_COOKIE)
    if actor is not None and session_id and getattr(request.state, "auth_method", None) == "session":
        _sign_out(engine, session_id)
        security_log.info("signed out", extra={"fields": {"event": "signed_out", "user": actor.name}})
    response = RedirectResponse("/", status_code=303)
    delete_cookie(response, request, SESSION_COOKIE)
    return response
