"""Assurance levels (身份认证等级): how sure the platform is that the person acting is who the account says.

- ``L1``: a password (or any sign-in without real-name verification);
- ``L2``: real-name verified (实名核验) by the unified identity service — or an account an administrator opened
  after checking the identity document;
- ``L3``: verified in person or by face (现场/人脸核验).

Each account keeps the highest level it has been verified at; each browser session the level of the sign-in
that started it (never above the account's). What a thing needs is in the catalog (``assurance:`` on a thing,
default L2); what other actions need is ``ACTIONS`` below. Services call ``require_assurance``; a person below
the level gets ``StepUpRequired``, which the web layer turns into a new sign-in at the identity provider with
``acr_values`` (pages) or a 403 problem ``/problems/step-up-required`` naming the level (API) — never a silent
refusal.
"""

from __future__ import annotations

from typing import Literal

from onething.accounts.errors import AccountsError

Level = Literal["L1", "L2", "L3"]
LEVELS: tuple[Level, ...] = ("L1", "L2", "L3")
LEVEL_NAMES = {"L1": "密码登录", "L2": "实名核验", "L3": "现场或人脸核验"}

# Actions other than submitting a thing, and the level each needs (data, like the permission table).
ACTIONS: dict[str, Level] = {
    "consent:grant": "L2",        # 同意授权: lets the exchange fetch one's personal data from departments
}


class StepUpRequired(AccountsError):
    """The actor is signed in, but below the assurance level this action needs (认证等级不足)."""

    def __init__(self, required: str, have: str, what: str = "") -> None:
        super().__init__(f"assurance {required} required for {what or 'this action'}, session has {have}")
        self.required = required
        self.have = have
        self.what = what


def parse_level(value: str | None, default: Level = "L1") -> Level:
    """A level from text (case-insensitive ``L1``…``L3``); ``default`` for anything else."""
    text = (value or "").strip().upper()
    for level in LEVELS:
        if text == level:
            return level
    return default


def rank(level: str) -> int:
    return LEVELS.index(parse_level(level)) + 1


def meets(have: str, need: str) -> bool:
    return rank(have) >= rank(need)


def lower(a: str, b: str) -> Level:
    return parse_level(a) if rank(a) <= rank(b) else parse_level(b)


def higher(a: str, b: str) -> Level:
    return parse_level(a) if rank(a) >= rank(b) else parse_level(b)


def require_assurance(have: str, need: str, what: str = "") -> None:
    """Raise ``StepUpRequired`` unless ``have`` reaches ``need``."""
    if not meets(have, need):
        raise StepUpRequired(parse_level(need), parse_level(have), what)
