"""The error tree of reconciler: every exception the package raises on purpose.

Callers catch these by what they should do next, not by where they came from::

    ReconcilerError
    ├── DefinitionError          one or more problems in the user's repository (file:line:col)
    ├── ExpressionError          a CEL expression failed to compile or to evaluate
    ├── ActionError              an action call failed
    │   ├── TemporaryError       worth retrying (optionally after `delay` seconds)
    │   ├── PermanentError       never retried: invalid input, not found, refused
    │   └── NotImplementedAction the action is declared but its implementation has not landed
    ├── InputError               a file or payload given on the command line is unusable
    ├── Overloaded               the service holds as much as it may: send again later
    ├── EngineError              a request the engine cannot carry out (unknown execution, state)
    └── StoreError               the store cannot be used: held by another process, on a
                                 network disk, or (for a while) unable to write

Library exceptions are wrapped at the boundary (``raise ... from exc``). Messages that may reach
logs, reports or pull requests go through :func:`sanitize` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler import redaction

Redactor = Callable[[str], str]  # a text with secrets replaced by ***


class ReconcilerError(Exception):
    """Root of every error reconciler raises deliberately."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a definition, located in its file.

    ``field`` is a dotted path inside the document (``spec.steps[2].retry.limit``); ``line`` and
    ``column`` are 1-based (0 when unknown).
    """

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        # The path is a file name from the repository: it may hold a newline or an escape code.
        path = printable(self.path)
        where = f"{path}:{self.line}:{self.column}" if self.line else path
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )

    def as_dict(self) -> dict[str, str | int]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


@dataclass
class DefinitionError(ReconcilerError):
    """A repository (or a single file) has problems; ``problems`` lists all of them."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class ExpressionError(ReconcilerError):
    """A CEL expression failed to compile or evaluate.

    ``where`` names the expression's origin (``file:line:col: field``) when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        where: str = "",
        read: Callable[[Redactor], str] | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.where = where
        # What the expression read, when it failed at run time: written only when asked, with
        # the caller's redaction applied to every value before it is cut short.
        self.read = read
        super().__init__(f"{where}: {message}" if where else message)

    def explain(self, redact: Redactor | None = None) -> str:
        """The message with the expression and what it read, for a step's error; ``redact``
        hides secrets in each value read (URL credentials and bearer tokens always go)."""
        text = f"`{self.source}`: {self.message}" if self.source else self.message
        read = self.read(redact or sanitize_text) if self.read is not None else ""
        return f"{text} (it read {read})" if read else text


class ActionError(ReconcilerError):
    """An action call failed."""


class TemporaryError(ActionError):
    """A failure worth retrying; ``delay`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message)


class PermanentError(ActionError):
    """A failure that retrying cannot fix (invalid input, not found, refused)."""


class NotImplementedAction(PermanentError):
    """The action is declared in the catalogue but its implementation has not landed yet."""


class EngineError(ReconcilerError):
    """A request the engine cannot carry out (unknown execution, wrong state, ...)."""


class Overloaded(ReconcilerError):
    """Refused because a bound is reached (the webhook answers 503 with ``Retry-After``)."""

    def __init__(self, message: str, *, reason: str, retry_after: int) -> None:
        super().__init__(message)
        self.reason = reason  # the bound reached, a metric label: alerts_queued, bytes_in_flight
        self.retry_after = retry_after  # seconds


class InputError(ReconcilerError):
    """A file or payload handed to a command cannot be used (names the file and what to do)."""


class StoreError(ReconcilerError):
    """The store cannot be used: another process holds it, it is on a network filesystem, or
    it cannot write now (a full disk: the service retries its own writes until it can)."""


def sanitize_text(message: str) -> str:
    """:func:`sanitize` without extra secrets (the known ones, URL credentials and tokens)."""
    return sanitize(message)


def sanitize(message: str, secrets: frozenset[str] | set[str] = frozenset()) -> str:
    """Remove URL credentials, tokens, every secret the process knows (in any common encoding,
    :mod:`reconciler.redaction`) and the ``secrets`` given from a message."""
    return redaction.text(message, secrets)


# C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi overrides,
# zero-width joiners): what would let a file name forge a line of output or a terminal escape.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def printable(name: str) -> str:
    """``name`` (a file name, as found) with control characters escaped: ``\\n``, ``\\x1b``...

    Every path printed to a terminal or a log goes through this; a backslash is left alone, so a
    name without control characters prints unchanged.
    """
    return _UNPRINTABLE.sub(_escape, name)


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")
