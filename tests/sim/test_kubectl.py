"""The kubectl matrix: the real kubectl against the simulator `make run` serves
(example-repo/cluster.yaml), each command docs/sim.md says works. Skipped, with the reason, when
kubectl is not on the machine."""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sim import tables
from reconciler.sim.cluster import Cluster
from reconciler.sim.resources import BY_KIND
from reconciler.sim.server import SimulatedCluster, load_manifests

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")
CLUSTER = Path(__file__).resolve().parents[2] / "example-repo" / "cluster.yaml"
NS = "prod-checkout"
TIMEOUT = 60  # seconds a kubectl command may take before the test gives up on it


class Kubectl:
    def __init__(self, sim: SimulatedCluster, tmp_path: Path) -> None:
        self.sim = sim
        self.config = tmp_path / "kubeconfig"
        self.config.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: sim, cluster: {{server: '{sim.url}'}}}}]\n"
            f"contexts: [{{name: sim, context: {{cluster: sim, user: sim, namespace: {NS}}}}}]\n"
            "current-context: sim\nusers: [{name: sim, user: {}}]\n"
        )
        self.cache = tmp_path / "cache"

    def argv(self, *args: str) -> list[str]:
        assert KUBECTL is not None
        return [KUBECTL, f"--kubeconfig={self.config}", f"--cache-dir={self.cache}", *args]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=TIMEOUT, check=False
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def pods(self, app: str) -> dict[str, str]:
        """name -> STATUS column, as kubectl prints them."""
        with self.sim.cluster.lock:
            found = self.sim.cluster.items("Pod", NS)
            return {
                p["metadata"]["name"]: tables.pod_status(p)
                for p in found
                if (p["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == app
            }

    def node_of(self, pod: str) -> str:
        with self.sim.cluster.lock:
            return str(self.sim.cluster.get(BY_KIND["Pod"], NS, pod)["spec"]["nodeName"])

    def replica_sets(self, app: str) -> dict[str, int]:
        with self.sim.cluster.lock:
            return {
                rs["metadata"]["name"]: int(rs["spec"]["replicas"])
                for rs in self.sim.cluster.items("ReplicaSet", NS)
                if (rs["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == app
            }


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    with SimulatedCluster(Cluster.from_manifests(load_manifests(CLUSTER))) as sim:
        yield Kubectl(sim, tmp_path)


def test_get_prints_status_columns_and_short_names_resolve(kubectl: Kubectl) -> None:
    out = kubectl.ok("get", "pods")
    assert out.split("\n")[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    crashing = [line for line in out.splitlines() if "CrashLoopBackOff" in line]
    assert crashing and crashing[0].split()[1] == "0/1"
    out = kubectl.ok("get", "deploy,rs,pdb,hpa,pvc,ns,no,po", "-A")
    for kind in ("deployment.apps/", "replicaset.apps/", "poddisruptionbudget.policy/"):
        assert kind in out
    assert "namespace/prod-checkout" in out and "node/" in out and "pod/" in out


def test_delete_and_drain_with_server_dry_run_change_nothing(kubectl: Kubectl) -> None:
    pods = kubectl.pods("checkout-api")
    pod = sorted(pods)[0]
    out = kubectl.ok("delete", "pod", pod, "--dry-run=server")
    assert "server dry run" in out and kubectl.pods("checkout-api") == pods
    node = kubectl.node_of(pod)
    kubectl.ok(
        "drain",
        node,
        "--ignore-daemonsets",
        "--pod-selector=app.kubernetes.io/name=checkout-api",
        "--dry-run=server",
    )
    assert kubectl.pods("checkout-api") == pods
    evictions = [e for e in kubectl.sim.cluster.audit if e["verb"] == "evict"]
    assert evictions and all(e["dry_run"] for e in evictions)


def test_drain_evicts_and_stops_at_a_disruption_budget(kubectl: Kubectl) -> None:
    serving = [n for n, status in kubectl.pods("payment-gateway").items() if status == "Running"]
    node = kubectl.node_of(serving[0])
    done = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=2s")
    assert done.returncode != 0 and "disruption budget" in done.stderr
    assert serving[0] in kubectl.pods("payment-gateway")  # the budget held it
    verbs = {(e["verb"], e["resource"]) for e in kubectl.sim.cluster.audit}
    assert ("evict", "pods") in verbs and ("delete", "pods") not in verbs


def test_apply_validates_without_flags_and_configures_on_change(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    manifest = tmp_path / "web.yaml"
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod-checkout}\n"
        "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: 'nginx:1'}]}\n"
    )
    manifest.write_text(text)
    assert "deployment.apps/web created" in kubectl.ok("apply", "-f", str(manifest))
    manifest.write_text(text.replace("nginx:1", "nginx:2"))
    assert "deployment.apps/web configured" in kubectl.ok("apply", "-f", str(manifest))
    image = kubectl.ok(
        "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    )
    assert image == "nginx:2"


def test_rollout_undo_revives_the_previous_replica_set(kubectl: Kubectl) -> None:
    before = kubectl.replica_sets("payment-gateway")
    assert "rolled back" in kubectl.ok("rollout", "undo", "deploy/payment-gateway")
    after = kubectl.replica_sets("payment-gateway")
    assert set(after) == set(before)  # no new ReplicaSet
    assert [name for name, n in after.items() if n] != [name for name, n in before.items() if n]
    kubectl.ok("rollout", "status", "deploy/payment-gateway", "--timeout=20s")
    kubectl.ok("wait", "--for=condition=Available", "deploy/payment-gateway", "--timeout=20s")


def test_delete_cascades_to_replica_sets_and_pods_unless_orphaned(kubectl: Kubectl) -> None:
    kubectl.ok("delete", "deploy", "checkout-api")
    assert not kubectl.replica_sets("checkout-api") and not kubectl.pods("checkout-api")
    pods = kubectl.pods("storefront")
    kubectl.ok("delete", "deploy", "storefront", "--cascade=orphan")
    assert kubectl.replica_sets("storefront") and kubectl.pods("storefront") == pods


def test_get_watch_prints_changes_as_they_happen(kubectl: Kubectl) -> None:
    watcher = subprocess.Popen(
        kubectl.argv("get", "deploy", "checkout-api", "--watch", "--request-timeout=30s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout or []])
    reader.start()
    try:
        assert next_line(lines).split()[:2] == ["NAME", "READY"]
        assert next_line(lines).split()[:2] == ["checkout-api", "3/3"]
        kubectl.ok("scale", "deploy/checkout-api", "--replicas=5")
        while next_line(lines).split()[:2] != ["checkout-api", "5/5"]:
            pass
    finally:
        watcher.terminate()
        watcher.wait(timeout=TIMEOUT)
        reader.join(timeout=TIMEOUT)
        for stream in (watcher.stdout, watcher.stderr):
            if stream is not None:
                stream.close()


def next_line(lines: queue.Queue[str]) -> str:
    deadline = time.monotonic() + TIMEOUT
    return lines.get(timeout=max(deadline - time.monotonic(), 0))


def test_everyday_commands_succeed(kubectl: Kubectl) -> None:
    pod = sorted(kubectl.pods("checkout-api"))[0]
    node = kubectl.node_of(pod)
    wide = kubectl.ok("get", "pods", "-o", "wide").splitlines()[0].split()
    assert wide[-2:] == ["IP", "NODE"]
    assert "pod/" in kubectl.ok("get", "all") and "deployment.apps/" in kubectl.ok("get", "all")
    assert f"Node:             {node}" in kubectl.ok("describe", "pod", pod)
    assert "Replicas:" in kubectl.ok("describe", "deploy", "checkout-api")
    kubectl.ok("create", "configmap", "settings", "--from-literal=a=b")
    kubectl.ok("label", "deploy", "checkout-api", "team=payments")
    kubectl.ok("annotate", "deploy", "checkout-api", "note=checked")
    kubectl.ok("patch", "deploy", "checkout-api", "-p", '{"spec":{"replicas":4}}')
    assert len(kubectl.pods("checkout-api")) == 4
    kubectl.ok("rollout", "restart", "deploy/checkout-api")
    assert not set(kubectl.pods("checkout-api")) & {pod}  # new pods from the new template
    assert "REVISION" in kubectl.ok("rollout", "history", "deploy/checkout-api")
    assert "simulated log line" in kubectl.ok("logs", "deploy/checkout-api")
    kubectl.ok("cordon", node)
    assert "SchedulingDisabled" in kubectl.ok("get", "node", node)
    kubectl.ok("uncordon", node)
    assert "pods/eviction" not in kubectl.ok("api-resources")  # subresources are not listed
    assert "deploy" in kubectl.ok("api-resources", "--api-group=apps")
