"""Presentation helpers for the case pages (申请、我的办件、工作台): Chinese labels, the input each merged-form
field is shown with, the form data a page posts turned into the body the case services take, and the
per-task timeline. They decide nothing: what is valid, allowed or due is the services' and the model's call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from onething.cases.dispatch import LABELS as DELIVERY_LABELS
from onething.cases.model import TaskStatus, decision_name
from onething.cases.model import allowed_decisions as model_allowed_decisions
from onething.catalog.model import Catalog
from onething.intake.model import FormField, Plan
from onething.workdays import CHINA_TIME

FIELD_PREFIX = "field."
MATERIAL_PREFIX = "material."
ANSWER_PREFIX = "answer."
TASK_SCORE_PREFIX = "task."

TASK_STATUS_LABELS = {
    "waiting": "等待前置事项", "ready": "待受理", "accepted": "办理中", "supplement_required": "待补正",
    "approved": "已办结", "rejected": "不予许可", "cancelled": "已终止",
}
APPLICATION_STATUS_LABELS = {
    "submitted": "已提交", "in_progress": "办理中", "supplement_required": "待补正", "completed": "已办结",
    "rejected": "不予办理", "withdrawn": "已撤回",
}
DECISION_LABELS = {"accept": "受理", "approve": "办结（准予许可）", "reject": "不予许可",
                   "request_supplement": "要求补正"}
SUPPLEMENT_STATUS_LABELS = {"open": "待答复", "answered": "已答复", "cancelled": "已取消"}
SCORE_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
HISTORY_LABELS = {"task.ready": "前置事项已办结，开始计时，待受理", "task.resumed": "申请人已补正，恢复办理",
                  "task.cancelled": "办件终止"}
UPLOAD_ACCEPT = ".pdf,.jpg,.jpeg,.png,.ofd,application/pdf,image/jpeg,image/png,application/ofd"


def local_time(moment: datetime | str | None) -> str:
    """An instant as Beijing time, ``2026-03-02 09:00``; "—" when absent."""
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def local_date(value: date | str | None) -> str:
    if value is None or value == "":
        return "—"
    return value if isinstance(value, str) else value.isoformat()


# --- the merged form --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Widget:
    """How one merged-form field is shown: its input, current value, hint and error."""

    field: FormField
    control: str                   # text | number | date | tel | select | checkbox
    value: str
    error: str | None = None
    attrs: dict[str, str] = dataclasses.field(default_factory=dict)
    # Filled from shared data and locked (Myinfo style): shown read-only with its source.
    locked: bool = False
    source: str | None = None
    report_url: str | None = None

    @property
    def id(self) -> str:
        return f"field-{self.field.id}"

    @property
    def name(self) -> str:
        return FIELD_PREFIX + self.field.id

    @property
    def described_by(self) -> str:
        ids = []
        if self.field.help:
            ids.append(f"{self.id}-hint")
        if self.field.prefill is not None or self.source:
            ids.append(f"{self.id}-prefill")
        if self.error:
            ids.append(f"{self.id}-error")
        return " ".join(ids)


_CONTROLS: dict[str, tuple[str, dict[str, str]]] = {
    "int": ("number", {"inputmode": "numeric", "min": "0", "step": "1"}),
    "money": ("text", {"inputmode": "decimal", "autocomplete": "off"}),
    "date": ("date", {}),
    "phone": ("tel", {"inputmode": "tel", "autocomplete": "tel", "maxlength": "11"}),
    "id_number": ("text", {"maxlength": "18", "autocomplete": "off", "spellcheck": "false",
                           "autocapitalize": "characters"}),
    "uscc": ("text", {"maxlength": "18", "autocomplete": "off", "spellcheck": "false",
                      "autocapitalize": "characters"}),
    "address": ("text", {"autocomplete": "street-address", "maxlength": "2000"}),
    "bool": ("checkbox", {}),
    "choice": ("select", {}),
}


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def widgets(fields: Iterable[FormField], values: Mapping[str, Any] | None = None,
            errors: Mapping[str, str] | None = None, *, locked: Iterable[str] = (),
            sources: Mapping[str, str] | None = None, report_urls: Mapping[str, str] | None = None) -> list[Widget]:
    """The inputs for ``fields``, showing ``values`` (else the plan's prefill) and ``errors`` by field id.

    A field that a procedure of the plan produces (``provided_by``) is not an input at all. A ``locked`` field
    always shows the value fetched from shared data, whatever was posted; ``sources`` says
    where a prefilled value came from, ``report_urls`` where to report it as wrong.
    """
    values = values or {}
    errors = errors or {}
    sources = sources or {}
    report_urls = report_urls or {}
    fixed = set(locked)
    out = []
    for f in fields:
        if f.provided_by is not None:
            continue  # produced by a procedure of the plan (its department fills it): never asked
        control, attrs = _CONTROLS.get(f.type, ("text", {"maxlength": "2000"}))
        prefill = _shown(f.prefill.value) if f.prefill is not None else ""
        is_locked = f.id in fixed and f.prefill is not None
        value = prefill if is_locked or f.id not in values else _shown(values[f.id])
        out.append(Widget(f, control, value, errors.get(f.id), dict(attrs), locked=is_locked,
                          source=sources.get(f.id), report_url=report_urls.get(f.id)))
    return out


def form_values(raw: Mapping[str, Any], fields: Iterable[FormField]) -> dict[str, str]:
    """What the applicant typed, by field id, for showing the form again (strings as posted)."""
    out: dict[str, str] = {}
    for f in fields:
        value = raw.get(FIELD_PREFIX + f.id)
        if f.type == "bool":
            out[f.id] = "true" if value == "true" else "false"
        elif isinstance(value, str):
            out[f.id] = value
    return out


def form_payload(raw: Mapping[str, Any], fields: Iterable[FormField]) -> dict[str, Any]:
    """The posted form as the services' ``form`` body: only the plan's fields; a checkbox is true or false.

    Text stays text (the service validates and normalises it); a blank optional field is left out.
    """
    out: dict[str, Any] = {}
    for f in fields:
        value = raw.get(FIELD_PREFIX + f.id)
        if f.type == "bool":
            out[f.id] = value == "true"
        elif isinstance(value, str) and value.strip():
            out[f.id] = value
    return out


def split_errors(errors: Sequence[tuple[str, str]], field_ids: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Service errors → (message by form field id, messages that belong to no field)."""
    known = set(field_ids)
    by_field: dict[str, str] = {}
    other: list[str] = []
    for name, message in errors:
        key = name.removeprefix("form.")
        if key in known:
            by_field.setdefault(key, message)
        else:
            other.append(message)
    return by_field, other


# --- department work --------------------------------------------------------------------------------------


def allowed_decisions(status: str) -> dict[str, str]:
    """The decisions the transition table allows on a task in ``status`` (the forms to show), each with its
    name in that status (不予受理 at intake, 不予许可 after acceptance)."""
    current = TaskStatus(status)
    return {kind.value: decision_name(current, kind) for kind in model_allowed_decisions(current)}


def procedure_fields(plan: Plan, procedure: str) -> list[FormField]:
    return [f for f in plan.form.fields if procedure in f.procedures]


def procedure_materials(plan: Plan, procedure: str) -> list[Any]:
    return [m for m in plan.materials if procedure in m.procedures]


@dataclass(frozen=True)
class TimelineTask:
    """One department's leg of an application, as the applicant's timeline shows it."""

    task: dict[str, Any]
    procedure_name: str
    department_name: str
    result_name: str | None
    events: list[tuple[str, str]]          # (when, what)
    supplements: list[dict[str, Any]]


def event_text(entry: Mapping[str, Any]) -> str:
    if entry["action"] == "task.decided":
        return DECISION_LABELS.get(entry.get("kind") or "", "办理决定")
    action = str(entry["action"])
    return HISTORY_LABELS.get(action, action)


def timeline(application: Mapping[str, Any], history: Mapping[str, list[dict[str, Any]]],
             catalog: Catalog) -> list[TimelineTask]:
    """Each task with its department, history and supplements, in plan order."""
    plan = Plan.model_validate(application["plan"])
    planned = {p.id: p for p in plan.procedures}
    out = []
    for task in application["tasks"]:
        proc = planned.get(task["procedure"])
        department = catalog.departments.get(task["department"])
        events = [(local_time(e["at"]), event_text(e)) for e in history.get(task["id"], [])]
        supplements = [s for s in application["supplements"] if s.get("task") == task["id"]]
        out.append(TimelineTask(
            task=task, procedure_name=proc.name if proc else task["procedure"],
            department_name=proc.department_name if proc else (department.name if department else task["department"]),
            result_name=proc.result if proc else None, events=events, supplements=supplements))
    return out


def choice_label(field: FormField, value: str) -> str:
    """The label of the choice whose value is shown as ``value`` (a locked select is shown as text)."""
    return next((c.label for c in field.choices if str(c.value) == value), value)


def value_text(field: FormField, value: Any) -> str:
    """A stored form value as the applicant chose it: a choice's label, 是/否, or the value itself."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    for choice in field.choices:
        if choice.value == value:
            return choice.label
    return str(value)


def field_labels(plan: Plan) -> dict[str, str]:
    return {f.id: f.label for f in plan.form.fields}


def material_names(plan: Plan) -> dict[str, str]:
    return {m.id: m.name for m in plan.materials}


def template_helpers(catalog: Catalog) -> dict[str, Any]:
    """Labels and formatters every case template uses."""
    return {
        "task_status_labels": TASK_STATUS_LABELS, "application_status_labels": APPLICATION_STATUS_LABELS,
        "decision_labels": DECISION_LABELS, "supplement_status_labels": SUPPLEMENT_STATUS_LABELS,
        "score_labels": SCORE_LABELS, "local_time": local_time, "local_date": local_date,
        "upload_accept": UPLOAD_ACCEPT, "value_text": value_text, "choice_label": choice_label,
        "thing_name": lambda code: catalog.things[code].name if code in catalog.things else code,
        "procedure_name": lambda p: catalog.procedures[p].name if p in catalog.procedures else p,
        "department_name": lambda d: catalog.departments[d].name if d in catalog.departments else (d or "—"),
        "resource_name": lambda r: catalog.resources[r].name if r in catalog.resources else (r or "—"),
        "catalog_resources": catalog.resources, "delivery_labels": DELIVERY_LABELS,
    }


def _answer_text(question: Any, value: Any) -> str:
    if isinstance(value, bool) or str(value).lower() in ("true", "false"):
        truth = value if isinstance(value, bool) else str(value).lower() == "true"
        return "是" if truth else "否"
    return next((c.label for c in question.choices if str(c.value) == str(value)), str(value))


def telling_answers(applications: Sequence[Mapping[str, Any]], catalog: Catalog, *, most: int = 3
                    ) -> dict[str, list[str]]:
    """For each application, the few answers that tell it apart from the applicant's other applications for
    the same thing (情形 answers that differ; failing those, form values that differ), as "问题：答案"."""
    by_thing: dict[str, list[Mapping[str, Any]]] = {}
    for app in applications:
        by_thing.setdefault(app["thing"], []).append(app)
    out: dict[str, list[str]] = {}
    for code, group in by_thing.items():
        if len(group) < 2:
            continue
        thing = catalog.things.get(code)
        questions = {q.id: q for q in thing.questions} if thing else {}
        keys = [q for q in questions if len({str(a["answers"].get(q)) for a in group}) > 1]
        for app in group:
            out[app["id"]] = [f"{questions[q].text.rstrip('？?')}：{_answer_text(questions[q], app['answers'][q])}"
                              for q in keys[:most] if q in app["answers"]]
        if keys:
            continue
        labels = {f["id"]: f["label"] for a in group for f in a["plan"].get("form", {}).get("fields", [])}
        fields = [f for f in labels if len({str(a["form"].get(f)) for a in group}) > 1][:most]
        for app in group:
            out[app["id"]] = [f"{labels[f]}：{app['form'][f]}" for f in fields if app["form"].get(f) not in (None, "")]
    return out
