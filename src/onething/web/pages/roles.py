"""Each role's own home after sign-in (角色首页): the applicant's portal, the staff's workbench, the operator's
overview and the auditor's search of the audit log — as HTML pages, never raw JSON.

The operator's page lists what the platform holds (departments and their webhooks, users, catalog versions,
key-item lists, directory publication); where an action exists only on the command line, the page says
which command. The auditor's pages are read only: a filtered, paged search of the audit log, one entry's
detail, and the chain's status with its published checkpoints. Every page here checks the role's
permission, and only the role that has it sees the link in its menu.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Engine
from starlette.responses import Response

from onething.accounts import lifecycle
from onething.accounts.errors import DuplicateUser, InvalidUser, UnknownUser
from onething.accounts.model import Actor, Role
from onething.accounts.permissions import authorize
from onething.accounts.service import list_users
from onething.audit.checkpoints import EntryFilter, list_checkpoints, search_entries, verify_chain
from onething.cases import api as cases
from onething.catalog.model import Catalog
from onething.catalog.store import list_versions
from onething.config import get_settings
from onething.db import session_scope
from onething.delivery.service import InvalidEndpoint, UnknownEndpoint, disable_webhook, list_endpoints, set_webhook
from onething.exchange.directory import pending_changes, publish_directory
from onething.hub.reconcile import overview as hub_overview
from onething.web.auth import CurrentActor, now_of, template_context
from onething.web.deps import get_catalog, get_engine
from onething.web.flash import pop_flash, redirect_with_notice
from onething.web.pages.audit_views import mask_text, readable
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


OPERATOR_ROLES = {"staff": "部门工作人员", "dept_admin": "部门管理员", "operator": "平台运营人员",
                  "auditor": "审计人员"}
USER_ACTIONS = {"disable": ("停用", lifecycle.disable_user), "enable": ("启用", lifecycle.enable_user),
                "unlock": ("解锁", lifecycle.unlock_user)}
WEBHOOK_RULE = "推送地址应以 http:// 或 https:// 开头、不超过 500 个字符；签名密钥 16–200 个字符。"
USER_FIELDS = ("name", "display_name", "role", "department", "password")


def _operator_page(request: Request, actor: Actor, engine: Engine, catalog: Catalog, *, status_code: int = 200,
                   errors: dict[str, str] | None = None, posted: dict[str, str] | None = None,
                   message: str | None = None) -> Response:
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
        operator_roles=OPERATOR_ROLES, errors=errors or {}, posted=posted or {}, message=message,
        notice=pop_flash(engine, request) if status_code == 200 else None,
        **_labels(catalog)), status_code=status_code, headers={"Cache-Control": "no-store"})


def _operator(actor: Actor) -> None:
    _require(actor, Role.operator, "此页面供平台运营人员使用。")
    authorize(actor, "user:manage")


@router.get("/operator")
def operator_home(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> Response:
    """The operator's overview (运营管理): departments and webhooks, users, catalog versions, lists and the
    directory's publication, with the actions the services offer (each audited by its service)."""
    _operator(actor)
    return _operator_page(request, actor, engine, catalog)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/operator/users")
async def operator_add_user(request: Request, actor: CurrentActor, engine: EngineDep,
                            catalog: CatalogDep) -> Response:
    """开户: a staff, department administrator, operator or auditor account, with an initial password that
    must be changed at first sign-in."""
    _operator(actor)
    form = await request.form()
    posted = {name: _text(form, name) for name in USER_FIELDS}
    errors: dict[str, str] = {}
    if posted["role"] not in OPERATOR_ROLES:
        errors["role"] = "请选择角色"
    if posted["role"] in ("staff", "dept_admin") and posted["department"] not in catalog.departments:
        errors["department"] = "部门工作人员和部门管理员须选择所属部门"
    if not errors:
        try:
            with session_scope(engine) as session:
                lifecycle.add_user(session, actor, name=posted["name"], role=posted["role"],
                                   department=posted["department"] if posted["role"] in ("staff", "dept_admin")
                                   else None, password=posted["password"] or None,
                                   display_name=posted["display_name"] or None, now=now_of(request))
        except (InvalidUser, DuplicateUser) as exc:
            errors = {field: message for field, message in reversed(exc.errors)}
    if errors:
        posted.pop("password")
        return _operator_page(request, actor, engine, catalog, status_code=422, errors=errors, posted=posted,
                              message="未能开户，请按提示修改。")
    return redirect_with_notice(engine, request, "/operator#users-heading", f"已为 {posted['name']} 开户。")


