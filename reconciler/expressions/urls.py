"""Values rendered into a URL template, encoded for where they land; the URL held to its template.

Called by :mod:`.templates` for an action's URL parameter (``http.request``'s ``url``). An alert
label is data: spliced into ``https://api.example/items/{{ params.item }}`` it must stay one
path segment, whatever it holds (``../../admin?x=1#frag``), and spliced into
``?env={{ params.env }}`` it must stay one query value (``x&admin=1``). So each value is
percent-encoded for the component it lands in (what the rendered text before it says:
authority, path, query or fragment), a value that would be a whole ``.`` or ``..`` path segment
is refused (clients normalise those away), and the rendered URL must keep the scheme and host
the template writes. A value at the very start of the URL (``{{ params.base }}/items``) is the
author's base URL and goes in as it is.
"""

from __future__ import annotations

from typing import Final, NamedTuple
from urllib.parse import quote, urlsplit

SHOWN: Final = 100  # characters of a value echoed in an error


class Escaped(ValueError):
    """A rendered value would have left the part of the URL the template put it in."""


class Written(NamedTuple):
    """The scheme and host (``host[:port]``, no credentials) a URL template spells out; ""
    where a value stands in for them."""

    scheme: str
    host: str


def written(head: str) -> Written:
    """What the literal text before the first interpolation fixes of the URL."""
    scheme, sep, rest = head.partition("://")
    if not sep:
        return Written("", "")
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    netloc = rest[: min(ends)] if ends else ""
    return Written(scheme.lower(), netloc.rpartition("@")[2].lower())


def shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 1]}…"


def component(prefix: str) -> str:
    """Where text appended to ``prefix`` lands: start, authority, path, query or fragment."""
    _, sep, rest = prefix.partition("://")
    if not sep:
        return "start"
    if "#" in rest:
        return "fragment"
    if "?" in rest:
        return "query"
    return "path" if "/" in rest else "authority"


# Characters left as they are per component. Everything else is percent-encoded: in a path a
# value is one segment ('/' encoded), in a query one key or value ('&', '=', '+', '#' encoded).
# In the authority ':' and '[]' stay (a port, an IPv6 host); '@', '/', '?', '#' cannot.
_SAFE: Final = {"authority": ":[]", "path": "", "query": "", "fragment": ""}


class Builder:
    """Accumulates a URL from literal text and values (see the module's docstring)."""

    def __init__(self, param: str) -> None:
        self.param = param
        self.text = ""
        self._in_path: list[tuple[str, str]] = []  # (expression, value) spliced into the path

    def literal(self, text: str) -> None:
        self.text += text

    def value(self, value: str, source: str) -> None:
        where = component(self.text)
        if where == "start":
            self.text += value
            return
        if where == "path":
            self._in_path.append((source, value))
        self.text += quote(value, safe=_SAFE[where])

    def finish(self) -> str:
        """The URL; refused when values made a ``.`` or ``..`` path segment (clients resolve
        those, and yarl decodes ``%2E`` first: ``/items/..`` is sent as ``/``)."""
        if self._in_path:
            path = urlsplit(self.text).path
            if any(segment in (".", "..") for segment in path.split("/")):
                dotted = [p for p in self._in_path if p[1] and not p[1].strip(".")]
                source, value = (dotted or self._in_path)[0]
                raise Escaped(
                    f"{self.param}: the value of `{source}`, {shown(value)}, makes a '.' or '..' "
                    "path segment, "
                    "which clients resolve to another path; check the alert's labels, or write "
                    "the whole URL as one {{ expression }} if that is meant"
                )
        return self.text


def check(param: str, url: str, expected: Written) -> None:
    """The rendered URL keeps the scheme and host its template writes."""
    # The URL itself is not echoed: its query may carry a token.
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2].lower()
    except ValueError as exc:
        raise Escaped(f"{param}: the rendered value is not a URL ({exc})") from exc
    if expected.scheme and parts.scheme.lower() != expected.scheme:
        raise Escaped(
            f"{param}: the rendered URL has scheme {shown(parts.scheme)}, not "
            f"{expected.scheme!r} as the workflow writes it"
        )
    if expected.host and host != expected.host:
        raise Escaped(
            f"{param}: the rendered URL has host {shown(host)}, not {expected.host!r} as the "
            "workflow writes it"
        )
