"""``DirectorySource``: real files, a real watcher (watchfiles), no sleeps to wait for events.

Waiting for the watcher polls with a deadline: a file is written again until a change is
reported, since the watcher may start after the first write.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from reconciler.source.directory import DEBOUNCE_MS, DirectorySource
from reconciler.source.gitsource import SourceError


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)


def test_snapshot_reads_the_files_under_path_without_dot_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "README.md": "x",
            "defs/a.yaml": "a: 1\n",
            "defs/sub/b.yaml": "b: 1\n",
            "defs/.hidden.yaml": "h: 1\n",
            "defs/.git/config": "[core]\n",
        },
    )
    (tmp_path / "defs" / "link.yaml").symlink_to(tmp_path / "README.md")

    snapshot = DirectorySource(tmp_path, path="defs").snapshot()

    assert snapshot.files == {"a.yaml": b"a: 1\n", "sub/b.yaml": b"b: 1\n"}
    assert re.fullmatch(r"dir-[0-9a-f]{12}", snapshot.revision)
    assert snapshot.message == ""


def test_the_revision_changes_with_the_content_only(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    source = DirectorySource(tmp_path)
    first = source.snapshot().revision

    write(tmp_path, {"a.yaml": "a: 1\n"})  # saved again, unchanged
    assert source.snapshot().revision == first

    write(tmp_path, {"a.yaml": "a: 2\n"})
    changed = source.snapshot().revision
    assert changed != first

    (tmp_path / "b.yaml").rename(tmp_path / "c.yaml")  # same content, another name
    assert source.snapshot().revision not in {first, changed}


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"path 'defs' is not a folder in "):
        DirectorySource(tmp_path, path="defs").snapshot()

    async def watch_a_missing_root() -> None:
        async for _ in DirectorySource(tmp_path / "missing").changes(asyncio.Event()):
            pass

    with pytest.raises(SourceError, match=r"cannot watch .*missing: no such folder"):
        asyncio.run(watch_a_missing_root())


class Watching:
    """``source.changes()`` consumed by a task for the length of an ``async with``."""

    def __init__(self, source: DirectorySource) -> None:
        self.source = source
        self.stop = asyncio.Event()
        self.seen = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watching:
        self.task = asyncio.create_task(self.watch())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout=10)  # the watcher ends once stop is set

    async def watch(self) -> None:
        async for _ in self.source.changes(self.stop):
            self.seen.set()

    async def changed_after_writing(self, touch: Path, *, within: float = 20.0) -> bool:
        """Write ``touch`` until a change is reported (the watcher may start after a write)."""
        deadline = time.monotonic() + within
        attempt = 0
        while not self.seen.is_set() and time.monotonic() < deadline:
            attempt += 1
            write(touch.parent, {touch.name: f"attempt: {attempt}\n"})
            await self.changed_within(0.5)
        return self.seen.is_set()

    async def changed_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.seen.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


def test_changes_yields_after_a_file_is_written(tmp_path: Path) -> None:
    async def scenario() -> bool:
        async with Watching(DirectorySource(tmp_path, path="defs")) as watching:
            return await watching.changed_after_writing(tmp_path / "defs" / "a.yaml")

    assert asyncio.run(scenario())


def test_changes_ignores_dot_folders_and_files_outside_path(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        async with Watching(DirectorySource(tmp_path, path="defs")) as watching:
            # First prove the watcher is running, so that its silence below means something.
            running = await watching.changed_after_writing(tmp_path / "defs" / "ready.yaml")
            watching.seen.clear()
            write(tmp_path, {"defs/.git/HEAD": "x", "defs/.swap.yaml": "x", "other/a.yaml": "x"})
            # Proving an absence takes a bounded wait: a few debounce periods.
            return running, await watching.changed_within(4 * DEBOUNCE_MS / 1000)

    assert asyncio.run(scenario()) == (True, False)
