"""Cross-reference checks over a loaded catalog: references, cycles, conditions, lists.

The per-item checks (types, unknown keys, negative days) happen while loading; this module checks what needs
the whole catalog. Each problem names the file, line and column of the offending node.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

from onething.catalog.conditions import ConditionError, compile_condition
from onething.catalog.errors import Problem, sort_problems
from onething.catalog.guide import missing_guide_parts
from onething.catalog.loader import LoadResult
from onething.catalog.model import (
    NUMBER_FIELD_TYPES,
    Catalog,
    FieldDef,
    FieldUse,
    MaterialUse,
    Procedure,
    QuestionType,
    Thing,
)


def _check_refs(
    result: LoadResult, kind: str, item_id: str, path: tuple[str | int, ...], refs: Iterable[str],
    universe: Mapping[str, object], what: str,
) -> list[Problem]:
    problems = []
    for index, ref in enumerate(refs):
        if ref not in universe:
            problems.append(result.problem(kind, item_id, *path, index, message=f"unknown {what} {ref!r}"))
    return problems


def _unique_known(result: LoadResult, kind: str, item_id: str, path: tuple[str | int, ...], refs: list[str],
                  universe: Mapping[str, object], what: str) -> list[Problem]:
    """Each reference must name a known item, and no item may be listed twice."""
    problems = _check_refs(result, kind, item_id, path, refs, universe, what)
    seen: set[str] = set()
    for index, ref in enumerate(refs):
        if ref in seen:
            problems.append(result.problem(kind, item_id, *path, index, message=f"{what} {ref!r} listed twice"))
        seen.add(ref)
    return problems


def _single_ref(result: LoadResult, kind: str, item_id: str, key: str, ref: str,
                universe: Mapping[str, object], what: str) -> list[Problem]:
    if ref in universe:
        return []
    return [result.problem(kind, item_id, key, message=f"unknown {what} {ref!r}")]


def check_number_bounds(result: LoadResult, field: FieldDef) -> list[Problem]:
    """A number field (int, money) declares ``min`` and ``max`` with min ≤ max; other fields declare neither."""
    if field.type not in NUMBER_FIELD_TYPES:
        return [result.problem("fields", field.id, key, message=f"`{key}` applies only to int and money fields")
                for key in ("min", "max") if getattr(field, key) is not None]
    missing = [key for key in ("min", "max") if getattr(field, key) is None]
    if missing:
        return [result.problem("fields", field.id, "type", message=(
            f"number field {field.id} ({field.type.value}) needs {' and '.join(f'`{k}`' for k in missing)}"))]
    assert field.min is not None and field.max is not None
    if field.min > field.max:
        return [result.problem("fields", field.id, "min",
                               message=f"field {field.id}: min {field.min} is greater than max {field.max}")]
    return []


def check_references(result: LoadResult) -> list[Problem]:
    cat = result.catalog
    problems: list[Problem] = []
    for field in cat.fields.values():
        problems += check_number_bounds(result, field)
    departments = cat.departments
    for res in cat.resources.values():
        problems += _single_ref(result, "resources", res.id, "holder", res.holder, departments, "department")
        problems += _check_refs(result, "resources", res.id, ("fields",), res.fields, cat.fields, "field")
    for mat in cat.materials.values():
        problems += _check_refs(result, "materials", mat.id, ("proven_by",), mat.proven_by,
                                cat.resources, "data resource")
    for proc in cat.procedures.values():
        problems += _single_ref(result, "procedures", proc.id, "department", proc.department, departments,
                                "department")
        if proc.result is not None:
            problems += _check_refs(result, "procedures", proc.id, ("result", "provides"), proc.result.provides,
                                    cat.fields, "field")
            problems += _check_result_resource(result, cat, proc)
        problems += _unique_known(result, "procedures", proc.id, ("produces",), list(proc.produces),
                                  cat.fields, "field")
        asked = {use.id for use in proc.fields}
        for index, field_id in enumerate(proc.produces):
            if field_id in asked:
                problems.append(result.problem("procedures", proc.id, "produces", index, message=(
                    f"procedure {proc.id} both produces and asks field {field_id!r}: the applicant cannot give "
                    "what the procedure's completion produces")))
        problems += _unique_known(result, "procedures", proc.id, ("fields",), [u.id for u in proc.fields],
                                  cat.fields, "field")
        problems += _unique_known(result, "procedures", proc.id, ("materials",), [u.id for u in proc.materials],
                                  cat.materials, "material")
    for thing in cat.things.values():
        problems += _check_thing(result, cat, thing)
    for lst in cat.lists.values():
        expected = f"{lst.issuer}-{lst.year}-{lst.batch}"
        if lst.id != expected:
            problems.append(result.problem("lists", lst.id, "id",
                                           message=f"list id {lst.id!r} should be {expected!r}"))
        problems += _unique_known(result, "lists", lst.id, ("items",), [i.code for i in lst.items],
                                  cat.things, "thing")
        if lst.declared_count is not None and lst.declared_count > len(lst.items):
            problems.append(result.problem(
                "lists", lst.id, "declared_count", info=True,
                message=f"list {lst.id} declares {lst.declared_count} items; {len(lst.items)} are known "
                        f"({lst.declared_count - len(lst.items)} not yet sourced)"))
        elif lst.declared_count is not None and lst.declared_count < len(lst.items):
            problems.append(result.problem("lists", lst.id, "declared_count",
                                           message=f"list {lst.id} declares {lst.declared_count} items but "
                                                   f"has {len(lst.items)}"))
    return problems


def _check_result_resource(result: LoadResult, cat: Catalog, proc: Procedure) -> list[Problem]:
    """``result.resource`` names a known data resource held by the procedure's own department."""
    assert proc.result is not None
    resource_id = proc.result.resource
    if resource_id is None:
        return []
    resource = cat.resources.get(resource_id)
    if resource is None:
        return [result.problem("procedures", proc.id, "result", "resource",
                               message=f"unknown data resource {resource_id!r}")]
    if resource.holder != proc.department:
        return [result.problem("procedures", proc.id, "result", "resource", message=(
            f"data resource {resource_id} is held by {resource.holder}, not by {proc.department}, which issues "
            f"this result"))]
    return []


