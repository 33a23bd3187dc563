"""What the case runtime may use of the hub context: the record builders and whether reporting is on.
Nothing here imports ``onething.cases`` (import-linter keeps it so)."""

from __future__ import annotations

from onething.hub.settings import HubSettings, get_hub_settings
from onething.hub.spec import CASE_STATUSES, case_record, procedure_ref, rating_record

NATIONAL_PREFIX = "national."
NATIONAL_CASE = "national.case"
NATIONAL_RATING = "national.rating"

__all__ = ["CASE_STATUSES", "NATIONAL_CASE", "NATIONAL_PREFIX", "NATIONAL_RATING", "HubSettings", "case_record",
           "get_hub_settings", "procedure_ref", "rating_record"]
