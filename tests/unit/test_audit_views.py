"""How an audit entry reads on the auditor's page: labelled rows, personal data masked."""

from __future__ import annotations

from onething.web.pages.audit_views import mask_text, readable

ID = "110105194912310021"


def test_nested_values_become_labelled_rows() -> None:
    rows = dict(readable({"status": "approved", "result": {"document": "营业执照", "number": "京-1"},
                          "fields": ["a", "b"], "active": False, "reason": None}))
    assert rows == {"状态": "approved", "结果 · 文书名称": "营业执照", "结果 · 文号": "京-1", "字段": "a、b",
                    "启用": "否", "理由": "—"}


def test_personal_data_is_masked_wherever_it_is() -> None:
    rows = dict(readable({"id_number": ID, "name": "张三", "contact_phone": "13800138000",
                          "note": f"申请人 {ID}，电话 13912345678", "form": {"legal_rep_name": "李四"}}))
    assert rows["id_number"] == "1101**********0021"
    assert rows["name"] == "张*" and rows["form · legal_rep_name"] == "李*"
    assert rows["contact_phone"] == "138****8000"
    assert rows["note"] == "申请人 1101**********0021，电话 139****5678"
    assert ID not in str(rows) and "13800138000" not in str(rows)


def test_text_without_personal_data_is_unchanged_and_rows_are_bounded() -> None:
    assert mask_text("办件编号 1101052603020000001") == "办件编号 1101052603020000001"
    assert len(readable({"items": list(range(10)), **{f"k{i}": i for i in range(500)}})) == 200
