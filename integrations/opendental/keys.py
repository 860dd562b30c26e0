"""The format of Open Dental's developer, portal and customer keys (the one rule)."""

from __future__ import annotations

import re

KEY_LENGTH = 16
KEY_PATTERN = r"[A-Za-z0-9]{16}"
KEY_RULE = "Open Dental keys are exactly 16 letters and digits (A-Z, a-z, 0-9)."
KEY_HELP = "16 letters and digits"
_KEY_RE = re.compile(KEY_PATTERN)


def key_problem(value: str) -> str | None:
    """Why ``value`` is not an Open Dental key, in words (None when it is one)."""
    if is_key(value):
        return None
    if len(value) != KEY_LENGTH:
        return f"The key has {len(value)} characters: {KEY_RULE}"
    return f"The key contains something other than letters and digits: {KEY_RULE}"


def is_key(value: str) -> bool:
    """True when ``value`` has the shape of an Open Dental key (nothing stripped or cut)."""
    return _KEY_RE.fullmatch(value) is not None
