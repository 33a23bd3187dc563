"""登记寄出: staff of a department record the tracking number of results they posted (邮寄送达), from the
task page's small form; the rule (which application, which state, who) is ``cases.record_dispatch``'s."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from onething.accounts.api import Role
from onething.cases import api as cases
from onething.web.auth import CurrentActor, now_of
from onething.web.deps import get_engine
from onething.web.flash import redirect_with_notice
from onething.web.problems import Problem

router = APIRouter(include_in_schema=False)


@router.post("/workbench/tasks/{task_id}/dispatch")
async def dispatch(request: Request, task_id: str, actor: CurrentActor,
                   engine: Annotated[Engine, Depends(get_engine)]) -> Response:
    if actor.role not in (Role.staff, Role.dept_admin) or actor.department is None:
        raise Problem(403, detail="工作台仅供部门工作人员使用。", type_="/problems/forbidden")
    raw = await request.form()
    number, carrier = raw.get("tracking_number"), raw.get("carrier")
    task = await run_in_threadpool(cases.get_task, engine, actor, task_id)
    path = f"/workbench/tasks/{task_id}#delivery"
    try:
        await run_in_threadpool(lambda: cases.record_dispatch(
            engine, actor, task["application"], tracking_number=number if isinstance(number, str) else "",
            carrier=carrier if isinstance(carrier, str) else None, now=now_of(request)))
    except cases.Invalid as exc:
        return redirect_with_notice(engine, request, path, "；".join(m for _, m in exc.errors), error=True)
    except cases.Conflict as exc:
        return redirect_with_notice(engine, request, path, str(exc), error=True)
    return redirect_with_notice(engine, request, path, "已登记寄出，申请人可在办件中查看快递单号。")
