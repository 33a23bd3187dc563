"""Delegation errors. ``NotAuthorisedToAct`` is a 403 ``/problems/not-authorised-to-act``: acting for someone
outside (or without) a grant; the others map like their kind elsewhere (422, 409, 404 via accounts.NotFound)."""

from __future__ import annotations

from onething.accounts.errors import Forbidden


class DelegationError(Exception):
    """Base class."""


class InvalidDelegation(DelegationError, ValueError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


class DelegationConflict(DelegationError):
    """The delegation's state does not allow this (already revoked, not pending …)."""


class NotAuthorisedToAct(Forbidden):
    """No active grant lets this actor act for that principal on that thing now."""

    def __init__(self, detail: str) -> None:
        super().__init__("delegation:act", detail)
