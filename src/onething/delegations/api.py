"""What other contexts (cases, web, demo) use of delegations."""

from onething.delegations.errors import DelegationConflict, InvalidDelegation, NotAuthorisedToAct
from onething.delegations.model import KIND_LABELS, Basis, Delegation, Kind, Status
from onething.delegations.service import (
    REVIEW_DEPARTMENT,
    acting_delegations,
    acts,
    authorise_act,
    claim,
    document_of,
    get_delegation,
    grant,
    list_delegations,
    principal_of,
    principals_for,
    record_use,
    review,
    revoke,
)

__all__ = [
    "KIND_LABELS",
    "REVIEW_DEPARTMENT",
    "Basis",
    "Delegation",
    "DelegationConflict",
    "InvalidDelegation",
    "Kind",
    "NotAuthorisedToAct",
    "Status",
    "acting_delegations",
    "acts",
    "authorise_act",
    "claim",
    "document_of",
    "get_delegation",
    "grant",
    "list_delegations",
    "principal_of",
    "principals_for",
    "record_use",
    "review",
    "revoke",
]
