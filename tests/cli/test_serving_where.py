"""`reconciler run`'s settings for where things are: --prometheus-url and --sim-kubeconfig, as
flags, RECONCILER_* variables and settings-file keys."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.cli.serving import _settings

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["run", *args], env=env)
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


def test_run_help_lists_the_prometheus_url_and_sim_kubeconfig_settings() -> None:
    code, output = run("--help", env={"COLUMNS": "300", "TERMINAL_WIDTH": "300"})
    assert code == 0
    assert "--prometheus-url" in output and "--sim-kubeconfig" in output


def test_the_prometheus_url_is_read_from_the_settings_file_and_the_environment(
    tmp_path: Path,
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("repo: /r\nprometheus_url: http://prometheus.monitoring.svc:9090\n")
    assert _settings(config, {}).prometheus_url == "http://prometheus.monitoring.svc:9090"
    given = {"prometheus_url": "http://127.0.0.1:9090"}
    assert _settings(config, given).prometheus_url == "http://127.0.0.1:9090"
    code, output = run(
        "--repo", "/r", "--listen", "nowhere", env={"RECONCILER_PROMETHEUS_URL": "prometheus:9090"}
    )
    assert code == 2
    assert "RECONCILER_PROMETHEUS_URL: 'prometheus:9090' is not a URL" in output


def test_a_sim_kubeconfig_without_a_simulated_cluster_is_refused() -> None:
    code, output = run("--repo", "/r", "--cluster", "none", "--sim-kubeconfig", "/tmp/k")
    assert code == 2
    assert "--cluster sim:PATH" in output
