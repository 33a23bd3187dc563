"""Permissions as data (权限): which role may do what, and how far it reaches — checked in one function.

Each grant has a reach:

- ``own``: the actor's own records only (an applicant and their applications). ``authorize`` lets it pass; the
  service then looks the record up *filtered by owner* and raises ``NotFound`` when it is someone else's —
  never ``Forbidden``, so that ids of other people's records are not confirmed.
- ``department``: only records of the actor's department. The caller passes the record's department; a
  missing department (``None``) or another department is refused.
- ``all``: every department.

Services call ``authorize(actor, "task:decide", task.department)`` before changing anything. To add a
permission, add it to ``PERMISSIONS`` and grant it to roles in ``GRANTS``; the unit test walks every cell.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

from onething.accounts.errors import Forbidden
from onething.accounts.model import Actor, Role


class Reach(StrEnum):
    own = "own"
    department = "department"
    all = "all"


PERMISSIONS: Final[MappingProxyType[str, str]] = MappingProxyType({
    "application:submit": "提交申请 — submit an application",
    "application:read_own": "查看本人申请 — read one's own applications, supplements, results",
    "application:rate": "评价 — rate one's own finished application (好差评)",
    "application:supplement": "补正 — answer a supplement request on one's own application",
    "application:withdraw": "撤回 — withdraw one's own application",
    "application:upload": "上传材料 — upload a material to one's own application",
    "delegation:grant": "授权代办 — authorise an agent to act for oneself or one's enterprise (代办授权)",
    "delegation:review": "审核代办关系 — review a relationship document for acting on another's behalf",
    "application:read": "查看全部申请 — read any application (platform support)",
    "task:read": "查看办件 — read department tasks",
    "task:decide": "办理 — accept, approve, reject, request a supplement",
    "rectification:answer": "整改答复 — answer a rectification opened by a bad rating",
    "correction:answer": "数据纠错答复 — answer a data correction reported on the department's resources",
    "certificate:revoke": "撤销证照 — revoke a certificate (电子证照) the department issued",
    "grant:decide": "数据共享审批 — decide a conditional data-sharing request to the department's resources",
    "department:configure": "部门配置 — the department's webhook URL, secret and staff",
    "user:manage": "用户管理 — create, disable, enable and unlock users, set passwords, issue and revoke tokens",
    "catalog:publish": "发布目录 — publish a catalog version or list",
    "audit:read": "查看审计 — read the audit chain",
    "report:read": "统计报表 — read reports and KPIs",
})

_OWN, _DEPT, _ALL = Reach.own, Reach.department, Reach.all

GRANTS: Final[MappingProxyType[Role, MappingProxyType[str, Reach]]] = MappingProxyType({
    Role.applicant: MappingProxyType({
        "application:submit": _OWN,
        "application:read_own": _OWN,
        "application:rate": _OWN,
        "application:supplement": _OWN,
        "application:withdraw": _OWN,
        "application:upload": _OWN,
        "delegation:grant": _OWN,
    }),
    Role.staff: MappingProxyType({
        "task:read": _DEPT,
        "task:decide": _DEPT,
        "rectification:answer": _DEPT,
        "correction:answer": _DEPT,
        "certificate:revoke": _DEPT,
        "delegation:review": _DEPT,
    }),
    Role.dept_admin: MappingProxyType({
        "task:read": _DEPT,
        "task:decide": _DEPT,
        "rectification:answer": _DEPT,
        "correction:answer": _DEPT,
        "certificate:revoke": _DEPT,
        "grant:decide": _DEPT,
        "delegation:review": _DEPT,
        "department:configure": _DEPT,
        "report:read": _DEPT,
    }),
    Role.operator: MappingProxyType({
        "application:read": _ALL,
        "task:read": _ALL,
        "department:configure": _ALL,
        "user:manage": _ALL,
        "catalog:publish": _ALL,
        "report:read": _ALL,
    }),
    # Separation of duties (三权分立): the auditor reads the audit chain and reports, and changes nothing.
    Role.auditor: MappingProxyType({
        "audit:read": _ALL,
        "report:read": _ALL,
    }),
})


def reach(actor: Actor, permission: str) -> Reach | None:
    """How far ``permission`` reaches for this actor's role, or None when the role lacks it."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; declare it in accounts.permissions.PERMISSIONS")
    return GRANTS[actor.role].get(permission)


def authorize(actor: Actor, permission: str, department: str | None = None) -> None:
    """Raise ``Forbidden`` unless ``actor`` may use ``permission`` (for ``department``, when scoped).

    ``department`` is the department that owns the record acted on (a task's department, a resource's holder).
    For department-scoped grants it must equal the actor's own department.
    """
    granted = reach(actor, permission)
    if granted is None:
        raise Forbidden(permission, f"角色 {actor.role.value} 无权限 {permission}")
    if granted is Reach.department and (actor.department is None or department != actor.department):
        raise Forbidden(permission, f"{permission} 仅限本部门")


def can(actor: Actor, permission: str, department: str | None = None) -> bool:
    """``authorize`` as a yes/no, for pages that show or hide a button."""
    try:
        authorize(actor, permission, department)
    except Forbidden:
        return False
    return True


def permissions_of(role: Role) -> dict[str, Reach]:
    return dict(GRANTS[role])