def _check_producers(result: LoadResult, cat: Catalog, thing: Thing) -> list[Problem]:
    """A procedure that asks a field another procedure of the thing produces comes after that producer (its
    `after`, directly or through others): else the applicant would be asked what the thing itself produces."""
    declared = {tp.id: tp.after for tp in thing.procedures}

    def ancestors(proc_id: str) -> set[str]:
        seen: set[str] = set()
        stack = list(declared.get(proc_id, ()))
        while stack:
            pred = stack.pop()
            if pred not in seen:
                seen.add(pred)
                stack.extend(declared.get(pred, ()))
        return seen

    producers: dict[str, list[str]] = {}
    for tp in thing.procedures:
        proc = cat.procedures.get(tp.id)
        for field_id in proc.produced_fields if proc else ():
            producers.setdefault(field_id, []).append(tp.id)
    conditions = {tp.id: tp.when for tp in thing.procedures}
    problems: list[Problem] = []
    for index, tp in enumerate(thing.procedures):
        proc = cat.procedures.get(tp.id)
        if proc is None:
            continue
        before = ancestors(tp.id)
        for use in proc.fields:
            for producer in producers.get(use.id, ()):
                if producer != tp.id and producer not in before and _may_apply_together(
                        thing, conditions[producer], tp.when):
                    problems.append(result.problem("things", thing.code, "procedures", index, "id", message=(
                        f"{tp.id} asks {use.id!r}, which {producer} produces, but does not come after it: "
                        f"add {producer!r} to its `after` (directly or through another procedure)")))
    return problems


_MAX_COMBINATIONS = 4096
_INT_SAMPLES = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 300, 500, 1000, 10000, 100000)


