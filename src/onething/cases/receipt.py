"""受理回执: what an applicant is given on submitting — the 办件编号, what happens next, the promised dates (each
department task and the whole), how they will be told — as a page and as a PDF at a stable URL only the
applicant may open.

The receipt is read from the stored application (its plan, tasks and dates), so printing it again later shows
the same promises; a task that has not started yet shows how many working days it has once it starts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from sqlalchemy import Engine

from onething.accounts.api import Actor, NotFound, Role
from onething.cases.dispatch import LABELS
from onething.cases.queries import get_application
from onething.cases.service import applicant_mobile
from onething.catalog.model import Catalog
from onething.delivery.sms import sms_enabled
from onething.intake.model import Plan

CHINA = ZoneInfo("Asia/Shanghai")
FONT = "STSong-Light"   # reportlab's built-in CID font (Adobe-GB1): no font file ships with us
NOTIFY_IN_APP = "站内消息：办理进度、补正要求和办理结果会显示在“我的办件”中。"


@dataclass(frozen=True)
class ReceiptTask:
    procedure: str
    department: str
    stage: int
    promise: str          # "2026-12-09 前" or "前置事项办结后 5 个工作日内"


@dataclass(frozen=True)
class Receipt:
    application_id: str
    number: str
    thing_name: str
    applicant: str
    submitted_at: str      # Beijing time, 2026-12-02 09:00
    promised_due: str      # ISO date
    status: str
    tasks: tuple[ReceiptTask, ...]
    next_steps: tuple[str, ...]
    notifications: tuple[str, ...]
    materials: tuple[str, ...]          # submitted or exempt, by name
    delivery: str = "未选择"             # 送达方式 as the applicant chose it


def _local(moment: str | None) -> str:
    if not moment:
        return "—"
    return datetime.fromisoformat(moment).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def receipt(engine: Engine, actor: Actor, application_id: str, catalog: Catalog | None = None) -> Receipt:
    """The receipt of the applicant's own application; anyone else (staff included) gets NotFound."""
    if actor.role is not Role.applicant:
        raise NotFound("application", application_id)
    application = get_application(engine, actor, application_id)
    plan = Plan.model_validate(application["plan"])
    planned = {p.id: p for p in plan.procedures}
    tasks = []
    for task in application["tasks"]:
        proc = planned.get(task["procedure"])
        promise = (f"{task['due']} 前" if task.get("due")
                   else f"前置事项办结后 {task['promised_days']} 个工作日内")
        tasks.append(ReceiptTask(procedure=proc.name if proc else task["procedure"],
                                 department=proc.department_name if proc else task["department"],
                                 stage=task["stage"], promise=promise))
    first = [t for t in tasks if t.stage == min((x.stage for x in tasks), default=0)]
    steps = [f"{'、'.join(sorted({t.department for t in first}))}先行审核，"
             "如材料不全会通知您补正（补正期间办理时限暂停）。" if first else "相关部门审核您的申请。"]
    if len({t.stage for t in tasks}) > 1:
        steps.append("前一环节办结后，后续环节自动开始办理，无需您再次提交。")
    steps.append(f"全部环节办结后，办理结果统一送达；承诺 {application['promised_due']} 前办结。")
    steps.append("申请在办结前可以撤回。")
    exempt = {m.id for m in plan.materials if m.status == "exempt"}
    materials = tuple(f"{m.name}（免提交，已由共享数据核验）" if m.id in exempt else m.name
                      for m in plan.materials)
    thing_name = catalog.things[plan.thing].name if catalog and plan.thing in catalog.things else plan.thing_name
    return Receipt(
        application_id=application["id"], number=application["number"], thing_name=thing_name,
        applicant=actor.display_name or actor.name, submitted_at=_local(application["submitted_at"]),
        promised_due=application["promised_due"] or "—", status=application["status"], tasks=tuple(tasks),
        next_steps=tuple(steps), notifications=_notifications(plan, application["form"]), materials=materials,
        delivery=delivery_text(application.get("delivery")))


def _notifications(plan: Plan, form: dict[str, Any]) -> tuple[str, ...]:
    phone = applicant_mobile(plan, form)
    if phone is None or not sms_enabled():
        return (NOTIFY_IN_APP,)
    masked = f"{phone[:3]}****{phone[-4:]}"
    return (NOTIFY_IN_APP, f"短信：受理、补正要求和办结时发送至您填写的手机 {masked}。")


def delivery_text(delivery: dict[str, Any] | None) -> str:
    """``邮寄至 北京市…`` / ``电子送达`` / ``窗口自取``; 未选择 for an application submitted without a choice."""
    if not delivery:
        return "未选择"
    label = LABELS.get(delivery.get("method", ""), "未选择")
    return f"{label}至 {delivery['address']}" if delivery.get("address") else label


_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def render_pdf(item: Receipt) -> bytes:
    """The receipt as an A4 PDF (uncompressed content, so the 办件编号 can be found in its bytes)."""
    font = _font()
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, invariant=True, pageCompression=0)
    pdf.setTitle(f"受理回执 {item.number}")
    pdf.setSubject("受理回执")
    width, height = A4
    left, y = 20 * mm, height - 25 * mm

    def line(text: str, size: int = 11, indent: float = 0, gap: float = 7 * mm) -> None:
        nonlocal y
        if y < 20 * mm:
            pdf.showPage()
            y = height - 20 * mm
        pdf.setFont(font, size)
        pdf.drawString(left + indent, y, text)
        y -= gap

    pdf.setFont(font, 20)
    pdf.drawCentredString(width / 2, y, "受理回执")
    y -= 12 * mm
    pdf.setFont(font, 11)
    pdf.drawString(left, y, "办件编号：")
    pdf.setFont("Courier-Bold", 13)     # plain ASCII digits: readable aloud, searchable in the file
    pdf.drawString(left + 22 * mm, y, item.number)
    y -= 8 * mm
    line(f"申请事项：{item.thing_name}")
    line(f"申请人：{item.applicant}")
    line(f"提交时间：{item.submitted_at}（北京时间）")
    line(f"承诺办结：{item.promised_due} 前")
    line(f"结果送达：{item.delivery}")
    y -= 3 * mm
    line("各环节承诺时限", 13)
    for task in item.tasks:
        line(f"第{task.stage}步  {task.procedure}（{task.department}）：{task.promise}", 10, 4 * mm, 6 * mm)
    y -= 3 * mm
    line("接下来", 13)
    for number, step in enumerate(item.next_steps, 1):
        line(f"{number}. {step}", 10, 4 * mm, 6 * mm)
    y -= 3 * mm
    line("如何通知您", 13)
    for text in item.notifications:
        line(text, 10, 4 * mm, 6 * mm)
    if item.materials:
        y -= 3 * mm
        line("已提交材料", 13)
        for name in item.materials:
            line(name, 10, 4 * mm, 6 * mm)
    pdf.showPage()
    pdf.save()
    return out.getvalue()
