"""Bearer tokens: the webhook's one token, and the API's named tokens.

Files are read at start (a rotated Secret needs a restart, as most services do). Comparisons
take constant time, and a token never reaches a log or an error message.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import InputError


@dataclass(frozen=True)
class Tokens:
    """Named tokens (``name -> token``); empty means the endpoints they guard are open."""

    by_name: dict[str, str]

    @property
    def enabled(self) -> bool:
        return bool(self.by_name)

    def who(self, authorization: str | None) -> str | None:
        """The name of the token in an ``Authorization: Bearer ...`` header, or None."""
        presented = bearer(authorization)
        if presented is None:
            return None
        found = None
        for name, token in self.by_name.items():  # no early exit: every comparison is made
            if hmac.compare_digest(presented.encode(), token.encode()):
                found = name
        return found


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def webhook_token(path: str) -> Tokens:
    """The webhook's token file: the whole file (trimmed) is the token."""
    if not path:
        return Tokens({})
    token = _read(path, "--webhook-token-file").strip()
    if not token:
        raise InputError(f"--webhook-token-file {path}: the file is empty; put the token in it")
    return Tokens({"alertmanager": token})


def api_tokens(path: str) -> Tokens:
    """The API's token file: one ``name: token`` per line; ``#`` starts a comment."""
    if not path:
        return Tokens({})
    tokens: dict[str, str] = {}
    for number, line in enumerate(_read(path, "--api-token-file").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, separator, token = text.partition(":")
        if not separator or not name.strip() or not token.strip():
            raise InputError(
                f"--api-token-file {path}:{number}: expected `name: token` (the name is recorded "
                "on approvals)"
            )
        if name.strip() in tokens:
            raise InputError(f"--api-token-file {path}:{number}: name {name.strip()!r} repeats")
        tokens[name.strip()] = token.strip()
    if not tokens:
        raise InputError(f"--api-token-file {path}: no tokens in the file")
    return Tokens(tokens)


def _read(path: str, flag: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot read it ({exc.strerror})") from exc