def _may_apply_together(thing: Thing, first: str | None, second: str | None) -> bool:
    """Whether some answers make both conditions hold (alternatives such as ``!has_licence`` / ``has_licence``
    never do). Tries every combination of the questions the two name (ints at sample values); a condition that
    does not compile, or too many combinations, counts as "may"."""
    if not first or not second:
        return True
    try:
        conditions = (compile_condition(first), compile_condition(second))
    except ConditionError:
        return True
    questions = {q.id: q for q in thing.questions}
    names = sorted(conditions[0].names | conditions[1].names)
    domains: list[tuple[object, ...]] = []
    for name in names:
        question = questions.get(name)
        if question is None:
            return True
        if question.type is QuestionType.bool:
            domains.append((True, False))
        elif question.type is QuestionType.choice:
            domains.append(tuple(c.value for c in question.choices))
        else:
            domains.append(_INT_SAMPLES)
    if math.prod(len(d) for d in domains) > _MAX_COMBINATIONS:
        return True
    for values in itertools.product(*domains):
        answers = dict(zip(names, values, strict=True))
        try:
            if all(c.evaluate(answers) for c in conditions):
                return True
        except ConditionError:
            return True
    return False


def _check_condition(result: LoadResult, kind: str, item_id: str, path: tuple[str | int, ...],
                     source: str, questions: set[str], context: str) -> list[Problem]:
    try:
        condition = compile_condition(source)
    except ConditionError as exc:
        return [result.problem(kind, item_id, *path, message=str(exc))]
    unknown = sorted(condition.names - questions)
    if unknown:
        return [result.problem(kind, item_id, *path,
                               message=f"condition `{source}` names unknown question(s) {', '.join(unknown)}"
                                       f"{context}")]
    return []


def _check_thing(result: LoadResult, cat: Catalog, thing: Thing) -> list[Problem]:
    problems: list[Problem] = []
    code = thing.code
    if thing.lead not in cat.departments:
        problems.append(result.problem("things", code, "lead", message=f"unknown department {thing.lead!r}"))
    questions: set[str] = set()
    for index, question in enumerate(thing.questions):
        if question.id in questions:
            problems.append(result.problem("things", code, "questions", index, "id",
                                           message=f"duplicate question id {question.id!r}"))
        questions.add(question.id)
    included: set[str] = set()
    for index, tp in enumerate(thing.procedures):
        if tp.id in included:
            problems.append(result.problem("things", code, "procedures", index, "id",
                                           message=f"procedure {tp.id!r} listed twice"))
        included.add(tp.id)
    for index, tp in enumerate(thing.procedures):
        if tp.id not in cat.procedures:
            problems.append(result.problem("things", code, "procedures", index, "id",
                                           message=f"unknown procedure {tp.id!r}"))
        else:
            proc = cat.procedures[tp.id]
            context = f" (procedure {proc.id} is used by thing {code})"
            uses: tuple[tuple[str, tuple[FieldUse | MaterialUse, ...]], ...] = (
                ("fields", proc.fields), ("materials", proc.materials))
            for kind_key, kind_uses in uses:
                for use_index, use in enumerate(kind_uses):
                    if use.when:
                        problems += _check_condition(result, "procedures", proc.id, (kind_key, use_index, "when"),
                                                     use.when, questions, context)
        for after_index, pred in enumerate(tp.after):
            if pred not in included:
                problems.append(result.problem("things", code, "procedures", index, "after", after_index,
                                               message=f"`after` names {pred!r}, which is not a procedure of "
                                                       f"this thing"))
        if tp.when:
            problems += _check_condition(result, "things", code, ("procedures", index, "when"), tp.when,
                                         questions, "")
    if thing.eligible_when:
        problems += _check_condition(result, "things", code, ("eligible_when",), thing.eligible_when, questions, "")
    problems += _check_cycles(result, thing)
    problems += _check_producers(result, cat, thing)
    for index, case in enumerate(thing.cases):
        for key in case.answers:
            if key not in questions:
                problems.append(result.problem("things", code, "cases", index, "answers", key,
                                               message=f"case answers unknown question {key!r}"))
        for question in thing.questions:
            if question.id in case.answers:
                value = case.answers[question.id]
                if not _answer_fits(question.type, [c.value for c in question.choices], value):
                    problems.append(result.problem("things", code, "cases", index, "answers", question.id,
                                                   message=f"answer {value!r} does not fit question "
                                                           f"{question.id} ({question.type})"))
        if case.facts:
            for r_index, res in enumerate(case.facts.resources):
                if res not in cat.resources:
                    problems.append(result.problem("things", code, "cases", index, "facts", "resources",
                                                   r_index, message=f"unknown data resource {res!r}"))
        for p_index, proc_id in enumerate(case.expect.procedures):
            if proc_id not in included:
                problems.append(result.problem("things", code, "cases", index, "expect", "procedures", p_index,
                                               message=f"expected procedure {proc_id!r} is not in this thing"))
        for key in ("exempt", "submit"):
            for m_index, mat in enumerate(getattr(case.expect, key) or ()):
                if mat not in cat.materials:
                    problems.append(result.problem("things", code, "cases", index, "expect", key, m_index,
                                                   message=f"unknown material {mat!r}"))
    return problems


