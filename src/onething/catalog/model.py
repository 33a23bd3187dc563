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
from stdnum.cn import uscc

SLUG = r"^[a-z][a-z0-9_-]*$"
Slug = Annotated[str, Field(pattern=SLUG)]
# 事项编码. The basic code (基本编码) names the item in the catalogue; the implementation code (实施编码) names
# one department's implementation of it in one region, e.g. (Sichuan)
# ``511Z07001006-511602000000-000-11511301008778183N-1-00``: basic code, 12-digit region code (GB/T 2260,
# padded), 3-digit part, the implementing authority's USCC (GB 32100), a 1-digit and a 2-digit part
# (业务办理项). Only forms seen in published guides are accepted; another province's form is added here, with
# its source, when a guide that uses it is found.
BASIC_CODE = re.compile(r"^[0-9A-Z]{12}$")
IMPLEMENTATION_CODE = re.compile(
    r"^(?P<basic>[0-9A-Z]{12})-(?P<region>[0-9]{12})-(?P<part>[0-9]{3})-(?P<uscc>[0-9A-Z]{18})"
    r"-(?P<level>[0-9])-(?P<item>[0-9]{2})$")
URL = r"^https?://[^\s/$.?#][^\s]*$"
PHONE = r"^[0-9]{3,}(-[0-9]+)*$"
Sentence = Annotated[str, Field(pattern=r"\S")]  # not blank


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


class Source(Strict):
    """A public page a fact was read from: its title, address and the day it was read (来源)."""

    title: str = Field(min_length=1)
    url: str = Field(pattern=URL)
    accessed: dt.date


class Sourced(Strict):
    source: str | None = None
    sources: tuple[Source, ...] = ()
    confidence: Confidence = Confidence.high
    note: str | None = None


class Level(StrEnum):
    """Administrative level (层级) of a department or a region."""

    national = "national"
    province = "province"
    city = "city"
    county = "county"


class Department(Sourced):
    """A government department (部门) that owns procedures and holds data."""

    id: Slug
    name: str
    short_name: str | None = None
    level: Level | None = None


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


class MaterialForm(StrEnum):
    """原件 / 复印件: what the applicant hands in."""

    original = "original"
    copy = "copy"
    original_and_copy = "original_and_copy"
    original_or_copy = "original_or_copy"      # a guide's "原件/复印件": either


class Medium(StrEnum):
    """纸质 / 电子."""

    paper = "paper"
    electronic = "electronic"
    paper_or_electronic = "paper_or_electronic"


class Channel(StrEnum):
    """来源渠道: who produces the material."""

    applicant = "applicant"      # 申请人自备
    government = "government"    # 政府部门核发
    shared = "shared"            # 共享获取 (the department fetches it; the applicant brings nothing)
    applicant_or_shared = "applicant_or_shared"  # a guide's "申请人自备/数据共享": shared where the data exist


class MaterialUse(Strict):
    """A material as one procedure asks for it (申请材料目录): the guide's per-material columns.

    ``required`` is the 必要性 column (必要 / 非必要); the other columns are ``None`` until sourced.
    """

    id: Slug
    required: bool = True
    when: str | None = None
    form: MaterialForm | None = None
    copies: int | None = Field(default=None, ge=1)
    medium: Medium | None = None
    channel: Channel | None = None


class ResultDocument(Strict):
    """The result document (结果文书 / 电子证照).

    ``provides`` is the older spelling of the procedure's ``produces`` (kept as an alias: both are read).
    ``resource`` names the data resource (数据资源) of the exchange that holds this result once issued (出生医学证明
    → ``birth_medical_certificate``): when the plan's shared data already serve it, the procedure is 已核验 and
    no department works on it; an issued certificate of the procedure is served to the exchange as that resource.
    """

    name: str
    electronic: bool = False
    provides: tuple[Slug, ...] = ()
    resource: Slug | None = None
    sample: str | None = None  # 样本: where a sample of the document is published (URL) or what it looks like


class LegalBasis(Strict):
    """A law, regulation or document and, where known, the article (法律依据 / 设定依据)."""

    law: str = Field(min_length=1)
    article: str | None = None


