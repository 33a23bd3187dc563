"""Exchange pages: the resource directory (数据资源目录), the department workbench for data sharing (共享申请
审批、数据纠错), and the citizen's page 谁用了我的数据 with consent revocation and error reports.

Plain HTML forms with the session's CSRF token; no JavaScript needed. Each POST calls one service and
redirects back (303) with a one-time notice kept on the server-side session (never in the URL), so a reload
never repeats the action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import Engine
from starlette.responses import RedirectResponse, Response

from onething.accounts.model import Role
from onething.cases import api as cases
from onething.catalog.model import Catalog, Sharing
from onething.db import session_scope
from onething.delegations import api as delegations
from onething.exchange import service
from onething.web.api.exchange import exchange_problems
from onething.web.auth import CurrentActor, now_of, settings_of, template_context
from onething.web.deps import get_catalog, get_engine
from onething.web.flash import pop_flash, redirect_with_notice
from onething.web.pages.cases_views import APPLICATION_STATUS_LABELS, local_date
from onething.web.pages.delegations import ACT_LABELS as DELEGATION_ACT_LABELS
from onething.web.problems import Problem
from onething.web.templating import render
from onething.workdays import CHINA_TIME

router = APIRouter(include_in_schema=False)

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

SHARING_LABELS = {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}
STATUS_LABELS = {"pending": "待审批", "approved": "已同意", "refused": "不予共享", "revoked": "已撤销",
                 "open": "待处理", "corrected": "已更正", "rejected": "未更正", "active": "有效", "expired": "已过期",
                 "served": "已调用", "refused_use": "已拒绝", "unavailable": "部门系统不可用"}
REASON_LABELS = {"consent": "未获有效授权（未授权、已撤回或已过期）", "no_grant": "无共享授权",
                 "purpose": "用途不符", "scope": "超出授权字段范围", "not_shared": "不予共享资源", "actor": "无权调用",
                 "unavailable": "部门系统不可用",
                 "consent_subject": "所持授权不是您本人的（他人的授权不能调用您的数据）"}
FREQUENCY_LABELS = {"realtime": "实时", "daily": "每日", "weekly": "每周", "monthly": "每月", "yearly": "每年"}


def _labels(catalog: Catalog) -> dict[str, Any]:
    return {
        "sharing_labels": SHARING_LABELS, "status_labels": STATUS_LABELS, "reason_labels": REASON_LABELS,
        "frequency_labels": FREQUENCY_LABELS,
        "department_name": lambda d: catalog.departments[d].name if d in catalog.departments else (
            "平台（代办关系核验）" if d == "platform" else (d or "—")),
        "resource_name": lambda r: catalog.resources[r].name if r in catalog.resources else (r or "—"),
        "procedure_name": lambda p: catalog.procedures[p].name if p in catalog.procedures else (p or "—"),
        "field_label": lambda f: catalog.fields[f].label if f in catalog.fields else f,
        "local": lambda moment: moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") if moment else "—",
    }


def _back(engine: Engine, request: Request, path: str, notice: str) -> RedirectResponse:
    return redirect_with_notice(engine, request, path, notice)


# --- directory ------------------------------------------------------------------------------------------


@router.get("/exchange/resources")
def directory_page(request: Request, actor: CurrentActor, catalog: CatalogDep) -> Response:
    entries = service.directory(catalog)
    counts = {s.value: sum(1 for e in entries if e.sharing == s.value) for s in Sharing}
    return render(request, "exchange/resources.html",
                  template_context(request, entries=entries, counts=counts, nav="exchange", **_labels(catalog)))


# --- department workbench -------------------------------------------------------------------------------


def _department_actor(actor: Any) -> None:
    if actor.role not in (Role.staff, Role.dept_admin):
        raise Problem(403, detail="数据共享工作台仅供部门工作人员使用。", type_="/problems/forbidden")


@router.get("/workbench/exchange")
def workbench(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    _department_actor(actor)
    with session_scope(engine) as session:
        grants = service.list_grants(session, actor)
        corrections = service.list_corrections(session, actor)
    department = actor.department
    conditional = [r for r in catalog.resources.values()
                   if r.sharing is Sharing.conditional and r.holder != department]
    procedures = [p for p in catalog.procedures.values() if p.department == department]
    default_expiry = (now_of(request) + timedelta(days=365)).astimezone(CHINA_TIME).date().isoformat()
    return render(request, "exchange/workbench.html", template_context(
        request, nav="workbench", notice=pop_flash(engine, request),
        incoming=[g for g in grants if g.holder == department],
        outgoing=[g for g in grants if g.consumer == department], corrections=corrections,
        conditional=sorted(conditional, key=lambda r: r.id), procedures=sorted(procedures, key=lambda p: p.id),
        default_expiry=default_expiry, is_admin=actor.role is Role.dept_admin,
        decision_days=settings_of(request).grant_decision_days, **_labels(catalog)))


@router.post("/workbench/exchange/grants")
def apply_page(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
               resource: Annotated[str, Form()], purpose: Annotated[str, Form()],
               legal_basis: Annotated[str, Form()], expires_on: Annotated[str, Form()],
               procedures: Annotated[list[str] | None, Form()] = None,
               fields: Annotated[str, Form()] = "") -> Response:
    _department_actor(actor)
    try:
        expires_at = datetime.combine(datetime.fromisoformat(expires_on).date(), time(23, 59), CHINA_TIME)
    except ValueError:
        raise Problem(422, detail="有效期格式应为 YYYY-MM-DD", type_="/problems/validation",
                      errors=[("expires_on", "日期格式不正确")]) from None
    chosen = [f.strip() for f in fields.replace("，", ",").split(",") if f.strip()]
    target = catalog.resources.get(resource)
    if not chosen and target is not None:
        chosen = list(target.fields)
    with exchange_problems(), session_scope(engine) as session:
        grant = service.apply_for_grant(
            session, catalog, actor, resource=resource, purpose=purpose, procedures=procedures or [],
            legal_basis=legal_basis, fields=chosen, expires_at=expires_at.astimezone(UTC), now=now_of(request),
            decision_days=settings_of(request).grant_decision_days)
    return _back(engine, request, "/workbench/exchange",
                 f"共享申请 #{grant.id} 已提交，持有部门应在 {grant.due.isoformat()} 前答复")


@router.post("/workbench/exchange/grants/{grant_id}/decision")
def decide_page(grant_id: int, request: Request, actor: CurrentActor, engine: EngineDep,
                decision: Annotated[str, Form()], reason: Annotated[str, Form()] = "") -> Response:
    with exchange_problems(), session_scope(engine) as session:
        grant = service.decide_grant(session, actor, grant_id, approve=decision == "approve", reason=reason,
                                     now=now_of(request))
    return _back(engine, request, "/workbench/exchange", f"共享申请 #{grant.id} 已{STATUS_LABELS[grant.status.value]}")


@router.post("/workbench/exchange/corrections/{correction_id}/answer")
def answer_page(correction_id: int, request: Request, actor: CurrentActor, engine: EngineDep,
                outcome: Annotated[str, Form()], answer: Annotated[str, Form()] = "") -> Response:
    with exchange_problems(), session_scope(engine) as session:
        correction = service.answer_correction(session, actor, correction_id, corrected=outcome == "corrected",
                                               answer=answer, now=now_of(request))
    return _back(engine, request, "/workbench/exchange", f"纠错任务 #{correction.id} 已处理")


# --- the citizen's data-use page ------------------------------------------------------------------------


@dataclass
class UseGroup:
    """The uses of one application (or draft), by department: what the citizen reads as one card group."""

    title: str
    href: str | None
    state: str
    latest: datetime
    departments: dict[str, list[Any]] = field(default_factory=dict)
    consents: list[Any] = field(default_factory=list)


def _application_titles(engine: Engine, actor: Any, catalog: Catalog) -> dict[str, tuple[str, str, str]]:
    """exchange reference → (title, link, state) for the applicant's submitted applications."""
    if actor.role is not Role.applicant:
        return {}
    titles = {}
    for app in cases.list_applications(engine, actor, limit=1000):
        shared = app.get("shared_data") or {}
        ref = shared.get("application_ref")
        if not ref:
            continue
        thing = catalog.things[app["thing"]].name if app["thing"] in catalog.things else "办件"
        submitted = local_date(app["submitted_at"])
        titles[ref] = (f"{thing}（{submitted} 提交）", f"/me/applications/{app['id']}",
                       APPLICATION_STATUS_LABELS.get(app["status"], app["status"]))
    return titles


