"""Personal identifiers never reach a log line whole: the JSON formatter masks message, fields and tracebacks."""

from __future__ import annotations

import json
import logging

from onething.logging import JsonFormatter, mask

ID_NUMBER = "11010519491231002X"
USCC = "91350100M000100Y43"
PHONE = "13812345678"


def test_mask_keeps_only_the_ends() -> None:
    assert mask(f"身份证 {ID_NUMBER}") == "身份证 110105********002X"
    assert mask(f"USCC {USCC}") == "USCC 91350100*********3"
    assert mask(f"电话{PHONE}。") == "电话138****5678。"
    # Digits that are part of a longer number are not a phone or an ID number.
    assert mask("订单 9913812345678123") == "订单 9913812345678123"


def test_every_part_of_a_log_line_is_masked() -> None:
    formatter = JsonFormatter()
    try:
        raise ValueError(f"bad subject {ID_NUMBER}")
    except ValueError:
        import sys

        record = logging.LogRecord("onething.test", logging.ERROR, __file__, 1, "fetch for %s by %s",
                                   (ID_NUMBER, PHONE), sys.exc_info())
    record.fields = {"subject": ID_NUMBER, "uscc": USCC}
    line = formatter.format(record)
    entry = json.loads(line)
    for identifier in (ID_NUMBER, USCC, PHONE):
        assert identifier not in line
    assert entry["message"] == "fetch for 110105********002X by 138****5678"
    assert entry["subject"] == "110105********002X"
    assert "110105********002X" in entry["exception"]
