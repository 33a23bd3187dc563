"""Acting-for-others pages (代办授权): /me/agents — whom I have authorised and for whom I may act, the forms to
authorise an agent and to ask to act for a minor child or a deceased relative, revocation, and every act; and
/workbench/delegations — the staff review queue for relationship documents. Plain forms with the session's CSRF
token, no JavaScript; each POST calls one service and redirects back (303) with a one-time notice."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from sqlalchemy import Engine
from starlette.responses import Response

from onething.catalog.model import Catalog
from onething.delegations import api as delegations
from onething.web.auth import CurrentActor, now_of, template_context
from onething.web.deps import get_catalog, get_engine
from onething.web.flash import pop_flash, redirect_with_notice
from onething.web.templating import render
from onething.workdays import CHINA_TIME

router = APIRouter(include_in_schema=False)

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ACT_LABELS = {"delegation.granted": "授权", "delegation.proven": "共享数据核验通过",
              "delegation.claimed": "提交关系证明", "delegation.reviewed": "工作人员审核",
              "delegation.used": "代办提交申请", "delegation.revoked": "撤销授权"}


def _end_of(day: str) -> datetime | None:
    """The end of a China calendar day typed in a date field (the grant lasts through that day)."""
    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        return None
    return datetime.combine(parsed, time(23, 59, 59), CHINA_TIME).astimezone(UTC)


def _page(request: Request, actor: Any, engine: Engine, catalog: Catalog, *, errors: list[tuple[str, str]] | None
          = None, status: int = 200, form: dict[str, Any] | None = None) -> Response:
    """The page; after a refused form, with its errors and what was typed (never a document) kept."""
    now = now_of(request)
    items = delegations.list_delegations(engine, actor)
    acts = delegations.acts(engine, actor)
    things = sorted(((t.code, t.name, t.audience) for t in catalog.things.values()), key=lambda t: (t[2], t[1]))
    return render(request, "delegations/agents.html", template_context(
        request, nav="agents", notice=pop_flash(engine, request), items=[(d.to_json(now, role=r)) for d, r in items],
        acts=acts, act_labels=ACT_LABELS, errors=errors or [], things=things,
        thing_name=lambda code: catalog.things[code].name if code in catalog.things else code,
        local=lambda iso: datetime.fromisoformat(iso).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M"),
        enterprise=bool(actor.uscc), form=form or {}), status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/me/agents")
def agents_page(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    return _page(request, actor, engine, catalog)


@router.post("/me/agents")
def grant_page(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
               agent_id_number: Annotated[str, Form(max_length=18)], agent_name: Annotated[str, Form(max_length=100)],
               valid_until: Annotated[str, Form(max_length=10)],
               things: Annotated[list[str] | None, Form()] = None) -> Response:
    typed = {"agent_name": agent_name, "agent_id_number": agent_id_number, "valid_until": valid_until,
             "things": things or []}
    until = _end_of(valid_until)
    if until is None:
        return _page(request, actor, engine, catalog, errors=[("valid_until", "请填写有效的截止日期")], status=422,
                     form=typed)
    try:
        delegations.grant(engine, actor, catalog, agent_id_number=agent_id_number, agent_name=agent_name,
                          things=things or None, valid_until=until, now=now_of(request))
    except delegations.InvalidDelegation as exc:
        return _page(request, actor, engine, catalog, errors=exc.errors, status=422, form=typed)
    return redirect_with_notice(engine, request, "/me/agents", f"已授权 {agent_name.strip()} 代为办理")


@router.post("/me/agents/claim")
def claim_page(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
               kind: Annotated[str, Form(max_length=20)], principal_id_number: Annotated[str, Form(max_length=18)],
               principal_name: Annotated[str, Form(max_length=100)], valid_until: Annotated[str, Form(max_length=10)],
               consent: Annotated[str | None, Form(max_length=10)] = None,
               document: Annotated[UploadFile | None, File()] = None) -> Response:
    typed = {"kind": kind, "principal_name": principal_name, "principal_id_number": principal_id_number,
             "claim_until": valid_until, "consent": consent == "yes"}
    until = _end_of(valid_until)
    if until is None:
        return _page(request, actor, engine, catalog, errors=[("valid_until", "请填写有效的截止日期")], status=422,
                     form=typed)
    upload = None
    if document is not None and document.filename:
        upload = (document.filename, document.file.read(5 * 1024 * 1024 + 1))
    try:
        made = delegations.claim(engine, actor, catalog, kind=kind, principal_id_number=principal_id_number,
                                 principal_name=principal_name, things=None, valid_until=until, now=now_of(request),
                                 consent=consent == "yes", document=upload)
    except delegations.InvalidDelegation as exc:
        return _page(request, actor, engine, catalog, errors=exc.errors, status=422, form=typed)
    notice = ("关系已由共享数据核验，您现在可以代为办理" if made.status is delegations.Status.active
              else "证明材料已提交，工作人员审核后通知您")
    return redirect_with_notice(engine, request, "/me/agents", notice)


@router.post("/me/agents/{delegation_id}/revoke")
def revoke_page(delegation_id: str, request: Request, actor: CurrentActor, engine: EngineDep) -> Response:
    try:
        delegations.revoke(engine, actor, delegation_id[:36], now=now_of(request))
    except delegations.DelegationConflict as exc:
        return redirect_with_notice(engine, request, "/me/agents", str(exc), error=True)
    return redirect_with_notice(engine, request, "/me/agents", "授权已撤销，对方此后不能再代为办理")


@router.get("/workbench/delegations")
def review_queue_page(request: Request, actor: CurrentActor, engine: EngineDep) -> Response:
    now = now_of(request)
    items = delegations.list_delegations(engine, actor)
    return render(request, "delegations/review.html", template_context(
        request, nav="review", notice=pop_flash(engine, request), items=[d.to_json(now, role=r) for d, r in items],
        local=lambda iso: datetime.fromisoformat(iso).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")),
        headers={"Cache-Control": "no-store"})


@router.post("/workbench/delegations/{delegation_id}/review")
def review_page(delegation_id: str, request: Request, actor: CurrentActor, engine: EngineDep,
                decision: Annotated[str, Form(max_length=10)],
                reason: Annotated[str | None, Form(max_length=1000)] = None) -> Response:
    try:
        delegations.review(engine, actor, delegation_id[:36], approve=decision == "approve", reason=reason,
                           now=now_of(request))
    except (delegations.InvalidDelegation, delegations.DelegationConflict) as exc:
        return redirect_with_notice(engine, request, "/workbench/delegations", str(exc), error=True)
    return redirect_with_notice(engine, request, "/workbench/delegations", "审核结果已记录")
