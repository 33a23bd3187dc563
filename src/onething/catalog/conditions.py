"""Situation conditions (`when`): CEL expressions over a thing's answers, never Python ``eval``.

We use the Common Expression Language (cel-python) because it is a standard, side-effect-free expression
language with a published grammar: reviewers read ``area_sqm > 300 || !has_licence`` the same way the
platform does. See docs/adr/002-condition-language.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from lark import Token, Tree


class ConditionError(ValueError):
    """A condition that does not parse, names unknown answers, or is not a boolean."""


@dataclass(frozen=True)
class Condition:
    source: str
    names: frozenset[str]
    _program: Any

    def evaluate(self, answers: Mapping[str, Any]) -> bool:
        """The condition's value for ``answers``. A pure function of the answers it names, so results are
        memoised per (condition, those answers): cel-python's evaluation dominates the planner's time (a
        40-procedure thing evaluates ~80 conditions per plan, mostly the same few)."""
        try:
            key = (self.source, tuple(sorted((n, type(answers[n]).__name__, answers[n])
                                             for n in self.names if n in answers)))
            hash(key)
        except TypeError:
            return self._evaluate(answers)  # an unhashable answer (not produced by the intake): no memo
        hit = _RESULTS.get(key)
        if hit is None:
            hit = self._evaluate(answers)
            if len(_RESULTS) >= _RESULTS_MAX:
                _RESULTS.clear()
            _RESULTS[key] = hit
        return hit

    def _evaluate(self, answers: Mapping[str, Any]) -> bool:
        activation = {name: json_to_cel(answers[name]) for name in self.names if name in answers}
        missing = self.names - activation.keys()
        if missing:
            raise ConditionError(f"`{self.source}` needs answers for: {', '.join(sorted(missing))}")
        try:
            result = self._program.evaluate(activation)
        except Exception as exc:  # cel-python raises several types for type mismatches
            raise ConditionError(f"`{self.source}` could not be evaluated: {_short(exc)}") from None
        if isinstance(result, Exception) or not isinstance(result, celtypes.BoolType | bool):
            raise ConditionError(f"`{self.source}` does not evaluate to a boolean")
        return bool(result)


_ENV = celpy.Environment()
_RESULTS: dict[tuple[str, tuple[tuple[str, str, Any], ...]], bool] = {}
_RESULTS_MAX = 65536


def _short(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.split("(in activation")[0].strip()[:200]


def _names(tree: Tree[Any]) -> frozenset[str]:
    """The top-level identifiers an expression reads (answers), ignoring function names."""
    found: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "ident" and node.children and isinstance(node.children[0], Token):
            found.add(str(node.children[0]))
    return frozenset(found)


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> Condition:
    """Parse a condition once; raise ConditionError with the parser's message when it does not parse."""
    if not source.strip():
        raise ConditionError("empty condition")
    try:
        tree = _ENV.compile(source)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConditionError(f"condition `{source}` does not parse: {first}") from None
    return Condition(source=source, names=_names(tree), _program=_ENV.program(tree))