def _answer_fits(qtype: QuestionType, choices: list[object], value: object) -> bool:
    if qtype is QuestionType.bool:
        return isinstance(value, bool)
    if qtype is QuestionType.int:
        return isinstance(value, int) and not isinstance(value, bool)
    return value in choices


def _check_cycles(result: LoadResult, thing: Thing) -> list[Problem]:
    """Each `after` that closes a cycle, with the cycle. ``graphlib`` decides whether there is one (for a valid
    thing, the only work done); the depth-first walk below then names every closing edge — graphlib's
    CycleError names just one cycle, and a reviewer should see all of them in one run."""
    graph = {tp.id: list(tp.after) for tp in thing.procedures}
    try:
        TopologicalSorter(graph).prepare()
        return []
    except CycleError:
        pass
    index_of = {tp.id: i for i, tp in enumerate(thing.procedures)}
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    problems: list[Problem] = []

    def visit(node: str, trail: list[str]) -> None:
        colour[node] = grey
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if colour[nxt] == grey:
                cycle = [*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt]
                problems.append(result.problem("things", thing.code, "procedures", index_of[node], "after",
                                               message=f"cycle in `after`: {' → '.join(cycle)}"))
            elif colour[nxt] == white:
                visit(nxt, [*trail, nxt])
        colour[node] = black

    for node in graph:
        if colour[node] == white:
            visit(node, [node])
    return problems


def check_codes(result: LoadResult) -> list[Problem]:
    """No 事项编码 is used twice: an implementation code names one procedure; a basic code is shared only by
    procedures that each carry their own implementation code (业务办理项 of one item)."""
    problems: list[Problem] = []
    implementation: dict[str, str] = {}
    basic: dict[str, list[str]] = {}
    for proc in result.catalog.procedures.values():
        if proc.implementation_code:
            first = implementation.setdefault(proc.implementation_code, proc.id)
            if first != proc.id:
                problems.append(result.problem("procedures", proc.id, "implementation_code",
                                               message=f"实施编码 {proc.implementation_code} is also used by "
                                                       f"procedure {first}"))
        if proc.basic_code:
            basic.setdefault(proc.basic_code, []).append(proc.id)
    procedures = result.catalog.procedures
    for code, users in basic.items():
        if len(users) > 1 and not all(procedures[u].implementation_code for u in users):
            for user in users[1:]:
                problems.append(result.problem("procedures", user, "basic_code",
                                               message=f"基本编码 {code} is also used by procedure {users[0]}; "
                                                       f"procedures sharing a 基本编码 each need their own 实施编码"))
    return problems