class Location(Strict):
    """办理地点、窗口、时间. Regions override these (the national file names the kind of place)."""

    place: str = Field(min_length=1)
    window: str | None = None
    hours: str | None = None


class Contacts(Strict):
    """咨询电话 and 监督投诉电话: digits and hyphens (``12345``, ``0312-5345083``)."""

    enquiry: tuple[Annotated[str, Field(pattern=PHONE)], ...] = ()
    complaint: tuple[Annotated[str, Field(pattern=PHONE)], ...] = ()


class DeliveryMethod(StrEnum):
    """送达方式."""

    window = "window"            # 窗口领取
    post = "post"                # 邮政寄递
    electronic = "electronic"    # 电子证照 / 网上送达


class Guide(Strict):
    """The parts of a procedure's 办事指南 beyond its limits and result, in the order citizens read them.

    Every key is optional: an empty one is shown as not yet collected, and the validator lists it. A region
    (``catalog/regions/<code>/``, later) overrides these keys one by one.
    """

    conditions: tuple[Sentence, ...] = ()            # 受理条件
    basis: tuple[LegalBasis, ...] = ()               # 法律依据
    fees: str | None = None                          # 收费: "不收费" is a value
    locations: tuple[Location, ...] = ()             # 办理地点 / 窗口 / 时间
    contacts: Contacts | None = None                 # 咨询电话, 监督投诉电话
    delivery: tuple[DeliveryMethod, ...] = ()        # 送达方式
    legal_days_basis: LegalBasis | None = None       # what sets the legal limit (法定时限依据)


