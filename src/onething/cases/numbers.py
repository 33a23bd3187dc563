"""办件编号: the short number an applicant reads out on the phone and staff search by.

``<行政区划代码 6><yymmdd 6><sequence 7>`` — 19 digits, e.g. ``5100002612020000042``: the region whose rules
planned the application (``000000`` for the national definitions), the day it was received in China's time,
and a sequence from :class:`ApplicationNumberRow`. The sequence is global rather than per day and region so
that issuing a number inserts a row of its own instead of incrementing a shared counter (no hot row); it wraps
at 10⁷, which a date prefix keeps unique unless one day receives ten million applications.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.orm import Session

from onething.cases.tables import ApplicationNumberRow

CHINA = ZoneInfo("Asia/Shanghai")
NATIONAL = "000000"
NUMBER = re.compile(r"^[0-9]{19}$")
SEQUENCE_MODULUS = 10**7


def format_number(division_code: str | None, received: datetime, sequence: int) -> str:
    """The number for ``sequence`` received at ``received`` (an aware datetime) in ``division_code``'s region."""
    division = division_code or NATIONAL
    if not re.fullmatch(r"[0-9]{6}", division):
        raise ValueError(f"行政区划代码须为 6 位数字：{division!r}")
    return f"{division}{received.astimezone(CHINA):%y%m%d}{sequence % SEQUENCE_MODULUS:07d}"


def next_number(session: Session, division_code: str | None, received: datetime) -> str:
    """Issue the next 办件编号 within the caller's transaction (a rolled-back submission leaves a gap)."""
    sequence = session.execute(insert(ApplicationNumberRow).returning(ApplicationNumberRow.id)).scalar_one()
    return format_number(division_code, received, sequence)


def looks_like_number(text: str) -> bool:
    """Whether ``text`` (spaces and hyphens ignored) has the shape of a 办件编号 — for search boxes."""
    return bool(NUMBER.match(re.sub(r"[\s-]", "", text)))
