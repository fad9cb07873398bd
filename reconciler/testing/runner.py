"""Run one WorkflowTest (SPEC §1.5): alerts in on a fake clock, expectations checked.

Alerts go through the service's own intake (:mod:`reconciler.intake`) on the test's memory
store: the same matching, policy guardrails, deduplication and decisions as production. A
resolved alert cancels what its firing started under ``on_resolved: cancel``.
``mocks`` answer actions without running them; an action that would reach outside (HTTP,
notifications, programs) and is not mocked fails the step, so a test never calls a real
endpoint. ``approvals`` are applied, in order, when a step waits for one. Steps are dispatched
one at a time in a deterministic order; the test ends when nothing can make progress.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from reconciler.actions import kube
from reconciler.actions.registry import Registry, default_registry
from reconciler.definitions.alert import Alert
from reconciler.definitions.loader import Located
from reconciler.definitions.workflow_test import ClusterFile, WorkflowTest
from reconciler.engine.clock import FakeClock
from reconciler.engine.control import waiting_for_approval
from reconciler.engine.engine import Engine
from reconciler.engine.gates import GuardrailHooks
from reconciler.engine.secrets import SecretProvider
from reconciler.engine.state import Execution, Node
from reconciler.errors import ActionError, InputError, PermanentError
from reconciler.intake.intake import STARTING, Intake
from reconciler.matching.guardrails import GUARDED_COLLECTIONS
from reconciler.metrics import Metrics
from reconciler.sim import views
from reconciler.sim.cluster import Cluster
from reconciler.sim.server import SimulatedCluster
from reconciler.sim.views import SimulatedView
from reconciler.store.memory import MemoryStore
from reconciler.testing import expectations
from reconciler.validation.compiled import CompiledRule, Revision
from reconciler.validation.workflow_tests import fixture_path

START = datetime(2026, 1, 1, tzinfo=UTC)
REVISION = "workflow-test"
_OFFLINE_SAFE = ("core.",)


@dataclass
class TestResult:
    name: str
    path: str
    outcome: str  # passed | failed | skipped
    failures: list[str] = field(default_factory=list)
    reason: str = ""
    executions: list[dict[str, Any]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    # What the intake decided for each match (started, refused and why, error, cancelled).
    decisions: list[dict[str, Any]] = field(default_factory=list)


class TestHooks(GuardrailHooks):
    """Records every action call; answers mocked ones; refuses unmocked calls to the outside;
    checks Guardrail rules before mutating actions, as the service does, on the test's
    simulated cluster (an empty view without one)."""

    def __init__(
        self,
        mocks: Mapping[str, Any],
        rules: tuple[CompiledRule, ...] = (),
        cluster: SimulatedView | None = None,
    ) -> None:
        super().__init__(lambda execution: rules, cluster)
        self.mocks = mocks
        self.calls: list[str] = []
        # With a simulated cluster, Kubernetes actions run against it; the rest stays offline.
        self.offline_safe = (*_OFFLINE_SAFE, "kubernetes.") if cluster else _OFFLINE_SAFE

    def action_called(
        self, execution: Execution, node: Node, action: str, params: Mapping[str, Any]
    ) -> None:
        self.calls.append(action)

    async def mock(
        self, execution: Execution, node: Node, action: str, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        mock = self.mocks.get(action)
        if mock is not None:
            if mock.error is not None:
                raise ActionError(mock.error)
            return dict(mock.output)
        if not action.startswith(self.offline_safe):
            raise PermanentError(
                f"reconciler test: {action} is not mocked; add `mocks: {{{action}: {{output: {{...}}}}}}`"
            )
        return None


class _Scenario:
    """The alerts and approvals of one test, delivered as the fake clock reaches them, through
    the service's own intake on the test's memory store: matching, policy guardrails,
    deduplication, resolution and their recorded decisions are production's."""

    def __init__(self, test: WorkflowTest, engine: Engine, revision: Revision) -> None:
        self.spec = test.spec
        self.engine = engine
        self.intake = Intake(engine.store, engine, Metrics(), engine.clock)
        self.intake.activate(REVISION, revision)
        self.alerts = sorted(enumerate(self.spec.alerts), key=lambda pair: (pair[1].at, pair[0]))
        self.approvals = list(self.spec.approvals)

    async def on_idle(self, next_timer: datetime | None) -> bool:
        if await self._apply_approval():
            return True
        if self.alerts:
            _, upcoming = self.alerts[0]
            due = START + upcoming.at
            if next_timer is None or due <= next_timer:
                self.alerts.pop(0)
                assert isinstance(self.engine.clock, FakeClock)
                self.engine.clock.advance_to(due)
                await self._deliver(upcoming)
                return True
        return False

    async def _apply_approval(self) -> bool:
        for execution in list(self.engine.active.values()):
            if execution.gate is not None and self.approvals:
                approval = self.approvals.pop(0)
                await self.engine.approve(
                    execution.id,
                    by=approval.by,
                    comment=approval.comment,
                    approve=approval.decision == "approve",
                )
                return True
            for node in waiting_for_approval(execution, None):
                for index, approval in enumerate(self.approvals):
                    if approval.step in (None, node.step):
                        self.approvals.pop(index)
                        await self.engine.approve(
                            execution.id,
                            by=approval.by,
                            step=node.key,
                            comment=approval.comment,
                            approve=approval.decision == "approve",
                        )
                        return True
        return False

    async def _deliver(self, spec_alert: Any) -> None:
        """As ``amtool alert add`` sends it: no startsAt, so a repeat of firing labels continues
        the alert that fires, and a firing after a resolution is a new one."""
        data: dict[str, Any] = {
            "labels": spec_alert.labels,
            "annotations": spec_alert.annotations,
            "status": spec_alert.status,
        }
        if spec_alert.fingerprint:
            data["fingerprint"] = spec_alert.fingerprint
        await self.intake.receive([Alert.model_validate(data)])
        await self.intake.drain()

    async def started(self) -> list[Execution]:
        """The executions the alerts started, in the order the intake decided them."""
        decisions = await self.engine.store.decisions(limit=1_000_000)
        ids = [d["execution"] for d in decisions if d["decision"] in STARTING]
        return [await self.engine.get(execution_id) for execution_id in dict.fromkeys(ids)]


