"""Dry-run has no side effects, anywhere: every action of the catalogue, as ``reconciler
actions -o json`` declares it, run in a dry-run execution against real peers — a recording HTTP
server, the simulated cluster, the filesystem a program would write to.

What each declared mode must mean: ``run`` — the call is made (it only reads, or stays in the
process); ``server-side`` — it reaches the cluster only as a server-side dry run and changes no
object; ``skip`` — nothing is sent anywhere, and the step records what it would have done.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.actions import kube
from reconciler.actions.registry import default_registry
from reconciler.definitions.loader import MemoryTree
from reconciler.engine.clock import FakeClock
from reconciler.engine.engine import Engine
from reconciler.engine.state import Execution
from reconciler.sim.cluster import Cluster
from reconciler.sim.server import SimulatedCluster, load_manifests
from reconciler.store.memory import MemoryStore
from reconciler.validation import revision

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "example-repo" / "tests" / "fixtures" / "prod-cluster.yaml"
NS = "prod-checkout"
NODE = "ip-10-20-2-37.eu-west-1.compute.internal"


def catalogue() -> list[dict[str, Any]]:
    """What users see: the real CLI's JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "actions", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    entries: list[dict[str, Any]] = json.loads(done.stdout)
    return entries


def params_for(peer: str, scratch: Path) -> dict[str, dict[str, Any]]:
    """A call of every action (the test fails when the catalogue gains one not listed here)."""
    pod = "payment-gateway-7d9c8b6f5-x2x8k"
    return {
        "ai.investigate": {"question": "why?"},
        "core.fail": {"message": "on purpose"},
        "core.log": {"message": "hello"},
        "core.set": {"answer": 42},
        "http.request": {"method": "POST", "url": f"{peer}/hook", "json": {"x": 1}},
        "kubernetes.collect_diagnostics": {"kind": "Pod", "namespace": NS, "name": pod},
        "kubernetes.cordon_node": {"name": NODE},
        "kubernetes.delete_pod": {"namespace": NS, "name": pod},
        "kubernetes.drain_node": {"name": NODE},
        "kubernetes.expand_pvc": {"namespace": "prod-data", "name": "data-postgres-0", "factor": 2},
        "kubernetes.get": {"kind": "Pod", "namespace": NS, "name": pod},
        "kubernetes.increase_resources": {"namespace": NS, "name": "checkout-api", "factor": 2},
        "kubernetes.list": {"kind": "Pod", "namespace": NS},
        "kubernetes.patch": {
            "kind": "Deployment",
            "namespace": NS,
            "name": "storefront",
            "patch": {"metadata": {"labels": {"touched": "yes"}}},
        },
        "kubernetes.quarantine_pod": {"namespace": NS, "name": pod},
        "kubernetes.restart_deployment": {"namespace": NS, "name": "checkout-api"},
        "kubernetes.rollback_deployment": {"namespace": NS, "name": "payment-gateway"},
        "kubernetes.scale_deployment": {"namespace": NS, "name": "checkout-api", "replicas": 5},
        "kubernetes.scale_statefulset": {"namespace": "prod-data", "name": "redis", "replicas": 2},
        "kubernetes.uncordon_node": {"name": NODE},
        "kubernetes.update_hpa": {"namespace": NS, "name": "storefront", "max_replicas": 20},
        "kubernetes.wait_ready": {"kind": "Deployment", "namespace": NS, "name": "checkout-api"},
        "notify.slack": {"url": f"{peer.replace('http://', 'https://')}/slack", "text": "hi"},
        "notify.webhook": {"url": f"{peer}/webhook", "text": "hi"},
        "prometheus.query": {"query": "up", "url": peer},
        "shell": {"command": ["touch", str(scratch / "shell-ran")]},
    }