def use_groups(uses: list[Any], consents: list[Any], titles: dict[str, tuple[str, str, str]],
               now: datetime) -> list[UseGroup]:
    """Uses grouped by application, then by using department; newest group first. A draft never submitted is
    named by its consent's purpose; uses with no application go last under 其他调用."""
    purposes = {c.application_ref: c.purpose for c in consents}
    groups: dict[str, UseGroup] = {}

    def group_for(ref: str | None, latest: datetime) -> UseGroup:
        key = ref or ""
        if key not in groups:
            if ref and ref in titles:
                title, href, state = titles[ref]
            elif ref:
                title, href, state = f"{purposes.get(ref, '办理一件事')}（未提交的申请）", None, "未提交"
            else:
                title, href, state = "其他调用", None, ""
            groups[key] = UseGroup(title=title, href=href, state=state, latest=latest)
        return groups[key]

    for use in uses:
        group = group_for(use.application_ref, use.at)
        group.latest = max(group.latest, use.at)
        group.departments.setdefault(use.department or "", []).append(use)
    for consent in consents:
        group_for(consent.application_ref, consent.granted_at).consents.append(consent)
    return sorted(groups.values(), key=lambda g: (g.title == "其他调用", -g.latest.timestamp()))


@router.get("/me/data-uses")
def data_uses_page(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
                   report: str | None = None) -> Response:
    """``?report=<resource>`` (the apply page's 数据有误？报告错误 link) preselects that resource in the report."""
    now = now_of(request)
    with session_scope(engine) as session:
        uses = service.data_uses(session, actor)
        consents = service.consents_of(session, actor, now)
        corrections = service.list_corrections(session, actor) if actor.role is Role.applicant else []
    reportable = list(dict.fromkeys((u.resource, u.holder) for u in uses if u.resource))
    chosen = catalog.resources.get(report or "")
    if chosen is not None and chosen.id not in {r for r, _ in reportable}:
        reportable.insert(0, (chosen.id, chosen.holder))
    groups = use_groups(uses, consents, _application_titles(engine, actor, catalog), now)
    acts = delegations.acts(engine, actor) if actor.role is Role.applicant else []
    return render(request, "exchange/data_uses.html", template_context(
        request, nav="data-uses", notice=pop_flash(engine, request), groups=groups, uses=uses, consents=consents,
        corrections=corrections, now=now, reportable=reportable, report=chosen.id if chosen else None,
        correction_days=settings_of(request).correction_days, delegation_acts=acts,
        act_labels=DELEGATION_ACT_LABELS, **_labels(catalog)))


