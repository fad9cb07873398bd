"""`reconciler run` settings: durations on flags, variables and settings-file keys (SPEC §3).

Each invocation stops before serving: either a setting is refused, or (for a value that is
accepted) a deliberately bad ``--listen`` is, which is checked after every setting is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.cli.serving import _settings
from reconciler.settings import ServiceSettings

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["run", *args], env=env)
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


@pytest.mark.parametrize("interval", ["1s", "500ms", "5m", "1h30m", "30", "0.5"])
def test_run_accepts_an_interval_written_as_a_duration_or_seconds(interval: str) -> None:
    code, output = run("--interval", interval, "--listen", "nowhere")
    assert code == 2
    assert "--listen 'nowhere'" in output  # the interval was read; the listen address was not
    assert "interval" not in output


def test_run_refuses_an_interval_that_is_no_duration_naming_the_flag() -> None:
    code, output = run("--interval", "soon", "--listen", "nowhere")
    assert code == 2
    assert "--interval: invalid duration 'soon'" in output
    assert "500ms, 30s, 5m or 1h30m, or a number of seconds" in output


def test_run_refuses_a_bad_interval_variable_naming_the_variable() -> None:
    code, output = run("--listen", "nowhere", env={"RECONCILER_INTERVAL": "soon"})
    assert code == 2
    assert "RECONCILER_INTERVAL: invalid duration 'soon'" in output


def test_run_takes_the_interval_variable_as_a_duration() -> None:
    code, output = run("--listen", "nowhere", env={"RECONCILER_INTERVAL": "2m"})
    assert code == 2 and "--listen 'nowhere'" in output


def test_run_refuses_a_bad_interval_in_the_settings_file_naming_the_file_and_key(
    tmp_path: Path,
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("interval: every minute\n")
    code, output = run("--config", str(config), "--listen", "nowhere")
    assert code == 2
    assert f"--config {config}: interval: invalid duration 'every minute'" in output


def test_the_settings_file_takes_durations_and_bare_seconds(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("interval: 1h30m\n")
    assert _settings(config, {}).interval == 5400.0
    config.write_text("interval: 45\n")
    assert _settings(config, {}).interval == 45.0
    assert _settings(config, {"interval": "500ms"}).interval == 0.5  # a flag beats the file


def test_a_zero_interval_is_refused() -> None:
    code, output = run("--interval", "0s")
    assert code == 2
    assert "--interval: Input should be greater than 0" in output


def test_service_settings_take_durations_directly() -> None:
    assert ServiceSettings(interval="5m").interval == 300.0  # type: ignore[arg-type]
    assert ServiceSettings().interval == 30.0


def test_the_intake_bounds_are_flags_and_variables_too() -> None:
    code, output = run("--max-queued-alerts", "0", "--listen", "nowhere")
    assert code == 2
    assert "--max-queued-alerts: Input should be greater than or equal to 1" in output
    code, output = run("--listen", "nowhere", env={"RECONCILER_MAX_BYTES_IN_FLIGHT": "10"})
    assert code == 2
    assert "RECONCILER_MAX_BYTES_IN_FLIGHT: Input should be greater than or equal to" in output
    code, output = run("--max-deliveries-in-flight", "64", "--listen", "nowhere")
    assert code == 2 and "--listen 'nowhere'" in output  # accepted; the address is not


def test_shell_jobs_need_their_namespaces_on_a_flag_a_variable_or_the_file(
    tmp_path: Path,
) -> None:
    code, output = run("--shell-jobs-enabled", "--listen", "nowhere")
    assert code == 2
    assert "shell_jobs_enabled needs shell_job_namespaces (--shell-job-namespaces" in output
    code, output = run(
        "--listen",
        "nowhere",
        env={
            "RECONCILER_SHELL_JOBS_ENABLED": "true",
            "RECONCILER_SHELL_JOB_NAMESPACES": "ops, batch",
        },
    )
    assert code == 2 and "--listen 'nowhere'" in output  # accepted; the address is not
    config = tmp_path / "settings.yaml"
    config.write_text("shell_jobs_enabled: true\nshell_job_namespaces: [ops, batch]\n")
    settings = _settings(config, {"allow_protected_namespaces": True})
    assert settings.shell_job_namespaces == ("ops", "batch")
    assert settings.allow_protected_namespaces is True
    assert _settings(None, {"shell_job_namespaces": "ops,,batch "}).shell_job_namespaces == (
        "ops",
        "batch",
    )
    defaults = ServiceSettings()
    assert (defaults.shell_jobs_enabled, defaults.allow_protected_namespaces) == (False, False)
    assert defaults.own_namespace == "reconciler"


def test_retention_is_a_duration_on_a_flag_a_variable_or_the_file(tmp_path: Path) -> None:
    code, output = run("--retention", "30d", "--listen", "nowhere")
    assert code == 2 and "--listen 'nowhere'" in output  # accepted; the address is not
    code, output = run("--listen", "nowhere", env={"RECONCILER_RETENTION": "a month"})
    assert code == 2 and "RECONCILER_RETENTION: invalid duration 'a month'" in output
    config = tmp_path / "settings.yaml"
    config.write_text("retention: 12h\n")
    assert _settings(config, {}).retention == 43200.0
    assert ServiceSettings().retention == 0.0  # off: history is kept unless asked


def test_a_retention_under_an_hour_is_refused_naming_the_flag() -> None:
    code, output = run("--retention", "10m", "--listen", "nowhere")
    assert code == 2
    assert "--retention: retention must be 0 (keep every finished execution) or at least 1h" in (
        output
    )
