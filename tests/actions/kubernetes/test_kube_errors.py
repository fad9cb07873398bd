"""API failures are classified in one place: what each status code means for a retry, and the
conflict loop (re-read, recompute, write again) of every mutating action."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from kubesim import MARKER, NS, context, stored, writes

from reconciler.actions import kube
from reconciler.actions.kube import KubeCluster
from reconciler.actions.kubeops import errors, objects
from reconciler.actions.registry import default_registry
from reconciler.errors import PermanentError, TemporaryError
from reconciler.sim.cluster import Fault
from reconciler.sim.server import SimulatedCluster

SCALE = {"namespace": NS, "name": "checkout-api", "replicas": 5}


def failure(status: int, message: str = "boom", headers: dict[str, str] | None = None) -> Any:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": message, "reason": "Reason"})
    exc.headers = headers or {}
    return exc


def test_not_found_is_permanent_and_names_the_object() -> None:
    error = errors.classify(failure(404), "get", "Deployment prod-checkout/web")
    assert isinstance(error, errors.NotFound) and isinstance(error, PermanentError)
    assert str(error) == "Deployment prod-checkout/web not found"


def test_forbidden_is_permanent_and_points_at_the_rbac() -> None:
    error = errors.classify(failure(403, "no access"), "patch", "Node n1")
    assert isinstance(error, PermanentError)
    assert "RBAC" in str(error) and "'patch'" in str(error) and "no access" in str(error)


def test_invalid_is_permanent_with_the_servers_message() -> None:
    error = errors.classify(failure(422, "spec.replicas: Invalid value: -1"), "patch", "X a/b")
    assert isinstance(error, PermanentError) and "spec.replicas: Invalid value: -1" in str(error)


def test_throttling_and_server_errors_are_temporary_with_the_retry_after_delay() -> None:
    throttled = errors.classify(failure(429, headers={"Retry-After": "7"}), "get", "Pod a/b")
    assert isinstance(throttled, errors.TooManyRequests) and throttled.delay == 7
    broken = errors.classify(failure(503), "get", "Pod a/b")
    assert isinstance(broken, TemporaryError) and broken.delay is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    dated = errors.classify(failure(500, headers={"Retry-After": later}), "get", "Pod a/b")
    assert dated.delay is not None and 25 <= dated.delay <= 30  # type: ignore[attr-defined]


def test_a_conflict_is_temporary_and_transience_is_decided_once() -> None:
    assert isinstance(errors.classify(failure(409), "patch", "Pod a/b"), errors.Conflict)
    assert [errors.is_transient(failure(s)) for s in (409, 429, 500, 503, 400, 403, 404, 422)] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    assert errors.is_transient(TimeoutError())


def test_a_conflict_rereads_and_writes_again(act, sim: SimulatedCluster) -> None:
    sim.cluster.faults.append(Fault(code=409, verb="patch", resource="deployments", times=1))
    before = len(sim.cluster.audit)
    output = act("kubernetes.scale_deployment", SCALE)
    assert output["replicas"] == 5 and sim.cluster.faults[0].times == 0
    deployment = stored(sim, "Deployment", NS, "checkout-api")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["metadata"]["annotations"][MARKER] == "exec-1/step/1"
    # One patch reached the store: the refused one answered 409 before it.
    assert len(writes(sim.cluster.audit[before:], "patch", "deployments")) == 1


@dataclass(frozen=True)
class Recording(KubeCluster):
    """A cluster that notes which client method each call runs."""

    calls: list[str] = field(default_factory=list)

    async def run(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        target = args[0] if call.__name__.startswith("_raw") else call
        self.calls.append(target.__name__)
        return await super().run(call, *args, **kwargs)


def test_the_conflict_loop_reads_again_before_each_write(sim: SimulatedCluster) -> None:
    sim.cluster.faults.append(Fault(code=409, verb="patch", resource="deployments", times=2))
    recording = Recording(kube.at_url(sim.url, "sim").api, "sim")
    action = default_registry().get("kubernetes.scale_deployment")
    assert action is not None
    asyncio.run(action.call(action.params.model_validate(SCALE), context(recording)))
    deployment_calls = [c for c in recording.calls if c.endswith("namespaced_deployment")]
    assert deployment_calls == ["read_namespaced_deployment", "patch_namespaced_deployment"] * 3
    recording.close()


def test_conflicts_that_do_not_stop_end_as_a_temporary_error(act, sim: SimulatedCluster) -> None:
    sim.cluster.faults.append(Fault(code=409, verb="patch", resource="deployments", times=50))
    with pytest.raises(TemporaryError, match="5 times in a row"):
        act("kubernetes.scale_deployment", SCALE)
    assert sim.cluster.faults[0].times == 45
    assert stored(sim, "Deployment", NS, "checkout-api")["spec"]["replicas"] == 3


@pytest.mark.parametrize(("code", "delay"), [(429, 7), (500, 3), (503, None)])
def test_throttled_or_failing_writes_are_temporary_with_the_servers_delay(
    act, sim: SimulatedCluster, code: int, delay: int | None
) -> None:
    sim.cluster.faults.append(
        Fault(code=code, verb="patch", resource="deployments", retry_after=delay)
    )
    with pytest.raises(TemporaryError) as failed:
        act("kubernetes.scale_deployment", SCALE)
    assert failed.value.delay == delay
    assert f"answered {code}" in str(failed.value)
    assert stored(sim, "Deployment", NS, "checkout-api")["spec"]["replicas"] == 3


def test_a_missing_object_is_permanent(act) -> None:
    with pytest.raises(PermanentError, match=r"^Deployment prod-checkout/nope not found$"):
        act("kubernetes.scale_deployment", {**SCALE, "name": "nope"})


def test_a_forbidden_read_is_permanent_and_says_rbac(act, sim: SimulatedCluster) -> None:
    sim.cluster.faults.append(Fault(code=403, verb="get", resource="deployments"))
    with pytest.raises(PermanentError, match="RBAC"):
        act("kubernetes.scale_deployment", SCALE)


def test_an_api_server_that_does_not_answer_in_time_is_temporary(
    act, sim: SimulatedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(objects, "REQUEST_TIMEOUT", 0.2)
    sim.cluster.faults.append(
        Fault(code=None, verb="get", resource="deployments", delay=1.0, times=10)
    )
    with pytest.raises(TemporaryError, match="cannot reach the Kubernetes API of sim"):
        act("kubernetes.get", {"kind": "Deployment", "namespace": NS, "name": "checkout-api"})


def test_an_unreachable_api_server_is_temporary() -> None:
    closed = kube.at_url("http://127.0.0.1:9", "nowhere")
    action = default_registry().get("kubernetes.get")
    assert action is not None
    params = action.params.model_validate({"kind": "Node", "name": "n1"})
    with pytest.raises(TemporaryError, match="cannot reach the Kubernetes API of nowhere"):
        asyncio.run(action.call(params, context(closed)))
    closed.close()
