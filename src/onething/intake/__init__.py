"""Intake (情形引导 → 一表申请 / 一套材料): a pure planner from a thing and answers to a Plan."""

from onething.intake.errors import IntakeError, InvalidAnswers, MissingAnswers
from onething.intake.model import KnownFacts, Plan, PrefillValue
from onething.intake.planner import coerce_answers, plan, resolve_answers

__all__ = [
    "IntakeError",
    "InvalidAnswers",
    "KnownFacts",
    "MissingAnswers",
    "Plan",
    "PrefillValue",
    "coerce_answers",
    "plan",
    "resolve_answers",
]
