"""One process per SQLite store: an exclusive lock beside the database, and no network disks.

:class:`~reconciler.store.sqlite.SqliteStore` takes the lock when it opens a file database and
releases it when it closes. SQLite (SPEC §5) allows one writer: two services on one store both
recover the same running executions and both call their next steps. The lock is ``flock`` on
``<database>.lock``, which holds the holder's pid, host and start time for the error the next
one prints; the kernel drops it when the holder dies, so a killed service never blocks its own
restart. A database on a network filesystem is refused before that: its locks and SQLite's
shared memory (WAL) do not work across machines, so the lock would prove nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import StoreError

MOUNTINFO = Path("/proc/self/mountinfo")

# Filesystems whose files other machines can open: locks do not hold across them.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "coda", "ceph", "glusterfs",
        "lustre", "9p", "gpfs", "beegfs", "orangefs", "pvfs2", "ocfs2", "gfs2", "davfs",
        "fuse.sshfs", "sshfs", "fuse.ceph", "fuse.glusterfs", "fuse.s3fs", "fuse.gcsfuse",
        "fuse.rclone", "fuse.juicefs", "fuse.goofys", "fuse.davfs2", "fuse.cephfs",
    }
)  # fmt: skip


class StoreLock:
    """The exclusive lock of one store. ``mountinfo``: the mount table's text (tests inject
    one; None reads ``/proc/self/mountinfo``, and skips the check where there is none)."""

    def __init__(self, database: str | Path, *, mountinfo: str | None = None) -> None:
        self.database = Path(database)
        self.path = self.database.with_name(self.database.name + ".lock")
        self._mountinfo = mountinfo
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (a no-op if this object holds it, or for an in-memory store, which
        no other process can open), or raise :class:`StoreError`."""
        if self._fd is not None or str(self.database) == ":memory:":
            return
        folder = self.database.parent
        if folder.exists() and not folder.is_dir():
            raise StoreError(f"{folder}, the store's folder, is not a directory: give a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            refuse_network_filesystem(folder, self._mountinfo)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store's lock file {self.path}: {exc.strerror or exc}; "
                "give a writable --state-dir"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StoreError(
                f"the store {self.database} is in use by another reconciler ({holder}); "
                "two cannot share one store: stop it, or give this one another --state-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for the next one's error; the lock itself is the flock, not this text.
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
        self._fd = fd

    def release(self) -> None:
        """Let go (idempotent). The file stays: deleting it would race the next one's open."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # no stale holder shown once it is free
            os.close(fd)  # closing the descriptor drops the flock


def _holder(fd: int) -> str:
    """The holder as its lock file describes it (pid, host, since)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict) or "pid" not in record:
        return "holder unknown: it is starting or stopping"
    where = f"pid {record['pid']} on host {record.get('host', '?')}"
    return f"{where}, since {record['started_at']}" if record.get("started_at") else where


def refuse_network_filesystem(folder: Path, mountinfo: str | None = None) -> None:
    """Raise :class:`StoreError` if ``folder`` is on a network filesystem (see module doc)."""
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text()
        except OSError:  # not Linux: nothing to read the filesystem type from
            return
    kind, mount_point = filesystem_of(folder.resolve(), mountinfo)
    if kind in NETWORK_FILESYSTEMS or kind.startswith(("nfs", "fuse.sshfs")):
        raise StoreError(
            f"the store's folder {folder} is on a network filesystem ({kind} mounted at "
            f"{mount_point}); SQLite's locks do not hold across machines there, so two services "
            "could write one store: put --state-dir (or --store) on a local disk (in "
            "Kubernetes, a ReadWriteOnce volume)"
        )


def filesystem_of(path: Path, mountinfo: str) -> tuple[str, str]:
    """The filesystem type and mount point holding ``path``: the longest mount point that
    contains it (the last one mounted there wins). ``("", "")`` if no line matches."""
    best: tuple[int, str, str] = (-1, "", "")
    target = str(path)
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount_point = _unescape(fields[4])
        kind = line.split(" - ", 1)[1].split()[0]
        inside = (
            target == mount_point
            or mount_point == "/"
            or target.startswith(mount_point.rstrip("/") + "/")
        )
        if inside and len(mount_point) >= best[0]:
            best = (len(mount_point), kind, mount_point)
    return best[1], best[2]


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    for escaped, plain in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, plain)
    return field
