"""Run every thing's example cases (catalog `cases:`) through the planner and report differences."""

from __future__ import annotations

from pathlib import Path

from onething.catalog.errors import Problem, sort_problems
from onething.catalog.gcpause import collector_paused
from onething.catalog.loader import LoadResult, load_catalog
from onething.catalog.model import Thing
from onething.catalog.validate import _region_view, validate
from onething.intake.errors import IntakeError
from onething.intake.model import KnownFacts, PrefillValue
from onething.intake.planner import plan


def check_cases(result: LoadResult) -> list[Problem]:
    """A problem for each case whose computed plan differs from its expectation — national things, and each
    thing a region overrides, planned as that region resolves it."""
    problems: list[Problem] = []
    for thing in result.catalog.things.values():
        problems += _thing_cases(result, thing)
    for code, region in result.catalog.regions.items():
        view = _region_view(result, code)
        if view is None:
            continue  # reported by the region checks
        for change in region.things:
            resolved = view.catalog.things.get(change.code)
            if resolved is not None:
                problems += [Problem(p.path, p.line, p.col, f"region {code}: {p.message}", p.severity)
                             for p in _thing_cases(view, resolved)]
    return problems


def _thing_cases(result: LoadResult, thing: Thing) -> list[Problem]:
    catalog = result.catalog
    problems: list[Problem] = []
    if any(tp.id not in catalog.procedures for tp in thing.procedures):
        return problems  # already reported as unknown references; the plan cannot be computed
    for index, case in enumerate(thing.cases):
        facts = KnownFacts()
        if case.facts:
            facts = KnownFacts(
                resources=frozenset(case.facts.resources),
                values={k: PrefillValue(value=v, resource="case") for k, v in case.facts.values.items()},
            )
        try:
            computed = plan(catalog, thing, case.answers, facts)
        except IntakeError as exc:
            problems.append(result.problem("things", thing.code, "cases", index,
                                           message=f"case {case.name!r}: {exc}"))
            continue
        except Exception as exc:  # a condition may still fail at evaluation time
            problems.append(result.problem("things", thing.code, "cases", index,
                                           message=f"case {case.name!r} could not be planned: {exc}"))
            continue
        expect = case.expect
        got = computed.procedure_ids()
        if sorted(got) != sorted(expect.procedures):
            missing = sorted(set(expect.procedures) - set(got))
            extra = sorted(set(got) - set(expect.procedures))
            detail = "; ".join(part for part in (
                f"expected but not planned: {', '.join(missing)}" if missing else "",
                f"planned but not expected: {', '.join(extra)}" if extra else "",
            ) if part)
            problems.append(result.problem("things", thing.code, "cases", index, "expect", "procedures",
                                           message=f"case {case.name!r}: procedures differ ({detail})"))
        exempt = sorted(m.id for m in computed.materials if m.status == "exempt")
        submit = sorted(m.id for m in computed.materials if m.status == "submit")
        for key, actual in (("exempt", exempt), ("submit", submit)):
            wanted = getattr(expect, key)
            if wanted is not None and sorted(wanted) != actual:
                problems.append(result.problem(
                    "things", thing.code, "cases", index, "expect", key,
                    message=f"case {case.name!r}: {key} materials differ (expected {sorted(wanted)}, "
                            f"computed {actual})"))
        if expect.promised_days is not None and expect.promised_days != computed.promised_days:
            problems.append(result.problem(
                "things", thing.code, "cases", index, "expect", "promised_days",
                message=f"case {case.name!r}: promised_days expected {expect.promised_days}, "
                        f"computed {computed.promised_days} (critical path)"))
    return problems


def validate_catalog(root: Path) -> tuple[LoadResult, list[Problem]]:
    """Load a catalog folder and return it with every problem: per item, cross-reference and case."""
    with collector_paused():
        result = load_catalog(root)
        return result, sort_problems({*validate(result), *check_cases(result)})
