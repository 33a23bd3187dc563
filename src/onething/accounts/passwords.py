"""Password policy (口令复杂度): a minimum length, a strength estimate of at least ``MIN_SCORE`` from zxcvbn
(Dropbox's estimator: dictionaries, keyboard patterns, dates, repeats, l33t), and never the user's own name.

Applied whenever a password is set: on creating a user, an administrator's reset and the user's own change.
The checks return messages for the person who typed the password; they never log or echo the password.
"""

from __future__ import annotations

from collections.abc import Iterable

from zxcvbn import zxcvbn

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024   # argon2 hashes what it is given; refuse megabyte "passwords"
MIN_SCORE = 3                # zxcvbn 0–4; 3 = "safely unguessable: moderate protection from offline attacks"
# zxcvbn's cost grows with the length it analyses; beyond this many characters only the start is analysed
# (a password that long and strong at its start is strong).
_ANALYSED = 100
# Words any password on this platform might borrow: zxcvbn counts them as known, like dictionary words.
_PLATFORM_WORDS = ("onething", "yijianshi", "zhengwu", "gov")


def password_problems(password: str, *, name: str, user_inputs: Iterable[str] = ()) -> list[str]:
    """What is wrong with ``password`` for the user ``name`` (empty when it is acceptable)."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return [f"密码长度须为 {MIN_PASSWORD_LENGTH}–{MAX_PASSWORD_LENGTH} 个字符"]
    problems: list[str] = []
    lowered = password.casefold()
    if name and name.casefold() in lowered:
        problems.append("密码不得包含用户名")
    inputs = [value for value in (name, *user_inputs) if value]
    result = zxcvbn(password[:_ANALYSED], user_inputs=[*inputs, *_PLATFORM_WORDS])
    if int(result["score"]) < MIN_SCORE:
        problems.append(f"密码强度不足（{result['score']}/4，至少需 {MIN_SCORE}）：请使用更长、更不易猜测的密码，"
                        "避免常见词、键盘序列、日期和重复字符")
    return problems
