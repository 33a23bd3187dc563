"""The intake planner: (thing, answers, known facts) → Plan. Pure: no database, no network, no clock.

It decides which procedures apply (each procedure's `when` over the answers), orders them as a DAG from
`after` (a predecessor that does not apply passes its own predecessors on), groups them into stages that can
run in parallel (并联), merges their fields into one form (一表申请) and their materials into one set
(一套材料, with what shared data proves marked exempt), and computes the promised time as the critical path
and the four reductions of REFERENCE.md.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from typing import Any

from onething.catalog.conditions import ConditionError, compile_condition
from onething.catalog.model import Catalog, QuestionType, Thing
from onething.intake.errors import InvalidAnswers, MissingAnswers
from onething.intake.model import Counts, KnownFacts, Plan, Reductions

_TRUE = {"true", "1", "yes", "on", "是"}
_FALSE = {"false", "0", "no", "off", "否"}


def coerce_answers(thing: Thing, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Turn answers from an HTML form or a query string (all strings) into typed values.

    Values that are already typed pass through; blank strings are dropped (the default then applies).
    """
    out: dict[str, Any] = {}
    questions = {q.id: q for q in thing.questions}
    errors: list[tuple[str, str]] = []
    for key, value in raw.items():
        question = questions.get(key)
        if question is None or not isinstance(value, str):
            out[key] = value
            continue
        text = value.strip()
        if text == "":
            continue
        if question.type is QuestionType.bool:
            if text.lower() in _TRUE:
                out[key] = True
            elif text.lower() in _FALSE:
                out[key] = False
            else:
                errors.append((key, "请选择“是”或“否”"))
        elif question.type is QuestionType.int:
            try:
                out[key] = int(text)
            except ValueError:
                errors.append((key, "请输入整数"))
        else:
            typed: Any = text
            for choice in question.choices:
                if str(choice.value) == text:
                    typed = choice.value
            out[key] = typed
    if errors:
        raise InvalidAnswers(errors)
    return out


