"""The root command's own options: ``--version`` and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from reconciler import __version__
from reconciler.cli import app

SCRIPT = Path(sys.executable).with_name("reconciler")  # the console script of this install


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"reconciler {__version__}\n"


def test_shell_completion_completes_commands_and_can_be_shown() -> None:
    env = {
        **os.environ,
        "_RECONCILER_COMPLETE": "complete_bash",
        "COMP_WORDS": "reconciler executions wa",
        "COMP_CWORD": "2",
    }
    completed = subprocess.run(
        [str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["watch"]
    shown = subprocess.run(
        [str(SCRIPT), "--show-completion"],
        env={**os.environ, "SHELL": "/bin/bash"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "_reconciler_completion" in shown.stdout
