"""Run one WorkflowTest (SPEC §1.5): alerts in on a fake clock, expectations checked.

Alerts go through the same matching as ``plan`` and production; each match starts an
execution unless one is open for the same (policy, target) or the alert already started one.
A resolved alert cancels the open executions of policies with ``on_resolved: cancel``.
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
from reconciler.engine.state import Execution, Node, parse_iso
from reconciler.errors import ActionError, InputError, PermanentError
from reconciler.matching.admission import Past, admit
from reconciler.matching.guardrails import GUARDED_COLLECTIONS
from reconciler.matching.matcher import Matcher
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
    """The alerts and approvals of one test, delivered as the fake clock reaches them."""

    def __init__(self, test: WorkflowTest, engine: Engine, revision: Revision) -> None:
        self.spec = test.spec
        self.engine = engine
        self.revision = revision
        self.matcher = Matcher(revision)
        self.alerts = sorted(enumerate(self.spec.alerts), key=lambda pair: (pair[1].at, pair[0]))
        self.approvals = list(self.spec.approvals)
        self.started: list[Execution] = []
        self.open: dict[tuple[str, str], Execution] = {}
        self.seen: set[tuple[str, str, str]] = set()  # (policy, fingerprint, firing since)
        self.firing_since: dict[str, str] = {}  # fingerprint -> when this firing began
        self.decisions: list[dict[str, str]] = []

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
        now = self.engine.clock.now()
        data: dict[str, Any] = {
            "labels": spec_alert.labels,
            "annotations": spec_alert.annotations,
            "status": spec_alert.status,
            "startsAt": now.isoformat(),
        }
        if spec_alert.fingerprint:
            data["fingerprint"] = spec_alert.fingerprint
        alert = Alert.model_validate(data)
        # Alertmanager re-sends a firing alert with its original startsAt: a repeat of the same
        # labels before they resolve is the same alert, and starts nothing new.
        since = self.firing_since.setdefault(alert.fingerprint, now.isoformat())
        if alert.status == "resolved":
            self.firing_since.pop(alert.fingerprint, None)
        result = self.matcher.match(alert, now)
        for match in result.matches:
            if match.error is not None:
                continue
            key = (match.policy.name, match.target)
            current = self.open.get(key)
            if alert.status == "resolved":
                if (
                    current is not None
                    and not current.finished
                    and match.policy.definition.spec.on_resolved == "cancel"
                ):
                    await self.engine.cancel(current.id, reason="alert resolved")
                continue
            identity = (match.policy.name, alert.fingerprint, since)
            if identity in self.seen:
                continue  # a re-delivery: this alert already started (or was refused) here
            past = [
                Past(e.target, parse_iso(e.created_at), e.finished)
                for e in self.started
                if e.policy == match.policy.name
            ]
            admission = admit(match.policy.definition.spec.guardrails, match.target, now, past)
            self.decisions.append(
                {
                    "policy": match.policy.name,
                    "target": match.target,
                    "decision": admission.decision,
                    "reason": admission.reason,
                }
            )
            if admission.decision == "refuse":
                continue
            self.seen.add(identity)
            execution = await self.engine.start(
                revision=REVISION,
                workflow=match.workflow,
                params=match.params,
                alert=alert.as_cel(),
                policy=match.policy.name,
                target=match.target,
                mode=match.policy.definition.spec.mode,
                gate=admission.reason if admission.decision == "approve" else None,
            )
            self.open[key] = execution
            self.started.append(execution)


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
        result.actions = hooks.calls
        result.executions = [
            {
                "id": e.id,
                "policy": e.policy,
                "workflow": e.workflow,
                "status": e.status.value,
                "error": e.error,
            }
            for e in scenario.started
        ]
        result.failures = expectations.check(test.spec.expect, scenario.started, hooks.calls)
        if sim is not None and test.spec.expect.cluster:
            result.failures += expectations.cluster(
                test.spec.expect.cluster, views.state(sim.cluster), START
            )
    finally:
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
