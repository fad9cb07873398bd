"""Names, namespaces, kinds and selectors rendered from alert labels steer no API call.

The attack: ``name: ".."`` on ``kubernetes.patch {kind: Pod}`` went out as
``/api/v1/namespaces/NS/pods/..``, which urllib3 normalises to ``/api/v1/namespaces/NS``: the
Namespace was patched. ``name: "."`` turned a get into a list. Every value is now checked
against Kubernetes' own rules before any request; the step fails permanently naming the
parameter and the value, and the simulator sees no request at all.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from kubesim import NS, stored

from reconciler.actions import kube
from reconciler.actions.kubeops import names
from reconciler.actions.kubeops.errors import NotFound
from reconciler.actions.registry import default_registry
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.clock import FakeClock
from reconciler.engine.engine import Engine
from reconciler.engine.state import Execution
from reconciler.errors import PermanentError
from reconciler.sim.server import SimulatedCluster
from reconciler.store.memory import MemoryStore
from reconciler.validation import revision

POD = "payment-gateway-7d9c8b6f5-x2x8k"
NODE = "ip-10-20-1-15.eu-west-1.compute.internal"

PATCH_BY_ALERT = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: label-pod}
spec:
  params:
    namespace: {type: string}
    pod: {type: string}
  steps:
    - id: label
      action: kubernetes.patch
      with:
        kind: Pod
        namespace: "{{ params.namespace }}"
        name: "{{ params.pod }}"
        patch: {metadata: {labels: {triaged: "yes"}}}
"""


def run_workflow(sim: SimulatedCluster, params: dict[str, Any]) -> Execution:
    """One execution of PATCH_BY_ALERT against the simulator, as the service runs it."""
    files = {"workflow.yaml": PATCH_BY_ALERT.encode()}
    built = revision.build([MemoryTree(files)], registry=default_registry())
    assert built.revision is not None, built.problems
    cluster = kube.at_url(sim.url, "sim")

    async def go() -> Execution:
        engine = Engine(
            MemoryStore(),
            clock=FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
            sequential=True,
            cluster=cluster,
        )
        await engine.add_revision("r1", built.revision, files)  # type: ignore[arg-type]
        execution = await engine.start(revision="r1", workflow="label-pod", params=params)
        try:
            await engine.run_until_idle()
            return await engine.get(execution.id)
        finally:
            await engine.close()

    try:
        return asyncio.run(go())
    finally:
        cluster.close()


def test_a_dot_dot_pod_name_from_an_alert_fails_the_step_and_never_reaches_the_namespace(
    sim: SimulatedCluster,
) -> None:
    namespace_before = stored(sim, "Namespace", None, NS)["metadata"]
    execution = run_workflow(sim, {"namespace": NS, "pod": ".."})
    step = execution.nodes["label"]
    assert step.phase.value == "failed" and step.error_kind == "permanent", step
    assert "name: '..' is not a valid Pod name" in (step.error or "")
    assert "DNS-1123 subdomain" in (step.error or "")
    assert sim.requests == [] and sim.cluster.audit == []  # no request reached the cluster
    assert stored(sim, "Namespace", None, NS)["metadata"] == namespace_before


def test_the_same_workflow_with_a_real_pod_name_patches_that_pod(sim: SimulatedCluster) -> None:
    execution = run_workflow(sim, {"namespace": NS, "pod": POD})
    assert execution.nodes["label"].phase.value == "succeeded", execution.nodes["label"].error
    assert stored(sim, "Pod", NS, POD)["metadata"]["labels"]["triaged"] == "yes"
    assert [w["resource"] for w in sim.cluster.audit] == ["pods", "events"]


def test_a_hostile_namespace_from_an_alert_is_named_in_the_error(sim: SimulatedCluster) -> None:
    execution = run_workflow(sim, {"namespace": "prod/../kube-system", "pod": POD})
    step = execution.nodes["label"]
    assert step.error_kind == "permanent"
    assert "namespace: 'prod/../kube-system' is not a valid Namespace name" in (step.error or "")
    assert sim.requests == []


# Every Kubernetes action, called with a name (or namespace) that would steer its path.
HOSTILE_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("kubernetes.get", {"kind": "Pod", "namespace": NS, "name": "."}, "name: '.'"),
    ("kubernetes.get", {"kind": "Node", "name": ".."}, "name: '..'"),
    ("kubernetes.get", {"kind": "Pod", "namespace": "..", "name": POD}, "namespace: '..'"),
    ("kubernetes.list", {"kind": "Pod", "namespace": "../.."}, "namespace: '../..'"),
    (
        "kubernetes.list",
        {"kind": "Pod", "namespace": NS, "label_selector": "app=x)&limit=1"},
        "label_selector: 'app=x)&limit=1'",
    ),
    (
        "kubernetes.list",
        {"kind": "Pod", "field_selector": "spec.nodeName=a=b"},
        "field_selector:",
    ),
    (
        "kubernetes.patch",
        {"kind": "Pod", "namespace": NS, "name": "..", "patch": {"metadata": {}}},
        "name: '..'",
    ),
    ("kubernetes.scale_deployment", {"namespace": NS, "name": "..", "replicas": 1}, "name: '..'"),
    ("kubernetes.scale_statefulset", {"namespace": "..", "name": "x", "replicas": 1}, "namespace"),
    ("kubernetes.restart_deployment", {"namespace": NS, "name": "a/b"}, "name: 'a/b'"),
    ("kubernetes.delete_pod", {"namespace": NS, "name": ".."}, "name: '..'"),
    ("kubernetes.rollback_deployment", {"namespace": NS, "name": "."}, "name: '.'"),
    ("kubernetes.increase_resources", {"namespace": NS, "name": "..", "factor": 2}, "name: '..'"),
    ("kubernetes.update_hpa", {"namespace": NS, "name": "..", "max_replicas": 3}, "name: '..'"),
    ("kubernetes.cordon_node", {"name": ".."}, "name: '..'"),
    ("kubernetes.uncordon_node", {"name": "?watch=1"}, "name: '?watch=1'"),
    ("kubernetes.drain_node", {"name": ".."}, "name: '..'"),
    ("kubernetes.expand_pvc", {"namespace": NS, "name": "..", "factor": 2}, "name: '..'"),
    ("kubernetes.wait_ready", {"kind": "Deployment", "namespace": NS, "name": ".."}, "'..'"),
    ("kubernetes.collect_diagnostics", {"kind": "Pod", "namespace": NS, "name": ".."}, "'..'"),
    ("kubernetes.quarantine_pod", {"namespace": NS, "name": ".."}, "name: '..'"),
]


