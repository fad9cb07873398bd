"""``secret(name, key)`` for templates, and the redaction of secret values from records.

Secrets are files ``<secrets-dir>/<name>/<key>`` (the layout of a mounted Kubernetes Secret).
Every value a provider has handed out is redacted from recorded inputs, outputs and errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reconciler.errors import sanitize

_NAME = re.compile(r"^[A-Za-z0-9][-._A-Za-z0-9]*$")


class SecretProvider:
    """Reads secrets and remembers the values it gave out (to redact them)."""

    def __init__(
        self, directory: Path | None = None, values: dict[str, dict[str, str]] | None = None
    ) -> None:
        self.directory = directory
        self.values = values or {}
        self.seen: set[str] = set()

    def read(self, name: str, key: str) -> str:
        if not _NAME.match(name) or not _NAME.match(key):
            raise LookupError(
                f"secret({name!r}, {key!r}): names are letters, digits, '-', '_' and '.'"
            )
        if name in self.values and key in self.values[name]:
            value = self.values[name][key]
        elif self.directory is not None and (self.directory / name / key).is_file():
            value = (self.directory / name / key).read_text().strip()
        else:
            where = f" under {self.directory}" if self.directory else ""
            raise LookupError(f"secret {name}/{key} not found{where}")
        if value:
            self.seen.add(value)
        return value

    def redact(self, value: Any) -> Any:
        """A copy of ``value`` with every secret value seen so far replaced by ``***`` (and,
        in text, URL credentials and bearer tokens, secrets or not)."""
        if isinstance(value, str):
            return self.text(value)
        if not self.seen:
            return value
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value

    def text(self, message: str) -> str:
        """A message as it may be recorded: secrets seen, URL credentials and bearer tokens
        replaced by ``***``."""
        return sanitize(message, self.seen)
