"""Checks of the merged form (一表申请) against the plan's field definitions. Pure: no I/O, no clock.

Every bad field is named at once, as (``form.<field id>``, message) pairs, so the applicant fixes them all
in one go. Values come back normalised (trimmed strings, ints, money as a two-decimal string, upper-case
identifiers) — that is what the application stores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from onething.accounts.api import check_resident_id, check_uscc
from onething.intake.model import FormField

PHONE = re.compile(r"^1[3-9]\d{9}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_TEXT = 2000
MAX_MONEY = Decimal("1e12")
# The bound of an int field whose definition names none (a plan stored before fields carried min/max).
MAX_INT = 10**12


class _Bad(ValueError):
    pass


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("应为文本")
    if "\x00" in value:
        raise _Bad("不能包含 NUL 字符")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise _Bad(f"不超过 {MAX_TEXT} 个字符")
    return text


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad("应为整数")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d{1,15}", value.strip()):
        number = int(value.strip())
    else:
        raise _Bad("应为整数")
    if number < 0:
        raise _Bad("不能为负数")
    if number > MAX_INT:
        raise _Bad(f"不能大于 {MAX_INT}")
    return number


def _money(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad("应为金额（最多两位小数）")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Bad("应为金额（最多两位小数）") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise _Bad("应为金额（最多两位小数）")
    if amount < 0 or amount >= MAX_MONEY:
        raise _Bad("金额超出范围")
    return f"{amount:.2f}"


def _date(value: Any) -> str:
    if not isinstance(value, str) or not ISO_DATE.match(value.strip()):
        raise _Bad("应为日期，格式 YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise _Bad("不是有效日期") from None


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("应为是或否（true/false）")
    return value


def _identifier(check: Any) -> Any:
    def run(value: Any) -> str:
        if not isinstance(value, str):
            raise _Bad("应为文本")
        try:
            return str(check(value.strip().upper()))
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    return run


def _phone(value: Any) -> str:
    if not isinstance(value, str) or not PHONE.match(value.strip()):
        raise _Bad("手机号码应为 11 位，以 13–19 开头")
    return value.strip()


_CHECKS = {
    "text": _text, "address": _text, "file": _text, "int": _int, "money": _money, "date": _date,
    "bool": _bool, "id_number": _identifier(check_resident_id), "uscc": _identifier(check_uscc),
    "phone": _phone,
}


def _within(field: FormField, value: Any) -> None:
    """A number field's catalog bounds (min/max, inclusive); money compares as a decimal amount."""
    if field.type not in {"int", "money"}:
        return
    number = Decimal(value) if isinstance(value, str) else value
    if field.min is not None and number < field.min:
        raise _Bad(f"不能小于 {field.min}")
    if field.max is not None and number > field.max:
        raise _Bad(f"不能大于 {field.max}")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_value(field: FormField, value: Any) -> Any:
    """The normalised value of one field, or raise ValueError with a message for the applicant."""
    if field.type == "choice":
        for choice in field.choices:
            if value == choice.value or (isinstance(value, str) and value == str(choice.value)):
                return choice.value
        allowed = "、".join(f"{c.value}（{c.label}）" for c in field.choices)
        raise _Bad(f"应为以下之一：{allowed}")
    check = _CHECKS.get(field.type, _text)
    normalised = check(value)
    _within(field, normalised)
    return normalised


def validate_form(fields: Iterable[FormField], form: Mapping[str, Any], *, only: Iterable[str] | None = None,
                  prefix: str = "form.") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check ``form`` against ``fields``: (normalised values, every error).

    ``only`` limits the check to some field ids (a supplement asks for a few); those are then all required.
    A field prefilled from shared data counts as given. Keys that are not fields of the form are errors. A
    field that a procedure of the plan produces (``provided_by``) is not the applicant's to give: a value sent for
    it is ignored (not stored); the producing department fills it when it approves.
    """
    by_id = {f.id: f for f in fields}
    wanted = set(only) if only is not None else None
    errors: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    if not isinstance(form, Mapping):
        return {}, [(prefix.rstrip("."), "应为对象（字段 → 值）")]
    for key in form:
        if key not in by_id or (wanted is not None and key not in wanted):
            errors.append((f"{prefix}{key}", "不是本次需要填写的字段"))
    for field in by_id.values():
        if wanted is not None and field.id not in wanted:
            continue
        value = form.get(field.id)
        if field.provided_by is not None and wanted is None:
            continue  # produced by a procedure of the plan: its department fills it; what a client sends is ignored
        required = field.required or wanted is not None
        if _blank(value):
            if field.prefill is not None:
                values[field.id] = field.prefill.value
            elif required:
                errors.append((f"{prefix}{field.id}", f"请填写{field.label}"))
            continue
        try:
            values[field.id] = check_value(field, value)
        except ValueError as exc:
            errors.append((f"{prefix}{field.id}", f"{field.label}：{exc}"))
    return values, errors