class Peer(ThreadingHTTPServer):
    """Counts every connection (a TLS hello too) and every request; answers as Prometheus."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.connections = 0
        self.requests: list[str] = []

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)


class _Answer(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        assert isinstance(self.server, Peer)
        self.server.requests.append(f"{self.command} {self.path.split('?')[0]}")
        body = b'{"status": "success", "data": {"resultType": "vector", "result": []}}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sim() -> Iterator[SimulatedCluster]:
    with SimulatedCluster(Cluster.from_manifests(load_manifests(CLUSTER))) as running:
        yield running


def versions(sim: SimulatedCluster) -> dict[tuple[str, str, str], str]:
    """Every object's resourceVersion: any real write changes one."""
    with sim.cluster.lock:
        return {
            (kind, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o["metadata"].get(
                "resourceVersion", ""
            )
            for kind in (
                "Pod",
                "Node",
                "Deployment",
                "StatefulSet",
                "PersistentVolumeClaim",
                "HorizontalPodAutoscaler",
                "ReplicaSet",
            )
            for o in sim.cluster.items(kind)
        }


def run_dry(name: str, params: dict[str, Any], sim: SimulatedCluster) -> Execution:
    """One dry-run execution of one call, as the service runs it."""
    workflow = {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "one-call"},
        "spec": {"steps": [{"id": "call", "action": name, "with": params}]},
    }
    files = {"workflow.yaml": yaml.safe_dump(workflow).encode()}
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
        execution = await engine.start(
            revision="r1", workflow="one-call", params={}, mode="dry-run"
        )
        try:
            await engine.run_until_idle()
            return await engine.get(execution.id)
        finally:
            await engine.close()

    try:
        return asyncio.run(go())
    finally:
        cluster.close()


def test_every_action_does_in_dry_run_what_the_catalogue_says(
    peer: Peer, sim: SimulatedCluster, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{peer.server_address[1]}"
    calls = params_for(url, tmp_path)
    entries = catalogue()
    assert sorted(e["name"] for e in entries) == sorted(calls), "list every action here"
    for entry in entries:
        name, mode = entry["name"], entry["in_dry_run"]
        before_versions, before_audit = versions(sim), len(sim.cluster.audit)
        before_connections = peer.connections
        execution = run_dry(name, calls[name], sim)
        step = execution.nodes["call"]
        audit = sim.cluster.audit[before_audit:]  # the simulator audits every write
        writes = audit
        assert versions(sim) == before_versions, f"{name} changed the cluster in dry-run"
        if mode == "skip":
            assert step.phase.value == "succeeded", (name, step.error)
            assert step.output["skipped"] is True and step.output["would_have"], name
            assert peer.connections == before_connections, f"{name} reached the network"
            assert audit == [], f"{name} reached the cluster"
        elif mode == "server-side":
            assert step.phase.value == "succeeded", (name, step.error)
            assert writes, f"{name} sent nothing to the cluster"
            assert all(w["dry_run"] for w in writes), (name, writes)
        else:
            assert mode == "run", entry
            assert writes == [], f"{name} wrote to the cluster"
            if name.startswith("kubernetes."):  # its answer came from the cluster
                assert step.phase.value == "succeeded" and step.output, (name, step.error)
            elif name in ("prometheus.query",):
                assert peer.requests[-1] == "GET /api/v1/query"
            elif name == "ai.investigate":  # declared, not implemented: it was called, and said so
                assert "not implemented" in (step.error or "")
            elif name != "core.fail":
                assert step.phase.value == "succeeded", (name, step.error)
    assert not (tmp_path / "shell-ran").exists()
    assert "POST /hook" not in peer.requests and "POST /webhook" not in peer.requests


def test_http_request_reads_run_in_dry_run_and_writes_do_not(
    peer: Peer, sim: SimulatedCluster
) -> None:
    url = f"http://127.0.0.1:{peer.server_address[1]}"
    for method in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"):
        execution = run_dry("http.request", {"method": method, "url": f"{url}/x"}, sim)
        step = execution.nodes["call"]
        if method in ("GET", "HEAD", "OPTIONS"):
            assert not (step.output or {}).get("skipped"), method
        else:
            assert step.output["skipped"] is True, method
            assert step.output["would_have"] == f"would have sent {method} {url}/x"
    assert [r.split()[0] for r in peer.requests] == ["GET"]  # HEAD/OPTIONS answered 501