def _normalise_uses(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [{"id": item} if isinstance(item, str) else item for item in value]
    return value


class Procedure(Sourced):
    """An administrative procedure (政务服务事项) owned by one department."""

    id: Slug
    name: str
    department: Slug
    basic_code: str | None = None           # 基本编码
    implementation_code: str | None = None  # 实施编码
    kind: ProcedureKind = ProcedureKind.other
    legal_days: int | None = Field(default=None, ge=0)
    promised_days: int = Field(ge=0)
    steps: int = Field(default=1, ge=0)
    trips: int = Field(default=1, ge=0)
    fields: tuple[FieldUse, ...] = ()
    materials: tuple[MaterialUse, ...] = ()
    result: ResultDocument | None = None
    # Form fields that completing this procedure produces (出生登记 → the child's 公民身份号码; 营业执照 → the
    # USCC): not asked of the applicant when this procedure precedes those that need them; the department fills
    # them when it approves its task.
    produces: tuple[Slug, ...] = ()
    guide: Guide = Field(default_factory=Guide)
    unconfirmed: tuple[str, ...] = ()  # parts not yet checked against an official guide, in plain words

    _uses = field_validator("fields", "materials", mode="before")(_normalise_uses)

    @property
    def produced_fields(self) -> tuple[str, ...]:
        """``produces`` and the older ``result.provides``, once each, in that order."""
        legacy = self.result.provides if self.result else ()
        return tuple(dict.fromkeys((*self.produces, *legacy)))

    @model_validator(mode="before")
    @classmethod
    def _legacy_code(cls, value: Any) -> Any:
        # Versions published before basic/implementation codes carry ``code: null``; no shipped procedure
        # ever had a code, so a null one is dropped and a non-null one is an error (unknown key).
        if isinstance(value, dict) and "code" in value and value["code"] is None:
            value = {k: v for k, v in value.items() if k != "code"}
        return value

    @field_validator("basic_code")
    @classmethod
    def _basic_code_form(cls, value: str | None) -> str | None:
        if value is not None and not BASIC_CODE.match(value):
            raise ValueError("基本编码 is 12 digits or capital letters")
        return value

    @field_validator("implementation_code")
    @classmethod
    def _implementation_code_form(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = IMPLEMENTATION_CODE.match(value)
        if not match:
            raise ValueError("实施编码 is <基本编码 12>-<区划 12 digits>-<3 digits>-<USCC 18>-<1 digit>-<2 digits>")
        if not uscc.is_valid(match["uscc"]):
            raise ValueError(f"实施编码: {match['uscc']} is not a valid 统一社会信用代码 (check character)")
        return value

    @model_validator(mode="after")
    def _codes_agree(self) -> Procedure:
        if self.basic_code and self.implementation_code and not self.implementation_code.startswith(
                self.basic_code + "-"):
            raise ValueError("the 实施编码 does not start with this procedure's 基本编码")
        return self


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


class AssuranceLevel(StrEnum):
    """How sure the platform must be of who applies (身份认证等级; docs/accounts.md)."""

    L1 = "L1"  # a password
    L2 = "L2"  # real-name verified (实名核验)
    L3 = "L3"  # verified in person or by face (现场/人脸核验)


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
    unconfirmed: tuple[str, ...] = ()  # parts not yet checked against an official guide, in plain words
    # 受理条件 of the joint service as the provinces state them, and the same as a condition over the answers:
    # when ``eligible_when`` is false the procedures are still listed, but each is applied for separately.
    conditions: tuple[Sentence, ...] = ()
    eligible_when: str | None = None
    # The assurance level an applicant must have signed in at to submit (accounts.assurance).
    assurance: AssuranceLevel = AssuranceLevel.L2

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
    date: dt.date | None = None          # the date the instrument bears (成文日期)
    published: dt.date | None = None     # the date it was made public (发布日期), when it differs
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


class DepartmentChange(Sourced):
    """A region's department: a new one, or a national one renamed locally. ``takes_over`` merges departments
    into it (a 行政审批局 that takes over several departments' approvals): in the region, every procedure and
    lead of those departments is handled by this one."""

    id: Slug
    name: str
    short_name: str | None = None
    level: Level | None = None
    takes_over: tuple[Slug, ...] = ()


class ProcedureOverride(Sourced):
    """What a region changes in a national procedure (local limits, its own 实施编码, a local department).
    Keys left out are inherited."""

    id: Slug
    name: str | None = None
    department: Slug | None = None
    implementation_code: str | None = None
    legal_days: int | None = Field(default=None, ge=0)
    promised_days: int | None = Field(default=None, ge=0)
    steps: int | None = Field(default=None, ge=0)
    trips: int | None = Field(default=None, ge=0)
    guide: Guide | None = None
    unconfirmed: tuple[str, ...] | None = None


class ThingProcedureChange(Strict):
    """A region's change to one procedure of a thing: its condition (a local threshold) or its order."""

    id: Slug
    when: str | None = None
    after: tuple[Slug, ...] | None = None


class ThingOverride(Sourced):
    """What a region changes in a national thing. Keys left out are inherited."""

    code: Slug
    name: str | None = None
    description: str | None = None
    lead: Slug | None = None
    promised_days: int | None = Field(default=None, ge=0)
    legal_days: int | None = Field(default=None, ge=0)
    steps: int | None = Field(default=None, ge=0)
    trips: int | None = Field(default=None, ge=0)
    conditions: tuple[Sentence, ...] | None = None
    unconfirmed: tuple[str, ...] | None = None
    add_questions: tuple[Question, ...] = ()
    add_procedures: tuple[ThingProcedure, ...] = ()
    drop_procedures: tuple[Slug, ...] = ()
    change_procedures: tuple[ThingProcedureChange, ...] = ()
    cases: tuple[Case, ...] | None = None  # replace the inherited cases (they check the region's plan)

    _procedures = field_validator("add_procedures", mode="before")(_normalise_uses)


class Region(Sourced):
    """A province, city or county that inherits the national catalog (or its parent region's) and overrides
    only what differs (``catalog/regions/<code>/region.yaml``)."""

    code: Slug
    name: str
    level: Level
    parent: Slug | None = None          # None: the national catalog
    division_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")  # 行政区划代码 (GB/T 2260)
    departments: tuple[DepartmentChange, ...] = ()
    procedures: tuple[Procedure, ...] = ()                 # procedures that exist only in this region
    procedure_overrides: tuple[ProcedureOverride, ...] = ()
    things: tuple[ThingOverride, ...] = ()

    @model_validator(mode="after")
    def _not_national(self) -> Region:
        if self.level is Level.national:
            raise ValueError("a region is a province, city or county; the national catalog is the root")
        return self


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
    regions: dict[str, Region] = Field(default_factory=dict)

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
