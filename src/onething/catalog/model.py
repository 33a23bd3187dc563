"""Catalog domain types: the declared knowledge of departments, procedures and one-things.

These are plain Pydantic models with no I/O. The loader builds them from YAML (keeping line numbers aside for
error messages); the store serialises them to JSON for published versions. Field names follow
``docs/catalog.md`` exactly, and unknown keys are rejected so that a typo in a reviewed file is an error.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = r"^[a-z][a-z0-9_-]*$"
Slug = Annotated[str, Field(pattern=SLUG)]
ITEM_CODE = re.compile(r"^[0-9A-Z]{10,40}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Confidence(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class FieldType(StrEnum):
    text = "text"
    int = "int"
    money = "money"
    date = "date"
    choice = "choice"
    bool = "bool"
    id_number = "id_number"
    uscc = "uscc"
    phone = "phone"
    address = "address"
    file = "file"


class Sharing(StrEnum):
    """Sharing class (共享类型) under the 政务数据共享条例."""

    unconditional = "unconditional"
    conditional = "conditional"
    none = "none"


class Audience(StrEnum):
    enterprise = "enterprise"
    individual = "individual"


class ProcedureKind(StrEnum):
    licence = "licence"
    registration = "registration"
    confirmation = "confirmation"
    benefit = "benefit"
    filing = "filing"
    service = "service"
    other = "other"


class Sourced(Strict):
    source: str | None = None
    confidence: Confidence = Confidence.high
    note: str | None = None


class Department(Sourced):
    """A government department (部门) that owns procedures and holds data."""

    id: Slug
    name: str
    short_name: str | None = None


class Choice(Strict):
    value: str | int | bool
    label: str


class FieldDef(Sourced):
    """A form field (表单字段), shared across procedures so that the merged form asks it once."""

    id: Slug
    label: str
    type: FieldType
    choices: tuple[Choice, ...] = ()
    help: str | None = None
    # Bounds of a number field (int, money), inclusive; money bounds are in whole yuan. Required for numbers
    # (the validator says so), so no form accepts an unbounded number.
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _choices_for_choice(self) -> FieldDef:
        if self.type is FieldType.choice and not self.choices:
            raise ValueError("a field of type choice needs `choices`")
        return self


NUMBER_FIELD_TYPES = frozenset({FieldType.int, FieldType.money})


class Material(Sourced):
    """An application material (申请材料); data resources may prove it (免提交)."""

    id: Slug
    name: str
    description: str | None = None
    proven_by: tuple[Slug, ...] = ()


class Resource(Sourced):
    """A data resource (数据资源) in the directory, held by one department, with a sharing class."""

    id: Slug
    name: str
    holder: Slug
    sharing: Sharing
    conditions: str | None = None
    legal_basis: str | None = None
    personal: bool = False
    update_frequency: str = "daily"
    fields: tuple[Slug, ...] = ()

    @model_validator(mode="after")
    def _class_needs_reason(self) -> Resource:
        if self.sharing is Sharing.conditional and not self.conditions:
            raise ValueError("a conditional resource states its `conditions`")
        if self.sharing is Sharing.none and not self.legal_basis:
            raise ValueError("a resource that is not shared states its `legal_basis`")
        return self


class FieldUse(Strict):
    id: Slug
    required: bool = True
    when: str | None = None


class MaterialUse(Strict):
    id: Slug
    required: bool = True
    when: str | None = None


class ResultDocument(Strict):
    """The result document (结果文书 / 电子证照). ``provides`` names fields the result fills for later procedures
    (the business licence provides the USCC), so the applicant is not asked for them when it is in the plan."""

    name: str
    electronic: bool = False
    provides: tuple[Slug, ...] = ()


def _normalise_uses(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [{"id": item} if isinstance(item, str) else item for item in value]
    return value


class Procedure(Sourced):
    """An administrative procedure (政务服务事项) owned by one department."""

    id: Slug
    name: str
    department: Slug
    code: str | None = None
    kind: ProcedureKind = ProcedureKind.other
    legal_days: int | None = Field(default=None, ge=0)
    promised_days: int = Field(ge=0)
    steps: int = Field(default=1, ge=0)
    trips: int = Field(default=1, ge=0)
    fields: tuple[FieldUse, ...] = ()
    materials: tuple[MaterialUse, ...] = ()
    result: ResultDocument | None = None

    _uses = field_validator("fields", "materials", mode="before")(_normalise_uses)

    @field_validator("code")
    @classmethod
    def _code_form(cls, value: str | None) -> str | None:
        if value is not None and not ITEM_CODE.match(value):
            raise ValueError("事项编码 is 10-40 digits or capital letters")
        return value


class QuestionType(StrEnum):
    bool = "bool"
    choice = "choice"
    int = "int"


class Question(Strict):
    """A situation question (情形) whose answer decides which procedures and materials apply."""

    id: Slug
    text: str
    type: QuestionType
    choices: tuple[Choice, ...] = ()
    # Every shipped question has a default; a question without one must be answered (MissingAnswers).
    default: bool | int | str | None = None
    help: str | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> Question:
        if self.type is QuestionType.choice and not self.choices:
            raise ValueError("a choice question needs `choices`")
        if self.default is None:
            return self
        if self.type is QuestionType.choice:
            if self.default not in {c.value for c in self.choices}:
                raise ValueError(f"default {self.default!r} is not one of the choices")
        elif self.type is QuestionType.bool and not isinstance(self.default, bool):
            raise ValueError("the default of a bool question is true or false")
        elif self.type is QuestionType.int and (
            isinstance(self.default, bool) or not isinstance(self.default, int)
        ):
            raise ValueError("the default of an int question is an integer")
        return self


class ThingProcedure(Strict):
    id: Slug
    when: str | None = None
    after: tuple[Slug, ...] = ()


class CaseFacts(Strict):
    resources: tuple[Slug, ...] = ()
    values: dict[str, Any] = Field(default_factory=dict)


class CaseExpectation(Strict):
    procedures: tuple[Slug, ...]
    exempt: tuple[Slug, ...] | None = None
    submit: tuple[Slug, ...] | None = None
    promised_days: int | None = None


class Case(Strict):
    """An example answer set with the plan it must produce (OpenFisca-style test case)."""

    name: str
    answers: dict[str, Any] = Field(default_factory=dict)
    facts: CaseFacts | None = None
    expect: CaseExpectation


class Thing(Sourced):
    """A one-thing (一件事): the procedures one life or business event needs, seen from the applicant."""

    code: Slug
    name: str
    audience: Audience
    stage: str
    lead: Slug
    description: str | None = None
    keywords: tuple[str, ...] = ()
    promised_days: int | None = Field(default=None, ge=0)
    legal_days: int | None = Field(default=None, ge=0)
    steps: int = Field(default=3, ge=0)
    trips: int = Field(default=0, ge=0)
    questions: tuple[Question, ...] = ()
    procedures: tuple[ThingProcedure, ...] = Field(min_length=1)
    cases: tuple[Case, ...] = ()

    _procedures = field_validator("procedures", mode="before")(_normalise_uses)


class ListItem(Strict):
    code: Slug
    confidence: Confidence = Confidence.high
    note: str | None = None


class KeyItemList(Sourced):
    """A published key-item list (重点事项清单) by issuer, year and batch."""

    id: str
    issuer: Slug
    year: int = Field(ge=2000, le=2100)
    batch: int = Field(ge=1)
    title: str
    instrument: str | None = None
    date: dt.date | None = None
    declared_count: int | None = Field(default=None, ge=0)
    items: tuple[ListItem, ...] = ()

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"code": item} if isinstance(item, str) else item for item in value]
        return value


class CalendarOverrides(Sourced):
    holidays: tuple[dt.date, ...] = ()
    workdays: tuple[dt.date, ...] = ()
    years: tuple[int, ...] = ()


class Catalog(Strict):
    """The whole catalog, indexed by id. Built by the loader; immutable."""

    departments: dict[str, Department] = Field(default_factory=dict)
    fields: dict[str, FieldDef] = Field(default_factory=dict)
    materials: dict[str, Material] = Field(default_factory=dict)
    resources: dict[str, Resource] = Field(default_factory=dict)
    procedures: dict[str, Procedure] = Field(default_factory=dict)
    things: dict[str, Thing] = Field(default_factory=dict)
    lists: dict[str, KeyItemList] = Field(default_factory=dict)
    calendar: CalendarOverrides = Field(default_factory=CalendarOverrides)

    def thing(self, code: str) -> Thing:
        try:
            return self.things[code]
        except KeyError:
            from onething.catalog.errors import UnknownThing

            raise UnknownThing(code) from None

    def lists_of(self, code: str) -> list[str]:
        """Ids of the lists that publish a thing, oldest first."""
        return sorted(
            (lst.id for lst in self.lists.values() if any(i.code == code for i in lst.items)),
            key=lambda list_id: (self.lists[list_id].year, self.lists[list_id].batch, list_id),
        )
