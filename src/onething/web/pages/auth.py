"""Sign-in (登录) and sign-out (退出) pages for browser sessions.

The sign-in form has no session yet to hold a CSRF token, so it uses a double-submit cookie: the form's hidden
``csrf_token`` must equal the ``onething_login_csrf`` cookie, which a cross-site page can neither read nor set.
A successful sign-in always starts a new session (no fixation) and drops the old one.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import Engine
from starlette.responses import RedirectResponse, Response

from onething.accounts.errors import InvalidUser, UnknownUser
from onething.accounts.lifecycle import LockoutPolicy, attempt_sign_in, change_own_password
from onething.accounts.model import Actor, NewSession
from onething.accounts.service import end_session, session_id_token, start_session
from onething.config import Settings
from onething.db import session_scope
from onething.web.auth import (
    LOGIN_CSRF_COOKIE,
    PASSWORD_PAGE,
    SESSION_COOKIE,
    CurrentActor,
    OptionalActor,
    client_address,
    delete_cookie,
    now_of,
    rate_limit,
    set_cookie,
    settings_of,
    template_context,
)
from onething.web.deps import get_engine
from onething.web.pages.roles import home_for
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
                      template_context(request, next=next_path, login_csrf=token, name=name, error=error,
                                       oidc_enabled=settings_of(request).oidc_enabled),
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
        return RedirectResponse(safe_next(next) if next else home_for(actor), status_code=303)
    return _login_page(request, next_path=safe_next(next), token=_fresh_login_token(request))


def lockout_policy(settings: Settings) -> LockoutPolicy:
    return LockoutPolicy(max_failures=settings.sign_in_max_failures,
                         window=timedelta(minutes=settings.sign_in_failure_window_minutes),
                         lock_for=timedelta(minutes=settings.sign_in_lockout_minutes))


def sign_in_failed_message(settings: Settings) -> str:
    """One message for every failed sign-in — wrong password, unknown name, disabled or locked account — so
    that the answer never tells whether a name exists or is locked; it says that lockout exists."""
    message = "用户名或密码错误。"
    if settings.sign_in_max_failures > 0:
        message += (f"连续输错 {settings.sign_in_max_failures} 次，账户将锁定 {settings.sign_in_lockout_minutes} "
                    "分钟；如已锁定，请稍后再试或联系管理员解锁。")
    return message


def _sign_in(engine: Engine, name: str, password: str, old_session: str | None,
             request: Request) -> tuple[NewSession, bool, Actor] | None:
    """A new session and whether the password must be changed first, or None (the failure is committed)."""
    now = now_of(request)
    with session_scope(engine) as session:
        actor = attempt_sign_in(session, name, password, now, lockout_policy(settings_of(request)))
        if actor is None:
            return None
        if old_session:
            end_session(session, old_session)
        level = settings_of(request).resolved_password_assurance()  # a password is L1 where unified sign-in exists
        return start_session(session, actor=actor, now=now, assurance=level), actor.must_change_password, actor


@router.post("/login", dependencies=[Depends(rate_limit("sign_in", "sign_in_rate_per_minute"))])
def login(
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not csrf_token or not secrets.compare_digest(cookie.encode(), csrf_token.encode()):
        raise Problem(403, "表单已失效", "登录页面已过期或安全校验未通过，请刷新登录页后重试。", type_="/problems/csrf")
    target = safe_next(next)
    if not name.strip() or not password:
        return _login_page(request, next_path=target, token=cookie, name=name, error="请输入用户名和密码。",
                           status_code=400)
    signed = _sign_in(engine, name.strip(), password, request.cookies.get(SESSION_COOKIE), request)
    if signed is None:
        security_log.info("sign-in failed", extra={"fields": {"event": "sign_in_failed", "user": name[:64],
                                                              "client": client_address(request)}})
        return _login_page(request, next_path=target, token=cookie, name=name,
                           error=sign_in_failed_message(settings_of(request)), status_code=400)
    new, must_change, actor = signed
    if not next or target == "/":
        target = home_for(actor)  # each role lands on its own home; an explicit page asked for wins
    security_log.info("signed in", extra={"fields": {"event": "signed_in", "user": name.strip(),
                                                     "client": client_address(request)}})
    if must_change:
        target = f"{PASSWORD_PAGE}?next={quote(target, safe='/')}"
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


def _sign_out(engine: Engine, session_id: str) -> str | None:
    """End the session; the ID token of an OIDC sign-in, for the provider's logout."""
    with session_scope(engine) as session:
        id_token = session_id_token(session, session_id)
        end_session(session, session_id)
        return id_token


