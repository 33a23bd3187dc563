"""Each role's own home after sign-in (角色首页): the applicant's portal, the staff's workbench, the operator's
overview and the auditor's search of the audit log — as HTML pages, never raw JSON.

The operator's page lists what the platform holds (departments and their webhooks, users, catalog versions,
key-item lists, directory publication); where an action exists only on the command line, the page says
which command. The auditor's pages are read only: a filtered, paged search of the audit log, one entry's
detail, and the chain's status with its published checkpoints. Every page here checks the role's
permission, and only the role that has it sees the link in its menu.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Engine
from starlette.responses import Response

from onething.accounts.model import Actor, Role
from onething.accounts.permissions import authorize
from onething.accounts.service import list_users
from onething.audit.checkpoints import EntryFilter, list_checkpoints, search_entries, verify_chain
from onething.catalog.model import Catalog
from onething.catalog.store import list_versions
from onething.config import get_settings
from onething.db import session_scope
from onething.delivery.service import list_endpoints
from onething.exchange.directory import pending_changes
from onething.hub.reconcile import overview as hub_overview
from onething.web.auth import CurrentActor, now_of, template_context
from onething.web.deps import get_catalog, get_engine
from onething.web.problems import Problem
from onething.web.templating import render
from onething.workdays import CHINA_TIME

router = APIRouter(include_in_schema=False)

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]

PAGE_SIZE = 50
ROLE_LABELS = {"applicant": "申请人", "staff": "部门工作人员", "dept_admin": "部门管理员", "operator": "平台运营人员",
               "auditor": "审计人员", "system": "系统"}
HOMES = {Role.applicant: "/me/applications", Role.staff: "/workbench", Role.dept_admin: "/workbench",
         Role.operator: "/operator", Role.auditor: "/auditor"}


def home_for(actor: Actor) -> str:
    """Where a role lands after sign-in: its own home, not the citizen's portal."""
    return HOMES.get(actor.role, "/")


def _local(moment: datetime | None) -> str:
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _labels(catalog: Catalog) -> dict[str, Any]:
    return {"local": _local, "role_labels": ROLE_LABELS,
            "department_name": lambda d: catalog.departments[d].name if d in catalog.departments else (d or "—")}


def _require(actor: Actor, role: Role, detail: str) -> None:
    if actor.role is not role:
        raise Problem(403, detail=detail, type_="/problems/forbidden")


# --- operator -------------------------------------------------------------------------------------------


@router.get("/operator")
def operator_home(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    """The operator's overview (运营管理): read-only lists, with the command for each action."""
    _require(actor, Role.operator, "此页面供平台运营人员使用。")
    authorize(actor, "user:manage")
    now = now_of(request)
    with session_scope(engine) as session:
        endpoints = {e.department: e for e in list_endpoints(session)}
        users = list_users(session)
        versions = list_versions(session)
        changes = pending_changes(session, catalog, now, get_settings().directory_publication_days)
        national = hub_overview(session)
    departments = sorted(catalog.departments.values(), key=lambda d: d.id)
    return render(request, "roles/operator.html", template_context(
        request, nav="operator", departments=departments, endpoints=endpoints, now=now,
        users=sorted(users, key=lambda u: (u.role, u.name)), versions=versions[:20],
        lists=sorted(catalog.lists.values(), key=lambda lst: (-lst.year, -lst.batch, lst.id)), changes=changes,
        resource_name=lambda r: catalog.resources[r].name if r in catalog.resources else r, national=national,
        **_labels(catalog)), headers={"Cache-Control": "no-store"})


# --- auditor --------------------------------------------------------------------------------------------


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    """A date typed in the form (China time) as the UTC start of that day, or of the next day for ``end``."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Problem(422, detail="日期格式应为 YYYY-MM-DD", type_="/problems/validation",
                      errors=[("date", "日期格式不正确")]) from None
    moment = datetime.combine(day + timedelta(days=1) if end else day, time(0), CHINA_TIME)
    return moment.astimezone(UTC)


Text = Annotated[str | None, Query(max_length=200)]


@router.get("/auditor")
def auditor_home(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
                 action: Text = None, actor_name: Text = None, subject: Text = None, department: Text = None,
                 since: Text = None, until: Text = None,
                 after_id: Annotated[int | None, Query(ge=0)] = None) -> Response:
    """Search the audit log (审计查询): filters combine with AND; oldest first, 50 a page."""
    _require(actor, Role.auditor, "此页面供审计人员使用。")
    subject_type, _, subject_id = (subject or "").strip().partition(":")
    query = EntryFilter(action_prefix=(action or "").strip() or None, actor_name=(actor_name or "").strip() or None,
                        department=department or None, subject_type=subject_type or None,
                        subject_id=subject_id or None, since=_day(since), until=_day(until, end=True),
                        after_id=after_id, limit=PAGE_SIZE + 1)
    with session_scope(engine) as session:
        entries = list(search_entries(session, actor, query))
        checkpoints = list(list_checkpoints(session, 5))
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    filters = {"action": action or "", "actor_name": actor_name or "", "subject": subject or "",
               "department": department or "", "since": since or "", "until": until or ""}
    searched = any(filters.values()) or after_id is not None
    next_query = {**{k: v for k, v in filters.items() if v}, "after_id": str(entries[-1].id)} if more else None
    return render(request, "roles/auditor.html", template_context(
        request, nav="auditor", entries=entries, filters=filters, searched=searched, next_query=next_query,
        first_page=after_id is None, first_query={k: v for k, v in filters.items() if v}, checkpoints=checkpoints,
        departments=sorted(catalog.departments.values(), key=lambda d: d.id), **_labels(catalog)),
        headers={"Cache-Control": "no-store"})


@router.get("/auditor/entries/{entry_id}")
def audit_entry_page(entry_id: int, request: Request, actor: CurrentActor, engine: EngineDep,
                     catalog: CatalogDep) -> Response:
    """One audit entry in full: who, what, which record, the state before and after, and its hashes."""
    _require(actor, Role.auditor, "此页面供审计人员使用。")
    with session_scope(engine) as session:
        found = list(search_entries(session, actor, EntryFilter(after_id=entry_id - 1, limit=1)))
    if not found or found[0].id != entry_id:
        raise Problem(404, detail="没有这条审计记录。", type_="/problems/not-found")
    return render(request, "roles/audit_entry.html", template_context(
        request, nav="auditor", entry=found[0], **_labels(catalog)), headers={"Cache-Control": "no-store"})


@router.get("/auditor/chain")
def audit_chain_page(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    """Verify the whole chain now (链校验) and list the published checkpoints."""
    _require(actor, Role.auditor, "此页面供审计人员使用。")
    authorize(actor, "audit:read")
    with session_scope(engine) as session:
        verification = verify_chain(session)
        checkpoints = list(list_checkpoints(session, 100))
    return render(request, "roles/audit_chain.html", template_context(
        request, nav="auditor", verification=verification, checkpoints=checkpoints, checked_at=now_of(request),
        **_labels(catalog)), headers={"Cache-Control": "no-store"})
