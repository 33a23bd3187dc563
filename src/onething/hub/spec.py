"""The records a provincial platform reports upward to the national platform (国家政务服务平台): 办件 status
records and 好差评 records, and the checks both ends run on them. Pure: no database, no I/O.

What the published texts give, and what they do not (docs/department-integration.md, "National platform
reporting", lists each source with its address):

- 好差评 (国办发〔2019〕51号 《关于建立政务服务"好差评"制度提高政务服务水平的意见》, and the provincial texts that
  implement it): five 评价等级 — 非常满意 ☆☆☆☆☆, 满意 ☆☆☆☆, 基本满意 ☆☆☆, 不满意 ☆☆, 非常不满意 ☆ — so the
  level is reported as its star count 1–5 with its name; 评价渠道 are 线上 (政务服务网, 政务服务 APP, 小程序, 二维码)
  or 线下 (实体大厅, 自助终端, 12345 热线); the online 评价内容 indicators are 整体满意度, 办事效率, 办事指南精确度,
  办事便捷度, 平台操作性; the 评价主体 are 自然人 and 法人和其他组织; a rating is tied to one 办件 by its 办件编号
  ("一事一评"); 不满意 and 非常不满意 are 差评 and must be rectified (整改).
- 事项编码 (GB/T 39554.1-2020): the 基本编码 and 实施编码 structures, as ``onething.catalog.model`` checks them.
- 办件 data (GB/T 39046-2020 政务服务平台基础数据规范; 黑龙江 DB23/T 2551-2020 after the national C0109): 办件
  data are reported by stage — 申请(受理) and 办理及办结 — as named data items with a type and format; dates and
  times in GB/T 7408 (ISO 8601) form.
- **Not found** in any text we could read: the national 办件状态 code list, the national field (column) names of
  either record, and the national 办件编号 format. The status codes below (``CASE_STATUSES``) and the field
  names are onething's own, named in English with the Chinese data item they stand for; the 办件编号 is
  onething's (``onething.cases.numbers``). When the national texts are at hand, this module is the one place to
  change.

Personal data: neither record carries the applicant's name or identity number. The hub needs the 办件, its
items and its outcome, not the person; the province keeps who applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from onething.catalog.model import BASIC_CODE, IMPLEMENTATION_CODE

CHINA = ZoneInfo("Asia/Shanghai")
SPEC_VERSION = "onething-national-1"

CASE = "case_status"      # 办件状态记录
RATING = "rating"         # 好差评记录
RECORD_TYPES = (CASE, RATING)

# 办件状态 — onething's codes (the national code list was not found; see the module docstring). ``scope`` says
# whether the status is the whole 一件事 (``case``) or one 政务服务事项 within it (``item``, with ``procedure``).
CASE_STATUSES: Mapping[str, tuple[str, str]] = {
    "received": ("收件", "case"),                        # 申请已提交
    "accepted": ("受理", "item"),
    "supplement_requested": ("补正告知", "item"),
    "supplement_answered": ("补正材料已收", "item"),
    "approved": ("准予", "item"),
    "refused": ("不予受理/不予许可", "item"),
    "completed": ("办结", "case"),                       # 全部事项准予，统一出件
    "rejected": ("不予办理", "case"),
    "withdrawn": ("撤回", "case"),
}

# 评价等级: the star count of 国办发〔2019〕51号's five levels.
RATING_LEVELS: Mapping[int, str] = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_LEVELS = frozenset({1, 2})  # 差评
# 评价渠道: 线上 / 线下 and the channels the texts name.
CHANNELS: Mapping[str, tuple[str, ...]] = {
    "线上": ("政务服务网", "政务服务APP", "微信小程序", "支付宝", "二维码"),
    "线下": ("实体政务服务大厅", "自助办理终端", "12345政务服务热线"),
}
# 评价主体: who rated (the kind only — never who).
RATER_KINDS = ("自然人", "法人和其他组织")
# 评价指标 (一级) per channel kind.
INDICATORS: Mapping[str, tuple[str, ...]] = {
    "线上": ("整体满意度", "办事效率", "办事指南精确度", "办事便捷度", "平台操作性"),
    "线下": ("整体满意度", "服务效率", "服务水平", "服务态度"),
}

CASE_NUMBER = re.compile(r"^[0-9]{19}$")          # onething's 办件编号 (cases/numbers.py)
DIVISION_CODE = re.compile(r"^[0-9]{6}$")         # 行政区划代码 (GB/T 2260)
RECORD_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
COMMENT_LIMIT = 2000

# Field labels (数据项名称), for problems a person reads.
LABELS: Mapping[str, str] = {
    "record_id": "记录标识", "record_type": "记录类型", "spec": "规范版本", "platform": "报送平台",
    "sequence": "办件内序号", "case_number": "办件编号", "thing_code": "一件事编码", "thing_name": "一件事名称",
    "division_code": "行政区划代码", "status": "办件状态", "status_name": "办件状态名称",
    "occurred_at": "发生时间", "procedure": "政务服务事项", "procedure.basic_code": "基本编码",
    "procedure.implementation_code": "实施编码", "procedure.id": "事项标识", "procedure.name": "事项名称",
    "procedure.department": "实施部门", "promised_due": "承诺办结日期", "reason": "不予理由",
    "level": "评价等级", "level_name": "评价等级名称", "channel_kind": "评价渠道类别", "channel": "评价渠道",
    "indicator": "评价指标", "comment": "评价内容", "rated_at": "评价时间", "subjects": "分项评价",
    "rectification_required": "是否需整改", "rater_kind": "评价主体类别",
}


@dataclass(frozen=True)
class Problem:
    """One reason a record is refused: the field (dotted path) and what is wrong, in Chinese."""

    field: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "label": LABELS.get(self.field, self.field), "reason": self.reason}


def china_date(value: datetime) -> date:
    """The day a moment falls on in China's time: the day a record is reconciled under."""
    return value.astimezone(CHINA).date()


