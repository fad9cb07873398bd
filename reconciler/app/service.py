"""``reconciler run``: the store, the engine, the intake and the reconcile loop, wired together.

Built by the CLI (and by tests) from :class:`~reconciler.settings.ServiceSettings`; the HTTP
API (:mod:`reconciler.app.http`) starts and stops it with the server. Background work: the
intake's worker, the reconcile loop (and, for a plain folder, its file watcher), a waker
that reloads executions whose timers come due, and with ``retention`` set the pruner of
finished executions (:mod:`reconciler.app.retention`).
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from reconciler.actions import kube
from reconciler.actions.registry import Registry, default_registry
from reconciler.app import retention
from reconciler.app.views import definition_order, execution_view
from reconciler.controller.reconcile import Reconciler
from reconciler.engine.clock import Clock, SystemClock
from reconciler.engine.engine import Engine, Limits
from reconciler.engine.gates import GuardrailHooks, RulesFor
from reconciler.engine.secrets import SecretProvider
from reconciler.engine.state import Execution, Node, iso
from reconciler.errors import InputError
from reconciler.intake.intake import Intake
from reconciler.intake.load import Load
from reconciler.matching.guardrails import GUARDED_COLLECTIONS, Builtin
from reconciler.metrics import Metrics
from reconciler.settings import ServiceSettings
from reconciler.sim import kubeconfig
from reconciler.sim.cluster import Cluster
from reconciler.sim.server import SimulatedCluster, load_manifests
from reconciler.sim.views import SimulatedView
from reconciler.source.credentials import Credentials
from reconciler.source.directory import DirectorySource
from reconciler.source.opening import open_source
from reconciler.store.lock import StoreLock
from reconciler.store.sqlite import SqliteStore
from reconciler.validation.compiled import CompiledRule

log = structlog.get_logger("reconciler.service")
SUSPENDED_KEY = "suspended"
WAKE_EVERY = 1.0  # seconds between looks for executions whose timers came due
# An execution past its deadline by more than this is overdue: the engine wakes executions
# within a second of their deadline, so a minute means it is stuck or cannot write.
OVERDUE_GRACE = timedelta(minutes=1)


def tune_gc() -> None:
    """For the service's process, once its modules are imported: the objects alive now (modules,
    classes, the Kubernetes client's models: hundreds of thousands) are frozen out of the cyclic
    collector's scans, and young collections run 14 times less often. Full collections had
    paused the event loop for 100 ms and more, the bulk of the webhook's p99 under load."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


class ServiceHooks(GuardrailHooks):
    """Guardrail rules before mutating actions (as ``reconciler test``), and metrics."""

    def __init__(self, rules_for: RulesFor, metrics: Metrics, builtin: Builtin) -> None:
        super().__init__(rules_for, builtin=builtin)
        self.metrics = metrics

    def attempt_finished(
        self, execution: Execution, node: Node, action: str, seconds: float, outcome: str
    ) -> None:
        self.metrics.step_duration.labels(action=action, outcome=outcome).observe(seconds)

    def engine_error(self, execution: Execution | None, where: str, error: BaseException) -> None:
        self.metrics.engine_errors.labels(where=where).inc()


def _connect(mode: str) -> tuple[kube.KubeCluster | None, SimulatedCluster | None]:
    """``--cluster``: the cluster Kubernetes actions use, and the simulator if it is one."""
    if mode == "none":
        return None, None
    if mode == "auto":
        return kube.auto(), None
    if mode == "in-cluster":
        return kube.in_cluster(), None
    if mode == "kubeconfig":
        return kube.from_kubeconfig(), None
    if mode.startswith("sim:"):
        path = Path(mode.removeprefix("sim:"))
        sim = SimulatedCluster(Cluster.from_manifests(load_manifests(path))).start()
        return kube.at_url(sim.url, f"simulated ({path})"), sim
    raise InputError(f"--cluster {mode!r}: expected auto, kubeconfig, in-cluster, none or sim:PATH")


def store_path(settings: ServiceSettings) -> Path:
    if not settings.store:
        return Path(settings.state_dir) / "reconciler.db"
    if not settings.store.startswith("sqlite:///"):
        raise InputError(
            f"--store {settings.store!r}: expected sqlite:///PATH (PostgreSQL is on the roadmap)"
        )
    return Path(settings.store.removeprefix("sqlite:///"))