def resolve_answers(thing: Thing, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Apply defaults and check every answer's type; name every missing or bad answer at once."""
    questions = {q.id: q for q in thing.questions}
    errors: list[tuple[str, str]] = []
    for key in answers:
        if key not in questions:
            errors.append((key, f"{thing.code} has no question {key!r}"))
    resolved: dict[str, Any] = {}
    missing: list[str] = []
    for question in thing.questions:
        if question.id in answers:
            value = answers[question.id]
        elif question.default is not None:
            value = question.default
        else:
            missing.append(question.id)
            continue
        if question.type is QuestionType.bool and not isinstance(value, bool):
            errors.append((question.id, "expected true or false"))
        elif question.type is QuestionType.int and (isinstance(value, bool) or not isinstance(value, int)):
            errors.append((question.id, "expected an integer"))
        elif question.type is QuestionType.int and value < 0:
            errors.append((question.id, "expected a number ≥ 0"))
        elif question.type is QuestionType.choice and value not in {c.value for c in question.choices}:
            allowed = ", ".join(str(c.value) for c in question.choices)
            errors.append((question.id, f"expected one of: {allowed}"))
        resolved[question.id] = value
    if missing:
        raise MissingAnswers(missing)
    if errors:
        raise InvalidAnswers(errors)
    return resolved


def _holds(condition: str | None, answers: Mapping[str, Any]) -> bool:
    if not condition:
        return True
    try:
        return compile_condition(condition).evaluate(answers)
    except ConditionError as exc:
        raise InvalidAnswers([("when", str(exc))]) from None


class _Prepared:
    """What planning a thing needs from its catalog that does not depend on the answers, read once per
    (catalog, thing) and then shared by every plan of it: positions, declared predecessors, and per
    procedure, field and material the plain values the plan shows. Entries are filled when first needed, so a
    reference the catalog lacks fails where it failed before (at the plan that uses it)."""

    def __init__(self, catalog: Catalog, thing: Thing) -> None:
        # The catalog's tables, not the catalog object: the cache entry must not keep the catalog alive.
        self._procedures = catalog.procedures
        self._departments = catalog.departments
        self._fields = catalog.fields
        self._materials = catalog.materials
        self.thing = thing
        self.position = {tp.id: index for index, tp in enumerate(thing.procedures)}
        self.declared_after = {tp.id: tp.after for tp in thing.procedures}
        # A topological order of the declared `after` graph is one of every plan's graph too: a procedure's
        # effective predecessors (its nearest applicable ones) are all its declared ancestors. None when the
        # declared graph has a cycle (an invalid catalog): each plan then sorts its own graph.
        self.topological: tuple[str, ...] | None
        try:
            self.topological = tuple(TopologicalSorter(self.declared_after).static_order())
        except CycleError:
            self.topological = None
        self.procedures: dict[str, dict[str, Any]] = {}
        self.fields: dict[str, dict[str, Any]] = {}
        self.materials: dict[str, dict[str, Any]] = {}

    def procedure(self, proc_id: str) -> dict[str, Any]:
        info = self.procedures.get(proc_id)
        if info is None:
            proc = self._procedures[proc_id]
            dept = self._departments.get(proc.department)
            info = {
                "out": {"id": proc.id, "name": proc.name, "department": proc.department,
                        "department_name": dept.name if dept else proc.department, "kind": proc.kind.value,
                        "promised_days": proc.promised_days, "legal_days": proc.legal_days,
                        "result": proc.result.name if proc.result else None,
                        "basic_code": proc.basic_code, "implementation_code": proc.implementation_code},
                "promised_days": proc.promised_days, "steps": proc.steps, "trips": proc.trips,
                "fields": tuple((use.when, use.id, use.required) for use in proc.fields),
                "materials": tuple((use.when, use.id, use.required) for use in proc.materials),
                "provides": proc.produced_fields,
                "result_resource": proc.result.resource if proc.result else None,
            }
            self.procedures[proc_id] = info
        return info

    def field(self, field_id: str) -> dict[str, Any]:
        info = self.fields.get(field_id)
        if info is None:
            definition = self._fields[field_id]
            info = {"label": definition.label, "type": definition.type.value,
                    "choices": tuple({"value": c.value, "label": c.label} for c in definition.choices),
                    "help": definition.help, "min": definition.min, "max": definition.max}
            self.fields[field_id] = info
        return info

    def material(self, material_id: str) -> dict[str, Any]:
        info = self.materials.get(material_id)
        if info is None:
            material = self._materials[material_id]
            info = {"name": material.name, "proven_by": material.proven_by}
            self.materials[material_id] = info
        return info


# Per live catalog object (by id, checked through a weak reference; the entry goes when the catalog does):
# its things' prepared data, by thing object.
_prepared: dict[int, tuple[weakref.ref[Catalog], dict[int, _Prepared]]] = {}


def _forget(key: int, ref: weakref.ref[Catalog]) -> None:
    entry = _prepared.get(key)
    if entry is not None and entry[0] is ref:
        del _prepared[key]


def _prepare(catalog: Catalog, thing: Thing) -> _Prepared:
    """The thing's answer-independent plan data, cached per (catalog object, thing object) — both immutable —
    for as long as the catalog lives. A thing that is not the catalog's own (built by a caller) is prepared
    afresh each time, so such things never pile up in the cache."""
    if catalog.things.get(thing.code) is not thing:
        return _Prepared(catalog, thing)
    key = id(catalog)
    entry = _prepared.get(key)
    if entry is None or entry[0]() is not catalog:
        def forget(dead: weakref.ref[Catalog], key: int = key) -> None:
            _forget(key, dead)

        ref = weakref.ref(catalog, forget)
        entry = _prepared[key] = (ref, {})
    things = entry[1]
    hit = things.get(id(thing))
    if hit is not None and hit.thing is thing:
        return hit
    prepared = things[id(thing)] = _Prepared(catalog, thing)
    return prepared


def plan(catalog: Catalog, thing: Thing | str, answers: Mapping[str, Any] | None = None,
         facts: KnownFacts | None = None) -> Plan:
    """Compute the plan the applicant sees for one thing and one set of answers."""
    if isinstance(thing, str):
        thing = catalog.thing(thing)
    facts = facts or KnownFacts()
    resolved = resolve_answers(thing, answers or {})
    prepared = _prepare(catalog, thing)
    outcomes: dict[str, bool] = {}

    def holds(condition: str | None) -> bool:
        # Each condition once per plan (a 40-procedure thing names ~80, mostly the same few).
        if not condition:
            return True
        outcome = outcomes.get(condition)
        if outcome is None:
            outcome = outcomes[condition] = _holds(condition, resolved)
        return outcome

    applicable = [tp.id for tp in thing.procedures if holds(tp.when)]
    applicable_ids = set(applicable)
    declared_after = prepared.declared_after

    def effective_preds(proc_id: str, seen: frozenset[str] = frozenset()) -> set[str]:
        preds: set[str] = set()
        for pred in declared_after.get(proc_id, ()):
            if pred in seen:
                continue
            if pred in applicable_ids:
                preds.add(pred)
            else:
                preds |= effective_preds(pred, seen | {proc_id})
        return preds

    after = {proc_id: effective_preds(proc_id) for proc_id in applicable}
    infos = {proc_id: prepared.procedure(proc_id) for proc_id in applicable}
    # Stage = length of the longest chain of predecessors; finish = critical-path days to completion. Both
    # settle in topological order (predecessors first); a cycle raises graphlib.CycleError (the validator
    # reports cycles, so a valid catalog has none).
    stage: dict[str, int] = {}
    finish: dict[str, int] = {}
    topological = prepared.topological
    if topological is None:
        topological = tuple(TopologicalSorter(after).static_order())
    for proc_id in topological:
        preds = after.get(proc_id)
        if preds is None:
            continue  # not applicable
        stage[proc_id] = 1 + max((stage[p] for p in preds), default=0)
        finish[proc_id] = infos[proc_id]["promised_days"] + max((finish[p] for p in preds), default=0)

    position = prepared.position
    order = sorted(applicable, key=lambda proc_id: (stage[proc_id], position[proc_id]))
    rank = {proc_id: index for index, proc_id in enumerate(order)}
    procedures = []
    for proc_id in order:
        procedures.append({**infos[proc_id]["out"], "stage": stage[proc_id],
                           "after": tuple(sorted(after[proc_id], key=rank.__getitem__))})
    by_stage: list[list[str]] = [[] for _ in range(max(stage.values(), default=0))]
    for proc_id in order:
        by_stage[stage[proc_id] - 1].append(proc_id)
    stages = tuple(tuple(ids) for ids in by_stage)

    # Merged form: one entry per field id; required if any procedure requires it.
    field_required: dict[str, bool] = {}
    field_procs: dict[str, list[str]] = {}
    material_required: dict[str, bool] = {}
    material_procs: dict[str, list[str]] = {}
    separate_materials = 0
    for proc_id in order:
        info = infos[proc_id]
        for when, field_id, required in info["fields"]:
            if not holds(when):
                continue
            if field_id not in field_procs:
                field_procs[field_id] = []
                field_required[field_id] = False
            field_procs[field_id].append(proc_id)
            field_required[field_id] = field_required[field_id] or required
        for when, material_id, required in info["materials"]:
            if not holds(when):
                continue
            separate_materials += 1
            if material_id not in material_procs:
                material_procs[material_id] = []
                material_required[material_id] = False
            material_procs[material_id].append(proc_id)
            material_required[material_id] = material_required[material_id] or required

    # A procedure whose result the shared data already serve (its ``result.resource`` is among the facts) is
    # 已核验: its result is proven, no department works on it, and it produces nothing (what it would have
    # produced is asked, or prefilled from the data).
    verified: dict[str, str] = {}
    for proc_id in order:
        resource = infos[proc_id]["result_resource"]
        if resource is not None and resource in facts.resources:
            verified[proc_id] = resource

    # A field that a procedure produces (``produces``, or the older ``result.provides``) is not asked when every
    # procedure needing it comes after that procedure in the plan; the producing department fills it.
    ancestors: dict[str, set[str]] = {}
    for proc_id in order:  # in stage order, so predecessors are settled first
        ancestors[proc_id] = set(after[proc_id]).union(*(ancestors[a] for a in after[proc_id]))
    provided: dict[str, str] = {}
    for proc_id in order:
        if proc_id in verified:
            continue
        for field_id in infos[proc_id]["provides"]:
            users = field_procs.get(field_id, [])
            if field_id not in provided and users and all(proc_id in ancestors[u] for u in users):
                provided[field_id] = proc_id
    if verified or provided:
        for out in procedures:
            out["verified_by"] = verified.get(out["id"])
            out["produces"] = tuple(f for f in field_procs if provided.get(f) == out["id"])

    fields = []
    for field_id, users in field_procs.items():
        definition = prepared.field(field_id)
        provider = provided.get(field_id)
        fields.append({
            "id": field_id, "label": definition["label"], "type": definition["type"],
            "required": field_required[field_id] and provider is None, "provided_by": provider,
            "choices": definition["choices"], "help": definition["help"], "procedures": tuple(users),
            "prefill": facts.values.get(field_id), "min": definition["min"], "max": definition["max"],
        })

    materials = []
    to_submit = 0
    resources = facts.resources
    for material_id, users in material_procs.items():
        material = prepared.material(material_id)
        can_be_proven_by = material["proven_by"]
        proof = next((r for r in can_be_proven_by if r in resources), None) if resources else None
        to_submit += not proof
        materials.append({
            "id": material_id, "name": material["name"],
            "status": "exempt" if proof else "submit", "required": material_required[material_id],
            "procedures": tuple(users), "proven_by": proof, "can_be_proven_by": can_be_proven_by,
        })

    critical = max(finish.values(), default=0)
    separately = Counts(
        materials=separate_materials,
        steps=sum(infos[proc_id]["steps"] for proc_id in order),
        days=sum(infos[proc_id]["promised_days"] for proc_id in order),
        trips=sum(infos[proc_id]["trips"] for proc_id in order),
    )
    together = Counts(materials=to_submit, steps=thing.steps, days=critical, trips=thing.trips)
    # One validation of the whole plan (pydantic-core walks the nested data once) instead of one model
    # built per procedure, field and material — ~200 for a 40-procedure thing.
    return Plan.model_validate({
        "thing": thing.code, "thing_name": thing.name, "answers": resolved, "procedures": procedures,
        "stages": stages, "form": {"fields": fields}, "materials": materials, "promised_days": critical,
        "reductions": Reductions(
            materials=_reduction(together.materials, separately.materials),
            steps=_reduction(together.steps, separately.steps),
            time=_reduction(together.days, separately.days),
            trips=_reduction(together.trips, separately.trips),
        ),
        "separately": separately, "together": together,
    })


def _reduction(together: int, separately: int) -> float:
    """``1 − together / separately``, never negative; 0 when there was nothing to reduce."""
    if separately <= 0:
        return 0.0
    return round(max(0.0, 1 - together / separately), 4)
