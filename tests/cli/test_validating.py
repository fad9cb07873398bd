"""``reconciler validate`` and ``reconciler test`` on hostile folders: symlinks out of the folder
and file names that would forge output. A real process on real files, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reconciler.errors import Problem, printable
from reconciler.source.directory import ContainedTree

# Not a definition: the loader reports it, quoting what it read.
SECRET = "apiVersion: reconciler.dev/v1alpha1\nkind: Workflow\nmetadata: {name: TOPSECRET}\n"


def reconciler(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_validate_does_not_follow_a_symlink_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(SECRET)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "leak.yaml").symlink_to(outside / "secret.yaml")
    (repo / "shared.yaml").write_text(SECRET.replace("TOPSECRET", "inside"))
    (repo / "alias.yaml").symlink_to(repo / "shared.yaml")  # inside: still read

    result = reconciler("validate", "-o", "json", repo, cwd=tmp_path)

    assert "TOPSECRET" not in result.stdout
    assert "leak.yaml" not in result.stdout
    assert "alias.yaml" in result.stdout  # the link inside was read (and is as invalid)
    assert f"left out {repo / 'leak.yaml'}: a symlink pointing out of {repo}" in result.stderr


def test_reconciler_test_does_not_follow_a_symlink_out_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text(SECRET)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "leak.yaml").symlink_to(tmp_path / "secret.yaml")

    result = reconciler("test", repo, cwd=tmp_path)

    assert "TOPSECRET" not in result.stdout + result.stderr


def test_a_named_file_is_read_even_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("a: 1\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "real.yaml")
    tree = ContainedTree(tmp_path / "link.yaml")

    assert [f.read() for f in tree.files()] == [b"a: 1\n"]
    assert tree.left_out == []


def test_a_file_name_with_a_newline_cannot_forge_a_line(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    name = "x\nvalid: all good \x1b[32m.yaml"
    (repo / name).write_text("kind: [unclosed\n")

    result = reconciler("validate", repo, cwd=tmp_path)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert not any(line.startswith("valid:") for line in lines), result.stdout
    assert "\x1b" not in result.stdout
    assert any("x\\nvalid: all good \\x1b[32m.yaml" in line for line in lines), result.stdout


def test_printable_escapes_controls_and_keeps_the_rest() -> None:
    assert printable("ordinary/ünïcode file.yaml") == "ordinary/ünïcode file.yaml"
    assert printable("a\tb\rc\x00d\x7f\u202eevil") == "a\\tb\\rc\\x00d\\x7f\\u202eevil"
    assert str(Problem("a\nb.yaml", 1, 2, "spec", "bad")) == "a\\nb.yaml:1:2: spec: bad"
