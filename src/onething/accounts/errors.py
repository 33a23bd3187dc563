"""Accounts errors: invalid user data (named field by field), failed sign-in, and the two refusals every
context raises — ``Forbidden`` (you may not do this) and ``NotFound`` (this is not yours, or does not exist).

The web layer maps them to RFC 9457 problems: ``InvalidUser`` → 422 with ``errors``, ``DuplicateUser`` → 409,
``AuthenticationFailed`` → 401, ``Forbidden`` → 403, ``NotFound`` → 404. A record that belongs to someone else
must raise ``NotFound``, never ``Forbidden``: a 403 would confirm that the id exists.
"""

from __future__ import annotations


class AccountsError(Exception):
    """Base class for failures that accounts services raise."""


class InvalidUser(AccountsError, ValueError):
    """User data that does not fit; ``errors`` is a list of (field, message) pairs for problem+json."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


class DuplicateUser(AccountsError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.errors = [(field, message)]


class UnknownUser(AccountsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no active user named {name!r}")
        self.name = name


class UnknownToken(AccountsError):
    def __init__(self, token_id: int) -> None:
        super().__init__(f"no API token with id {token_id}")
        self.token_id = token_id


class AuthenticationFailed(AccountsError):
    """Wrong name or password. Deliberately says no more than that."""

    def __init__(self) -> None:
        super().__init__("用户名或密码错误")


class Forbidden(AccountsError):
    """The actor is known but may not do this (403)."""

    def __init__(self, permission: str, detail: str | None = None) -> None:
        super().__init__(detail or f"not allowed: {permission}")
        self.permission = permission


class NotFound(AccountsError):
    """Absent, or not the actor's to see (404). Carries no hint which of the two."""

    def __init__(self, what: str = "resource", ref: object = None) -> None:
        super().__init__(f"{what} not found" if ref is None else f"{what} {ref} not found")
        self.what = what
        self.ref = ref