async def run_test(
    located: Located[WorkflowTest],
    revision: Revision,
    files: dict[str, bytes],
    registry: Registry | None = None,
) -> TestResult:
    """Run one WorkflowTest: on a simulated cluster of its own when it has ``spec.cluster`` (or
    asserts ``expect.cluster``), on none otherwise."""
    test = located.definition
    result = TestResult(test.metadata.name, located.path, "passed")
    try:
        manifests = _cluster_manifests(located, files)
    except InputError as exc:
        result.outcome, result.failures = "failed", [str(exc)]
        return result
    sim = (
        SimulatedCluster(Cluster.from_manifests(manifests)).start()
        if manifests is not None
        else None
    )
    cluster = kube.at_url(sim.url, f"sim:{located.path}") if sim else None
    engine: Engine | None = None
    try:
        view = SimulatedView(sim.cluster, GUARDED_COLLECTIONS) if sim else None
        hooks = TestHooks(test.spec.mocks, revision.rules, view)
        engine = Engine(
            MemoryStore(),
            registry=registry or default_registry(),
            clock=FakeClock(START),
            hooks=hooks,
            secrets=SecretProvider(values=test.spec.secrets),
            sequential=True,
            cluster=cluster,
        )
        await engine.add_revision(REVISION, revision, files)
        scenario = _Scenario(test, engine, revision)
        await engine.run_until_idle(on_idle=scenario.on_idle)
        started = await scenario.started()
        result.actions = hooks.calls
        result.decisions = [
            {k: d[k] for k in ("policy", "target", "decision", "reason", "execution")}
            for d in await engine.store.decisions(limit=1_000_000)
        ]
        result.executions = [
            {
                "id": e.id,
                "policy": e.policy,
                "workflow": e.workflow,
                "status": e.status.value,
                "error": e.error,
                # On the test's fake clock, which starts at START.
                "started_at": e.started_at,
                "finished_at": e.finished_at,
            }
            for e in started
        ]
        result.failures = expectations.check(test.spec.expect, started, hooks.calls)
        if sim is not None and test.spec.expect.cluster:
            result.failures += expectations.cluster(
                test.spec.expect.cluster, views.state(sim.cluster), START
            )
    finally:
        if engine is not None:
            await engine.close()
        if cluster is not None:
            cluster.close()
        if sim is not None:
            sim.stop()
    if result.failures:
        result.outcome = "failed"
    return result


def _cluster_manifests(located: Located[WorkflowTest], files: dict[str, bytes]) -> list[Any] | None:
    """The objects of the test's cluster; None when it needs none."""
    spec = located.definition.spec
    if isinstance(spec.cluster, ClusterFile):
        path = fixture_path(located.path, spec.cluster.file)
        if path not in files:
            raise InputError(f"{located.path}: spec.cluster.file: {path} is not in the repository")
        try:
            return [d for d in yaml.load_all(files[path], Loader=yaml.CSafeLoader) if d]
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: cannot read the cluster: {exc}") from exc
    if spec.cluster is not None:
        return list(spec.cluster)
    return [] if spec.expect.cluster else None
