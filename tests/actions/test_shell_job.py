"""`shell` with `image:` runs as a Job on the (simulated) cluster, through the official client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.actions import kube, shell_job
from reconciler.actions.k8s_access import SHELL_SERVICE_ACCOUNT
from reconciler.actions.process import ShellParams
from reconciler.actions.registry import default_registry
from reconciler.actions.spec import ActionContext
from reconciler.errors import PermanentError
from reconciler.sim.cluster import Cluster
from reconciler.sim.server import SimulatedCluster

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}}


@pytest.fixture
def sim() -> Iterator[SimulatedCluster]:
    with SimulatedCluster(Cluster.from_manifests([NAMESPACE])) as running:
        yield running


def run(sim: SimulatedCluster | None, **params: object) -> dict[str, object]:
    spec = default_registry().get("shell")
    assert spec is not None
    cluster = kube.at_url(sim.url, "sim") if sim else None
    context = ActionContext("exec-1", "cleanup", 1, cluster=cluster)
    return asyncio.run(spec.call(ShellParams.model_validate(params), context))


def test_the_argv_runs_as_a_job_whose_log_is_the_output_and_which_is_cleaned_up(
    sim, tmp_path: Path
) -> None:
    output = run(
        sim, command=["sh", "-c", "echo $A"], env={"A": "b"}, image="busybox:1.36", namespace="ops"
    )
    assert output["succeeded"] is True and str(output["job"]).startswith("ops/reconciler-shell-")
    assert "simulated" in str(output["stdout"])
    (created,) = [e for e in sim.cluster.audit if e["verb"] == "create" and e["resource"] == "jobs"]
    container = created["body"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "-c", "echo $A"]  # an argv, as given
    assert {"name": "A", "value": "b"} in container["env"]
    assert (
        created["body"]["metadata"]["annotations"]["reconciler.dev/last-action"]
        == "exec-1/cleanup/1"
    )
    assert sim.cluster.items("Job") == []  # deleted once read


def test_without_a_cluster_it_says_so() -> None:
    with pytest.raises(PermanentError, match="no cluster configured"):
        run(None, command=["true"], image="busybox:1.36")


def test_a_path_steering_namespace_is_refused_before_any_request(sim) -> None:
    with pytest.raises(PermanentError, match=r"^namespace: '\.\./\.\.' is not a valid Namespace"):
        run(sim, command=["true"], image="busybox:1.36", namespace="../..")
    assert sim.requests == [] and sim.cluster.audit == []


def test_the_job_runs_as_the_fixed_account_without_a_token(sim) -> None:
    run(sim, command=["true"], image="busybox:1.36", namespace="ops")
    (created,) = [e for e in sim.cluster.audit if e["verb"] == "create" and e["resource"] == "jobs"]
    pod = created["body"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SHELL_SERVICE_ACCOUNT == "reconciler-shell"
    assert pod["automountServiceAccountToken"] is False
    assert "volumes" not in pod


def job_with(**pod: Any) -> dict[str, Any]:
    params = ShellParams.model_validate({"command": ["true"], "image": "busybox:1.36"})
    job = shell_job._job(params, ActionContext("exec-1", "s", 1))
    shell_job.check_job(job)  # what reconciler builds passes
    job["spec"]["template"]["spec"].update(pod)
    return job


SECRET_READS = {
    "a Secret volume": {"volumes": [{"name": "creds", "secret": {"secretName": "db"}}]},
    "a projected Secret": {
        "volumes": [{"name": "all", "projected": {"sources": [{"secret": {"name": "db"}}]}}]
    },
    "a variable from a Secret": {
        "containers": [
            {
                "name": "shell",
                "image": "busybox",
                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}],
            }
        ]
    },
    "envFrom a Secret": {
        "initContainers": [
            {"name": "init", "image": "busybox", "envFrom": [{"secretRef": {"name": "db"}}]}
        ]
    },
    "another account": {"serviceAccountName": "default"},
    "a token": {"automountServiceAccountToken": True},
}


@pytest.mark.parametrize("case", sorted(SECRET_READS))
def test_a_job_spec_that_reads_a_secret_is_refused(case: str) -> None:
    with pytest.raises(PermanentError, match="shell Job reconciler-shell-: "):
        shell_job.check_job(job_with(**SECRET_READS[case]))
