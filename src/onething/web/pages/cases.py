"""Case pages: the applicant's (apply, 我的办件, 补正, 好差评) and the department workbench (工作台), under one
router so that the app factory includes them with one line."""

from __future__ import annotations

from fastapi import APIRouter

from onething.web.pages import applicant, apply_steps, dispatch, workbench

router = APIRouter(include_in_schema=False)
router.include_router(applicant.router)
router.include_router(apply_steps.router)
router.include_router(workbench.router)
router.include_router(dispatch.router)
