"""Regions that inherit: national → province → city → county (``catalog/regions/<code>/region.yaml``).

A region overrides only what differs from its parent — limits, procedures added to or dropped from a thing,
departments renamed or merged (a 行政审批局 that takes over several departments' approvals), local thresholds
in conditions. ``resolve(catalog, code)`` returns the catalog as the region sees it, so the planner, the guide
and the cases work unchanged on it. Resolution is pure and cached per (catalog, region).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from onething.catalog.errors import UnknownRegion
from onething.catalog.model import (
    Catalog,
    Confidence,
    Department,
    Region,
    Thing,
    ThingOverride,
    ThingProcedure,
)

LEVEL_ORDER = {"national": 0, "province": 1, "city": 2, "county": 3}
_CACHE_SIZE = 64
_cache: OrderedDict[tuple[int, str], tuple[Catalog, Catalog]] = OrderedDict()
_RANK = {Confidence.high: 2, Confidence.medium: 1, Confidence.low: 0}


def chain(catalog: Catalog, code: str) -> list[Region]:
    """The region and its ancestors, root first (the province before the city). Raises UnknownRegion."""
    out: list[Region] = []
    seen: set[str] = set()
    current: str | None = code
    while current is not None:
        region = catalog.regions.get(current)
        if region is None or current in seen:
            raise UnknownRegion(current)
        seen.add(current)
        out.append(region)
        current = region.parent
    return out[::-1]


def resolve(catalog: Catalog, code: str | None) -> Catalog:
    """The catalog as region ``code`` sees it (``None`` or empty: the national catalog itself)."""
    if not code:
        return catalog
    key = (id(catalog), code)
    hit = _cache.get(key)
    if hit is not None and hit[0] is catalog:
        _cache.move_to_end(key)
        return hit[1]
    resolved = catalog
    for region in chain(catalog, code):
        resolved = apply_region(resolved, region)
    _cache[key] = (catalog, resolved)
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return resolved


def _set(update: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        update[key] = value


def _sourced(update: dict[str, Any], base: Any, change: Any) -> None:
    """Sources add up (the region's first); the lower confidence wins; a region's note replaces."""
    if change.sources:
        update["sources"] = (*change.sources, *base.sources)
    if change.source:
        update["source"] = change.source
    if change.note:
        update["note"] = change.note
    if _RANK[change.confidence] < _RANK[base.confidence]:
        update["confidence"] = change.confidence


def apply_region(catalog: Catalog, region: Region) -> Catalog:
    """One layer: ``region``'s overrides applied on ``catalog`` (its parent, already resolved).

    References the region gets wrong (unknown thing, procedure, department) are skipped here; ``validate``
    reports each with its address.
    """
    departments = dict(catalog.departments)
    merged: dict[str, str] = {}
    for change in region.departments:
        departments[change.id] = Department(
            id=change.id, name=change.name, short_name=change.short_name, level=change.level,
            source=change.source, sources=change.sources, confidence=change.confidence, note=change.note)
        for old in change.takes_over:
            merged[old] = change.id
    procedures = dict(catalog.procedures)
    for proc in region.procedures:
        procedures[proc.id] = proc
    if merged:
        for proc_id, proc in procedures.items():
            if proc.department in merged:
                procedures[proc_id] = proc.model_copy(update={"department": merged[proc.department]})
    for override in region.procedure_overrides:
        base_proc = procedures.get(override.id)
        if base_proc is None:
            continue
        update: dict[str, Any] = {}
        for key in ("name", "department", "implementation_code", "legal_days", "promised_days", "steps", "trips",
                    "guide", "unconfirmed"):
            _set(update, key, getattr(override, key))
        _sourced(update, base_proc, override)
        procedures[override.id] = base_proc.model_copy(update=update)
    things = dict(catalog.things)
    for thing_override in region.things:
        base_thing = things.get(thing_override.code)
        if base_thing is not None:
            things[thing_override.code] = apply_thing(base_thing, thing_override)
    if merged:
        for code, thing in things.items():
            if thing.lead in merged:
                things[code] = thing.model_copy(update={"lead": merged[thing.lead]})
    return catalog.model_copy(update={"departments": departments, "procedures": procedures, "things": things})


def apply_thing(base: Thing, change: ThingOverride) -> Thing:
    """A thing with one region's changes: keys, questions and procedures added, dropped or re-conditioned."""
    dropped = set(change.drop_procedures)
    own_after = {tp.id: tp.after for tp in base.procedures}

    def splice(after: tuple[str, ...], seen: frozenset[str] = frozenset()) -> tuple[str, ...]:
        # A dropped predecessor hands its own predecessors on, so the order around it survives.
        out: list[str] = []
        for pred in after:
            if pred in dropped and pred not in seen:
                out.extend(splice(own_after.get(pred, ()), seen | {pred}))
            elif pred not in dropped:
                out.append(pred)
        return tuple(dict.fromkeys(out))

    changes = {c.id: c for c in change.change_procedures}
    procs: list[ThingProcedure] = []
    for tp in base.procedures:
        if tp.id in dropped:
            continue
        after = splice(tp.after)
        when = tp.when
        if tp.id in changes:
            c = changes[tp.id]
            when = c.when if c.when is not None else when
            after = c.after if c.after is not None else after
        procs.append(tp.model_copy(update={"after": after, "when": when}))
    procs.extend(change.add_procedures)
    update: dict[str, Any] = {"procedures": tuple(procs), "questions": (*base.questions, *change.add_questions)}
    for key in ("name", "description", "lead", "promised_days", "legal_days", "steps", "trips", "conditions",
                "unconfirmed"):
        _set(update, key, getattr(change, key))
    # The parent's example cases describe the parent's plan; an overridden thing carries the region's own.
    update["cases"] = change.cases or ()
    _sourced(update, base, change)
    return base.model_copy(update=update)


def region_summaries(catalog: Catalog) -> list[dict[str, Any]]:
    """``onething catalog regions --json``: each region with its parent and the things it overrides."""
    return [
        {"code": r.code, "name": r.name, "parent": r.parent, "level": r.level.value,
         "things": sorted({t.code for t in r.things})}
        for r in sorted(catalog.regions.values(), key=lambda r: (LEVEL_ORDER[r.level.value], r.code))
    ]
