"""Jinja2 templates shared by every page router (portal, workbench, admin), with the site's filters."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from onething.web.views import audience_label, issuer_label

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def percent(value: float | None) -> str:
    """0.7345 → "73%" (the four reductions are stored as fractions)."""
    if value is None:
        return "—"
    return f"{round(value * 100)}%"


def days(value: int | None) -> str:
    # ``legal_days: null`` means no legal limit was found, not that the law sets none.
    if value is None:
        return "未查明"
    if value == 0:
        return "即办"
    return f"{value} 个工作日"


# 办事指南 enum values (catalog.model: MaterialForm, Medium, Channel, DeliveryMethod) in the guide's words.
GUIDE_LABELS = {
    "original": "原件", "copy": "复印件", "original_and_copy": "原件和复印件", "original_or_copy": "原件或复印件",
    "paper": "纸质", "electronic": "电子", "paper_or_electronic": "纸质或电子",
    "applicant": "申请人自备", "government": "政府部门核发", "shared": "共享获取（无需提交）",
    "applicant_or_shared": "申请人自备或共享获取",
    "window": "窗口领取", "post": "邮政寄递", "electronic_delivery": "电子证照（网上送达）",
}


def guide_label(value: str | None, kind: str = "") -> str:
    if value is None:
        return "未查明"
    if kind == "delivery" and value == "electronic":
        return GUIDE_LABELS["electronic_delivery"]
    return GUIDE_LABELS.get(value, value)


templates.env.filters["guide_label"] = guide_label
templates.env.filters["percent"] = percent
templates.env.filters["days"] = days
templates.env.filters["audience_label"] = audience_label
templates.env.filters["issuer_label"] = issuer_label


def render(request: Request, name: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200,
           headers: Mapping[str, str] | None = None) -> Response:
    """Render a template with the request and the catalog label in its context."""
    data = {"catalog_label": getattr(request.app.state, "catalog_label", None), **(context or {})}
    return templates.TemplateResponse(request, name, data, status_code=status_code,
                                      headers=dict(headers) if headers else None)
