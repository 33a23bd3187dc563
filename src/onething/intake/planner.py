"""The intake planner: (thing, answers, known facts) → Plan. Pure: no database, no network, no clock.

It decides which procedures apply (each procedure's `when` over the answers), orders them as a DAG from
`after` (a predecessor that does not apply passes its own predecessors on), groups them into stages that can
run in parallel (并联), merges their fields into one form (一表申请) and their materials into one set
(一套材料, with what shared data proves marked exempt), and computes the promised time as the critical path
and the four reductions of REFERENCE.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onething.catalog.conditions import ConditionError, compile_condition
from onething.catalog.model import Catalog, QuestionType, Thing
from onething.intake.errors import InvalidAnswers, MissingAnswers
from onething.intake.model import (
    ChoiceOut,
    Counts,
    FormField,
    KnownFacts,
    MergedForm,
    Plan,
    PlannedMaterial,
    PlannedProcedure,
    Reductions,
)

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


def plan(catalog: Catalog, thing: Thing | str, answers: Mapping[str, Any] | None = None,
         facts: KnownFacts | None = None) -> Plan:
    """Compute the plan the applicant sees for one thing and one set of answers."""
    if isinstance(thing, str):
        thing = catalog.thing(thing)
    facts = facts or KnownFacts()
    resolved = resolve_answers(thing, answers or {})

    applicable = [tp for tp in thing.procedures if _holds(tp.when, resolved)]
    applicable_ids = {tp.id for tp in applicable}
    declared_after = {tp.id: tp.after for tp in thing.procedures}

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

    after = {tp.id: effective_preds(tp.id) for tp in applicable}
    # Stage = length of the longest chain of predecessors; finish = critical-path days to completion.
    stage: dict[str, int] = {}
    finish: dict[str, int] = {}

    def settle(proc_id: str) -> None:
        if proc_id in stage:
            return
        for pred in after[proc_id]:
            settle(pred)
        stage[proc_id] = 1 + max((stage[p] for p in after[proc_id]), default=0)
        days = catalog.procedures[proc_id].promised_days
        finish[proc_id] = days + max((finish[p] for p in after[proc_id]), default=0)

    for tp in applicable:
        settle(tp.id)

    # Position by id, not ``tuple.index`` (pydantic equality per comparison: quadratic, 40 procedures ≈ 7 ms).
    position = {tp.id: index for index, tp in enumerate(thing.procedures)}
    order = sorted(applicable, key=lambda tp: (stage[tp.id], position[tp.id]))
    rank = {tp.id: index for index, tp in enumerate(order)}
    planned = []
    for tp in order:
        proc = catalog.procedures[tp.id]
        dept = catalog.departments.get(proc.department)
        planned.append(PlannedProcedure(
            id=proc.id, name=proc.name, department=proc.department,
            department_name=dept.name if dept else proc.department, kind=proc.kind.value,
            stage=stage[proc.id],
            after=tuple(sorted(after[proc.id], key=rank.__getitem__)),
            promised_days=proc.promised_days, legal_days=proc.legal_days,
            result=proc.result.name if proc.result else None,
        ))
    stages = tuple(
        tuple(p.id for p in planned if p.stage == s) for s in range(1, max(stage.values(), default=0) + 1)
    )

    # Merged form: one entry per field id; required if any procedure requires it.
    field_order: list[str] = []
    field_required: dict[str, bool] = {}
    field_procs: dict[str, list[str]] = {}
    material_order: list[str] = []
    material_required: dict[str, bool] = {}
    material_procs: dict[str, list[str]] = {}
    separate_materials = 0
    for p in planned:
        proc = catalog.procedures[p.id]
        for use in proc.fields:
            if not _holds(use.when, resolved):
                continue
            if use.id not in field_procs:
                field_order.append(use.id)
                field_procs[use.id] = []
                field_required[use.id] = False
            field_procs[use.id].append(p.id)
            field_required[use.id] = field_required[use.id] or use.required
        for muse in proc.materials:
            if not _holds(muse.when, resolved):
                continue
            separate_materials += 1
            if muse.id not in material_procs:
                material_order.append(muse.id)
                material_procs[muse.id] = []
                material_required[muse.id] = False
            material_procs[muse.id].append(p.id)
            material_required[muse.id] = material_required[muse.id] or muse.required

    # A procedure whose result the shared data already serve (its ``result.resource`` is among the facts) is
    # 已核验: its result is proven, no department works on it, and it produces nothing (what it would have
    # produced is asked, or prefilled from the data).
    verified: dict[str, str] = {}
    for p in planned:
        result_doc = catalog.procedures[p.id].result
        if result_doc is not None and result_doc.resource is not None and result_doc.resource in facts.resources:
            verified[p.id] = result_doc.resource

    # A field that a procedure produces (``produces``, or the older ``result.provides``) is not asked when every
    # procedure needing it comes after that procedure in the plan; the producing department fills it.
    ancestors: dict[str, set[str]] = {}
    for p in planned:  # planned is in stage order, so predecessors are settled first
        ancestors[p.id] = set(after[p.id]).union(*(ancestors[a] for a in after[p.id]))
    provided: dict[str, str] = {}
    for p in planned:
        if p.id in verified:
            continue
        for field_id in catalog.procedures[p.id].produced_fields:
            users = field_procs.get(field_id, [])
            if field_id not in provided and users and all(p.id in ancestors[u] for u in users):
                provided[field_id] = p.id
    if verified or provided:
        planned = [p.model_copy(update={
            "verified_by": verified.get(p.id),
            "produces": tuple(f for f in field_order if provided.get(f) == p.id),
        }) for p in planned]

    fields = []
    for field_id in field_order:
        definition = catalog.fields[field_id]
        provider = provided.get(field_id)
        fields.append(FormField(
            id=field_id, label=definition.label, type=definition.type.value,
            required=field_required[field_id] and provider is None, provided_by=provider,
            choices=tuple(ChoiceOut(value=c.value, label=c.label) for c in definition.choices),
            help=definition.help, procedures=tuple(field_procs[field_id]),
            prefill=facts.values.get(field_id), min=definition.min, max=definition.max,
        ))

    materials = []
    for material_id in material_order:
        material = catalog.materials[material_id]
        proof = next((r for r in material.proven_by if r in facts.resources), None)
        materials.append(PlannedMaterial(
            id=material_id, name=material.name, status="exempt" if proof else "submit",
            required=material_required[material_id], procedures=tuple(material_procs[material_id]),
            proven_by=proof, can_be_proven_by=material.proven_by,
        ))

    critical = max(finish.values(), default=0)
    separately = Counts(
        materials=separate_materials,
        steps=sum(catalog.procedures[p.id].steps for p in planned),
        days=sum(p.promised_days for p in planned),
        trips=sum(catalog.procedures[p.id].trips for p in planned),
    )
    together = Counts(
        materials=sum(1 for m in materials if m.status == "submit"),
        steps=thing.steps, days=critical, trips=thing.trips,
    )
    return Plan(
        thing=thing.code, thing_name=thing.name, answers=resolved, procedures=tuple(planned), stages=stages,
        form=MergedForm(fields=tuple(fields)), materials=tuple(materials), promised_days=critical,
        reductions=Reductions(
            materials=_reduction(together.materials, separately.materials),
            steps=_reduction(together.steps, separately.steps),
            time=_reduction(together.days, separately.days),
            trips=_reduction(together.trips, separately.trips),
        ),
        separately=separately, together=together,
    )


def _reduction(together: int, separately: int) -> float:
    """``1 − together / separately``, never negative; 0 when there was nothing to reduce."""
    if separately <= 0:
        return 0.0
    return round(max(0.0, 1 - together / separately), 4)