def iso(value: datetime) -> str:
    """GB/T 7408 (ISO 8601) extended form in China's time, seconds, with the offset: 2026-12-02T09:30:00+08:00."""
    return value.astimezone(CHINA).isoformat(timespec="seconds")


def procedure_ref(planned: Mapping[str, Any]) -> dict[str, Any]:
    """The 政务服务事项 a record names, from a planned procedure: onething id and name, department, 事项编码."""
    ref: dict[str, Any] = {"id": planned.get("id"), "name": planned.get("name"),
                           "department": planned.get("department"),
                           "department_name": planned.get("department_name")}
    for key in ("basic_code", "implementation_code"):
        if planned.get(key):
            ref[key] = planned[key]
    return ref


def case_record(*, record_id: str, platform: str, sequence: int, case_number: str, thing_code: str,
                thing_name: str, division_code: str, status: str, occurred_at: datetime,
                procedure: Mapping[str, Any] | None = None, promised_due: date | None = None,
                reason: str | None = None) -> dict[str, Any]:
    """A 办件状态 record. ``procedure`` for item-level statuses; ``promised_due`` with ``received``."""
    name, _scope = CASE_STATUSES.get(status, ("", ""))
    record: dict[str, Any] = {
        "record_id": record_id, "record_type": CASE, "spec": SPEC_VERSION, "platform": platform,
        "sequence": sequence, "case_number": case_number, "thing_code": thing_code, "thing_name": thing_name,
        "division_code": division_code, "status": status, "status_name": name, "occurred_at": iso(occurred_at),
    }
    if procedure is not None:
        record["procedure"] = dict(procedure)
    if promised_due is not None:
        record["promised_due"] = promised_due.isoformat()
    if reason:
        record["reason"] = reason
    return record


