"""The case API (办件): submit once, department decisions, supplements, files, results and rating.

The contract is pinned in issue 4 — paths, JSON keys and statuses; extend it, never change it. Routes parse
the request, call one service of ``onething.cases.api`` and send its JSON; the rules live in the services.
Errors are problem details: 422 names every bad field, 409 a state conflict, 412 a stale ``If-Match``,
428 a missing one, 404 anything the caller may not see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from onething.cases import api as cases
from onething.cases.settings import get_case_settings
from onething.catalog.model import Catalog
from onething.web.auth import CurrentActor, now_of, rate_limit, settings_of
from onething.web.deps import get_catalog, get_engine
from onething.web.limits import PathId
from onething.web.problems import Problem, problem_responses
from onething.workdays import UnknownCalendarYear

router = APIRouter(prefix="/api/v1", tags=["cases"])

EngineDep = Annotated[Engine, Depends(get_engine)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]


@contextmanager
def _problems() -> Iterator[None]:
    """Turn the case errors into problem details (NotFound/Forbidden are mapped by ``web.auth``)."""
    try:
        yield
    except cases.Invalid as exc:
        raise Problem(422, detail="请求中有字段不符合要求，见 errors。", type_="/problems/validation",
                      errors=exc.errors) from None
    except cases.InvalidTransition as exc:
        raise Problem(409, detail=f"当前状态不允许此操作（{exc.current} → {exc.target}）",
                      type_="/problems/invalid-transition") from None
    except cases.Conflict as exc:
        raise Problem(409, detail=str(exc), type_="/problems/conflict") from None
    except cases.PreconditionFailed as exc:
        raise Problem(412, detail=str(exc), type_="/problems/stale-version") from None
    except cases.PreconditionRequired as exc:
        raise Problem(428, detail=str(exc), type_="/problems/version-required") from None
    except cases.TooLarge as exc:
        raise Problem(413, detail=str(exc), type_="/problems/too-large") from None
    except cases.UploadQuotaExceeded as exc:
        raise Problem(409, "超出本申请的上传限额", str(exc), type_="/problems/upload-quota") from None
    except cases.DailyUploadQuotaExceeded as exc:
        raise Problem(429, "超出每日上传限额", str(exc), type_="/problems/upload-daily-quota") from None
    except cases.UnsupportedType as exc:
        raise Problem(415, detail=str(exc), type_="/problems/unsupported-type") from None
    except UnknownCalendarYear as exc:
        raise Problem(503, detail=f"工作日历未配置 {exc.year} 年，暂时无法计算办理时限；请联系平台运营人员。",
                      type_="/problems/calendar-year-unknown") from None


def _version(value: str | None) -> int | None:
    """The version an ``If-Match`` names: ``3``, ``"3"`` or ``W/"3"``; None when absent."""
    if value is None:
        return None
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', value)
    if match is None:
        raise Problem(412, detail="If-Match 应为办件环节的版本号", type_="/problems/stale-version")
    return int(match.group(1))


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


# --- applications ---------------------------------------------------------------------------------------


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thing: str = Field(description="the one-thing's code, e.g. `open-restaurant`")
    answers: dict[str, Any] = Field(default_factory=dict, description="answers to the situation questions")
    form: dict[str, Any] = Field(default_factory=dict, description="the merged form: field id → value")
    consent: str | None = Field(default=None, max_length=36, description=(
        "the applicant's consent id (`POST /api/v1/exchange/consents`): the server fetches the shared data again "
        "under it, locks prefilled fields to the fetched values and records materials proven by data as exempt"))
    application_ref: str | None = Field(default=None, max_length=36, description=(
        "the application reference the consent is bound to (defaults to the consent's own)"))
    region: str | None = Field(default=None, max_length=64, description=(
        "the region code (`onething catalog regions`) whose rules plan the application; default: the platform's "
        "configured region (ONETHING_REGION), else the national definitions"))


@router.post("/applications", status_code=201, responses=problem_responses(400, 401, 403, 409, 422, 429),
             dependencies=[Depends(rate_limit("submit", "submit_rate_per_minute"))])
def submit(body: SubmitBody, request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> JSONResponse:
    """Submit once (一次提交). The same `Idempotency-Key` and body answer the same application again."""
    if idempotency_key is None:
        raise Problem(400, detail="请在 Idempotency-Key 头中给出本次提交的唯一标识", type_="/problems/validation",
                      errors=[("Idempotency-Key", "必填")])
    with _problems():
        submitted = cases.submit_application(
            engine, actor, catalog=catalog, catalog_version=request.app.state.catalog_label, thing=body.thing,
            answers=body.answers, form=body.form, idempotency_key=idempotency_key, now=now_of(request),
            consent_id=body.consent, application_ref=body.application_ref,
            region=body.region if body.region is not None else settings_of(request).region)
    application = submitted.application
    headers = {"Location": f"/api/v1/applications/{application['id']}"}
    if not submitted.created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(application, status_code=201, headers=headers)


@router.get("/applications", responses=problem_responses(401))
def my_applications(actor: CurrentActor, engine: EngineDep,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """The caller's applications, newest first (我的办件)."""
    with _problems():
        return cases.list_applications(engine, actor, limit=limit)


