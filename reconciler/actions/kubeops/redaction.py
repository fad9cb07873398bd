"""What Kubernetes objects may show in outputs: no secrets, no bulk.

Objects that leave an action (``get``, ``list``, ``patch``, ``collect_diagnostics``) are
recorded in executions and may reach reports and pull requests, so:

- ``metadata.managedFields`` is dropped (bulky, and no one reads it in a workflow);
- the ``kubectl.kubernetes.io/last-applied-configuration`` annotation is redacted (it repeats
  the whole object as applied, env values included);
- an env var whose name looks like a secret (TOKEN, PASSWORD, SECRET, KEY, ...) has its
  ``value`` redacted; ``valueFrom`` references (a Secret's name and key) are kept and never
  resolved;
- any other env value loses its URL credentials (``DATABASE_URL=postgres://user:pass@db``
  becomes ``postgres://***@db``), token-shaped parts and known secrets
  (:func:`reconciler.redaction.text`): a name does not have to say it holds a credential.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler import redaction

REDACTED = "<redacted>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SECRET_NAME = re.compile(r"TOKEN|PASSW(OR)?D|SECRET|KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)


def clean(value: Any) -> Any:
    """A copy of a JSON object (or list) with the rules above applied, at any depth."""
    if isinstance(value, list):
        return [clean(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "managedFields":
            continue
        if key == "env" and isinstance(item, list):
            out[key] = [_env(var) for var in item]
        elif key == "annotations" and isinstance(item, dict) and LAST_APPLIED in item:
            out[key] = {**item, LAST_APPLIED: REDACTED}
        else:
            out[key] = clean(item)
    return out


def _env(var: Any) -> Any:
    if isinstance(var, dict) and "value" in var:
        if SECRET_NAME.search(str(var.get("name", ""))):
            return {**var, "value": REDACTED}
        if isinstance(var["value"], str):
            return {**clean(var), "value": redaction.text(var["value"])}
    return clean(var)