def rating_record(*, record_id: str, platform: str, sequence: int, case_number: str, thing_code: str,
                  thing_name: str, division_code: str, level: int, rated_at: datetime, comment: str | None,
                  subjects: Sequence[Mapping[str, Any]] = (), channel_kind: str = "线上",
                  channel: str = "政务服务网", rater_kind: str = "自然人") -> dict[str, Any]:
    """A 好差评 record of one 办件: the whole (整体满意度) and, in ``subjects``, each rated item's level."""
    return {
        "record_id": record_id, "record_type": RATING, "spec": SPEC_VERSION, "platform": platform,
        "sequence": sequence, "case_number": case_number, "thing_code": thing_code, "thing_name": thing_name,
        "division_code": division_code, "level": level, "level_name": RATING_LEVELS.get(level, ""),
        "channel_kind": channel_kind, "channel": channel, "indicator": "整体满意度", "rater_kind": rater_kind,
        "comment": comment or "", "rated_at": iso(rated_at),
        "subjects": [dict(s) for s in subjects],
        "rectification_required": level in BAD_LEVELS or any(s.get("level") in BAD_LEVELS for s in subjects),
    }


# --- validation (the hub runs it on every record; the sender may run it before sending) --------------------

def _text(record: Mapping[str, Any], key: str, problems: list[Problem], *, pattern: re.Pattern[str] | None = None,
          limit: int = 200, message: str | None = None) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        problems.append(Problem(key, "必填"))
        return None
    if not isinstance(value, str) or len(value) > limit:
        problems.append(Problem(key, f"应为不超过 {limit} 字的文本"))
        return None
    if pattern is not None and not pattern.match(value):
        problems.append(Problem(key, message or "格式不符"))
        return None
    return value


