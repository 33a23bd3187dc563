"""Accounts domain types: who acts, in which role, for which department. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    applicant = "applicant"      # citizen or enterprise (申请人)
    staff = "staff"              # department staff (窗口/审批人员), bound to a department
    dept_admin = "dept_admin"    # department administrator, bound to a department
    operator = "operator"        # platform operator (平台运营)
    auditor = "auditor"          # reads the audit log (审计)


@dataclass(frozen=True)
class Actor:
    """The authenticated party behind a request or command; services check permissions against it."""

    user_id: int
    name: str
    role: Role
    department: str | None = None
    id_number: str | None = None     # resident ID (公民身份号码) of an individual applicant
    uscc: str | None = None          # 统一社会信用代码 of an enterprise applicant

    @property
    def is_applicant(self) -> bool:
        return self.role is Role.applicant


SYSTEM = Actor(user_id=0, name="system", role=Role.operator)