@router.post("/operator/users/{user_name}/{action}")
def operator_user_action(user_name: str, action: str, request: Request, actor: CurrentActor,
                         engine: EngineDep) -> Response:
    """停用 / 启用 / 解锁 one account; the service audits it and says whether anything changed."""
    _operator(actor)
    if action not in USER_ACTIONS:
        raise Problem(404, detail="没有这项操作。", type_="/problems/not-found")
    label, act = USER_ACTIONS[action]
    if user_name == actor.name and action == "disable":
        return redirect_with_notice(engine, request, "/operator#users-heading", "不能停用自己的账户。", error=True)
    try:
        with session_scope(engine) as session:
            changed = act(session, actor, user_name=user_name, now=now_of(request))
    except UnknownUser:
        raise Problem(404, detail="没有这个用户。", type_="/problems/not-found") from None
    text = f"已{label} {user_name}。" if changed else f"{user_name} 无需{label}。"
    return redirect_with_notice(engine, request, "/operator#users-heading", text)


@router.post("/operator/webhooks")
async def operator_set_webhook(request: Request, actor: CurrentActor, engine: EngineDep,
                               catalog: CatalogDep) -> Response:
    """Set a department's webhook (办件推送地址) and its signing secret; the secret is never shown again."""
    _operator(actor)
    form = await request.form()
    department, url, secret = _text(form, "department"), _text(form, "url"), _text(form, "secret")
    if department not in catalog.departments:
        return redirect_with_notice(engine, request, "/operator#departments-heading", "请选择部门。", error=True)
    try:
        with session_scope(engine) as session:
            set_webhook(session, department, url, secret, now_of(request), actor=actor)
    except InvalidEndpoint:
        return redirect_with_notice(engine, request, "/operator#departments-heading", WEBHOOK_RULE, error=True)
    return redirect_with_notice(engine, request, "/operator#departments-heading",
                                f"已设置{catalog.departments[department].name}的办件推送地址。")


@router.post("/operator/webhooks/{department}/disable")
def operator_disable_webhook(department: str, request: Request, actor: CurrentActor, engine: EngineDep,
                             catalog: CatalogDep) -> Response:
    _operator(actor)
    try:
        with session_scope(engine) as session:
            disable_webhook(session, department, now_of(request), actor=actor)
    except UnknownEndpoint:
        raise Problem(404, detail="该部门没有配置办件推送。", type_="/problems/not-found") from None
    name = catalog.departments[department].name if department in catalog.departments else department
    return redirect_with_notice(engine, request, "/operator#departments-heading", f"已停用{name}的办件推送。")


@router.post("/operator/directory/publish")
def operator_publish_directory(request: Request, actor: CurrentActor, engine: EngineDep,
                               catalog: CatalogDep) -> Response:
    """Publish every pending change of the data-resource directory (目录发布), each audited."""
    _operator(actor)
    with session_scope(engine) as session:
        published = publish_directory(session, actor, catalog, now_of(request))
    text = f"已发布 {len(published)} 项数据资源目录变更。" if published else "没有待发布的目录变更。"
    return redirect_with_notice(engine, request, "/operator#directory-heading", text)


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


