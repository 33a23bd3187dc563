"""Accounts domain types: who acts, in which role, for which department. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    # Personal identifiers stay out of repr() so that an Actor in a log line or traceback does not carry them.
    id_number: str | None = field(default=None, repr=False)  # resident ID (公民身份号码) of an individual applicant
    uscc: str | None = field(default=None, repr=False)       # 统一社会信用代码 of an enterprise applicant
    display_name: str = ""           # what pages greet the actor with; falls back to ``name``
    must_change_password: bool = False  # an initial or reset password: pages allow only the change until done
    # Assurance level (accounts.assurance): a browser session's sign-in level, else the account's verified one.
    # Actors built outside sign-in (commands, demo, tests) act at the level of an administrator-opened account.
    assurance: str = "L2"

    @property
    def is_applicant(self) -> bool:
        return self.role is Role.applicant

    @property
    def label(self) -> str:
        return self.display_name or self.name


@dataclass(frozen=True)
class SignedIn:
    """A live browser session (登录会话): who it is, and the CSRF token its forms must carry."""

    actor: Actor
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    """A session just started. ``session_id`` goes into the cookie and is never stored in clear."""

    session_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed (never the token itself: only its display prefix)."""

    id: int
    user_name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


SYSTEM = Actor(user_id=0, name="system", role=Role.operator)