class Service:
    def __init__(
        self,
        settings: ServiceSettings,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        store_lock: StoreLock | None = None,
    ) -> None:
        """``store_lock``: the store's lock, already taken (``reconciler run`` takes it before
        it builds anything, to refuse a second instance before serving)."""
        if not settings.repo:
            raise InputError("--repo is required (a Git URL, a local repository or a folder)")
        self.settings = settings
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        self.registry = registry or default_registry()
        state = Path(settings.state_dir)
        self.store = SqliteStore(store_path(settings), lock=store_lock)
        self.metrics.watch_store(self._store_health)
        secrets = SecretProvider(Path(settings.secrets_dir) if settings.secrets_dir else None)
        self.engine = Engine(
            self.store,
            registry=self.registry,
            clock=self.clock,
            hooks=ServiceHooks(self._rules, self.metrics, Builtin.from_settings(settings)),
            secrets=secrets,
            limits=Limits(
                max_running_executions=settings.max_running_executions,
                max_running_steps=settings.max_running_steps,
            ),
        )
        self.intake = Intake(
            self.store,
            self.engine,
            self.metrics,
            self.clock,
            dry_run=settings.dry_run,
            load=Load(
                settings.max_queued_alerts,
                settings.max_bytes_in_flight,
                settings.max_deliveries_in_flight,
            ),
        )
        self.source = open_source(
            settings.repo,
            branch=settings.branch,
            path=settings.path,
            cache_dir=state / "git",
            credentials=Credentials.from_environment(environ or os.environ),
            verify=settings.verify,
            trusted_keys=settings.trusted_keys,
            allow_insecure_http=settings.allow_insecure_http,
        )
        self.reconciler = Reconciler(
            self.source,
            self.engine,
            self.store,
            self.intake.activate,
            registry=self.registry,
            metrics=self.metrics,
            clock=self.clock,
            interval=settings.interval,
            allow_rewind=settings.allow_rewind,
        )
        self.cluster, self.sim = _connect(settings.cluster)
        self.engine.steps.cluster = self.cluster
        self.engine.steps.prometheus_url = settings.prometheus_url
        self.listening = settings.listen  # the bound address once serving (see serving())
        if self.sim is not None and settings.sim_kubeconfig:
            try:
                kubeconfig.write(Path(settings.sim_kubeconfig), self.sim.url)
            except InputError:
                self.sim.stop()
                raise
        if self.cluster is not None:
            view = (
                SimulatedView(self.sim.cluster, GUARDED_COLLECTIONS)
                if self.sim is not None
                else kube.ClusterView(self.cluster)
            )
            hooks = self.engine.hooks
            assert isinstance(hooks, GuardrailHooks)
            hooks.cluster = view
        self.suspension: dict[str, Any] | None = None
        self.open = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _rules(self, execution: Execution) -> Sequence[CompiledRule]:
        """Guardrail rules of the execution's own revision."""
        revision = self.engine.revisions.get(execution.revision)
        return revision.rules if revision is not None else ()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await self.store.open()
        self.open = True
        self.suspension = await self.store.get_state(SUSPENDED_KEY)
        if self.suspension:
            self.engine.suspended = self.suspension["reason"]
        self.metrics.suspended.set(1 if self.suspension else 0)
        recovered = await self.engine.recover()
        restored = await self.reconciler.restore()
        log.info("service started", recovered=recovered, restored_revision=restored)
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self.intake.run(), name="intake"),
            asyncio.create_task(self.reconciler.run(self._stop), name="reconcile"),
            asyncio.create_task(self._wake_timers(), name="timers"),
        ]
        if isinstance(self.source, DirectorySource):
            self._tasks.append(asyncio.create_task(self._watch(self.source), name="watch"))
        if self.settings.retention:
            pruning = retention.prune_forever(
                self.store, self.clock, self.settings.retention, self.metrics
            )
            self._tasks.append(asyncio.create_task(pruning, name="retention"))

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.engine.close()
        self.open = False
        await self.store.close()
        if self.cluster is not None:
            self.cluster.close()
        if self.sim is not None:
            self.sim.stop()
        log.info("service stopped")

    def serving(self, host: str, port: int) -> None:
        """Called once the HTTP server has bound its socket: say where everything is (the port
        may have been 0, and the simulated cluster's always is)."""
        self.listening = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        where: dict[str, Any] = {"url": f"http://{self.listening}"}
        if self.cluster is not None:
            where["cluster"] = self.cluster.name
        if self.sim is not None:
            where["cluster_url"] = self.sim.url
            if self.settings.sim_kubeconfig:
                where["kubeconfig"] = self.settings.sim_kubeconfig
                where["try"] = f"kubectl --kubeconfig {self.settings.sim_kubeconfig} get pods -A"
        log.info("serving", **where)

    def intake_working(self) -> bool:
        return any(t.get_name() == "intake" and not t.done() for t in self._tasks)

    def problems(self) -> list[str]:
        """Why the service is not ready (``/readyz``): empty when it is."""
        problems = []
        if not self.open:
            problems.append("the store is not open")
        if self.store.write_error is not None:
            problems.append(
                f"the store {self.store.path} cannot write ({self.store.write_error}); "
                "executions wait and alerts are refused with 503 until it can: free space on "
                "its volume (it is retried, no restart needed)"
            )
        if not self.intake_working():
            problems.append("the intake is not running")
        return problems

    def _store_health(self) -> tuple[int, bool]:
        return self.store.health.failures, self.store.write_error is None

    async def _wake_timers(self) -> None:
        while True:
            await asyncio.sleep(WAKE_EVERY)
            try:
                await self.engine.wake_due()
            except Exception:  # the store may fail for a while; timers are retried next time
                log.exception("waking due executions failed")

    async def _watch(self, source: DirectorySource) -> None:
        async for _ in source.changes(self._stop):
            self.reconciler.request()

    # -- the kill switch -----------------------------------------------------------------------
    async def suspend(self, by: str, reason: str = "") -> dict[str, Any]:
        text = f"suspended by {by}" + (f": {reason}" if reason else "")
        self.suspension = {"by": by, "reason": text, "at": iso(self.clock.now())}
        await self.store.set_state(SUSPENDED_KEY, self.suspension)  # survives a restart
        await self.engine.suspend(text)
        self.metrics.suspended.set(1)
        log.warning("suspended: no mutating work starts", by=by, reason=reason)
        return self.suspension

    async def unsuspend(self, by: str) -> int:
        await self.store.set_state(SUSPENDED_KEY, None)
        self.suspension = None
        woken = await self.engine.unsuspend()
        self.metrics.suspended.set(0)
        log.warning("unsuspended", by=by, woken=woken)
        self.intake.wake()
        return woken

    # -- views ---------------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        data = self.reconciler.status.as_dict()
        counts = await self.store.count_by_status()
        return {
            "ready": not self.problems(),
            "store_error": self.store.write_error,
            "suspended": self.suspension,
            "dry_run": self.settings.dry_run,
            "listen": self.listening,
            "cluster": self.cluster.name if self.cluster else "none",
            "cluster_url": self.sim.url if self.sim is not None else None,
            "kubeconfig": self.settings.sim_kubeconfig or None,
            "store": str(store_path(self.settings)),
            "executions": counts,
            "waiting_for_a_person": counts.get("waiting_approval", 0),
            "overdue": await self.overdue(),
            "source": data.pop("source"),
            **data,
        }

    async def overdue(self) -> int:
        """Unfinished executions past their timeout by more than a minute (see metrics)."""
        return await self.store.count_overdue(iso(self.clock.now() - OVERDUE_GRACE))

    async def execution(self, execution_id: str) -> dict[str, Any] | None:
        """One execution in full (None if unknown), as stored: what ``list`` shows too, never
        a state still being written."""
        stored = await self.store.load(execution_id)
        if stored is None:
            return None
        execution = Execution.from_records(stored.header, stored.nodes)
        # Steps in workflow order when its revision is loaded (it is while anything runs).
        revision = self.engine.revisions.get(execution.revision)
        workflow = revision.workflows.get(execution.workflow) if revision else None
        return execution_view(
            execution,
            await self.store.timeline(execution_id),
            await self.store.decisions(execution=execution_id),
            definition_order(workflow.children) if workflow else None,
        )