def check_guides(result: LoadResult) -> list[Problem]:
    """What each procedure's 办事指南 and each thing's sources still lack — information, not errors — and a
    legal-limit basis given for an unknown limit (an error: the two contradict)."""
    problems: list[Problem] = []
    for proc in result.catalog.procedures.values():
        if proc.guide.legal_days_basis is not None and proc.legal_days is None:
            problems.append(result.problem("procedures", proc.id, "guide", "legal_days_basis",
                                           message="`legal_days_basis` is given but `legal_days` is null"))
        missing = missing_guide_parts(proc)
        if missing:
            problems.append(result.problem("procedures", proc.id, "guide", info=True,
                                           message=f"procedure {proc.id}: 办事指南 not yet sourced: "
                                                   f"{', '.join(missing)}"))
        if not proc.sources:
            problems.append(result.problem("procedures", proc.id, "id", info=True,
                                           message=f"procedure {proc.id} has no `sources` (confidence "
                                                   f"{proc.confidence.value})"))
    for thing in result.catalog.things.values():
        if not thing.sources:
            problems.append(result.problem("things", thing.code, "code", info=True,
                                           message=f"thing {thing.code} has no `sources` (confidence "
                                                   f"{thing.confidence.value})"))
    return problems


# The 办事指南 parts a published catalog must give for every procedure (`catalog validate --require-guide`).
REQUIRED_GUIDE_PARTS: tuple[str, ...] = ("受理条件", "法律依据", "咨询和投诉电话", "办理结果")


def required_guide_problems(result: LoadResult) -> list[Problem]:
    """An error for each procedure lacking a part every provincial guide publishes (受理条件, 法律依据, 咨询和投诉
    电话, 办理结果). Not part of :func:`validate`: a catalog in the making (a fixture, a generated bench catalog,
    a region's draft) may lack them; the shipped catalog is checked with them (`make lint`, CI)."""
    problems: list[Problem] = []
    for proc in result.catalog.procedures.values():
        lacking = [part for part in missing_guide_parts(proc) if part in REQUIRED_GUIDE_PARTS]
        if lacking:
            problems.append(result.problem("procedures", proc.id, "guide" if proc.guide else "id",
                                           message=f"procedure {proc.id}: 办事指南 must give {', '.join(lacking)}"))
    return sort_problems(problems)


def validate(result: LoadResult) -> list[Problem]:
    """Every problem of a loaded catalog: those found while loading and the cross-reference ones."""
    return sort_problems({*result.problems, *check_references(result), *check_codes(result),
                          *check_guides(result), *check_regions(result)})


def _region_view(result: LoadResult, region_code: str) -> LoadResult | None:
    """A LoadResult over the region's resolved catalog whose overridden things point at the region file."""
    from onething.catalog.errors import UnknownRegion
    from onething.catalog.loader import Origin
    from onething.catalog.regions import resolve

    try:
        resolved = resolve(result.catalog, region_code)
    except UnknownRegion:
        return None
    region = result.catalog.regions[region_code]
    origin = result.origin("regions", region_code)
    origins = dict(result.origins)
    for index, change in enumerate(region.things):
        origins[("things", change.code)] = Origin(origin.file, origin.positions, (*origin.base, "things", index))
    for index, proc in enumerate(region.procedures):
        origins[("procedures", proc.id)] = Origin(origin.file, origin.positions,
                                                  (*origin.base, "procedures", index))
    return LoadResult(resolved, [], origins, result.root)


