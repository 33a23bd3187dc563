"""Catalog errors: every problem carries an address (file, line, column) so a reviewer can go straight to it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, order=True)
class Problem:
    """One validation finding. ``info`` findings are reported but do not fail validation."""

    path: str
    line: int
    col: int
    message: str
    severity: Literal["error", "info"] = "error"

    def __str__(self) -> str:
        prefix = "info: " if self.severity == "info" else ""
        return f"{self.path}:{self.line}:{self.col}: {prefix}{self.message}"


def _order(problem: Problem) -> tuple[str, int, int, str, str]:
    return problem.path, problem.line, problem.col, problem.message, problem.severity


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """``sorted(problems)`` — file, line, column, message, severity — with one key tuple per problem instead
    of two built per comparison (the dataclass order): thousands of problems in a province-scale catalog."""
    return sorted(problems, key=_order)


class CatalogError(Exception):
    """Base class for catalog failures that services raise."""


class UnknownThing(CatalogError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no thing with code {code!r}")
        self.code = code


class InvalidCatalog(CatalogError):
    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        head = "\n".join(str(p) for p in errors[:20])
        super().__init__(f"the catalog has {len(errors)} error(s):\n{head}")
        self.problems = problems


class UnknownVersion(CatalogError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no published catalog version {ref!r}")
        self.ref = ref


class UnknownRegion(CatalogError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no region with code {code!r}")
        self.code = code
