"""Plan types: what the applicant sees after answering the guide (情形引导) — pure data, JSON-ready."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class PrefillValue(Frozen):
    """A value known from shared data, with where it came from (shown to the applicant, locked)."""

    value: Any
    resource: str
    holder: str | None = None
    fetched_at: str | None = None


class KnownFacts(Frozen):
    """What the data exchange could supply: available resources (for exemptions) and field values."""

    resources: frozenset[str] = frozenset()
    values: dict[str, PrefillValue] = Field(default_factory=dict)


class PlannedProcedure(Frozen):
    id: str
    name: str
    department: str
    department_name: str
    kind: str
    stage: int
    after: tuple[str, ...]
    promised_days: int
    legal_days: int | None
    result: str | None
    # 事项编码 (GB/T 39554.1-2020) when the catalog knows them; reported upward with each 办件 record.
    basic_code: str | None = None
    implementation_code: str | None = None
    # Fields of the merged form that this procedure's completion fills (not asked of the applicant): the
    # department enters them when it approves.
    produces: tuple[str, ...] = ()
    # 已核验: the data resource that already proves this procedure's result (no department task to wait for).
    verified_by: str | None = None


class ChoiceOut(Frozen):
    value: Any
    label: str


class FormField(Frozen):
    """One field of the merged form (一表申请), asked once for every procedure that needs it."""

    id: str
    label: str
    type: str
    required: bool
    choices: tuple[ChoiceOut, ...] = ()
    help: str | None = None
    procedures: tuple[str, ...]
    prefill: PrefillValue | None = None
    min: int | None = None  # bounds of a number field (int, money), inclusive, from the catalog
    max: int | None = None
    # A procedure earlier in the plan whose result fills this field (电子证照复用): not asked, not required.
    provided_by: str | None = None


class MergedForm(Frozen):
    fields: tuple[FormField, ...]


class PlannedMaterial(Frozen):
    """One entry of the merged materials (一套材料); ``exempt`` when shared data proves it (免提交)."""

    id: str
    name: str
    status: Literal["submit", "exempt"]
    required: bool
    procedures: tuple[str, ...]
    proven_by: str | None = None
    can_be_proven_by: tuple[str, ...] = ()


class Reductions(Frozen):
    """The four reductions against doing each procedure separately, as fractions (0.73 = −73 %)."""

    materials: float
    steps: float
    time: float
    trips: float


class Counts(Frozen):
    materials: int
    steps: int
    days: int
    trips: int


class Plan(Frozen):
    thing: str
    thing_name: str
    answers: dict[str, Any]
    procedures: tuple[PlannedProcedure, ...]
    stages: tuple[tuple[str, ...], ...]
    form: MergedForm
    materials: tuple[PlannedMaterial, ...]
    promised_days: int
    reductions: Reductions
    separately: Counts
    together: Counts

    def procedure_ids(self) -> list[str]:
        return [p.id for p in self.procedures]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