def check_regions(result: LoadResult) -> list[Problem]:
    """Each region's parent, levels and references, and each thing it overrides as resolved for it."""
    from onething.catalog.errors import UnknownRegion
    from onething.catalog.regions import LEVEL_ORDER, chain, resolve

    cat = result.catalog
    problems: list[Problem] = []
    for code, region in cat.regions.items():
        def problem(*sub: str | int, message: str, code: str = code) -> Problem:
            return result.problem("regions", code, *sub, message=message)

        if region.parent is not None:
            parent = cat.regions.get(region.parent)
            if parent is None:
                problems.append(problem("parent", message=f"unknown region {region.parent!r}"))
                continue
            if LEVEL_ORDER[parent.level.value] >= LEVEL_ORDER[region.level.value]:
                problems.append(problem("level", message=f"a {region.level.value} cannot inherit from "
                                                         f"{parent.code} ({parent.level.value})"))
        try:
            chain(cat, code)
        except UnknownRegion:  # a cycle, or an ancestor that is unknown (reported on that region)
            problems.append(problem("parent", message=f"region {code} does not lead back to the national "
                                                      f"catalog (a cycle or an unknown ancestor)"))
            continue
        parent_cat = resolve(cat, region.parent)
        own_departments = {d.id for d in region.departments}
        departments = set(parent_cat.departments) | own_departments
        for index, dept_change in enumerate(region.departments):
            for t_index, old in enumerate(dept_change.takes_over):
                if old not in parent_cat.departments:
                    problems.append(problem("departments", index, "takes_over", t_index,
                                            message=f"unknown department {old!r}"))
        for index, proc in enumerate(region.procedures):
            if proc.id in parent_cat.procedures:
                problems.append(problem("procedures", index, "id",
                                        message=f"procedure {proc.id!r} already exists; change it under "
                                                f"`procedure_overrides`"))
            if proc.department not in departments:
                problems.append(problem("procedures", index, "department",
                                        message=f"unknown department {proc.department!r}"))
            for key, ids, universe in (("fields", [u.id for u in proc.fields], set(cat.fields)),
                                       ("materials", [u.id for u in proc.materials], set(cat.materials))):
                for u_index, use_id in enumerate(ids):
                    if use_id not in universe:
                        problems.append(problem("procedures", index, key, u_index,
                                                message=f"unknown {key[:-1]} {use_id!r}"))
        local_procs = set(parent_cat.procedures) | {p.id for p in region.procedures}
        for index, override in enumerate(region.procedure_overrides):
            if override.id not in parent_cat.procedures:
                problems.append(problem("procedure_overrides", index, "id",
                                        message=f"unknown procedure {override.id!r}"))
            if override.department is not None and override.department not in departments:
                problems.append(problem("procedure_overrides", index, "department",
                                        message=f"unknown department {override.department!r}"))
        seen_things: set[str] = set()
        for index, change in enumerate(region.things):
            if change.code in seen_things:
                problems.append(problem("things", index, "code", message=f"thing {change.code!r} overridden twice"))
            seen_things.add(change.code)
            base = parent_cat.things.get(change.code)
            if base is None:
                problems.append(problem("things", index, "code", message=f"unknown thing {change.code!r}"))
                continue
            included = {tp.id for tp in base.procedures}
            for d_index, proc_id in enumerate(change.drop_procedures):
                if proc_id not in included:
                    problems.append(problem("things", index, "drop_procedures", d_index,
                                            message=f"procedure {proc_id!r} is not in thing {change.code}"))
            for c_index, c in enumerate(change.change_procedures):
                if c.id not in included or c.id in change.drop_procedures:
                    problems.append(problem("things", index, "change_procedures", c_index, "id",
                                            message=f"procedure {c.id!r} is not in thing {change.code}"))
            for a_index, tp in enumerate(change.add_procedures):
                if tp.id not in local_procs:
                    problems.append(problem("things", index, "add_procedures", a_index, "id",
                                            message=f"unknown procedure {tp.id!r}"))
                elif tp.id in included and tp.id not in change.drop_procedures:
                    problems.append(problem("things", index, "add_procedures", a_index, "id",
                                            message=f"procedure {tp.id!r} is already in thing {change.code}"))
        view = _region_view(result, code)
        if view is None:
            continue
        for overridden in region.things:
            thing = view.catalog.things.get(overridden.code)
            if thing is None or overridden.code not in parent_cat.things:
                continue
            for found in _check_thing(view, view.catalog, thing):
                problems.append(Problem(found.path, found.line, found.col, f"region {code}: {found.message}",
                                        found.severity))
    return problems
