"""A simulated cluster per test, loaded from example-repo's production fixture, reached through
the official Kubernetes client (the server is real HTTP on 127.0.0.1:0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from reconciler.sim.cluster import Cluster
from reconciler.sim.server import SimulatedCluster, load_manifests

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "example-repo"
    / "tests"
    / "fixtures"
    / "prod-cluster.yaml"
)


@pytest.fixture
def sim() -> Iterator[SimulatedCluster]:
    with SimulatedCluster(Cluster.from_manifests(load_manifests(FIXTURE))) as running:
        yield running


@pytest.fixture
def api(sim: SimulatedCluster) -> Iterator[kubernetes.client.ApiClient]:
    configuration = kubernetes.client.Configuration()
    configuration.host = sim.url
    with kubernetes.client.ApiClient(configuration) as client:
        yield client
