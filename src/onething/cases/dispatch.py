"""送达: how the applicant receives the results — 电子送达, 邮寄 (to an address) or 窗口自取 — chosen when
applying, limited to what the plan's procedures allow (``guide.delivery`` in the catalog), and, for 邮寄, the
tracking number (快递单号) staff enter when the results are sent.

The choice is stored on the application (``applications.delivery``):
``{"method", "address"?, "dispatches": [{"department", "carrier", "tracking_number", "at", "by"}]}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from onething.accounts.api import Actor, NotFound, Role, authorize
from onething.cases.errors import Conflict, Invalid
from onething.cases.events import Changes
from onething.cases.records import full_view, lock_application
from onething.cases.tables import TaskRow
from onething.catalog.model import Catalog
from onething.db import session_scope
from onething.intake.model import Plan

METHODS = ("electronic", "post", "window")
LABELS = {"electronic": "电子送达", "post": "邮寄", "window": "窗口自取"}
ADDRESS_MAX = 200
TRACKING = re.compile(r"^[A-Za-z0-9-]{6,40}$")
CARRIER_MAX = 40


def allowed_methods(catalog: Catalog, plan: Plan) -> tuple[str, ...]:
    """The delivery methods every procedure of the plan that names its own allows (results go out together);
    all three where no procedure names any, the union where they share none."""
    declared = [set(m.value for m in proc.guide.delivery) for p in plan.procedures
                if (proc := catalog.procedures.get(p.id)) is not None and proc.guide is not None
                and proc.guide.delivery]
    if not declared:
        return METHODS
    common = set.intersection(*declared) or set.union(*declared)
    return tuple(m for m in METHODS if m in common)


def checked_delivery(catalog: Catalog, plan: Plan, delivery: Any) -> dict[str, Any] | None:
    """The normalised choice, or Invalid naming ``delivery.method`` / ``delivery.address``; None when absent."""
    if delivery is None:
        return None
    if not isinstance(delivery, Mapping):
        raise Invalid([("delivery", "应为对象：{method, address}")])
    method = delivery.get("method")
    allowed = allowed_methods(catalog, plan)
    errors: list[tuple[str, str]] = []
    if method not in allowed:
        errors.append(("delivery.method", "请选择结果送达方式：" + "、".join(LABELS[m] for m in allowed)))
    address = delivery.get("address")
    address = address.strip() if isinstance(address, str) else ""
    if method == "post" and not address:
        errors.append(("delivery.address", "选择邮寄时须填写收件地址"))
    elif len(address) > ADDRESS_MAX:
        errors.append(("delivery.address", f"收件地址不超过 {ADDRESS_MAX} 个字"))
    unknown = set(delivery) - {"method", "address"}
    errors.extend((f"delivery.{key}", "不认识的字段") for key in sorted(map(str, unknown)))
    if errors:
        raise Invalid(errors)
    out: dict[str, Any] = {"method": method, "dispatches": []}
    if method == "post":
        out["address"] = address
    return out


def record_dispatch(engine: Engine, actor: Actor, application_id: str, *, tracking_number: str,
                    carrier: str | None = None, now: datetime) -> dict[str, Any]:
    """Staff of a department with an approved task on a 邮寄 application record the tracking number of the
    results they posted (寄递单号); audited as ``application.dispatched``. Others: NotFound / Forbidden."""
    if actor.role is Role.applicant or actor.department is None:
        raise NotFound("application", application_id)
    authorize(actor, "task:decide", actor.department)
    errors: list[tuple[str, str]] = []
    number = tracking_number.strip() if isinstance(tracking_number, str) else ""
    if not TRACKING.match(number):
        errors.append(("tracking_number", "快递单号为 6–40 位字母、数字或连字符"))
    carrier_text = carrier.strip() if isinstance(carrier, str) else ""
    if len(carrier_text) > CARRIER_MAX:
        errors.append(("carrier", f"寄递企业名称不超过 {CARRIER_MAX} 个字"))
    if errors:
        raise Invalid(errors)
    with session_scope(engine) as session:
        has_task = session.scalar(select(TaskRow.id).where(TaskRow.application_id == application_id,
                                                           TaskRow.department == actor.department).limit(1))
        if has_task is None:
            raise NotFound("application", application_id)
        app = lock_application(session, application_id)
        delivery = dict(app.delivery or {})
        if delivery.get("method") != "post":
            raise Conflict("该申请未选择邮寄送达，无需填写快递单号")
        approved = session.scalar(select(TaskRow.id).where(
            TaskRow.application_id == application_id, TaskRow.department == actor.department,
            TaskRow.status == "approved").limit(1))
        if approved is None:
            raise Conflict("本部门的事项尚未办结，结果寄出后再填写快递单号")
        entry = {"department": actor.department, "carrier": carrier_text or None, "tracking_number": number,
                 "at": now.isoformat(), "by": actor.user_id}
        delivery["dispatches"] = [*delivery.get("dispatches", []), entry]
        app.delivery = delivery
        changes = Changes(actor, now)
        changes.audit("application.dispatched", "application", app.id, application_id=app.id,
                      department=actor.department,
                      data={"carrier": carrier_text or None, "tracking_number": number})
        changes.write(session)
        return full_view(session, app, {actor.department})

