"""The service says where it is: `reconciler run` as a process, with a simulated cluster.

One service for the module (it takes a while to start on a busy machine): its start-up log
line, the kubeconfig it writes for the simulator (read by the official client and kubectl),
`reconciler status`, and refused webhook deliveries (counted, logged, the token never shown).
"""

from __future__ import annotations

import json
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
from servicekit import GIT_ENV, wait_for

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "example-repo" / "cluster.yaml"
TOKEN = "hook-token-0d5a9f7c"  # what the service expects
WRONG = "wrong-token-77c1e3b2"  # what a misconfigured Alertmanager sends


@dataclass
class Served:
    url: str
    kubeconfig: Path
    log: Path
    env: dict[str, str]

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # not a structlog line (a warning from a library)
        return found

    def line(self, event: str) -> dict[str, Any] | None:
        return next((entry for entry in self.lines() if entry.get("event") == event), None)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("where")
    repo = root / "repo"
    shutil.copytree(ROOT / "example-repo", repo)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "example"]):
        subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True)
    (root / "webhook-token").write_text(TOKEN + "\n")
    kubeconfig = root / "state" / "kubeconfig"
    log = root / "service.log"
    env = {**GIT_ENV, "RECONCILER_INTERVAL": "30s"}
    # The log goes to a file: a pipe nobody reads fills up and blocks the service.
    with log.open("w") as output:
        service = subprocess.Popen(
            [
                sys.executable, "-m", "reconciler", "run",
                "--repo", str(repo),
                "--state-dir", str(root / "state"),
                "--listen", "127.0.0.1:0",  # the port is only known from the service
                "--cluster", f"sim:{CLUSTER}",
                "--sim-kubeconfig", str(kubeconfig),
                "--webhook-token-file", str(root / "webhook-token"),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        served = Served("", kubeconfig, log, env)

        def serving() -> dict[str, Any] | None:
            assert service.poll() is None, log.read_text()
            return served.line("serving")

        served.url = wait_for(serving, timeout=120)["url"]
        yield served
    finally:
        service.send_signal(signal.SIGINT)
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


def test_the_start_up_log_says_where_the_service_and_its_simulated_cluster_are(
    served: Served,
) -> None:
    line = served.line("serving")
    assert line is not None
    assert line["url"].startswith("http://127.0.0.1:") and not line["url"].endswith(":0")
    assert httpx.get(f"{line['url']}/healthz").status_code == 200
    assert line["cluster_url"].startswith("http://127.0.0.1:")
    assert httpx.get(f"{line['cluster_url']}/api/v1/namespaces").status_code == 200
    assert line["kubeconfig"] == str(served.kubeconfig)
    assert f"--kubeconfig {served.kubeconfig}" in line["try"]


def test_the_kubeconfig_reaches_the_simulated_cluster_with_the_official_client(
    served: Served,
) -> None:
    assert stat.S_IMODE(served.kubeconfig.stat().st_mode) == 0o600
    with kubernetes.config.new_client_from_config(str(served.kubeconfig)) as client:
        pods = kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces()
    names = {pod.metadata.name for pod in pods.items}
    assert any(name.startswith("payment-gateway") for name in names), names


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_reads_the_simulated_cluster_through_the_kubeconfig(served: Served) -> None:
    done = subprocess.run(
        ["kubectl", "--kubeconfig", str(served.kubeconfig), "get", "deployments", "-A"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "payment-gateway" in done.stdout


def test_status_shows_the_listen_address_cluster_url_and_kubeconfig(served: Served) -> None:
    line = served.line("serving")
    assert line is not None
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--server", served.url],
        capture_output=True,
        text=True,
        env=served.env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"listen:    {served.url}" in done.stdout
    assert f"url: {line['cluster_url']}" in done.stdout
    assert f"kubeconfig: {served.kubeconfig}" in done.stdout
    data = httpx.get(f"{served.url}/api/v1/status").json()
    assert f"http://{data['listen']}" == served.url
    assert (data["cluster_url"], data["kubeconfig"]) == (
        line["cluster_url"],
        str(served.kubeconfig),
    )


def _rejected(served: Served) -> dict[str, float]:
    counts = {}
    for line in httpx.get(f"{served.url}/metrics").text.splitlines():
        if line.startswith("reconciler_webhook_rejected_total{"):
            status = line.split('status="')[1].split('"')[0]
            counts[status] = float(line.rsplit(" ", 1)[1])
    return counts


def test_refused_deliveries_are_counted_and_logged_without_the_token(served: Served) -> None:
    alerts = f"{served.url}/api/v1/alerts"
    good = {"Authorization": f"Bearer {TOKEN}"}
    before = _rejected(served)
    sent = [
        httpx.post(alerts, json=[], headers={"Authorization": f"Bearer {WRONG}"}),
        httpx.post(alerts, json=[]),
        httpx.post(alerts, content=b"{", headers={**good, "Content-Type": "application/json"}),
        httpx.post(
            alerts,
            content=b"[" + b" " * (1024 * 1024) + b"]",
            headers={**good, "Content-Type": "application/json"},
        ),
        httpx.post(alerts, content=b"[]", headers={**good, "Content-Type": "text/plain"}),
        httpx.post(alerts, json=[], headers={**good, "Host": "evil.example"}),
    ]
    assert [r.status_code for r in sent] == [401, 401, 422, 413, 415, 421]
    after = _rejected(served)
    grew = {s: after.get(s, 0) - before.get(s, 0) for s in after}
    assert {s: n for s, n in grew.items() if n} == {
        "401": 2,
        "422": 1,
        "413": 1,
        "415": 1,
        "421": 1,
    }

    def logged() -> list[dict[str, Any]]:
        found = [e for e in served.lines() if e.get("event") == "webhook delivery rejected"]
        return found if len(found) >= 6 else []

    rejected = wait_for(logged)
    assert sorted(e["status"] for e in rejected) == [401, 401, 413, 415, 421, 422]
    reasons = " ".join(e["reason"] for e in rejected if e["status"] == 401)
    assert "the token sent does not match --webhook-token-file" in reasons
    assert "no token was sent" in reasons
    assert all(e["client"].startswith("127.0.0.1:") for e in rejected)
    text = served.log.read_text()
    assert WRONG not in text and TOKEN not in text