SUBJECT_LABELS = {"application": "办件", "task": "办件环节", "user": "用户", "certificate": "电子证照",
                  "consent": "授权", "grant": "共享申请", "resource": "数据资源", "department_endpoint": "部门推送地址",
                  "supplement": "补正", "catalog": "事项目录", "session": "登录会话", "token": "接口令牌"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@router.get("/auditor")
def auditor_home(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
                 action: Text = None, actor_name: Text = None, subject: Text = None, department: Text = None,
                 application: Text = None, since: Text = None, until: Text = None,
                 after_id: Annotated[int | None, Query(ge=0)] = None) -> Response:
    """Search the audit log (审计查询): filters combine with AND; oldest first, 50 a page. ``application`` is
    a 办件编号 (or an application's id)."""
    _require(actor, Role.auditor, "此页面供审计人员使用。")
    subject_type, _, subject_id = (subject or "").strip().partition(":")
    typed = (application or "").strip()
    application_id: str | None = None
    application_error = None
    if typed:
        if _UUID.fullmatch(typed):
            application_id = typed
        elif typed.isdigit() and len(typed) <= 20:
            application_id = cases.application_numbers(engine, actor, numbers=[typed]).get(typed)
            if application_id is None:
                application_error = f"没有办件编号为 {typed} 的办件。"
        else:
            application_error = "办件编号由数字组成，最多 20 位。"
    query = EntryFilter(action_prefix=(action or "").strip() or None, actor_name=(actor_name or "").strip() or None,
                        department=department or None, subject_type=subject_type or None,
                        subject_id=subject_id or None, application_id=application_id, since=_day(since),
                        until=_day(until, end=True), after_id=after_id, limit=PAGE_SIZE + 1)
    entries: list[Any] = []
    with session_scope(engine) as session:
        if application_error is None:
            entries = list(search_entries(session, actor, query))
        checkpoints = list(list_checkpoints(session, 5))
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    numbers = cases.application_numbers(engine, actor, ids={e.application_id for e in entries if e.application_id})
    filters = {"action": action or "", "actor_name": actor_name or "", "subject": subject or "",
               "department": department or "", "application": typed, "since": since or "", "until": until or ""}
    searched = any(filters.values()) or after_id is not None
    next_query = {**{k: v for k, v in filters.items() if v}, "after_id": str(entries[-1].id)} if more else None
    return render(request, "roles/auditor.html", template_context(
        request, nav="auditor", entries=entries, filters=filters, searched=searched, next_query=next_query,
        first_page=after_id is None, first_query={k: v for k, v in filters.items() if v}, checkpoints=checkpoints,
        application_error=application_error, numbers=numbers, subject_labels=SUBJECT_LABELS, mask=mask_text,
        departments=sorted(catalog.departments.values(), key=lambda d: d.id), **_labels(catalog)),
        status_code=422 if application_error and not application_error.startswith("没有") else 200,
        headers={"Cache-Control": "no-store"})


@router.get("/auditor/entries/{entry_id}")
def audit_entry_page(entry_id: int, request: Request, actor: CurrentActor, engine: EngineDep,
                     catalog: CatalogDep) -> Response:
    """One audit entry, readable: who, what, which record, the state before and after as labelled rows with
    personal data masked, and its hashes."""
    _require(actor, Role.auditor, "此页面供审计人员使用。")
    with session_scope(engine) as session:
        found = list(search_entries(session, actor, EntryFilter(after_id=entry_id - 1, limit=1)))
    if not found or found[0].id != entry_id:
        raise Problem(404, detail="没有这条审计记录。", type_="/problems/not-found")
    entry = found[0]
    sections = [(label, readable(value)) for label, value in
                (("变更前", entry.before), ("变更后", entry.after), ("其他数据", entry.data)) if value is not None]
    number = (cases.application_numbers(engine, actor, ids=[entry.application_id]).get(entry.application_id)
              if entry.application_id else None)
    return render(request, "roles/audit_entry.html", template_context(
        request, nav="auditor", entry=entry, sections=sections, application_number=number,
        subject_labels=SUBJECT_LABELS, mask=mask_text, **_labels(catalog)), headers={"Cache-Control": "no-store"})


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
