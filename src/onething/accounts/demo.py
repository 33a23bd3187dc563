"""Demo users (演示账号), created through ``create_user`` like any other: an operator, an auditor, staff and a
department administrator for each department the demo things need, two individual applicants and one
enterprise applicant.

The identifiers below are made up for the demo: the check characters are right so validation passes, and
they must never be used for anything else. Every demo user's password comes from ``ONETHING_DEMO_PASSWORD``;
the default ``demo-password-2026`` exists for the local demo only and is used nowhere outside this module.
Running the step twice creates nothing new.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import Engine

from onething.accounts.model import Role
from onething.accounts.service import create_user, get_user
from onething.db import session_scope

DEMO_PASSWORD_ENV = "ONETHING_DEMO_PASSWORD"  # noqa: S105 - the variable name, not a password
DEMO_PASSWORD_DEFAULT = "demo-password-2026"  # noqa: S105 - demo-only default, documented above

DEMO_DEPARTMENTS = {
    "samr": "市场监管", "fire": "消防救援", "urban": "城管", "nhc": "卫健", "mps": "公安", "hrss": "人社",
    "nhsa": "医保", "hpf": "公积金", "mca": "民政", "bank": "银行", "tobacco": "烟草专卖", "edu": "教育",
    "tax": "税务",
}

# (name, display name, resident ID | None, USCC | None) — fictional, checksum-valid.
DEMO_APPLICANTS = (
    ("zhangsan", "张三（演示）", "110101199003070011", None),
    ("lisi", "李四（演示）", "110101198511120025", None),
    ("demo-restaurant", "示例餐饮有限公司（演示）", None, "91110105MA01ABCD00"),
)


def demo_password() -> str:
    return os.environ.get(DEMO_PASSWORD_ENV) or DEMO_PASSWORD_DEFAULT


def _demo_users() -> list[dict[str, str | None]]:
    users: list[dict[str, str | None]] = [
        {"name": "operator", "display_name": "平台运营（演示）", "role": Role.operator.value},
        {"name": "auditor", "display_name": "审计员（演示）", "role": Role.auditor.value},
    ]
    for department, label in DEMO_DEPARTMENTS.items():
        users.append({"name": f"{department}-staff", "display_name": f"{label}窗口人员（演示）",
                      "role": Role.staff.value, "department": department})
        users.append({"name": f"{department}-admin", "display_name": f"{label}部门管理员（演示）",
                      "role": Role.dept_admin.value, "department": department})
    for name, display_name, id_number, uscc in DEMO_APPLICANTS:
        users.append({"name": name, "display_name": display_name, "role": Role.applicant.value,
                      "id_number": id_number, "uscc": uscc})
    return users


def create_demo_users(engine: Engine) -> list[str]:
    """The demo step: create the missing demo users in one transaction and say what happened."""
    password = demo_password()
    now = datetime.now(UTC)
    created: list[str] = []
    users = _demo_users()
    with session_scope(engine) as session:
        for spec in users:
            name = str(spec["name"])
            if get_user(session, name) is not None:
                continue
            create_user(session, name=name, role=str(spec["role"]), department=spec.get("department"),
                        id_number=spec.get("id_number"), uscc=spec.get("uscc"), password=password,
                        display_name=spec.get("display_name"), now=now)
            created.append(name)
    source = DEMO_PASSWORD_ENV if os.environ.get(DEMO_PASSWORD_ENV) else f"demo default {DEMO_PASSWORD_DEFAULT!r}"
    return [f"demo users: {len(created)} created, {len(users) - len(created)} already there "
            f"(operator, auditor, <dept>-staff / <dept>-admin for {', '.join(DEMO_DEPARTMENTS)}, "
            f"zhangsan, lisi, demo-restaurant); password: {source}"]
