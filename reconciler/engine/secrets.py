"""``secret(name, key)`` for templates, and the redaction of secret values from records.

Secrets are files ``<secrets-dir>/<name>/<key>`` (the layout of a mounted Kubernetes Secret).
Every value a provider hands out is registered with :mod:`reconciler.redaction`, which the
store's encoder and the log processor apply to everything recorded: the engine keeps real values
in memory (a later step reading ``steps.x.output`` gets them), records never hold them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reconciler import redaction

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
            redaction.register(value)
        return value

    def redact(self, value: Any) -> Any:
        """``value`` as it may be recorded, at any depth (strings, dict keys, lists): every
        known secret in any common encoding, URL credentials and token shapes are ``***``."""
        return redaction.redact(value)

    def text(self, message: str) -> str:
        """A message as it may be recorded (see :meth:`redact`)."""
        return redaction.text(message, self.seen)
