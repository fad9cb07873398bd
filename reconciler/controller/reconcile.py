"""The reconcile loop: keep the active revision equal to the head of the Git branch.

Run by the service. Each pass is an ordered list of small steps, as Flux's ``Reconcile()``:
fetch (the branch's head: an ``ls-remote``, cheap when nothing changed; then the commit) →
verify (with ``--verify``, its signature: ``SourceVerified``; and that the branch moved forward
from the last adopted commit, unless ``--allow-rewind``) → load (the commit's
tree, read without a working copy) → validate (load, validate and compile every definition) →
activate (store the files so recovery never needs Git, then switch the intake over, at once and
whole) → summarize (conditions, metrics, "finished in X, next in Y"). A revision that does not
validate is never activated: the last good one stays, and ``Ready=False, ValidationFailed``
carries its problems until a new commit fixes them; so does an unsigned or untrusted head
(``VerificationFailed``, checked again every pass: the trusted keys may be rotated) and a rewind
(``RewindRefused``, with a ``Warning`` condition, also set when ``--allow-rewind`` adopts one).
Running executions finish on the revision they started on (the engine keeps every revision in
use).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from reconciler.actions.registry import Registry
from reconciler.controller.conditions import SourceStatus
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.clock import Clock, SystemClock
from reconciler.engine.engine import Engine
from reconciler.engine.state import iso
from reconciler.errors import Problem, ReconcilerError, sanitize
from reconciler.metrics import Metrics
from reconciler.source.directory import DirectorySource
from reconciler.source.gitsource import GitSource, Snapshot
from reconciler.store.base import Store
from reconciler.validation import revision as revisions
from reconciler.validation.compiled import Revision

log = structlog.get_logger("reconciler.controller")
ACTIVE_KEY = "active_revision"  # service state: the revision to restore after a restart
# The last commit adopted from Git, with the source it came from (a new --repo or --branch
# starts afresh rather than being refused as a rewind): {"source", "branch", "commit"}.
ADOPTED_KEY = "adopted_commit"

OnActivate = Callable[[str, Revision], None]


@dataclass(frozen=True)
class Pass:
    result: str  # unchanged | applied | failed
    revision: str | None
    next_in: float  # seconds


class Reconciler:
    def __init__(
        self,
        source: GitSource | DirectorySource,
        engine: Engine,
        store: Store,
        on_activate: OnActivate,
        *,
        registry: Registry,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        interval: float = 30.0,
        retry_interval: float | None = None,
        allow_rewind: bool = False,
    ) -> None:
        self.source = source
        self.engine = engine
        self.store = store
        self.on_activate = on_activate
        self.registry = registry
        self.metrics = metrics or Metrics()
        self.clock = clock or SystemClock()
        self.interval = interval
        self.retry_interval = retry_interval or interval  # after a failed fetch, as Flux
        self.status = SourceStatus(source=source.describe())
        self.allow_rewind = allow_rewind
        self._rejected: str | None = None  # the head that failed validation (not re-validated)
        self._adopted: str | None = None  # the last commit adopted from Git (None: not yet read)
        self._rewound = ""  # why the head being adopted is a rewind (--allow-rewind)
        self._verified_head: str | None = None  # the last head whose signature was trusted
        self._wake = asyncio.Event()
        now = iso(self.clock.now())
        self.status.set("Ready", "Unknown", "Progressing", "no revision reconciled yet", now)

    def request(self) -> None:
        """Reconcile now (the directory watcher, or a person) instead of at the next interval."""
        self._wake.set()

    async def restore(self) -> bool:
        """After a restart: activate the revision that was active, from the store, so alerts
        are matched before Git answers. Git's head replaces it at the first pass."""
        name = await self.store.get_state(ACTIVE_KEY)
        if not name:
            return False
        try:
            compiled = await self.engine.revision(name)
        except ReconcilerError as exc:
            log.warning(
                "the last active revision cannot be restored", revision=name, error=str(exc)
            )
            return False
        self._activated(name, compiled, "restored from the store")
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            outcome = await self.reconcile()
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=outcome.next_in, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()

    async def reconcile(self) -> Pass:
        """One pass. Never raises: failures become conditions and a retry."""
        started = time.perf_counter()
        now = iso(self.clock.now())
        self.status.set("Reconciling", "True", "Progressing", "fetching", now)
        try:
            outcome = await self._pass(now)
        except ReconcilerError as exc:
            outcome = self._failed("FetchFailed", sanitize(str(exc)), now)
        except Exception as exc:  # a bug or an unexpected library error: report, retry later
            log.exception("reconcile pass failed")
            outcome = self._failed("ReconcileFailed", sanitize(f"{type(exc).__name__}: {exc}"), now)
        self.status.set("Reconciling", "False", "Idle", "", iso(self.clock.now()))
        elapsed = time.perf_counter() - started
        self.metrics.reconcile_duration.labels(result=outcome.result).observe(elapsed)
        log.info(
            f"reconcile finished in {elapsed * 1000:.0f}ms, next in {outcome.next_in:.0f}s",
            result=outcome.result,
            revision=outcome.revision,
        )
        return outcome

    async def _pass(self, now: str) -> Pass:
        snapshot: Snapshot | None = None
        if isinstance(self.source, DirectorySource):
            snapshot = await asyncio.to_thread(self.source.snapshot)
            head = snapshot.revision
        else:
            head = await asyncio.to_thread(self.source.head)
        source = self.source
        if isinstance(source, GitSource) and head == self.status.active_revision:
            # Restored from the store, or active before --verify was set: checked all the same
            # (it stays active, as the only revision there is, but status says it is not trusted).
            refused = await self._verify(source, head, now)
            if refused is not None:
                self.status.last_attempted_revision = head
                return refused
        if head in (self.status.active_revision, self._rejected):
            return self._unchanged(head, now)
        self.status.last_attempted_revision = head
        if snapshot is None:
            assert isinstance(self.source, GitSource)
            refused = await self._guard(self.source, head, now)
            if refused is not None:
                return refused
            snapshot = await asyncio.to_thread(self.source.snapshot, head)
        problems = _too_large(snapshot, self.source)
        outcome = await asyncio.to_thread(
            revisions.build, [MemoryTree(snapshot.files)], self.registry
        )
        if outcome.revision is None or problems:
            problems += outcome.problems
            self._rejected = head
            self.status.errors = [str(p) for p in problems]
            return self._failed(
                "ValidationFailed",
                f"revision {_short(head)} is invalid ({len(problems)} problems); {self._keeping()}",
                now,
                keep_errors=True,
            )
        await self.engine.add_revision(head, outcome.revision, snapshot.files)
        await self.store.set_state(ACTIVE_KEY, head)
        self._rejected = None
        if isinstance(self.source, GitSource):  # before it shows as active: status is whole
            await self._adopt(self.source, head, now)
        self._activated(head, outcome.revision, snapshot.message)
        self.status.errors = []
        self.status.last_error = None
        self.status.last_sync = iso(self.clock.now())
        self.metrics.last_sync.set(self.clock.now().timestamp())
        return Pass("applied", head, self._jittered(self.interval))

    async def _guard(self, source: GitSource, head: str, now: str) -> Pass | None:
        """Fetch ``head`` and check it may be adopted: signed by a trusted key (``--verify``),
        and a descendant of the last adopted commit (unless ``--allow-rewind``). A refusal is
        the failed pass; None lets the pass go on."""
        refused = await self._verify(source, head, now)
        if refused is not None:
            return refused
        self._rewound = ""
        adopted = await self._last_adopted(source)
        if adopted is None or await asyncio.to_thread(source.descends, adopted, head):
            return None
        moved = (
            f"branch {source.branch} moved from {_short(adopted)} to {_short(head)}, which does "
            "not descend from it (a force-push to an older or another commit)"
        )
        if self.allow_rewind:
            self.metrics.source_rewinds.labels(outcome="allowed").inc()
            self._rewound = f"{moved}; adopted because --allow-rewind is set"
            return None
        self.metrics.source_rewinds.labels(outcome="refused").inc()
        self._rejected = head  # the same head stays a rewind: not fetched nor compared again
        message = f"{moved}; {self._keeping()}; set --allow-rewind to adopt such a move"
        self.status.set("Warning", "True", "RewindRefused", message, now)
        return self._failed("RewindRefused", message, now)

    async def _verify(self, source: GitSource, head: str, now: str) -> Pass | None:
        """Fetch ``head`` and, with ``--verify``, check its signature (``SourceVerified``)."""
        if source.verifier is None or self._verified_head == head:
            return None
        await asyncio.to_thread(source.fetch, head)
        verification = await asyncio.to_thread(source.verify, head)
        if verification is None:
            return None
        if not verification.trusted:
            self.status.set(
                "SourceVerified", "False", "VerificationFailed", verification.message, now
            )
            message = f"{verification.message}; {self._keeping()}"
            return self._failed("VerificationFailed", message, now)
        self._verified_head = head
        self.status.set("SourceVerified", "True", "Succeeded", verification.message, now)
        return None

    async def _last_adopted(self, source: GitSource) -> str | None:
        if self._adopted is None:
            saved = await self.store.get_state(ADOPTED_KEY)
            if (
                isinstance(saved, dict)
                and saved.get("source") == source.describe()
                and (saved.get("branch") == source.branch)
            ):
                self._adopted = str(saved.get("commit") or "") or None
        return self._adopted

    async def _adopt(self, source: GitSource, head: str, now: str) -> None:
        self._adopted = head
        record = {"source": source.describe(), "branch": source.branch, "commit": head}
        await self.store.set_state(ADOPTED_KEY, record)
        if self._rewound:
            self.status.set("Warning", "True", "RewindAllowed", self._rewound, now)
            log.warning("rewind adopted", revision=head, reason=self._rewound)
        elif "Warning" in self.status.conditions:
            self.status.set("Warning", "False", "Succeeded", "", now)

    def _activated(self, name: str, compiled: Revision, message: str) -> None:
        self.on_activate(name, compiled)
        self.status.active_revision = name
        self.status.active_message = message
        self.metrics.set_revision(name)
        self.metrics.ready.set(1)
        now = iso(self.clock.now())
        self.status.set("Ready", "True", "Succeeded", f"applied revision {_short(name)}", now)
        self.status.set("Stalled", "False", "Succeeded", "", now)
        log.info("revision active", revision=name, message=message)

    def _unchanged(self, head: str, now: str) -> Pass:
        if head != self.status.active_revision:  # still the rejected head: nothing new to say
            return Pass("unchanged", head, self._jittered(self.interval))
        self.status.last_sync = now
        self.status.last_error = None
        self.metrics.last_sync.set(self.clock.now().timestamp())
        if not self.status.ready:  # a fetch failed earlier and Git answers again
            self.metrics.ready.set(1)
            self.status.set("Ready", "True", "Succeeded", f"applied revision {_short(head)}", now)
            self.status.set("Stalled", "False", "Succeeded", "", now)
            warning = self.status.conditions.get("Warning")
            if warning is not None and warning.reason == "RewindRefused":  # the branch is back
                self.status.set("Warning", "False", "Succeeded", "", now)
        return Pass("unchanged", head, self._jittered(self.interval))

    def _failed(self, reason: str, message: str, now: str, *, keep_errors: bool = False) -> Pass:
        """Ready=False with the reason (the last good revision stays active); Stalled when only
        a new commit can help (an invalid revision), not when a retry may (Git unreachable)."""
        if not keep_errors:
            self.status.errors = []
        self.status.last_error = message
        self.metrics.ready.set(0)
        self.status.set("Ready", "False", reason, message, now)
        # Only a new commit (or new trusted keys, or --allow-rewind) can help these.
        stalled = reason in ("ValidationFailed", "VerificationFailed", "RewindRefused")
        self.status.set("Stalled", "True" if stalled else "False", reason, message, now)
        log.warning("reconcile failed", reason=reason, error=message)
        # An invalid revision waits for the next commit: the next poll's head check is cheap.
        delay = self.interval if stalled else self.retry_interval
        return Pass("failed", self.status.last_attempted_revision, self._jittered(delay))

    def _keeping(self) -> str:
        active = self.status.active_revision
        return f"keeping revision {_short(active)}" if active else "no revision is active"

    @staticmethod
    def _jittered(seconds: float) -> float:
        # Spread replicas' and restarts' polls: +-10%.
        return seconds * random.uniform(0.9, 1.1)  # noqa: S311 - not for security


def _too_large(snapshot: Snapshot, source: GitSource | DirectorySource) -> list[Problem]:
    """Files the source left unread for their size, as the loader words its own refusal."""
    limit = getattr(source, "max_file_bytes", 0)
    return [
        Problem(path, 0, 0, "", f"file is {size} bytes; the limit is {limit}")
        for path, size in sorted(snapshot.too_large.items())
    ]


def _short(revision: str | None) -> str:
    return (revision or "")[:12]