def _provider_logout(request: Request, id_token: str | None) -> str | None:
    """Where to end the provider's session too (RP-initiated logout), after an OIDC sign-in."""
    settings = settings_of(request)
    if not id_token or not settings.oidc_enabled:
        return None
    from onething.web import oidc

    try:
        meta = oidc.discover(settings)
    except oidc.OidcError:
        return None
    return oidc.end_session_url(meta, id_token=id_token, post_logout_redirect_uri=str(request.base_url),
                                client_id=settings.oidc_client_id)


@router.post("/logout")
def logout(request: Request, engine: Annotated[Engine, Depends(get_engine)], actor: OptionalActor) -> Response:
    # optional_actor has already checked the CSRF token of a live session (403 on mismatch).
    session_id = request.cookies.get(SESSION_COOKIE)
    if actor is not None and session_id and getattr(request.state, "auth_method", None) == "session":
        id_token = _sign_out(engine, session_id)
        security_log.info("signed out", extra={"fields": {"event": "signed_out", "user": actor.name}})
        provider_logout = _provider_logout(request, id_token)
        if provider_logout:
            # Onward to the provider's end-session endpoint by a page, not a redirect: a redirect of this form's
            # POST to another origin is blocked by the portal's CSP (form-action 'self').
            response = render(request, "auth/provider_logout.html", {"end_session_url": provider_logout},
                              headers={"Cache-Control": "no-store"})
            delete_cookie(response, request, SESSION_COOKIE)
            return response
    response = RedirectResponse("/", status_code=303)
    delete_cookie(response, request, SESSION_COOKIE)
    return response


# --- changing one's own password (修改密码) -----------------------------------------------------------------


def _password_page(request: Request, *, next_path: str, errors: list[tuple[str, str]] | None = None,
                   status_code: int = 200) -> Response:
    return render(request, "auth/password.html",
                  template_context(request, next=next_path, errors=dict(errors or [])),
                  status_code=status_code, headers={"Cache-Control": "no-store"})


@router.get(PASSWORD_PAGE)
async def password_form(request: Request, actor: CurrentActor,
                        next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    if getattr(request.state, "auth_method", None) != "session":
        raise Problem(403, detail="请在浏览器中登录后修改密码。", type_="/problems/forbidden")
    return _password_page(request, next_path=safe_next(next))


def _change_password(engine: Engine, request: Request, current: str, new: str) -> NewSession:
    now = now_of(request)
    actor = request.state.actor
    with session_scope(engine) as session:
        change_own_password(session, actor, current=current, new=new, now=now)
        # Every session of the user ended with the change (a stolen cookie included); this browser gets a new one.
        return start_session(session, actor=actor, now=now)


@router.post(PASSWORD_PAGE)
def change_password(
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    actor: CurrentActor,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    new_password_confirm: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    # current_actor has checked the session's CSRF token (403 on mismatch).
    if getattr(request.state, "auth_method", None) != "session":
        raise Problem(403, detail="请在浏览器中登录后修改密码。", type_="/problems/forbidden")
    target = safe_next(next)
    if new_password != new_password_confirm:
        return _password_page(request, next_path=target, errors=[("new_password_confirm", "两次输入的新密码不一致")],
                              status_code=400)
    try:
        new = _change_password(engine, request, current_password, new_password)
    except InvalidUser as exc:
        return _password_page(request, next_path=target, errors=exc.errors, status_code=400)
    except UnknownUser:
        raise Problem(403, detail="账户已停用。", type_="/problems/forbidden") from None
    security_log.info("password changed", extra={"fields": {"event": "password_changed", "user": actor.name}})
    response = RedirectResponse(target if target != PASSWORD_PAGE else "/", status_code=303)
    set_cookie(response, request, SESSION_COOKIE, new.session_id)
    return response
