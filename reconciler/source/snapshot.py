"""What every source hands over: a :class:`Snapshot` of a revision's files, the
:class:`SourceError` it raises, and :func:`folder` (a ``--path`` made safe).

Kept apart from :mod:`.gitsource` so that :mod:`.directory` (``reconciler validate`` and
``test`` read folders through it) does not import GitPython: the commands that only read files
start at once (SPEC §3). ``gitsource`` re-exports all three.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath

from reconciler.errors import ReconcilerError


@dataclass(frozen=True)
class Snapshot:
    """The files of one revision: paths relative to the source's ``path``, ``/``-separated."""

    revision: str
    files: dict[str, bytes]
    message: str = ""
    # YAML files left unread because they are larger than the loader would read: path -> size.
    too_large: dict[str, int] = dataclasses.field(default_factory=dict)


class SourceError(ReconcilerError):
    """The repository cannot be read: unreachable, no such branch, commit or path, bad credentials.

    The message names the repository without credentials and never contains a secret.
    """


def folder(path: str) -> str:
    """``path`` as a clean relative POSIX folder (``""`` for the root); refuses ``..``."""
    parts = [
        part for part in PurePosixPath(path.replace("\\", "/")).parts if part not in {"/", "."}
    ]
    if ".." in parts:
        raise SourceError(f"--path {path!r} must stay inside the repository (no '..')")
    return "/".join(parts)
