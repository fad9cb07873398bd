"""The Kubernetes actions against a simulated cluster of their own, per test.

The simulator (``reconciler.sim``) serves example-repo's production fixture over real HTTP on
127.0.0.1; the actions reach it through the official client, exactly as they reach a cluster.
``act``/``check`` call an action of the catalogue the way the engine does; ``kubesim`` holds
the helpers the tests share.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubesim import context

from reconciler.actions import kube
from reconciler.actions.kube import KubeCluster
from reconciler.actions.registry import default_registry
from reconciler.actions.spec import CheckResult
from reconciler.sim.cluster import Cluster
from reconciler.sim.server import SimulatedCluster, load_manifests

FIXTURE = (
    Path(__file__).resolve().parents[3]
    / "example-repo"
    / "tests"
    / "fixtures"
    / "prod-cluster.yaml"
)
MANIFESTS = load_manifests(FIXTURE)


@pytest.fixture
def sim() -> Iterator[SimulatedCluster]:
    with SimulatedCluster(Cluster.from_manifests(MANIFESTS)) as running:
        yield running


@pytest.fixture
def cluster(sim: SimulatedCluster) -> Iterator[KubeCluster]:
    connected = kube.at_url(sim.url, "sim")
    yield connected
    connected.close()


Act = Callable[..., dict[str, Any]]
Check = Callable[..., CheckResult]


@pytest.fixture
def act(cluster: KubeCluster) -> Act:
    """``act(action, params, dry_run=False, ...)``: the action's output (or its error raised)."""

    def call(name: str, params: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        spec = default_registry().get(name)
        assert spec is not None, name
        parsed = spec.params.model_validate(params)
        return asyncio.run(spec.call(parsed, context(cluster, **overrides)))

    return call


@pytest.fixture
def check(cluster: KubeCluster) -> Check:
    """``check(action, params, ...)``: what the action's check finds after a crash."""

    def call(name: str, params: dict[str, Any], **overrides: Any) -> CheckResult:
        spec = default_registry().get(name)
        assert spec is not None and spec.check is not None, name
        parsed = spec.params.model_validate(params)
        return asyncio.run(spec.check(parsed, context(cluster, **overrides)))

    return call
