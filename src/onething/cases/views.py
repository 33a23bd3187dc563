"""JSON views of case rows, in the shape the API contract pins (issue 4): services return these, routers
send them unchanged. Extra keys extend the contract; the pinned ones never change meaning.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from onething.cases.tables import ApplicationRow, FileRow, RatingRow, RectificationRow, SupplementRow, TaskRow


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_view(task: TaskRow, *, thing: str | None = None) -> dict[str, Any]:
    """``{id, application, procedure, department, status, version, due}`` plus the task's clock and outcome."""
    view: dict[str, Any] = {
        "id": task.id, "application": task.application_id, "procedure": task.procedure,
        "department": task.department, "status": task.status, "version": task.version, "due": _iso(task.due),
        "stage": task.stage, "after": list(task.after), "promised_days": task.promised_days,
        "ready_at": _iso(task.ready_at), "paused_days": task.paused_days, "decided_at": _iso(task.decided_at),
        "result": task.result, "reason": task.reason,
        # 已核验: the shared-data proof (resource, holder, fetched_at, audit_entry_id) of a result already proven
        "verified": (task.result or {}).get("verified") if isinstance(task.result, dict) else None,
    }
    if thing is not None:
        view["thing"] = thing
    return view


def supplement_view(supplement: SupplementRow) -> dict[str, Any]:
    """``{id, status, reason, fields, materials}`` plus which task asked and when."""
    return {
        "id": supplement.id, "status": supplement.status, "reason": supplement.reason,
        "fields": list(supplement.fields), "materials": list(supplement.materials), "task": supplement.task_id,
        "requested_at": _iso(supplement.requested_at), "answered_at": _iso(supplement.answered_at),
    }


def file_view(file: FileRow) -> dict[str, Any]:
    return {
        "id": file.id, "application": file.application_id, "material": file.material, "filename": file.filename,
        "content_type": file.content_type, "size": file.size, "sha256": file.sha256,
        "uploaded_at": _iso(file.uploaded_at),
    }


def application_view(app: ApplicationRow, tasks: Iterable[TaskRow], supplements: Iterable[SupplementRow],
                     files: Iterable[FileRow] = (), *, departments: set[str] | None = None) -> dict[str, Any]:
    """``{id, status, thing, plan, tasks, supplements, promised_due}`` plus answers, form, files and times.

    With ``departments`` (staff of a department), only that department's tasks, supplements, the form fields
    its procedures use and the files uploaded for its procedures' materials are shown: a department does not
    see another's work, nor the names and hashes of files it does not handle.
    """
    tasks = list(tasks)
    files = list(files)
    form = dict(app.form)
    if departments is not None:
        mine = _own_materials(app, departments)
        files = [f for f in files if f.material in mine]
        tasks = [t for t in tasks if t.department in departments]
        own_tasks = {t.id for t in tasks}
        own_procedures = {t.procedure for t in tasks}
        supplements = [s for s in supplements if s.task_id in own_tasks]
        used = {f["id"] for f in app.plan.get("form", {}).get("fields", [])
                if own_procedures & set(f.get("procedures", ()))}
        form = {key: value for key, value in form.items() if key in used}
    return {
        "id": app.id, "number": app.number, "status": app.status, "thing": app.thing, "plan": app.plan,
        "tasks": [task_view(t) for t in sorted(tasks, key=lambda t: (t.stage, t.procedure))],
        "supplements": [supplement_view(s) for s in sorted(supplements, key=lambda s: s.requested_at)],
        "promised_due": _iso(app.promised_due),
        "answers": app.answers, "form": form, "files": [file_view(f) for f in files],
        "catalog_version": app.catalog_version, "region": app.region, "submitted_at": _iso(app.submitted_at),
        "completed_at": _iso(app.completed_at), "version": app.version,
        "shared_data": shared_data_view(app, departments),
        "acted_by": app.acted_by_id, "delegation": app.delegation_id, "delivery": app.delivery,
    }


def _own_procedures(app: ApplicationRow, departments: set[str]) -> set[str]:
    return {p["id"] for p in app.plan.get("procedures", []) if p.get("department") in departments}


def _own_materials(app: ApplicationRow, departments: set[str]) -> set[str]:
    """The plan's materials that a procedure of ``departments`` uses."""
    own = _own_procedures(app, departments)
    return {m["id"] for m in app.plan.get("materials", []) if own & set(m.get("procedures", ()))}


def shared_data_view(app: ApplicationRow, departments: set[str] | None = None) -> dict[str, Any] | None:
    """What shared data did for the application (数据共享): its reference and consent, the proof of each exempt
    material (resource, holder, fetch time, audit entry), the source of each prefilled field and the proof of each
    已核验 procedure (``verified_procedures``: its result is already held as shared data). A department
    sees the proofs of its own procedures' materials and fields only, and not the consent id."""
    proofs = app.data_proofs
    if proofs is None:
        return None
    materials = dict(proofs.get("materials") or {})
    fields = dict(proofs.get("fields") or {})
    consent = app.consent_id
    verified = dict(proofs.get("procedures") or {})
    if departments is not None:
        own = _own_procedures(app, departments)
        verified = {k: v for k, v in verified.items() if k in own}
        mine = _own_materials(app, departments)
        materials = {k: v for k, v in materials.items() if k in mine}
        used = {f["id"] for f in app.plan.get("form", {}).get("fields", []) if own & set(f.get("procedures", ()))}
        fields = {k: v for k, v in fields.items() if k in used}
        consent = None  # the applicant's consent id is theirs to use; staff need only the proofs
    return {"application_ref": app.exchange_ref, "consent": consent, "exempt_materials": materials,
            "prefilled_fields": fields, "verified_procedures": verified,
            "unavailable": dict(proofs.get("unavailable") or {}), "refused": dict(proofs.get("refused") or {})}


def rating_view(ratings: Iterable[RatingRow], rectifications: Iterable[RectificationRow]) -> dict[str, Any]:
    rows = list(ratings)
    whole = next((r for r in rows if r.subject == "application"), None)
    return {
        "application": whole.application_id if whole else None,
        "score": whole.score if whole else None,
        "comment": whole.comment if whole else None,
        "rated_at": _iso(whole.rated_at) if whole else None,
        "tasks": {r.task_id: r.score for r in rows if r.task_id is not None},
        "rectifications": [rectification_view(r) for r in rectifications],
    }


def rectification_view(item: RectificationRow) -> dict[str, Any]:
    return {
        "id": item.id, "application": item.application_id, "task": item.task_id, "department": item.department,
        "score": item.score, "status": item.status, "opened_at": _iso(item.opened_at), "due": _iso(item.due),
        "answered_at": _iso(item.answered_at), "answer": item.answer,
    }
