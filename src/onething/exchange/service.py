"""The exchange's user actions in one place, for routers and commands (the rules live in the modules named).

- directory: ``directory``, ``pending_changes``, ``stale_changes``, ``publish_directory``
- grants: ``apply_for_grant``, ``decide_grant``, ``revoke_grant``, ``list_grants``
- consent: ``propose_consent``, ``grant_consent``, ``revoke_consent``, ``close_consents_for``, ``consents_of``
- fetch: ``fetch``, ``checked_fetch``, ``facts_for``, ``collect_facts``, ``checked_collect_facts``
- uses and corrections: ``data_uses``, ``report_data_error``, ``answer_correction``, ``list_corrections``
"""

from onething.exchange.consents import (
    close_consents_for,
    consents_of,
    get_consent,
    grant_consent,
    propose_consent,
    revoke_consent,
)
from onething.exchange.directory import directory, pending_changes, publish_directory, stale_changes
from onething.exchange.fetch import checked_collect_facts, checked_fetch, collect_facts, facts_for, fetch
from onething.exchange.grants import apply_for_grant, decide_grant, list_grants, revoke_grant
from onething.exchange.uses import answer_correction, data_uses, list_corrections, report_data_error

__all__ = [
    "answer_correction",
    "apply_for_grant",
    "checked_collect_facts",
    "checked_fetch",
    "close_consents_for",
    "collect_facts",
    "consents_of",
    "data_uses",
    "decide_grant",
    "directory",
    "facts_for",
    "fetch",
    "get_consent",
    "grant_consent",
    "list_corrections",
    "list_grants",
    "pending_changes",
    "propose_consent",
    "publish_directory",
    "report_data_error",
    "revoke_consent",
    "revoke_grant",
    "stale_changes",
]