def _moment(record: Mapping[str, Any], key: str, problems: list[Problem]) -> datetime | None:
    value = _text(record, key, problems, limit=40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems.append(Problem(key, "应为 GB/T 7408 日期时间，如 2026-12-02T09:30:00+08:00"))
        return None
    if moment.tzinfo is None:
        problems.append(Problem(key, "日期时间须带时区偏移（如 +08:00）"))
        return None
    return moment


def _item_codes(ref: Mapping[str, Any], prefix: str, problems: list[Problem]) -> None:
    basic, implementation = ref.get("basic_code"), ref.get("implementation_code")
    if basic is not None and (not isinstance(basic, str) or not BASIC_CODE.match(basic)):
        problems.append(Problem(f"{prefix}.basic_code", "基本编码应为 12 位数字或大写字母（GB/T 39554.1-2020）"))
        basic = None
    if implementation is not None:
        match = IMPLEMENTATION_CODE.match(implementation) if isinstance(implementation, str) else None
        if match is None:
            problems.append(Problem(f"{prefix}.implementation_code",
                                    "实施编码应为 <基本编码12>-<区划12位>-<3位>-<统一社会信用代码18>-<1位>-<2位>"))
        elif basic is not None and match["basic"] != basic:
            problems.append(Problem(f"{prefix}.implementation_code", "实施编码与基本编码不一致"))


def _procedure(record: Mapping[str, Any], key: str, problems: list[Problem]) -> None:
    ref = record.get(key)
    if not isinstance(ref, Mapping):
        problems.append(Problem(key, "必填：办件环节所属的政务服务事项"))
        return
    for part in ("id", "name", "department"):
        if not isinstance(ref.get(part), str) or not ref.get(part):
            problems.append(Problem(f"{key}.{part}", "必填"))
    _item_codes(ref, key, problems)


def _common(record: Mapping[str, Any], problems: list[Problem]) -> None:
    _text(record, "record_id", problems, pattern=RECORD_ID, message="应为 UUID（小写）")
    if record.get("spec") != SPEC_VERSION:
        problems.append(Problem("spec", f"规范版本应为 {SPEC_VERSION}"))
    _text(record, "platform", problems, limit=64)
    sequence = record.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        problems.append(Problem("sequence", "应为从 1 起的整数"))
    _text(record, "case_number", problems, pattern=CASE_NUMBER, message="办件编号应为 19 位数字")
    _text(record, "thing_code", problems, pattern=SLUG, message="一件事编码格式不符")
    _text(record, "thing_name", problems)
    division = _text(record, "division_code", problems, pattern=DIVISION_CODE, message="行政区划代码应为 6 位数字")
    number = record.get("case_number")
    if (division and isinstance(number, str) and CASE_NUMBER.match(number) and not number.startswith(division)
            and not number.startswith("000000")):
        # onething's 办件编号 starts with the region's code, or 000000 (national definitions: the record then
        # names the platform's own region).
        problems.append(Problem("case_number", "办件编号的前 6 位应为行政区划代码"))


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def validate(record: Any) -> list[Problem]:
    """Every problem of one record against the modelled specification; empty when it is acceptable."""
    if not isinstance(record, Mapping):
        return [Problem("", "记录应为 JSON 对象")]
    problems: list[Problem] = []
    record_type = record.get("record_type")
    if record_type not in RECORD_TYPES:
        return [Problem("record_type", f"应为 {' 或 '.join(RECORD_TYPES)}")]
    _common(record, problems)
    if record_type == CASE:
        status = str(record.get("status"))
        if status not in CASE_STATUSES:
            problems.append(Problem("status", "不在办件状态代码表中"))
        else:
            name, scope = CASE_STATUSES[status]
            if record.get("status_name") != name:
                problems.append(Problem("status_name", f"应为「{name}」"))
            if scope == "item":
                _procedure(record, "procedure", problems)
            if status == "received" and not _is_date(record.get("promised_due")):
                problems.append(Problem("promised_due", "收件记录须有承诺办结日期（YYYY-MM-DD）"))
            if status == "refused" and not record.get("reason"):
                problems.append(Problem("reason", "不予受理/不予许可须说明理由"))
        _moment(record, "occurred_at", problems)
    else:
        level = record.get("level")
        if isinstance(level, bool) or not isinstance(level, int) or level not in RATING_LEVELS:
            problems.append(Problem("level", "评价等级应为 1–5（星数）"))
        elif record.get("level_name") != RATING_LEVELS[level]:
            problems.append(Problem("level_name", f"应为「{RATING_LEVELS[level]}」"))
        kind = str(record.get("channel_kind"))
        if kind not in CHANNELS:
            problems.append(Problem("channel_kind", "评价渠道类别应为 线上 或 线下"))
        else:
            if record.get("channel") not in CHANNELS[kind]:
                problems.append(Problem("channel", f"{kind}评价渠道应为 {'、'.join(CHANNELS[kind])} 之一"))
            if record.get("indicator") not in INDICATORS[kind]:
                problems.append(Problem("indicator", f"{kind}评价指标应为 {'、'.join(INDICATORS[kind])} 之一"))
        if record.get("rater_kind") not in RATER_KINDS:
            problems.append(Problem("rater_kind", f"评价主体类别应为 {' 或 '.join(RATER_KINDS)}"))
        comment = record.get("comment")
        if not isinstance(comment, str) or len(comment) > COMMENT_LIMIT:
            problems.append(Problem("comment", f"评价内容应为不超过 {COMMENT_LIMIT} 字的文本"))
        _moment(record, "rated_at", problems)
        subjects = record.get("subjects")
        if not isinstance(subjects, list):
            problems.append(Problem("subjects", "应为列表"))
            subjects = []
        bad = isinstance(level, int) and level in BAD_LEVELS
        for index, subject in enumerate(subjects):
            prefix = f"subjects.{index}"
            if not isinstance(subject, Mapping):
                problems.append(Problem(prefix, "应为 JSON 对象"))
                continue
            ref = subject.get("procedure")
            if not isinstance(ref, Mapping) or not ref.get("id") or not ref.get("department"):
                problems.append(Problem(f"{prefix}.procedure", "必填：所评价的政务服务事项"))
            else:
                _item_codes(ref, f"{prefix}.procedure", problems)
            sub_level = subject.get("level")
            if isinstance(sub_level, bool) or sub_level not in RATING_LEVELS:
                problems.append(Problem(f"{prefix}.level", "评价等级应为 1–5（星数）"))
            elif sub_level in BAD_LEVELS:
                bad = True
        if record.get("rectification_required") is not bad:
            problems.append(Problem("rectification_required", "差评（不满意、非常不满意）须整改：应为 "
                                    + ("true" if bad else "false")))
    return problems
