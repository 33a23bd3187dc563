"""Unified sign-in pages (统一身份认证登录): ``/auth/oidc/login`` starts the authorization code flow and
``/auth/oidc/callback`` finishes it (``onething.web.oidc`` speaks the protocol, ``onething.accounts.oidc`` decides
who signs in). Also the step-up answer: a service that needs a higher assurance level raises ``StepUpRequired``,
and a browser is sent to the provider again with ``acr_values``; the API answers 403
``/problems/step-up-required`` naming the level.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from sqlalchemy import Engine
from starlette.responses import RedirectResponse, Response

from onething.accounts.assurance import LEVEL_NAMES, StepUpRequired, meets, parse_level
from onething.accounts.oidc import FIELD_LABELS, IdentityRefused, VerifiedIdentity, sign_in_with_identity, use_nonce
from onething.accounts.service import end_session, set_flash, start_session
from onething.config import Settings
from onething.db import session_scope
from onething.web import oidc
from onething.web.auth import (
    SESSION_COOKIE,
    OptionalActor,
    client_address,
    delete_cookie,
    now_of,
    set_cookie,
    settings_of,
    template_context,
)
from onething.web.deps import get_engine
from onething.web.pages.auth import safe_next
from onething.web.pages.roles import home_for
from onething.web.problems import Problem, problem_response, wants_html
from onething.web.templating import render

router = APIRouter(include_in_schema=False)
security_log = logging.getLogger("onething.security")
CALLBACK = "/auth/oidc/callback"


def _redirect_uri(request: Request) -> str:
    return str(request.base_url).rstrip("/") + CALLBACK


def _error_page(request: Request, message: str, *, next_path: str = "/", acr: str = "",
                status_code: int = 400) -> Response:
    retry = f"/auth/oidc/login?next={quote(next_path, safe='/')}" + (f"&acr={acr}" if acr else "")
    return render(request, "auth/oidc_error.html", template_context(request, message=message, retry=retry),
                  status_code=status_code, headers={"Cache-Control": "no-store"})


def _enabled(settings: Settings) -> None:
    if not settings.oidc_enabled:
        raise Problem(404, detail="本平台未启用统一身份认证登录。", type_="/problems/not-found")


@router.get("/auth/oidc/login")
def oidc_login(request: Request, actor: OptionalActor,
               next: Annotated[str | None, Query(max_length=2000)] = None,
               acr: Annotated[str | None, Query(max_length=4)] = None) -> Response:
    """Start a sign-in at the provider; ``acr`` (L1…L3) asks for a level (step-up: the provider signs in again)."""
    settings = settings_of(request)
    _enabled(settings)
    level = parse_level(acr, "L1") if acr else ""
    try:
        meta = oidc.discover(settings)
    except oidc.OidcError as exc:
        security_log.warning("oidc discovery failed", extra={"fields": {"event": "oidc_error", "reason": exc.reason}})
        return _error_page(request, exc.message, next_path=safe_next(next), status_code=502)
    now = int(now_of(request).timestamp())
    url, flow = oidc.authorization_url(settings, meta, redirect_uri=_redirect_uri(request), next_path=safe_next(next),
                                       acr=level or None, force_login=bool(level and actor is not None), now=now)
    response = RedirectResponse(url, status_code=303)
    set_cookie(response, request, oidc.FLOW_COOKIE, oidc.encode_flow(flow, settings.resolved_secret_key()),
               path=oidc.FLOW_PATH, max_age=oidc.FLOW_MAX_AGE)
    return response


def _identity(settings: Settings, issuer: str, claims: dict[str, object]) -> VerifiedIdentity:
    def text(name: str) -> str | None:
        value = claims.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    return VerifiedIdentity(issuer=issuer, subject=str(claims["sub"]),
                            level=oidc.level_of_acr(settings, claims.get("acr")), name=text("name"),
                            id_number=text(settings.oidc_claim_id_number), uscc=text(settings.oidc_claim_uscc),
                            staff_account=text(settings.oidc_claim_staff_account),
                            department=text(settings.oidc_claim_department))


def _mismatch_notice(fields: tuple[str, ...]) -> str:
    names = "、".join(FIELD_LABELS.get(field, field) for field in fields)
    return (f"统一身份认证提供的{names}与本平台已核验的信息不一致，本平台未作更改。"
            "如确需更正，请携带证件联系平台运营人员。")


@router.get(CALLBACK)
def oidc_callback(request: Request, engine: Annotated[Engine, Depends(get_engine)],
                  code: Annotated[str | None, Query(max_length=2000)] = None,
                  state: Annotated[str | None, Query(max_length=500)] = None,
                  error: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    settings = settings_of(request)
    _enabled(settings)
    now = now_of(request)
    try:
        flow = oidc.decode_flow(request.cookies.get(oidc.FLOW_COOKIE), settings.resolved_secret_key(),
                                int(now.timestamp()))
        if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
            raise oidc.OidcError("state mismatch", "登录请求与本浏览器发起的不一致，已拒绝。请重新登录。")
        if error:
            raise oidc.OidcError(f"provider error {error}", "统一身份认证未完成登录（已取消或被拒绝）。")
        if not code:
            raise oidc.OidcError("no code")
        meta = oidc.discover(settings)
        token = oidc.exchange_code(settings, meta, code=code, redirect_uri=_redirect_uri(request),
                                   verifier=flow.verifier)
        _claims, merged = oidc.verified_claims(settings, meta, token, nonce=flow.nonce, now=int(now.timestamp()))
    except oidc.OidcError as exc:
        security_log.warning("oidc sign-in refused", extra={"fields": {
            "event": "oidc_refused", "reason": exc.reason[:200], "client": client_address(request)}})
        return _error_page(request, exc.message)
    identity = _identity(settings, meta.issuer, merged)
    old_session = request.cookies.get(SESSION_COOKIE)
    refused: IdentityRefused | None = None
    try:
        with session_scope(engine) as session:
            if not use_nonce(session, flow.nonce, now):
                raise oidc.OidcError("nonce replay", "该登录凭证已使用过，已拒绝。请重新登录。")
            try:
                signed = sign_in_with_identity(session, identity, now)
            except IdentityRefused as exc:
                refused = exc  # the refusal is audited: commit it
            else:
                if old_session:
                    end_session(session, old_session)
                new = start_session(session, actor=signed.actor, now=now, assurance=signed.level,
                                    id_token=str(token["id_token"]))
                if signed.mismatches:
                    # Shown once on the next page, as a warning ("error:" is onething.web.flash's marker).
                    set_flash(session, new.session_id, "error:" + _mismatch_notice(signed.mismatches))
    except oidc.OidcError as exc:
        security_log.warning("oidc sign-in refused", extra={"fields": {"event": "oidc_refused", "reason": exc.reason}})
        return _error_page(request, exc.message)
    except StepUpRequired as exc:
        return _error_page(request, f"首次登录须完成{LEVEL_NAMES[exc.required]}（{exc.required}），"
                                    "请在统一身份认证平台选择实名核验方式后重试。",
                           next_path=flow.next, acr=exc.required, status_code=403)
    if refused is not None:
        security_log.warning("oidc sign-in refused", extra={"fields": {"event": "oidc_refused",
                                                                       "reason": refused.reason}})
        return _error_page(request, refused.message, status_code=403)
    wanted = parse_level(flow.acr, "L1") if flow.acr else "L1"
    security_log.info("signed in", extra={"fields": {"event": "signed_in", "user": signed.actor.name,
                                                     "method": "oidc", "level": signed.level,
                                                     "client": client_address(request)}})
    target = flow.next if flow.next and flow.next != "/" else home_for(signed.actor)
    if not meets(signed.level, wanted):
        target = f"/auth/oidc/step-up?need={wanted}&next={quote(flow.next, safe='/')}"
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, new.session_id)
    delete_cookie(response, request, oidc.FLOW_COOKIE, path=oidc.FLOW_PATH)
    return response


@router.get("/auth/oidc/step-up")
def step_up_page(request: Request, actor: OptionalActor,
                 need: Annotated[str, Query(max_length=4)] = "L2",
                 next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """Why a higher level is needed and a button to get it (never a silent refusal)."""
    settings = settings_of(request)
    level = parse_level(need, "L2")
    return render(request, "auth/step_up.html",
                  template_context(request, need=level, need_name=LEVEL_NAMES[level],
                                   have=actor.assurance if actor else None,
                                   have_name=LEVEL_NAMES.get(actor.assurance, "") if actor else "",
                                   next=safe_next(next), oidc_enabled=settings.oidc_enabled),
                  status_code=403 if actor is not None else 200, headers={"Cache-Control": "no-store"})


async def _on_step_up(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StepUpRequired)
    if wants_html(request):
        if request.method in {"GET", "HEAD"}:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        else:
            referer = request.headers.get("referer", "")
            base = str(request.base_url)
            here = referer[len(base) - 1:] if referer.startswith(base) else "/"
        return RedirectResponse(f"/auth/oidc/step-up?need={exc.required}&next={quote(safe_next(here), safe='/')}",
                                status_code=303)
    return problem_response(request, Problem(
        403, "须提升认证等级", f"此操作须{LEVEL_NAMES[exc.required]}（{exc.required}），当前为 {exc.have}。"
        f"请通过统一身份认证重新登录（acr_values）后重试。", type_="/problems/step-up-required",
        extensions={"required_level": exc.required, "current_level": exc.have,
                    "step_up": f"/auth/oidc/login?acr={exc.required}"}))


def install_step_up(app: FastAPI) -> None:
    app.add_exception_handler(StepUpRequired, _on_step_up)

