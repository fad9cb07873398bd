"""A kubeconfig for the simulated cluster, so that kubectl and the official client can reach it.

Written by :class:`reconciler.app.service.Service` at start when ``--sim-kubeconfig PATH`` is
set with ``--cluster sim:PATH`` (``make run`` writes ``.reconciler/kubeconfig``). The simulator
serves plain HTTP on loopback without authentication, so the user has no credentials.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import InputError

NAME = "reconciler-sim"


def config(url: str) -> dict[str, Any]:
    """A minimal ``kind: Config``: one cluster, one user without credentials, one context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": {"server": url}}],
        "users": [{"name": NAME, "user": {}}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME}}],
        "current-context": NAME,
        "preferences": {},
    }


def write(path: Path, url: str) -> None:
    """Write the kubeconfig atomically (a reader never sees half a file), mode 0600 (as kubectl
    writes its own: a kubeconfig usually holds credentials, and tools warn on wider modes)."""
    text = "# written by reconciler run --sim-kubeconfig: the simulated cluster\n"
    text += yaml.safe_dump(config(url), sort_keys=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w") as file:  # mkstemp creates it 0600
                file.write(text)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(
            f"--sim-kubeconfig {path}: cannot write it ({exc.strerror}); give a path in a "
            "writable folder"
        ) from exc
