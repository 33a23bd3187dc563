"""How an audit entry reads to an auditor (审计记录详情): its before/after/data as labelled rows instead of raw
JSON, with personal data masked — ID numbers, mobile numbers and names are shown as 1101**********0011,
138****8000 and 张*. The chain's hashes are computed over the stored entry; masking is for display only.
"""

from __future__ import annotations

import re
from typing import Any

from onething.accounts.api import mask_identifier

KEY_LABELS = {
    "status": "状态", "kind": "决定", "reason": "理由", "result": "结果", "document": "文书名称", "number": "文号",
    "valid_from": "有效期起始", "valid_until": "有效期截止", "version": "版本", "due": "办结期限",
    "role": "角色", "department": "部门", "active": "启用", "url": "地址", "secret": "密钥", "password": "设置了密码",
    "must_change_password": "须修改密码", "locked_until": "锁定至", "failed_sign_ins": "连续登录失败次数",
    "resource": "数据资源", "holder": "持有部门", "consumer": "调用部门", "purpose": "用途", "fields": "字段",
    "materials": "材料", "title": "名称", "change": "变更", "entry_hash": "目录条目哈希", "score": "评分",
    "comment": "评价", "thing": "一件事", "procedure": "事项", "task": "办件环节", "id": "编号", "key_id": "密钥编号",
    "promised_due": "承诺办结日期", "paused_days": "补正暂停工作日", "expires_at": "失效时间",
}
PERSONAL_KEYS = frozenset({"name", "holder_name", "applicant_name", "display_name", "id_number", "phone",
                           "contact_phone", "mobile", "holder_identifier", "subject", "legal_rep_id_number",
                           "legal_rep_name", "contact_name", "address"})
_RESIDENT_ID = re.compile(r"\b[1-9][0-9]{16}[0-9Xx]\b")
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")
MAX_ROWS = 200


def mask_text(text: str) -> str:
    """Resident ID numbers and mobile numbers inside any text, masked."""
    text = _RESIDENT_ID.sub(lambda m: mask_identifier(m.group(0)), text)
    return _MOBILE.sub(r"\1****\2", text)


def _mask_personal(key: str, text: str) -> str:
    if key in ("id_number", "holder_identifier", "subject", "legal_rep_id_number"):
        return mask_identifier(text) if len(text) != 18 or _RESIDENT_ID.fullmatch(text) else text
    if key in ("phone", "contact_phone", "mobile"):
        return text[:3] + "*" * max(0, len(text) - 7) + text[-4:] if len(text) > 7 else "*" * len(text)
    if key == "address":
        return text[:6] + "…" if len(text) > 6 else text
    return text[:1] + "*" * (len(text) - 1) if text else text


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if value is True:
        return "是"
    if value is False:
        return "否"
    return str(value)


def readable(value: Any) -> list[tuple[str, str]]:
    """``before``/``after``/``data`` as (label, text) rows: nested keys joined with " · ", lists inline,
    personal values masked. At most ``MAX_ROWS`` rows."""
    rows: list[tuple[str, str]] = []

    def walk(item: Any, path: list[str], key: str) -> None:
        if len(rows) >= MAX_ROWS:
            return
        if isinstance(item, dict):
            if not item:
                rows.append((" · ".join(path) or "—", "（空）"))
            for name, inner in item.items():
                walk(inner, [*path, KEY_LABELS.get(str(name), str(name))], str(name))
            return
        if isinstance(item, list) and all(not isinstance(x, dict | list) for x in item):
            text = "、".join(_scalar(x) for x in item) or "（无）"
        elif isinstance(item, list):
            for index, inner in enumerate(item, 1):
                walk(inner, [*path, f"第 {index} 项"], key)
            return
        else:
            text = _scalar(item)
        if key in PERSONAL_KEYS and isinstance(item, str):
            text = _mask_personal(key, text)
        rows.append((" · ".join(path) or "值", mask_text(text)))

    walk(value, [], "")
    return rows
