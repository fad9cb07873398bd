"""A static index of policies by the alert name their ``match`` requires.

Most policies start with ``alert.labels.alertname == "X" && ...``. When a match expression is a
top-level conjunction (no ``||``, no ``?:``) with such a term, the policy can only match alerts
named X, so the matcher evaluates it only for those. Anything else is evaluated for every alert.
"""

from __future__ import annotations

import re

_ALERTNAME_TERM = re.compile(
    r"""^(?:alert\.labels\.alertname\s*==\s*(?P<a>"[^"\\]*"|'[^'\\]*')|(?P<b>"[^"\\]*"|'[^'\\]*')\s*==\s*alert\.labels\.alertname)$"""
)


def required_alertname(source: str) -> str | None:
    """The alert name a match expression requires, if it provably requires one."""
    terms = _top_level_conjuncts(source)
    if terms is None:
        return None
    for term in terms:
        found = _ALERTNAME_TERM.match(term.strip())
        if found:
            literal = found.group("a") or found.group("b")
            return literal[1:-1]
    return None


def _top_level_conjuncts(source: str) -> list[str] | None:
    """Split at depth-0 ``&&``; None if the expression has a depth-0 ``||`` or ``?``."""
    terms: list[str] = []
    depth = 0
    quote = ""
    start = 0
    i = 0
    while i < len(source):
        char = source[i]
        if not quote and source.startswith("//", i):
            return None  # comments can hide operators; such a policy is evaluated for every alert
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and source.startswith("&&", i):
            terms.append(source[start:i])
            start = i + 2
            i += 2
            continue
        elif depth == 0 and (source.startswith("||", i) or char == "?"):
            return None
        i += 1
    if quote or depth:
        return None
    terms.append(source[start:])
    return terms
