"""A certificate as a PDF (电子证照版式文件): the printed fields, the signature's key and algorithm, and a QR code
that opens the public verification page (``/verify/{id}``).

Chinese text uses reportlab's built-in CID font STSong-Light (Adobe-GB1), so no font file ships with us; a
PDF reader supplies the glyphs. The PDF carries no PAdES signature (ADR 014): the certificate's signature
is over its structured data, checked online by the QR link or offline with the published public key.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from onething.certificates.model import Content, masked

FONT = "STSong-Light"
CHINA = ZoneInfo("Asia/Shanghai")
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def qr_png(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=8, border=2)
    return out.getvalue()


def _printable(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        return "、".join(_printable(v) for v in (value.values() if isinstance(value, Mapping) else value))
    return "是" if value is True else "否" if value is False else str(value)


def render_pdf(content: Content, *, signature: bytes, status: str, verify_url: str,
               field_labels: Mapping[str, str] | None = None) -> bytes:
    """The certificate's PDF; ``verify_url`` is the absolute URL of its public verification page."""
    font = _font()
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, invariant=True)
    pdf.setTitle(f"{content.title} {content.number}")
    pdf.setAuthor(content.issuer_name)
    pdf.setSubject("电子证照")
    width, height = A4
    left = 25 * mm
    pdf.setFont(font, 24)
    pdf.drawCentredString(width / 2, height - 40 * mm, content.title)
    if status == "revoked":
        pdf.setFont(font, 16)
        pdf.drawCentredString(width / 2, height - 50 * mm, "（已撤销）")
    issued = content.issued_at.astimezone(CHINA)
    rows = [
        ("证照编号", content.number),
        ("持证主体", content.holder.name),
        ("统一社会信用代码" if content.holder.kind == "organisation" else "公民身份号码",
         masked(content.holder.identifier, content.holder.kind)),
        ("发证机关", content.issuer_name),
        ("发证日期", f"{issued.year}年{issued.month}月{issued.day}日"),
        ("有效期", f"{content.valid_from.isoformat()} 至 "
                   f"{content.valid_until.isoformat() if content.valid_until else '长期'}"),
    ]
    labels = field_labels or {}
    rows.extend((labels.get(name, name), _printable(value)) for name, value in sorted(content.fields.items()))
    y = height - 70 * mm
    for label, value in rows:
        pdf.setFont(font, 12)
        pdf.drawString(left, y, f"{label}：")
        pdf.drawString(left + 40 * mm, y, value[:60])
        y -= 9 * mm
    size = 40 * mm
    qr_y = 30 * mm
    pdf.drawImage(ImageReader(io.BytesIO(qr_png(verify_url))), width - left - size, qr_y, size, size)
    pdf.linkURL(verify_url, (width - left - size, qr_y, width - left, qr_y + size), relative=0)
    pdf.setFont(font, 9)
    pdf.drawString(left, qr_y + 30 * mm, "扫描右侧二维码或访问以下地址验证本证照真伪：")
    pdf.drawString(left, qr_y + 25 * mm, verify_url[:90])
    pdf.drawString(left, qr_y + 15 * mm, f"签名算法：{content.algorithm}　密钥：{content.key_id}")
    encoded = base64.b64encode(signature).decode("ascii")
    pdf.drawString(left, qr_y + 10 * mm, f"签名：{encoded[:44]}")
    pdf.drawString(left, qr_y + 5 * mm, f"　　　{encoded[44:]}")
    pdf.drawString(left, 15 * mm, f"生成时间（UTC）：{content.issued_at.astimezone(UTC):%Y-%m-%d %H:%M}")
    pdf.showPage()
    pdf.save()
    return out.getvalue()


