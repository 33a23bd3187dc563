"""Intake errors: answers that are missing or do not fit, named one by one."""

from __future__ import annotations


class IntakeError(ValueError):
    """Base class: ``errors`` is a list of (field, message) pairs for problem+json."""

    errors: list[tuple[str, str]]


class MissingAnswers(IntakeError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"missing answers without a default: {', '.join(names)}")
        self.names = names
        self.errors = [(name, "this question has no default and must be answered") for name in names]


class InvalidAnswers(IntakeError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors
