"""What a Kubernetes name, namespace, kind or selector may be, checked before any API call.

Names and namespaces are rendered from alert labels, and the client puts them into URL paths
as they are: ``name: ".."`` on a Pod became ``/api/v1/namespaces/NS/pods/..``, which urllib3
normalises to ``/api/v1/namespaces/NS`` (the Namespace itself was patched), and ``name: "."``
turned a get into a list. So :mod:`.objects` calls :func:`check_ref` / :func:`check_namespace`
/ :func:`check_label_selector` / :func:`check_field_selector` before every call it makes (and
``actions/shell_job.py`` checks its namespace), and a value the API server would never accept
as a name fails the step permanently, naming the parameter and the value, without a request.

The rules are Kubernetes' own (apimachinery ``validation.go`` and each kind's
``ValidateXName``): most kinds' names are DNS-1123 subdomains; a Namespace's is a DNS-1123
label, a Service's a DNS-1035 label (it starts with a letter). Label selectors follow
apimachinery's ``labels.Parse``: ``key``, ``!key``, ``key=value`` (``==``, ``!=``), ``key in
(a, b)``, ``key notin (a, b)``, ``key > 3``, ``key < 3``, joined by commas.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

from reconciler.errors import PermanentError

_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL: Final = re.compile(_LABEL)
DNS1123_SUBDOMAIN: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*")
DNS1035_LABEL: Final = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME: Final = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE: Final = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

# Kinds whose names are labels, not subdomains (Kubernetes' ValidateNamespaceName and
# ValidateServiceName); every other kind the actions name uses NameIsDNSSubdomain.
_ENDS: Final = "starting and ending with a letter or digit"
_SUBDOMAIN: Final = (
    DNS1123_SUBDOMAIN,
    253,
    f"a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', {_ENDS})",
)
_RULES: Final = {
    "Namespace": (
        DNS1123_LABEL,
        63,
        f"a DNS-1123 label (lowercase letters, digits and '-', {_ENDS})",
    ),
    "Service": (
        DNS1035_LABEL,
        63,
        "a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, "
        "ending with a letter or digit)",
    ),
}

SHOWN: Final = 100  # characters of a hostile value echoed in an error


class InvalidName(PermanentError):
    """A name, namespace, kind or selector the API server would never accept."""


def shown(value: object) -> str:
    """A value for an error message: quoted, cut to :data:`SHOWN` characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 1]}…"


def check_kind(kind: str, known: Collection[str]) -> None:
    if kind not in known:
        raise InvalidName(
            f"kind: {shown(kind)} is not a kind the Kubernetes actions know; "
            f"use one of {', '.join(sorted(known))}"
        )


def check_name(kind: str, name: str, parameter: str = "name") -> None:
    """``name`` as the API server validates a ``kind``'s names (before it goes into a path)."""
    pattern, limit, what = _RULES.get(kind, _SUBDOMAIN)
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{parameter}: a {kind} needs a name; got {shown(name)}")
    if len(name) > limit:
        raise InvalidName(
            f"{parameter}: {shown(name)} is not a valid {kind} name: it is {len(name)} "
            f"characters long, at most {limit} are allowed"
        )
    if pattern.fullmatch(name) is None:
        raise InvalidName(
            f"{parameter}: {shown(name)} is not a valid {kind} name: it must be {what}"
        )


def check_namespace(namespace: str, parameter: str = "namespace") -> None:
    check_name("Namespace", namespace, parameter)


def check_ref(kind: str, namespace: str | None, name: str) -> None:
    """An object reference's namespace (when given) and name, for its kind."""
    if namespace is not None:
        check_namespace(namespace)
    check_name(kind, name)


def check_label_key(key: str, parameter: str) -> None:
    """A label key: an optional DNS-1123 subdomain prefix and '/', then a name of ≤63."""
    prefix, slash, name = key.rpartition("/")
    problem = ""
    if slash and (not prefix or len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        problem = "its prefix (before '/') must be a DNS-1123 subdomain"
    elif not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        problem = (
            "its name must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    if problem:
        raise InvalidName(f"{parameter}: {shown(key)} is not a valid label key: {problem}")


def check_label_value(value: str, parameter: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        raise InvalidName(
            f"{parameter}: {shown(value)} is not a valid label value: at most 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit"
        )


# Matched against a requirement with its outer blanks stripped; each blank run belongs to one
# place of the pattern only, so a long run of spaces cannot make the match backtrack for long.
_REQUIREMENT: Final = re.compile(
    r"""!\s*(?P<absent>[^\s,!=<>()]+)
      | (?P<key>[^\s,!=<>()]+)
        (?:\s*
            (?:
                (?P<op>==|=|!=)\s*(?P<value>[^\s,!=<>()]*)
              | (?P<cmp>[<>])\s*(?P<number>[^\s,!=<>()]+)
              | (?P<set>in|notin)\s*\((?P<values>[^()]*)\)
            )
        )?""",
    re.VERBOSE,
)
MAX_SELECTOR: Final = (
    8192  # characters; a selector travels in the URL (servers cap them near 8 KiB)
)


def check_label_selector(selector: str, parameter: str = "label_selector") -> None:
    """A label selector in apimachinery's syntax (``labels.Parse``), every key and value valid."""
    if not selector.strip():
        return
    _bounded(selector, parameter)
    for part in _split_requirements(selector, parameter):
        match = _REQUIREMENT.fullmatch(part.strip())
        if match is None:
            raise InvalidName(
                f"{parameter}: {shown(selector)} is not a label selector: cannot read "
                f"{shown(part.strip())}; write key=value, key!=value, key in (a,b), "
                "key notin (a,b), key or !key, separated by commas"
            )
        check_label_key(match["absent"] or match["key"], parameter)
        if match["value"] is not None:
            check_label_value(match["value"], parameter)
        elif match["number"] is not None and not re.fullmatch(r"-?[0-9]+", match["number"]):
            raise InvalidName(
                f"{parameter}: {shown(match['number'])} after {match['cmp']} must be an integer"
            )
        elif match["values"] is not None:
            for value in match["values"].split(","):
                check_label_value(value.strip(), parameter)


def _bounded(selector: str, parameter: str) -> None:
    if len(selector) > MAX_SELECTOR:
        raise InvalidName(
            f"{parameter}: {shown(selector)} is {len(selector)} characters long; a selector "
            f"has at most {MAX_SELECTOR}"
        )


def _split_requirements(selector: str, parameter: str) -> list[str]:
    """Split at the commas outside parentheses (``a in (x, y),b`` is two requirements)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(selector[start:index])
            start = index + 1
        if depth not in (0, 1):
            raise InvalidName(f"{parameter}: {shown(selector)} has unbalanced parentheses")
    if depth:
        raise InvalidName(f"{parameter}: {shown(selector)} has unbalanced parentheses")
    parts.append(selector[start:])
    return parts


_FIELD_KEY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]*")


def check_field_selector(selector: str, parameter: str = "field_selector") -> None:
    """A field selector (``fields.ParseSelector``): ``path=value``, ``==``, ``!=``, commas;
    a value's own ``,``, ``=``, ``!`` or ``\\`` are written with a backslash before them."""
    if not selector.strip():
        return
    _bounded(selector, parameter)
    for part in _split_escaped(selector):
        match = re.fullmatch(r"\s*(?P<key>[^=!\s]+)\s*(?:==|=|!=)(?P<value>.*)", part, re.DOTALL)
        if match is None or not _FIELD_KEY.fullmatch(match["key"]):
            raise InvalidName(
                f"{parameter}: {shown(selector)} is not a field selector: cannot read "
                f"{shown(part)}; write field=value or field!=value, separated by commas"
            )
        value = re.sub(r"\\.", "", match["value"])
        if any(char in value for char in "=!\\") or any(ord(c) < 0x20 for c in match["value"]):
            raise InvalidName(
                f"{parameter}: {shown(part)} has an unescaped '=', '!' or '\\' in its value; "
                "write them with a backslash before them"
            )


def _split_escaped(selector: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in selector:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts
