"""What may be recorded: every known secret, in every common encoding, and every credential-shaped
value, replaced by ``***``. The one place redaction rules live.

Who calls it:

- the engine's :class:`~reconciler.engine.secrets.SecretProvider` :func:`register`\\ s each
  value ``secret(name, key)`` hands out;
- the store's encoder (:mod:`reconciler.store.encoding`) asks :func:`may_hold` of every encoded
  record (headers, nodes, timeline entries, decisions) and re-encodes one that may through
  :func:`redact`, so the SQLite file, the API and ``executions show`` only ever see what this
  module let through;
- :func:`processor` is a structlog processor (``reconciler.cli`` puts it before the renderer,
  after ``format_exc_info``);
- :func:`reconciler.errors.sanitize` applies :func:`text` to every message it cleans.

A known secret is matched as written, case-folded, JSON-escaped, URL-encoded (``%2F`` and ``+``
styles), as hex, and as base64/base64url at any alignment (so it is found inside the base64 of a
longer text, ``user:secret`` of a Basic header included). A secret of 12 characters or more is
also matched by its first or last half (extended to as much of the secret as follows), so a value
cut short, or split in two, shows at most half of itself. Whatever the secrets known, URL
credentials (``scheme://user:pass@``), bearer/Basic tokens and well-known token shapes (JWTs,
GitHub, GitLab, Slack, AWS, Google and API keys, private key blocks) are redacted too.

The registry is process-wide on purpose: records and logs are written from many places, and one
secret read anywhere must be hidden everywhere. It only grows (a rotated secret's old value is
still a secret); :func:`reset` is for tests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import quote, quote_plus

MARK = "***"
# A form shorter than this is not matched (only a secret's exact value is): a short encoded
# fragment would hide ordinary text everywhere.
_MIN_FORM = 6
# Secrets this long are also matched by their first or last half.
_MIN_HALVES = 12

# (needles, pattern, replacement): the pattern runs only on a text holding one of its needles
# (lower-cased), so the common text, with none, costs a few substring searches.
_SHAPES: list[tuple[tuple[str, ...], re.Pattern[str], str]] = [
    # URL userinfo: scheme://user:password@host (DATABASE_URL and friends). Its needle is the
    # "@": far rarer in records than "://".
    (
        ("@",),
        re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]{0,30}://)[^/@\s:\"']+(?::[^/@\s\"']*)?@"),
        r"\1***@",
    ),
    (("basic",), re.compile(r"((?i:authorization:\s*basic\s+))[A-Za-z0-9+/=]+"), r"\1***"),
    (
        ("bearer", "token"),
        re.compile(r"((?i:authorization:\s*bearer\s+|bearer\s+|token[=:]\s*))[A-Za-z0-9._~+/=-]+"),
        r"\1***",
    ),
    (
        ("private key",),
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
        ),
        MARK,
    ),
    (
        ("eyj",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
        MARK,
    ),  # JWT
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
        MARK,
    ),
    (("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MARK),  # GitLab
    (("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MARK),  # Slack tokens
    (
        ("hooks.slack.com",),
        re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+"),
        r"\1***",
    ),
    (("akia", "asia"), re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MARK),  # AWS access key ids
    (("aiza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), MARK),  # Google API keys
    (
        ("sk-", "sk_", "rk_"),
        # Anthropic/OpenAI (``sk-ant-``, ``sk-proj-``, ``sk-`` + 32 letters and digits) and
        # Stripe (``sk_live_``): not every ``sk-...`` name (a pod may be called that).
        re.compile(
            r"\b(?:sk-(?:ant|proj)-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9]{32,}"
            r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,})"
        ),
        MARK,
    ),  # API keys
]


_NEEDLES = tuple(n for needles, _, _ in _SHAPES for n in needles)


def _shapes(text: str) -> str:
    lowered = text.lower()
    for needle in _NEEDLES:  # plain substring searches: far cheaper than a regex alternation
        if needle in lowered:
            break
    else:
        return text
    for needles, pattern, replacement in _SHAPES:
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replacement, text)
    return text


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 (and base64url) characters that depend only on ``raw``, at each of the three
    alignments it can have inside a longer encoded text."""
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = -(-8 * offset // 6)  # the first character made of raw's bits only
        end = (8 * (offset + len(raw))) // 6  # past the last such character
        core = encoded[start:end]
        cores.update({core, core.replace("+", "-").replace("/", "_")})
    return cores


def forms(value: str) -> tuple[set[str], set[str]]:
    """The forms of a secret to look for: (case-insensitive ones, case-sensitive ones)."""
    folded = {value}
    exact: set[str] = set()
    if len(value) >= 4:
        raw = value.encode()
        folded |= {
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            quote(value, safe=""),
            quote(value),
            quote_plus(value),
            raw.hex(),
        }
        whole = base64.b64encode(raw).decode()
        url = base64.urlsafe_b64encode(raw).decode()
        exact |= _base64_cores(raw) | {whole, url, whole.rstrip("="), url.rstrip("=")}
    keep = {f for f in folded if f == value or len(f) >= _MIN_FORM}
    return keep, {f for f in exact if len(f) >= _MIN_FORM} - keep


class Registry:
    """The secret values known to this process, and their forms to look for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self._values: set[str] = set()
        self._folded: set[str] = set()  # lower-cased; found in the lower-cased text
        self._exact: set[str] = set()  # found as they are (base64 is case-sensitive)
        self._halves: list[tuple[str, str, bool]] = []  # (half, secret, is_head), lower-cased
        self._pattern: re.Pattern[str] | None = None  # for texts lower() changes the length of
        self._shortest = 0  # a text shorter than every form cannot hold one
        self._lower_re: re.Pattern[str] | None = None  # the folded forms, on lower-cased text
        self._exact_re: re.Pattern[str] | None = None  # the base64 forms, on the text as it is

    def register(self, value: str) -> None:
        if not value or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            folded, exact = forms(value)
            # Each form also as it reads inside a JSON document (the encoder looks at whole
            # documents first, :meth:`may_hold`).
            self._folded |= {
                g.lower() for f in folded for g in (f, _escaped(f.lower()), _escaped(f.upper()))
            }
            self._exact |= exact
            lowered = value.lower()
            if len(value) >= _MIN_HALVES and len(lowered) == len(value):
                for secret in {lowered, _escaped(lowered)}:
                    half = -(-len(secret) // 2)
                    self._halves += [(secret[:half], secret, True), (secret[-half:], secret, False)]
            self._pattern = None
            halves = (half for half, _, _ in self._halves)
            self._shortest = min(len(f) for f in (*self._folded, *self._exact, *halves))
            self._lower_re = _alternation(self._folded)
            self._exact_re = _alternation(self._exact)

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def text(self, message: str, extra: Iterable[str] = ()) -> str:
        """``message`` with known secrets (and ``extra`` values) and credential shapes hidden."""
        text = message
        if extra:
            for value in sorted(extra, key=len, reverse=True):
                if value and value not in self._values:
                    text = text.replace(value, MARK)
        if self._values and len(text) >= self._shortest:  # known secrets first: most specific
            text = self._known(text)
        return _shapes(text)

    def may_hold(self, encoded: str) -> bool:
        """Whether a JSON document may hold something to redact; False means certainly not
        (the store's encoder then keeps it as it is, without looking string by string)."""
        lowered = encoded.lower()
        if any(needle in lowered for needle in _NEEDLES):
            return True
        if not self._values:
            return False
        if "\\u" in encoded:  # an escaped letter's case cannot be folded here: look closer
            return True
        return self._known(encoded) is not encoded

    def _known(self, text: str) -> str:
        lowered = text.lower()
        if len(lowered) != len(text):  # a character whose lower case is longer: use a regex
            if self._pattern is None:
                self._pattern = _compile(self._folded, self._exact)
            return self._pattern.sub(MARK, text)
        spans: list[tuple[int, int]] = []
        for pattern, where in ((self._lower_re, lowered), (self._exact_re, text)):
            if pattern is not None:
                spans += [m.span() for m in pattern.finditer(where)]
        for half, secret, head in self._halves:
            spans += [_extend(lowered, span, secret, head) for span in _find(lowered, half)]
        if not spans:
            return text
        pieces: list[str] = []
        cursor = 0
        for start, end in sorted(spans):
            if end <= cursor:
                continue
            if start >= cursor:
                pieces += [text[cursor:start], MARK]
            cursor = end
        return "".join(pieces) + text[cursor:]

    def redact(self, value: Any) -> Any:
        """``value`` with :meth:`text` applied to every string in it, keys included, at any
        depth. Unchanged parts are shared, not copied; other types are returned as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            changed = False
            out: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = self.text(key) if isinstance(key, str) else key
                new_item = self.redact(item)
                changed = changed or new_key is not key or new_item is not item
                out[new_key] = new_item
            return out if changed else value
        if isinstance(value, (list, tuple)):
            items = [self.redact(item) for item in value]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                return items
            return value
        return value


def _escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def _find(text: str, form: str) -> list[tuple[int, int]]:
    found = []
    start = text.find(form)
    while start >= 0:
        found.append((start, start + len(form)))
        start = text.find(form, start + 1)
    return found


def _extend(text: str, span: tuple[int, int], secret: str, head: bool) -> tuple[int, int]:
    """A match of a secret's first (last) half, extended forwards (backwards) over as much more
    of the secret as the text repeats."""
    start, end = span
    if head:
        i = end - start
        while end < len(text) and i < len(secret) and text[end] == secret[i]:
            end, i = end + 1, i + 1
    else:
        i = len(secret) - (end - start) - 1
        while start > 0 and i >= 0 and text[start - 1] == secret[i]:
            start, i = start - 1, i - 1
    return start, end


def _alternation(forms: set[str]) -> re.Pattern[str] | None:
    """One pattern for literal forms, longest first (a form inside another is replaced whole)."""
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def _compile(folded: set[str], exact: set[str]) -> re.Pattern[str]:
    # Longest first: a form that contains another is replaced whole.
    parts = [f"(?i:{re.escape(f)})" for f in folded] + [re.escape(f) for f in exact]
    parts.sort(key=len, reverse=True)
    return re.compile("|".join(parts))


REGISTRY = Registry()


def register(value: str) -> None:
    """Remember a secret value: from now on it is hidden from everything recorded."""
    REGISTRY.register(value)


def text(message: str, extra: Iterable[str] = ()) -> str:
    return REGISTRY.text(message, extra)


def redact(value: Any) -> Any:
    return REGISTRY.redact(value)


def may_hold(encoded: str) -> bool:
    return REGISTRY.may_hold(encoded)


def reset() -> None:
    """Forget every registered secret (tests only: a service never forgets one)."""
    REGISTRY.reset()


def processor(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
    """A structlog processor: every value of a log event redacted (put it before the renderer,
    after ``format_exc_info``, so tracebacks are text it can clean)."""
    return {key: REGISTRY.redact(item) for key, item in event.items()}
