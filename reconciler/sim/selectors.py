"""Label and field selectors as the Kubernetes API reads them (``?labelSelector=...``).

Labels: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``, joined by
commas. Fields: ``path=v``, ``path==v``, ``path!=v`` over dotted paths (``metadata.name``,
``spec.nodeName``, ``status.phase``, ``involvedObject.name`` ...)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import InputError

Test = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")


def _terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def labels(selector: str) -> Test:
    tests = [_label_term(term) for term in _terms(selector)]
    return lambda obj: all(t(obj.get("metadata", {}).get("labels") or {}) for t in tests)


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    for operator in ("!=", "==", "="):
        if operator in term:
            key, value = (part.strip() for part in term.split(operator, 1))
            if operator == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    found = _SET.match(term)
    if found is None:
        raise InputError(f"unable to parse requirement: {term!r}")
    negated, key, operator, values = found.groups()
    if operator:
        allowed = {v.strip() for v in values.split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def fields(selector: str) -> Test:
    tests = [_field_term(term) for term in _terms(selector)]
    return lambda obj: all(t(obj) for t in tests)


def _field_term(term: str) -> Test:
    for operator in ("!=", "==", "="):
        if operator in term:
            path, value = (part.strip() for part in term.split(operator, 1))
            if operator == "!=":
                return lambda obj: _text(dig(obj, path)) != value
            return lambda obj: _text(dig(obj, path)) == value
    raise InputError(f"invalid field selector: {term!r}")


def dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(selector: Mapping[str, Any] | None, labels_of: Mapping[str, str]) -> bool:
    """A LabelSelector object (``matchLabels``/``matchExpressions``) against labels."""
    if not selector:
        return False  # an empty selector in a workload or PDB selects nothing here
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels_of.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = set(expression.get("values") or [])
        present = key in labels_of
        if operator == "In" and labels_of.get(key) not in values:
            return False
        if operator == "NotIn" and present and labels_of[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
