"""One process per SQLite store: the lock beside the database, and no network filesystems."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.store.base import Batch
from reconciler.store.lock import StoreLock, filesystem_of, refuse_network_filesystem
from reconciler.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]


def mountinfo(*mounts: tuple[str, str]) -> str:
    """A /proc/self/mountinfo with these (mount point, filesystem type) lines."""
    return "".join(
        f"{n} 1 0:{n} / {point} rw,relatime shared:{n} - {kind} src{n} rw\n"
        for n, (point, kind) in enumerate(mounts, start=20)
    )


def test_a_second_store_on_the_same_database_is_refused_naming_the_holder(tmp_path):
    async def body():
        first = SqliteStore(tmp_path / "reconciler.db")
        await first.open()
        try:
            second = SqliteStore(tmp_path / "reconciler.db")
            with pytest.raises(StoreError) as refused:
                await second.open()
            await second.close()  # nothing to close; must not release the first one's lock
            third = SqliteStore(tmp_path / "reconciler.db")
            with pytest.raises(StoreError):
                await third.open()
        finally:
            await first.close()
        return str(refused.value)

    message = asyncio.run(body())
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in message
    assert str(tmp_path / "reconciler.db") in message
    assert "stop it, or give this one another --state-dir" in message


def test_closing_a_store_releases_its_lock_for_the_next_one(tmp_path):
    async def body():
        for n in range(3):
            store = SqliteStore(tmp_path / "reconciler.db")
            await store.open()
            await store.save(Batch(timeline=[("e1", {"n": n})]))
            await store.close()
        store = SqliteStore(tmp_path / "reconciler.db")
        await store.open()
        try:
            return await store.timeline("e1")
        finally:
            await store.close()

    assert asyncio.run(body()) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_store_whose_open_failed_leaves_the_lock_free(tmp_path):
    (tmp_path / "reconciler.db").write_text("not a database")

    async def body():
        with pytest.raises(Exception, match="not a database"):
            await SqliteStore(tmp_path / "reconciler.db").open()
        lock = StoreLock(tmp_path / "reconciler.db")
        lock.acquire()  # StoreError: in use by another reconciler
        lock.release()

    asyncio.run(body())


def test_an_in_memory_store_takes_no_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def body():
        one, two = SqliteStore(":memory:"), SqliteStore(":memory:")
        await one.open()
        await two.open()
        await one.close()
        await two.close()

    asyncio.run(body())
    assert list(tmp_path.iterdir()) == []


def test_a_killed_holder_does_not_block_the_next_start(tmp_path):
    database = tmp_path / "reconciler.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from reconciler.store.lock import StoreLock\n"
            f"StoreLock({str(database)!r}).acquire()\n"
            "print('held', flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StoreError, match=f"pid {holder.pid} on host"):
            StoreLock(database).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    lock = StoreLock(database)
    deadline = time.monotonic() + 10  # the kernel drops a dead process's flock at once
    while True:
        try:
            lock.acquire()
            break
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    lock.release()


@pytest.mark.parametrize(
    "kind", ["nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "ceph", "glusterfs", "lustre", "9p"]
)
def test_a_state_directory_on_a_network_filesystem_is_refused(tmp_path, kind):
    table = mountinfo(("/", "ext4"), (str(tmp_path), kind))
    lock = StoreLock(tmp_path / "state" / "reconciler.db", mountinfo=table)

    with pytest.raises(StoreError) as refused:
        lock.acquire()

    message = str(refused.value)
    assert f"{tmp_path / 'state'} is on a network filesystem ({kind} mounted at {tmp_path})" in (
        message
    )
    assert "--state-dir" in message
    assert not lock.held


def test_the_longest_mount_point_decides_the_filesystem(tmp_path):
    nested_local = mountinfo(("/", "ext4"), ("/srv", "nfs4"), ("/srv/local", "xfs"))
    assert filesystem_of(Path("/srv/local/state"), nested_local) == ("xfs", "/srv/local")
    assert filesystem_of(Path("/srv/localer"), nested_local) == ("nfs4", "/srv")
    assert filesystem_of(Path("/srv"), nested_local) == ("nfs4", "/srv")
    assert filesystem_of(Path("/var/lib"), nested_local) == ("ext4", "/")
    overmounted = mountinfo(("/", "ext4"), ("/data", "nfs"), ("/data", "ext4"))
    assert filesystem_of(Path("/data/x"), overmounted) == ("ext4", "/data")  # the last one wins
    spaced = mountinfo(("/", "ext4"), ("/mnt/my\\040share", "cifs"))
    assert filesystem_of(Path("/mnt/my share/state"), spaced) == ("cifs", "/mnt/my share")


def test_a_state_directory_on_a_local_filesystem_is_accepted(tmp_path):
    refuse_network_filesystem(tmp_path, mountinfo(("/", "ext4"), ("/tmp", "tmpfs")))
    refuse_network_filesystem(tmp_path)  # the machine's own mount table: tests run on a local disk


def test_an_in_memory_store_takes_no_lock_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lock = StoreLock(":memory:")
    lock.acquire()
    lock.release()
    assert list(tmp_path.iterdir()) == []
