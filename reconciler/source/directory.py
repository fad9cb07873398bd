"""A plain local folder as a source of definitions, for development (``--repo ./my-repo``).

The service's reconcile loop takes a :meth:`DirectorySource.snapshot` at start and after every
batch of changes :meth:`DirectorySource.changes` reports. There are no commits, so a revision is
named by a hash of the content: the same files give the same revision, and saving a file
without changing it does not make a new one. Only YAML files are read, as from Git.

``reconciler validate`` reads its folders through :class:`ContainedTree`: the loader's tree,
without the symlinks that point out of the folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.definitions.loader import DirectoryTree, SourceFile, is_yaml
from reconciler.errors import printable
from reconciler.source.snapshot import Snapshot, SourceError, folder

if TYPE_CHECKING:
    import watchfiles

# Editors save in bursts (temporary file, rename, chmod): group a burst into one change.
DEBOUNCE_MS = 300


class DirectorySource:
    """The YAML files under ``root/path``; dot-files, dot-folders and symlinks are left out."""

    def __init__(self, root: Path, *, path: str = "") -> None:
        self.root = root.expanduser().resolve()
        self.path = folder(path)
        self.top = self.root / self.path if self.path else self.root

    def describe(self) -> str:
        """The folder, for status and logs."""
        return str(self.top)

    def snapshot(self) -> Snapshot:
        """Every file under ``root/path`` now; the revision is ``dir-`` and a content hash."""
        if not self.top.is_dir():
            raise SourceError(f"path {self.path or '.'!r} is not a folder in {self.root}")
        files: dict[str, bytes] = {}
        for directory, folders, names in os.walk(self.top):
            # Pruning in place keeps os.walk out of .git and the like.
            folders[:] = sorted(name for name in folders if not name.startswith("."))
            for name in names:
                file = Path(directory, name)
                if not is_yaml(name) or name.startswith(".") or file.is_symlink():
                    continue  # another file is never read: it may be large, and is not needed
                if not file.is_file():
                    continue
                try:
                    files[file.relative_to(self.top).as_posix()] = file.read_bytes()
                except OSError as exc:  # deleted or unreadable between listing and reading
                    raise SourceError(
                        f"cannot read {printable(str(file))}: {exc.strerror}"
                    ) from None
        return Snapshot(revision=revision(files), files=files)

    async def changes(self, stop: asyncio.Event | None = None) -> AsyncIterator[None]:
        """Yield once per batch of changes under ``root/path``; ends when ``stop`` is set."""
        import watchfiles  # the service watches; `reconciler validate` only reads

        watching = watchfiles.awatch(
            self.root, watch_filter=self._relevant, stop_event=stop, debounce=DEBOUNCE_MS
        )
        try:
            async for _ in watching:
                yield
        except FileNotFoundError:  # watchfiles: "No path was found."
            raise SourceError(f"cannot watch {self.root}: no such folder") from None

    def _relevant(self, change: watchfiles.Change, path: str) -> bool:
        # The root is watched (not root/path) so the folder may be created after the start.
        try:
            relative = Path(path).relative_to(self.top)
        except ValueError:
            return False
        return not any(part.startswith(".") for part in relative.parts)


@dataclass
class ContainedTree:
    """The loader's :class:`DirectoryTree` of ``root``, less every symlink that resolves outside
    ``root`` (``data.yaml -> /etc/...`` would show a secret in a problem's message). Links inside
    are read as before. ``root`` itself may be a file, or a link the user named: it is read.
    ``left_out`` lists the links skipped, for the caller to mention.
    """

    root: Path
    left_out: list[str] = field(default_factory=list)

    def files(self) -> Iterator[SourceFile]:
        if not self.root.is_dir():
            yield from DirectoryTree(self.root).files()
            return
        top = self.root.resolve()
        for file in DirectoryTree(self.root).files():
            # DirectoryTree never enters a folder link, so only the file itself can be a link.
            target = Path(file.path).resolve()
            if not target.is_relative_to(top):
                self.left_out.append(file.path)
                continue
            # Read what was checked, not the link again (it may change in between).
            yield SourceFile(file.path, target.read_bytes, file.size)


def revision(files: dict[str, bytes]) -> str:
    """``dir-`` and 12 hex digits of a hash over the sorted paths and contents."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(files):
        content = files[name]
        # Length prefixes: ("ab", "c") and ("a", "bc") must not hash alike.
        for part in (name.encode(), content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return "dir-" + digest.hexdigest()[:12]