def _own_consent(engine: Engine, actor: Any, consent_id: str, now: datetime) -> Any:
    with session_scope(engine) as session:
        mine = [c for c in service.consents_of(session, actor, now) if c.id == consent_id]
    if not mine:
        raise Problem(404, detail="没有找到该授权。", type_="/problems/not-found")
    return mine[0]


@router.get("/me/consents/{consent_id}/revoke")
def revoke_confirm_page(consent_id: str, request: Request, actor: CurrentActor, engine: EngineDep,
                        catalog: CatalogDep) -> Response:
    """The confirmation step before revoking (a page, so it works without JavaScript): what changes, for the
    application the consent belongs to, before the person decides."""
    now = now_of(request)
    consent = _own_consent(engine, actor, consent_id, now)
    titles = _application_titles(engine, actor, catalog)
    title, href, state = titles.get(consent.application_ref, (f"{consent.purpose}（未提交的申请）", None, "未提交"))
    return render(request, "exchange/revoke_consent.html", template_context(
        request, nav="data-uses", consent=consent, title=title, href=href, state=state, submitted=href is not None,
        active=consent.state(now).value == "active", now=now, **_labels(catalog)),
        headers={"Cache-Control": "no-store"})


@router.post("/me/consents/{consent_id}/revoke")
def revoke_page(consent_id: str, request: Request, actor: CurrentActor, engine: EngineDep) -> Response:
    with exchange_problems(), session_scope(engine) as session:
        service.revoke_consent(session, actor, consent_id, now_of(request))
    return _back(engine, request, "/me/data-uses", "授权已撤回：此后任何部门都不能再依据该授权调用您的数据")


@router.post("/me/corrections")
def report_page(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
                resource: Annotated[str, Form()], description: Annotated[str, Form()],
                fields: Annotated[list[str] | None, Form()] = None,
                use_entry_id: Annotated[int | None, Form()] = None) -> Response:
    with exchange_problems(), session_scope(engine) as session:
        correction = service.report_data_error(
            session, catalog, actor, resource=resource, fields=fields or [], description=description,
            use_entry_id=use_entry_id, now=now_of(request), correction_days=settings_of(request).correction_days)
    return _back(engine, request, "/me/data-uses",
                 f"已转交数据持有部门核实更正，应于 {correction.due.isoformat()} 前答复")
