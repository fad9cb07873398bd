"""`reconciler run --cluster sim:PATH`: the service's Kubernetes actions against a simulated
cluster, through the official client, end to end (Git, webhook, engine, API server)."""

from __future__ import annotations

from pathlib import Path

from servicekit import Remote, Running, alert, settings, wait_for

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "example-repo" / "tests" / "fixtures" / "prod-cluster.yaml"

SCALE = """
apiVersion: reconciler.dev/v1alpha1
kind: Workflow
metadata: {name: scale-up}
spec:
  params: {pod: {type: string}}
  steps:
    - id: scale
      action: kubernetes.scale_deployment
      with: {namespace: prod-checkout, name: checkout-api, replicas: 6}
---
apiVersion: reconciler.dev/v1alpha1
kind: Policy
metadata: {name: scale-up}
spec:
  match: alert.labels.alertname == "ScaleUp"
  workflow: scale-up
  params: {pod: "{{ alert.labels.pod }}"}
---
apiVersion: reconciler.dev/v1alpha1
kind: Guardrail
metadata: {name: hands-off-payments}
spec:
  rules:
    - name: no-scaling-when-a-node-is-cordoned
      applies_to: [kubernetes.scale_deployment]
      deny: cluster.nodes.exists(n, has(n.spec.unschedulable) && n.spec.unschedulable)
      message: a node is cordoned
"""


def test_a_workflow_scales_a_deployment_of_the_simulated_cluster(tmp_path: Path) -> None:
    remote = Remote(tmp_path / "git", files={"defs.yaml": SCALE})
    config = settings(tmp_path, remote.url, cluster=f"sim:{CLUSTER}")
    with Running(config) as running:
        wait_for(lambda: running.status()["active_revision"])
        assert running.status()["cluster"].startswith("simulated")
        running.fire(alert("ScaleUp", "x"))
        running.settled()
        (execution,) = running.executions()
        wait_for(lambda: running.execution(execution["id"])["status"] in ("succeeded", "failed"))
        view = running.execution(execution["id"])
        assert view["status"] == "succeeded", view
        sim = running.service.sim
        assert sim is not None
        (deployment,) = [
            d for d in sim.cluster.items("Deployment", "prod-checkout")
            if d["metadata"]["name"] == "checkout-api"
        ]  # fmt: skip
        assert deployment["spec"]["replicas"] == 6
        marker = deployment["metadata"]["annotations"]["reconciler.dev/last-action"]
        assert marker.startswith(execution["id"] + "/scale/")
        # The guardrail reads the live (simulated) cluster: cordon a node and it denies.
        node = sim.cluster.items("Node")[0]
        node["spec"]["unschedulable"] = True
        running.fire(alert("ScaleUp", "y"))
        running.settled()
        denied = [e for e in running.executions() if e["id"] != execution["id"]]
        wait_for(lambda: running.execution(denied[0]["id"])["status"] == "failed")
        assert "a node is cordoned" in running.execution(denied[0]["id"])["error"]
