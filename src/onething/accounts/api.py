"""What other contexts use from accounts: who acts (``Actor``, ``Role``), the one permission check
(``authorize``), the refusals (``Forbidden``, ``NotFound``), and creating users and tokens (tests, demo, CLI).
"""

from onething.accounts.assurance import StepUpRequired, require_assurance
from onething.accounts.errors import AuthenticationFailed, DuplicateUser, Forbidden, InvalidUser, NotFound
from onething.accounts.identifiers import check_resident_id, check_uscc, mask_identifier
from onething.accounts.lifecycle import issue_token
from onething.accounts.model import SYSTEM, Actor, Role
from onething.accounts.permissions import PERMISSIONS, authorize, can
from onething.accounts.service import actor_for_token, actor_for_user, create_user

__all__ = [
    "PERMISSIONS",
    "SYSTEM",
    "Actor",
    "AuthenticationFailed",
    "DuplicateUser",
    "Forbidden",
    "InvalidUser",
    "NotFound",
    "Role",
    "StepUpRequired",
    "actor_for_token",
    "actor_for_user",
    "authorize",
    "can",
    "check_resident_id",
    "check_uscc",
    "create_user",
    "issue_token",
    "mask_identifier",
    "require_assurance",
]