@pytest.mark.parametrize(("action", "params", "named"), HOSTILE_CALLS)
def test_every_kubernetes_action_refuses_a_path_steering_name_before_any_request(
    act, sim: SimulatedCluster, action: str, params: dict[str, Any], named: str
) -> None:
    with pytest.raises(PermanentError) as refused:
        act(action, params)
    assert named in str(refused.value)
    assert sim.requests == [] and sim.cluster.audit == []


def test_every_kubernetes_action_is_in_the_hostile_calls() -> None:
    actions = {name for name in default_registry().names() if name.startswith("kubernetes.")}
    assert actions == {action for action, _, _ in HOSTILE_CALLS}


def test_a_long_hostile_value_is_echoed_cut_short(act, sim: SimulatedCluster) -> None:
    with pytest.raises(PermanentError) as refused:
        act("kubernetes.get", {"kind": "Pod", "namespace": NS, "name": "../" * 500})
    message = str(refused.value)
    assert message.startswith("name: '../../") and "…" in message and len(message) < 300
    assert sim.requests == []


def test_names_follow_each_kinds_rule_and_valid_ones_reach_the_server(
    act, sim: SimulatedCluster
) -> None:
    # A Service name is a DNS-1035 label: a leading digit is refused before any call ...
    with pytest.raises(PermanentError, match="DNS-1035 label"):
        act("kubernetes.get", {"kind": "Service", "namespace": NS, "name": "1checkout"})
    # ... a Namespace name is a DNS-1123 label: no dots ...
    with pytest.raises(PermanentError, match=r"namespace: 'prod\.checkout'.*DNS-1123 label"):
        act("kubernetes.list", {"kind": "Pod", "namespace": "prod.checkout"})
    with pytest.raises(PermanentError, match="at most 253"):
        act("kubernetes.get", {"kind": "Deployment", "namespace": NS, "name": "a" * 254})
    assert sim.requests == []
    # ... while dots are fine in a Node's name (a subdomain), and a valid name that does not
    # exist is the server's 404 to give.
    assert act("kubernetes.get", {"kind": "Node", "name": NODE})["metadata"]["name"] == NODE
    with pytest.raises(NotFound):
        act("kubernetes.get", {"kind": "Deployment", "namespace": NS, "name": "no.such-app"})
    listed = act(
        "kubernetes.list",
        {
            "kind": "Pod",
            "namespace": NS,
            "label_selector": "app.kubernetes.io/name in (storefront)",
        },
    )
    assert listed["count"] > 0


@pytest.mark.parametrize(
    "selector",
    [
        "app=checkout",
        "app==checkout,tier!=db",
        "app.kubernetes.io/name in (a, b), !canary",
        "env notin (prod),release",
        "generation>3,weight < 10",
        "example.com/team=",
        "",
    ],
)
def test_label_selectors_in_apimachinery_syntax_pass(selector: str) -> None:
    names.check_label_selector(selector)


@pytest.mark.parametrize(
    "selector",
    [
        "app=a=b",
        "app in (a, b",
        "app=x)",
        f"app={'v' * 64}",
        "-app=x",
        "Example.com/app=x",
        "app=x y",
        "app>three",
        "app=x&limit=1",
        "app=x#frag",
    ],
)
def test_label_selectors_outside_the_syntax_are_refused_naming_the_parameter(
    selector: str,
) -> None:
    with pytest.raises(names.InvalidName, match=r"^label_selector: "):
        names.check_label_selector(selector)


def test_field_selectors_take_escaped_values_and_refuse_stray_operators() -> None:
    names.check_field_selector("spec.nodeName=node-1,status.phase!=Running")
    names.check_field_selector(r"metadata.name=a\,b")
    for bad in ("spec.nodeName", "spec.nodeName=a=b", "=x", "a!=b!", "a=\n"):
        with pytest.raises(names.InvalidName, match=r"^field_selector: "):
            names.check_field_selector(bad)


def test_a_selector_longer_than_a_url_can_carry_is_refused_cut_short() -> None:
    with pytest.raises(names.InvalidName) as refused:
        names.check_label_selector("app=x," * 2000)
    message = str(refused.value)
    assert message.startswith("label_selector: 'app=x,app=x") and "at most 8192" in message
    assert len(message) < 250
