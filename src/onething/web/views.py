"""Read models the web layer shows: things filtered and ranked, lists with their honest counts, and labels.

These shape catalog data for the API and the pages; they decide nothing about procedures or plans (that is
``catalog.service`` and ``intake``). Labels here are presentation: how an audience, issuer or stage reads in
Simplified Chinese.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from onething.catalog.model import Catalog
from onething.catalog.service import thing_summaries
from onething.web.search import ThingIndex

AUDIENCE_LABELS = {"individual": "个人", "enterprise": "企业"}
AUDIENCE_ORDER = ("individual", "enterprise")

ISSUER_LABELS = {
    "national": "国务院", "beijing": "北京市", "tianjin": "天津市", "hebei": "河北省", "shanxi": "山西省",
    "neimenggu": "内蒙古自治区", "liaoning": "辽宁省", "jilin": "吉林省", "heilongjiang": "黑龙江省",
    "shanghai": "上海市", "jiangsu": "江苏省", "zhejiang": "浙江省", "anhui": "安徽省", "fujian": "福建省",
    "jiangxi": "江西省", "shandong": "山东省", "henan": "河南省", "hubei": "湖北省", "hunan": "湖南省",
    "guangdong": "广东省", "guangxi": "广西壮族自治区", "hainan": "海南省", "chongqing": "重庆市",
    "sichuan": "四川省", "guizhou": "贵州省", "yunnan": "云南省", "xizang": "西藏自治区", "shaanxi": "陕西省",
    "gansu": "甘肃省", "qinghai": "青海省", "ningxia": "宁夏回族自治区", "xinjiang": "新疆维吾尔自治区",
}

# Life stages in the order a life or a business goes through them; stages not named here follow, sorted.
STAGE_ORDER = (
    # individuals: birth to after death
    "出生", "教育", "入学", "就业", "生活", "居住", "置业", "住房", "婚育", "出行", "就医", "医疗", "救助",
    "退役", "退休", "养老", "身后",
    # enterprises: entry, operation, expansion, exit
    "准入准营", "市场准入", "开办", "招聘用工", "经营发展", "纳税缴费", "变更", "融资", "涉外", "工程建设", "投资建设",
    "注销退出", "退出", "注销",
)


def audience_label(value: str) -> str:
    return AUDIENCE_LABELS.get(value, value)


def issuer_label(value: str) -> str:
    return ISSUER_LABELS.get(value, value)


def stage_key(stage: str) -> tuple[int, str]:
    for position, known in enumerate(STAGE_ORDER):
        if known == stage:
            return position, stage
    return len(STAGE_ORDER), stage


def find_things(catalog: Catalog, index: ThingIndex, *, audience: str | None = None, stage: str | None = None,
                list_id: str | None = None, q: str | None = None) -> list[dict[str, Any]]:
    """Thing summaries matching every given filter; with ``q``, best match first and a ``score`` each."""
    rows = thing_summaries(catalog)
    if audience:
        rows = [r for r in rows if r["audience"] == audience]
    if stage:
        rows = [r for r in rows if r["stage"] == stage]
    if list_id:
        rows = [r for r in rows if list_id in r["lists"]]
    if q and q.strip():
        scores = index.scores(q)
        rows = [dict(r, score=round(scores[r["code"]], 2)) for r in rows if r["code"] in scores]
        rows.sort(key=lambda r: (-r["score"], r["code"]))
    return rows


@dataclass
class AudienceGroup:
    audience: str
    label: str
    stages: OrderedDict[str, list[dict[str, Any]]] = field(default_factory=OrderedDict)

    @property
    def count(self) -> int:
        return sum(len(things) for things in self.stages.values())


def group_by_audience_and_stage(rows: list[dict[str, Any]]) -> list[AudienceGroup]:
    """个人 first, then 企业; within each, life stages in life order; things by name."""
    groups = []
    for audience in sorted({r["audience"] for r in rows},
                           key=lambda a: AUDIENCE_ORDER.index(a) if a in AUDIENCE_ORDER else 99):
        group = AudienceGroup(audience, audience_label(audience))
        mine = [r for r in rows if r["audience"] == audience]
        for stage in sorted({r["stage"] for r in mine}, key=stage_key):
            group.stages[stage] = sorted((r for r in mine if r["stage"] == stage), key=lambda r: r["code"])
        groups.append(group)
    return groups


def list_summaries(catalog: Catalog) -> list[dict[str, Any]]:
    """Every key-item list, national first then by province, newest first, with declared and known counts."""
    out = []
    ordered = sorted(catalog.lists.values(),
                     key=lambda lst: (lst.issuer != "national", lst.issuer, -lst.year, -lst.batch))
    for lst in ordered:
        items = []
        for item in lst.items:
            thing = catalog.things.get(item.code)
            items.append({
                "code": item.code, "name": thing.name if thing else None,
                "audience": thing.audience.value if thing else None, "confidence": item.confidence.value,
            })
        out.append({
            "id": lst.id, "issuer": lst.issuer, "issuer_name": issuer_label(lst.issuer), "year": lst.year,
            "batch": lst.batch, "title": lst.title, "instrument": lst.instrument,
            "date": lst.date.isoformat() if lst.date else None,
            "published": lst.published.isoformat() if lst.published else None, "declared_count": lst.declared_count,
            "known_count": len(lst.items), "source": lst.source, "confidence": lst.confidence.value,
            "items": items,
        })
    return out
