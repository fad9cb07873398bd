"""`reconciler run`'s Git trust settings: refused before anything serves, naming the flag."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["run", *args], env=env)
    return result.exit_code, " ".join((result.stdout + result.stderr).split())


def test_verify_takes_ssh_gpg_or_none_only() -> None:
    code, output = run("--verify", "yes", "--listen", "nowhere")
    assert code == 2
    assert "--verify: Input should be 'none', 'ssh' or 'gpg'" in output


def test_verify_needs_trusted_keys(tmp_path: Path) -> None:
    repo = tmp_path / "definitions"
    repo.mkdir()
    state = str(tmp_path / "state")
    code, output = run(
        "--repo",
        str(repo),
        "--state-dir",
        state,
        "--listen",
        "127.0.0.1:0",
        "--cluster",
        "none",
        env={"RECONCILER_VERIFY": "ssh"},
    )
    assert code == 2
    assert "--verify ssh needs --trusted-keys PATH" in output


def test_credentials_over_plain_http_stop_the_start(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    code, output = run(
        "--repo",
        "http://me:hunter2@git.example/r.git",
        "--state-dir",
        state,
        "--listen",
        "127.0.0.1:0",
        "--cluster",
        "none",
    )
    assert code == 2
    assert "refusing to send Git credentials over plain http://" in output
    assert "hunter2" not in output
