"""Static facts about an expression's source: which steps and variables it names.

Validation uses this to reject ``steps.X`` where X is not upstream and ``params.X`` where the
workflow declares no X, and ``plan`` to know which ``with:`` values it can render before any step
has run. String literals are ignored.
"""

from __future__ import annotations

import re
from functools import lru_cache

_STRING_LITERAL = re.compile(
    r"""(?s)[rR]?(\"\"\".*?\"\"\"|'''.*?'''|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')"""
)
_STEP_REFERENCE = re.compile(
    r"(?<![\w.])steps\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*[\"']([A-Za-z_]\w*)[\"']\s*\])"
)
_BRACKET_REFERENCE = re.compile(r"""(?<![\w.])steps\s*\[\s*(["'])([A-Za-z_]\w*)\1\s*\]""")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")
_PARAM_DOTTED = re.compile(r"(?<![\w.])params\s*\.\s*([A-Za-z_]\w*)")
_PARAM_BRACKET = re.compile(r"(?<![\w.])params\s*\[\s*\$(\d+)\$\s*\]")
_PLAIN_LITERAL = re.compile(r"""^(["'])([^"'\\]*)\1$""")


def clear_cache() -> None:
    step_references.cache_clear()
    param_references.cache_clear()
    names_used.cache_clear()


_COMMENT = re.compile(r"//[^\n]*")


def _without_strings(source: str) -> str:
    """The source with string literals emptied and ``//`` comments removed."""
    return _COMMENT.sub(" ", _STRING_LITERAL.sub('""', source))


@lru_cache(maxsize=65536)
def step_references(source: str) -> frozenset[str]:
    """Step ids named as ``steps.<id>`` or ``steps["<id>"]``."""
    # The bracket form names the step in a string literal: rewrite it before literals go.
    dotted = _BRACKET_REFERENCE.sub(r"steps.\2", source)
    return frozenset(a or b for a, b in _STEP_REFERENCE.findall(_without_strings(dotted)))


@lru_cache(maxsize=65536)
def param_references(source: str) -> frozenset[str]:
    """Param names read as ``params.<name>`` or ``params["<name>"]`` (``has()`` included)."""
    literals: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        literals.append(match.group(0))
        return f"${len(literals) - 1}$"  # `$` is not CEL: the placeholder cannot clash

    code = _COMMENT.sub(" ", _STRING_LITERAL.sub(placeholder, source))
    names = set(_PARAM_DOTTED.findall(code))
    for index in _PARAM_BRACKET.findall(code):
        plain = _PLAIN_LITERAL.match(literals[int(index)])
        if plain is not None:  # params["x"], not params[r"x"] or an escape: too rare to read
            names.add(plain.group(2))
    return frozenset(names)


@lru_cache(maxsize=65536)
def names_used(source: str) -> frozenset[str]:
    """Top-level identifiers the expression mentions (variables and function names)."""
    return frozenset(_IDENTIFIER.findall(_without_strings(source)))
