"""What a procedure's 办事指南 still lacks, in the words the guide page and the validator both use."""

from __future__ import annotations

from onething.catalog.model import Procedure

# 办事指南 parts in the order citizens read them, with the words the guide page and the validator use.
GUIDE_PARTS: tuple[tuple[str, str], ...] = (
    ("conditions", "受理条件"), ("basis", "法律依据"), ("fees", "收费标准"), ("locations", "办理地点"),
    ("contacts", "咨询和投诉电话"), ("result", "办理结果"), ("delivery", "送达方式"),
    ("legal_days_basis", "法定时限的依据"),
)
MATERIAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("form", "原件/复印件"), ("copies", "份数"), ("medium", "纸质/电子"), ("channel", "来源渠道"),
)


def missing_guide_parts(proc: Procedure) -> list[str]:
    """The 办事指南 parts of a procedure not yet sourced, as the Chinese words the page shows."""
    guide = proc.guide
    present = {
        "conditions": bool(guide.conditions), "basis": bool(guide.basis), "fees": guide.fees is not None,
        "locations": bool(guide.locations),
        "contacts": guide.contacts is not None and bool(guide.contacts.enquiry or guide.contacts.complaint),
        "result": proc.result is not None, "delivery": bool(guide.delivery),
        # A legal limit needs its basis; an unknown limit is reported as the limit itself.
        "legal_days_basis": proc.legal_days is not None and guide.legal_days_basis is not None,
    }
    missing = [label for key, label in GUIDE_PARTS if not present[key]]
    if proc.legal_days is None:
        missing[missing.index("法定时限的依据")] = "法定时限"
    if proc.materials and any(getattr(use, key) is None for use in proc.materials for key, _ in MATERIAL_COLUMNS):
        missing.append("申请材料的原件/复印件、份数、介质和来源渠道")
    return missing