@router.get("/applications/{application_id}", responses=problem_responses(401, 404))
def get_application(application_id: str, actor: CurrentActor, engine: EngineDep) -> dict[str, Any]:
    with _problems():
        return cases.get_application(engine, actor, application_id)


@router.post("/applications/{application_id}/files", status_code=201,
             responses=problem_responses(401, 404, 409, 413, 415, 422))
def upload_file(application_id: str, request: Request, actor: CurrentActor, engine: EngineDep,
                material: Annotated[str, Form(description="the material this file proves")],
                file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """Upload one material file (上传材料); size and type are limited, its SHA-256 is stored."""
    limit = get_case_settings().upload_max_bytes
    data = file.file.read(limit + 1)
    with _problems():
        return cases.attach_file(engine, actor, application_id, material=material, filename=file.filename or "",
                                 content_type=file.content_type or "", data=data, now=now_of(request))


class SupplementAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form: dict[str, Any] = Field(default_factory=dict, description="the fields the supplement asks for")


@router.post("/applications/{application_id}/supplements/{supplement_id}",
             responses=problem_responses(401, 404, 409, 422))
def answer_supplement(application_id: str, supplement_id: str, body: SupplementAnswer, request: Request,
                      actor: CurrentActor, engine: EngineDep, catalog: CatalogDep) -> dict[str, Any]:
    """Answer a supplement request (补正) once; only the asking task goes back to work."""
    with _problems():
        return cases.answer_supplement(engine, actor, application_id, supplement_id, body.form, catalog=catalog,
                                       now=now_of(request))


@router.post("/applications/{application_id}/withdraw", responses=problem_responses(401, 404, 409))
def withdraw(application_id: str, request: Request, actor: CurrentActor, engine: EngineDep) -> dict[str, Any]:
    """Withdraw an application still being worked on (撤回)."""
    with _problems():
        return cases.withdraw_application(engine, actor, application_id, now=now_of(request))


@router.get("/applications/{application_id}/results", responses=problem_responses(401, 404, 409))
def results(application_id: str, actor: CurrentActor, engine: EngineDep) -> dict[str, Any]:
    """The results of a completed application, one per procedure, together (统一出件)."""
    with _problems():
        items = cases.results(engine, actor, application_id)
    return {"application": application_id, "results": items}


class RatingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: Any = Field(description="1–5: 5 = 非常满意 … 1 = 非常不满意")
    comment: str | None = None
    tasks: dict[str, Any] = Field(default_factory=dict, description="task id → score 1–5")


@router.post("/applications/{application_id}/rating", status_code=201,
             responses=problem_responses(401, 404, 409, 422))
def rate(application_id: str, body: RatingBody, request: Request, actor: CurrentActor, engine: EngineDep,
         catalog: CatalogDep) -> dict[str, Any]:
    """Rate a finished application once (好差评); a second rating is a 409."""
    with _problems():
        return cases.rate_application(engine, actor, application_id, score=body.score, comment=body.comment,
                                      tasks=body.tasks, catalog=catalog, now=now_of(request))


# --- tasks ----------------------------------------------------------------------------------------------


@router.get("/tasks", responses=problem_responses(401, 403, 422))
def list_tasks(actor: CurrentActor, engine: EngineDep, status: str | None = None, department: str | None = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """A department's tasks (待办), earliest due first; staff see their own department only."""
    with _problems():
        return cases.list_tasks(engine, actor, status=status or None, department=department or None, limit=limit)


@router.get("/tasks/overdue", responses=problem_responses(401, 403))
def overdue(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
            department: str | None = None) -> list[dict[str, Any]]:
    """Running tasks past their due date (超期)."""
    with _problems():
        return cases.overdue(engine, actor, now=now_of(request), catalog=catalog, department=department)


@router.get("/tasks/due-soon", responses=problem_responses(401, 403))
def due_soon(request: Request, actor: CurrentActor, engine: EngineDep, catalog: CatalogDep,
             department: str | None = None,
             days: Annotated[int | None, Query(ge=0, le=60)] = None) -> list[dict[str, Any]]:
    """Running tasks due within ``days`` working days (即将到期)."""
    with _problems():
        return cases.due_soon(engine, actor, now=now_of(request), catalog=catalog, department=department,
                              days=days if days is not None else get_case_settings().due_soon_days)


@router.get("/tasks/{task_id}", responses=problem_responses(401, 404))
def get_task(task_id: str, actor: CurrentActor, engine: EngineDep) -> JSONResponse:
    """One task; its version is also the `ETag`, to send back as `If-Match`."""
    with _problems():
        task = cases.get_task(engine, actor, task_id)
    return JSONResponse(task, headers=_etag(task["version"]))


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: cases.DecisionKind
    result: dict[str, Any] | None = Field(default=None, description="approve: result document metadata")
    reason: str | None = Field(default=None, description="reject / request_supplement: why")
    fields: list[str] = Field(default_factory=list, description="request_supplement: field ids")
    materials: list[str] = Field(default_factory=list, description="request_supplement: material ids")


@router.post("/tasks/{task_id}/decision", responses=problem_responses(401, 403, 404, 409, 412, 422, 428))
def decide(task_id: str, body: DecisionBody, request: Request, actor: CurrentActor, engine: EngineDep,
           catalog: CatalogDep, if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> JSONResponse:
    """A department's decision: accept (受理), approve (准予), reject (不予), request_supplement (补正)."""
    decision = cases.Decision(kind=body.kind, result=body.result, reason=body.reason, fields=tuple(body.fields),
                              materials=tuple(body.materials))
    with _problems():
        task = cases.decide_task(engine, actor, task_id, decision, expected_version=_version(if_match),
                                 catalog=catalog, now=now_of(request))
    return JSONResponse(task, headers=_etag(task["version"]))


@router.get("/applications/{application_id}/rating", responses=problem_responses(401, 404))
def get_rating(application_id: str, actor: CurrentActor, engine: EngineDep) -> dict[str, Any]:
    """The rating (好差评) of an application and the rectifications it opened, with the departments' answers."""
    with _problems():
        rating = cases.rating_of(engine, actor, application_id)
    if rating is None:
        raise Problem(404, "尚未评价", "该申请尚未评价。")
    return rating


class RectificationAnswer(BaseModel):
    answer: str = Field(description="整改答复: what the department verified and changed")


@router.post("/rectifications/{rectification_id}/answer", responses=problem_responses(401, 403, 404, 409, 422))
def answer_rectification(rectification_id: PathId, body: RectificationAnswer, request: Request, actor: CurrentActor,
                         engine: EngineDep) -> dict[str, Any]:
    """A department answers a rectification (整改) opened by a bad rating; the applicant sees the answer."""
    with _problems():
        return cases.answer_rectification(engine, actor, rectification_id, answer=body.answer, now=now_of(request))


@router.get("/rectifications", responses=problem_responses(401, 403))
def rectifications(actor: CurrentActor, engine: EngineDep, department: str | None = None,
                   status: str | None = None) -> list[dict[str, Any]]:
    """Rectification items (整改) opened by bad ratings, earliest due first."""
    with _problems():
        return cases.list_rectifications(engine, actor, department=department, status=status)
