"""Case runtime knobs, from ``ONETHING_*`` environment variables like every other setting.

Kept beside the cases context until ``onething.config.Settings`` absorbs them (its owner's call); the names
are the ones that class would use, so moving them changes no deployment.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class CaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETHING_", extra="ignore")

    # Uploaded materials (申请材料附件).
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_content_types: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png", "application/ofd")
    # What one application may hold, and what one applicant may upload in any 24 hours (all applications).
    upload_max_files_per_application: int = 50
    upload_max_bytes_per_application: int = 100 * 1024 * 1024
    upload_max_files_per_day: int = 200
    upload_max_bytes_per_day: int = 500 * 1024 * 1024
    # Working days a department has to answer a rectification opened by a bad rating (整改时限; *check*).
    rectification_days: int = 5
    # Ratings at or below this score open a rectification (不满意 = 2, 非常不满意 = 1).
    bad_rating_max: int = 2
    # Soon-due list: tasks due within this many working days.
    due_soon_days: int = 2


@lru_cache(maxsize=1)
def get_case_settings() -> CaseSettings:
    return CaseSettings()
