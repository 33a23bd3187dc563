"""Identifier checks for accounts: resident ID (公民身份号码, GB 11643-1999) and USCC (统一社会信用代码,
GB 32100-2015), with python-stdnum. Each check returns the normalised form or raises ``ValueError`` with a
message for the person who typed it. An unknown region code is not a rejection (codes change; see REFERENCE).
"""

from __future__ import annotations

from datetime import date

from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError


def check_resident_id(value: str, today: date | None = None) -> str:
    """Normalise and check an 18-character resident ID: format, birth date, check character (mod 11-2)."""
    number = ric.compact(value or "")
    if len(number) != 18:
        raise ValueError("公民身份号码应为18位")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError("公民身份号码格式不正确：前17位为数字，末位为数字或X")
    if number[-1] != ric.calc_check_digit(number):
        raise ValueError("公民身份号码校验位不正确")
    try:
        born = ric.get_birth_date(number)
    except (InvalidComponent, ValueError):
        raise ValueError("公民身份号码中的出生日期无效") from None
    if born > (today or date.today()):  # noqa: DTZ011 - a calendar date, no time zone involved
        raise ValueError("公民身份号码中的出生日期晚于今天")
    return number


def check_uscc(value: str) -> str:
    """Normalise and check an 18-character USCC: alphabet (no I O S V Z) and check character (mod 31)."""
    try:
        return str(uscc.validate(value or ""))
    except InvalidLength:
        raise ValueError("统一社会信用代码应为18位") from None
    except InvalidFormat:
        raise ValueError("统一社会信用代码含有无效字符（不使用 I、O、S、V、Z）") from None
    except InvalidChecksum:
        raise ValueError("统一社会信用代码校验位不正确") from None
    except ValidationError:
        raise ValueError("统一社会信用代码无效") from None


def mask_identifier(value: str | None) -> str:
    """An identifier as staff lists show it (1101**********0011): the first and last four characters.

    Short values (under 9 characters) are masked whole; ``None`` or empty gives ""."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]
