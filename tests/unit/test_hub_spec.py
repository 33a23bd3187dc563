"""The modelled national records (onething.hub.spec): what the builders make passes, and each rule the hub
checks refuses what breaks it, naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from onething.hub.sandbox import check
from onething.hub.spec import case_record, rating_record, validate

AT = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)   # 2026-12-02 01:30 in China
RID = "0f4e5b0c-1111-4222-8333-444455556666"
COMMON: dict[str, Any] = {"record_id": RID, "platform": "sichuan", "sequence": 1, "case_number": "5100002612020000042",
                          "thing_code": "credit-report-query", "thing_name": "征信信息查询", "division_code": "510000"}
# The Sichuan 实施编码 form the catalog accepts (its USCC is checksum-valid).
PROCEDURE = {"id": "credit-report", "name": "个人信用报告查询", "department": "pboc", "department_name": "人民银行"}


def fields(problems: list[Any]) -> list[str]:
    return [p.field for p in problems]


def test_built_records_pass_and_dates_are_in_china_time() -> None:
    received = case_record(**COMMON, status="received", occurred_at=AT, promised_due=date(2026, 12, 3))
    assert validate(received) == [] and received["occurred_at"] == "2026-12-02T01:30:00+08:00"
    accepted = case_record(**COMMON, status="accepted", occurred_at=AT, procedure=PROCEDURE)
    assert validate(accepted) == [] and accepted["status_name"] == "受理"
    rating = rating_record(**COMMON, level=4, rated_at=AT, comment=None,
                           subjects=[{"procedure": PROCEDURE, "level": 5}])
    assert validate(rating) == [] and rating["level_name"] == "满意" and rating["rectification_required"] is False


@pytest.mark.parametrize(("change", "field"), [
    ({"status": "approved_maybe"}, "status"),
    ({"status_name": "办好了"}, "status_name"),
    ({"case_number": "12345"}, "case_number"),
    ({"case_number": "3700002612020000042"}, "case_number"),   # not the division's number
    ({"division_code": "51000"}, "division_code"),
    ({"occurred_at": "2026-12-02 09:30"}, "occurred_at"),      # no offset
    ({"sequence": 0}, "sequence"),
    ({"record_id": "not-a-uuid"}, "record_id"),
    ({"procedure": None}, "procedure"),
    ({"procedure": {**PROCEDURE, "basic_code": "511z0700100"}}, "procedure.basic_code"),
    ({"procedure": {**PROCEDURE, "implementation_code": "511Z07001006-5116"}}, "procedure.implementation_code"),
    ({"spec": "other"}, "spec"),
])
def test_case_record_rules(change: dict[str, Any], field: str) -> None:
    record = {**case_record(**COMMON, status="accepted", occurred_at=AT, procedure=PROCEDURE), **change}
    assert field in fields(validate(record))


def test_a_received_record_needs_its_promised_date_and_a_refusal_its_reason() -> None:
    assert "promised_due" in fields(validate(case_record(**COMMON, status="received", occurred_at=AT)))
    refused = case_record(**COMMON, status="refused", occurred_at=AT, procedure=PROCEDURE)
    assert "reason" in fields(validate(refused))


@pytest.mark.parametrize(("change", "field"), [
    ({"level": 6}, "level"),
    ({"level": True}, "level"),
    ({"level_name": "好"}, "level_name"),
    ({"channel_kind": "电话"}, "channel_kind"),
    ({"channel": "12345政务服务热线"}, "channel"),             # an offline channel on an online rating
    ({"indicator": "服务态度"}, "indicator"),                   # an offline indicator
    ({"comment": "很" * 2001}, "comment"),
    ({"rater_kind": "张三"}, "rater_kind"),
    ({"rectification_required": False, "level": 1, "level_name": "非常不满意"}, "rectification_required"),
    ({"subjects": [{"procedure": PROCEDURE, "level": 0}]}, "subjects.0.level"),
])
def test_rating_record_rules(change: dict[str, Any], field: str) -> None:
    record = {**rating_record(**COMMON, level=4, rated_at=AT, comment="好"), **change}
    assert field in fields(validate(record))


def test_a_bad_item_rating_makes_the_whole_record_one_to_rectify() -> None:
    record = rating_record(**COMMON, level=5, rated_at=AT, comment=None,
                           subjects=[{"procedure": PROCEDURE, "level": 2}])
    assert record["rectification_required"] is True and validate(record) == []


def test_the_hub_also_wants_a_real_province() -> None:
    national = {**case_record(**COMMON, status="completed", occurred_at=AT), "division_code": "000000",
                "case_number": "0000002612020000042"}
    assert validate(national) == [] and fields(check(national)) == ["division_code"]
    assert check([1, 2]) and check({"record_type": "other"})[0].field == "record_type"
