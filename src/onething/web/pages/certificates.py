"""The public certificate verification page (证照验真) that a certificate's QR code opens: no sign-in, and only
what the certificate prints besides its holder — status, title, issuer, issue date."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine
from starlette.responses import Response

from onething.certificates import api as certificates
from onething.web.deps import get_engine
from onething.web.templating import render

router = APIRouter(include_in_schema=False)
CHINA = ZoneInfo("Asia/Shanghai")
VERDICTS = {
    "valid": ("有效", "该电子证照由发证机关签发，签名校验通过，目前有效。"),
    "revoked": ("已撤销", "该电子证照签名校验通过，但已被发证机关撤销，不再有效。"),
    "unknown": ("无法验证", "未找到该电子证照，或其内容与发证机关的签名不符。请勿采信，并向发证机关核实。"),
}


@router.get("/verify/{certificate_id}")
def verify_page(request: Request, certificate_id: str, engine: Annotated[Engine, Depends(get_engine)]) -> Response:
    result = certificates.verify(engine, certificate_id)
    label, explanation = VERDICTS[result["status"]]
    issued = None
    if result["issued_at"]:
        moment = datetime.fromisoformat(result["issued_at"]).astimezone(CHINA)
        issued = f"{moment.year}年{moment.month}月{moment.day}日"
    return render(request, "certificates/verify.html", {
        "result": result, "label": label, "explanation": explanation, "issued": issued,
    }, headers={"Cache-Control": "no-store"})
