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
from reconciler.source.git import SourceError


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


async def next_change(source: DirectorySource, touch: Path, *, within: float = 20.0) -> bool:
    """Write ``touch`` until ``source.changes()`` reports a change; then stop the watcher."""
    stop = asyncio.Event()
    seen = asyncio.Event()

    async def watch() -> None:
        async for _ in source.changes(stop):
            seen.set()

    watcher = asyncio.create_task(watch())
    try:
        deadline = time.monotonic() + within
        attempt = 0
        while not seen.is_set() and time.monotonic() < deadline:
            attempt += 1
            touch.parent.mkdir(parents=True, exist_ok=True)
            touch.write_text(f"attempt: {attempt}\n")
            try:
                await asyncio.wait_for(seen.wait(), timeout=0.5)
            except TimeoutError:
                pass
        return seen.is_set()
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=10)


def test_changes_yields_after_a_file_is_written(tmp_path: Path) -> None:
    source = DirectorySource(tmp_path, path="defs")

    assert asyncio.run(next_change(source, tmp_path / "defs" / "a.yaml"))


def test_changes_ignores_dot_folders_and_files_outside_path(tmp_path: Path) -> None:
    source = DirectorySource(tmp_path, path="defs")

    async def scenario() -> bool:
        stop = asyncio.Event()
        seen = asyncio.Event()

        async def watch() -> None:
            async for _ in source.changes(stop):
                seen.set()

        watcher = asyncio.create_task(watch())
        try:
            write(tmp_path, {"defs/.git/HEAD": "x", "defs/.swap.yaml": "x", "other/a.yaml": "x"})
            # Proving an absence takes a bounded wait: three debounce periods and more.
            try:
                await asyncio.wait_for(seen.wait(), timeout=4 * DEBOUNCE_MS / 1000)
            except TimeoutError:
                pass
            return seen.is_set()
        finally:
            stop.set()
            await asyncio.wait_for(watcher, timeout=10)

    assert not asyncio.run(scenario())
    # The same watcher does report a file that matters (so the silence above meant something).
    assert asyncio.run(next_change(source, tmp_path / "defs" / "b.yaml"))
