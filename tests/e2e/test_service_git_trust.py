"""The reconcile loop refuses what it cannot trust, keeps the last good revision and says why:
a rewind of the branch (unless ``allow_rewind``), an unsigned or untrusted head (``verify``), a
YAML file over the size limit. A real Git remote, signed with real keys; the service over HTTP.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from servicekit import GIT_ENV, Remote, Running, fixture_files, git, settings, wait_for


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "git")


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def rewinds(running: Running, outcome: str) -> float:
    for line in running.client.get("/metrics").text.splitlines():
        if line.startswith(f'reconciler_source_rewinds_total{{outcome="{outcome}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def refused(running: Running, head: str, reason: str) -> dict[str, Any]:
    """The status once ``head`` was attempted and refused for ``reason``."""

    def check() -> dict[str, Any] | None:
        status = running.status()
        ready = conditions(status).get("Ready", ("", "", ""))
        done = status["last_attempted_revision"] == head and ready[1] == reason
        return status if done else None

    found: dict[str, Any] = wait_for(check)
    return found


def rewind(remote: Remote, to: str) -> None:
    """Force-push the branch back to an older commit ``to``."""
    git("push", "-q", "--force", "origin", f"{to}:refs/heads/main", cwd=remote.work)
    git("reset", "-q", "--hard", to, cwd=remote.work)


def test_a_rewind_is_refused_and_the_last_good_revision_kept(
    tmp_path: Path, remote: Remote
) -> None:
    older = git("rev-parse", "HEAD", cwd=remote.work)
    newer = remote.commit({"note.yaml": "# newer\n"}, "newer")
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"] == newer)
        rewind(remote, older)

        status = refused(running, older, "RewindRefused")
        found = conditions(status)
        assert status["active_revision"] == newer
        assert found["Ready"][0] == "False"
        assert found["Warning"][:2] == ("True", "RewindRefused")
        assert "--allow-rewind" in found["Warning"][2] and older[:12] in found["Warning"][2]
        assert rewinds(running, "refused") == 1.0
        # The branch put back where it was: ready again, the warning withdrawn.
        git("push", "-q", "--force", "origin", f"{newer}:refs/heads/main", cwd=remote.work)
        wait_for(lambda: conditions(running.status())["Ready"][0] == "True")
        assert conditions(running.status())["Warning"][:2] == ("False", "Succeeded")
        # Moving forward from the adopted commit is adopted again.
        git("reset", "-q", "--hard", newer, cwd=remote.work)
        forward = remote.commit({"more.yaml": "# more\n"}, "forward")
        wait_for(lambda: running.status()["active_revision"] == forward)
        assert conditions(running.status())["Warning"][:2] == ("False", "Succeeded")


def test_a_rewind_while_stopped_is_refused_after_a_restart(tmp_path: Path, remote: Remote) -> None:
    older = git("rev-parse", "HEAD", cwd=remote.work)
    newer = remote.commit({"note.yaml": "# newer\n"}, "newer")
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"] == newer)
    rewind(remote, older)
    with Running(settings(tmp_path, remote.url)) as running:
        status = refused(running, older, "RewindRefused")
        assert status["active_revision"] == newer


def test_allow_rewind_adopts_it_with_a_warning(tmp_path: Path, remote: Remote) -> None:
    older = git("rev-parse", "HEAD", cwd=remote.work)
    newer = remote.commit({"note.yaml": "# newer\n"}, "newer")
    with Running(settings(tmp_path, remote.url, allow_rewind=True)) as running:
        wait_for(lambda: running.status()["active_revision"] == newer)
        rewind(remote, older)

        status = wait_for(lambda: (s := running.status())["active_revision"] == older and s)
        found = conditions(status)
        assert found["Ready"][:2] == ("True", "Succeeded")
        assert found["Warning"][:2] == ("True", "RewindAllowed")
        assert rewinds(running, "allowed") == 1.0


def signed(remote: Remote, files: dict[str, str], message: str, key: Path | None) -> str:
    for name, text in files.items():
        (remote.work / name).write_text(text)
    git("add", "-A", cwd=remote.work)
    signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-S"]
    command = signing if key is not None else ["commit"]
    git(*command, "-q", "--allow-empty", "-m", message, cwd=remote.work)
    git("push", "-q", "origin", "main", cwd=remote.work)
    return git("rev-parse", "HEAD", cwd=remote.work)


def ssh_key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], env=GIT_ENV, check=True
    )
    return key


def test_verify_keeps_the_last_signed_revision_against_unsigned_and_untrusted_heads(
    tmp_path: Path, remote: Remote
) -> None:
    trusted = ssh_key(tmp_path, "trusted")
    stranger = ssh_key(tmp_path, "stranger")
    good = signed(remote, {"note.yaml": "# signed\n"}, "signed", trusted)
    options = {"verify": "ssh", "trusted_keys": str(trusted.with_suffix(".pub"))}
    with Running(settings(tmp_path, remote.url, **options)) as running:
        status = wait_for(lambda: (s := running.status())["active_revision"] == good and s)
        assert conditions(status)["SourceVerified"][:2] == ("True", "Succeeded")

        for key in (None, stranger):
            head = signed(remote, {"evil.yaml": "# evil\n"}, "not trusted", key)
            status = refused(running, head, "VerificationFailed")
            found = conditions(status)
            assert status["active_revision"] == good
            assert found["SourceVerified"][:2] == ("False", "VerificationFailed")

        fixed = signed(remote, {"evil.yaml": "# reviewed\n"}, "signed again", trusted)
        wait_for(lambda: running.status()["active_revision"] == fixed)


def test_a_yaml_file_over_the_limit_is_refused_unread(tmp_path: Path, remote: Remote) -> None:
    good = git("rev-parse", "HEAD", cwd=remote.work)
    big = remote.commit({"big.yaml": "# " + "x" * (2 * 1024 * 1024) + "\n"}, "a large file")
    with Running(settings(tmp_path, remote.url)) as running:
        status = wait_for(lambda: (s := running.status())["errors"] and s)
        assert status["last_attempted_revision"] == big and status["active_revision"] is None
        assert status["errors"] == [
            f"big.yaml: file is {2 * 1024 * 1024 + 3} bytes; the limit is 1048576"
        ]
        assert conditions(status)["Ready"][:2] == ("False", "ValidationFailed")
        fixed = remote.commit({**fixture_files(), "big.yaml": None}, "smaller")
        wait_for(lambda: running.status()["active_revision"] == fixed)
    assert good != fixed


def test_an_unsigned_revision_restored_under_verify_is_reported_untrusted(
    tmp_path: Path, remote: Remote
) -> None:
    unsigned = git("rev-parse", "HEAD", cwd=remote.work)
    with Running(settings(tmp_path, remote.url)) as running:
        wait_for(lambda: running.status()["active_revision"] == unsigned)
    trusted = ssh_key(tmp_path, "trusted")
    options = {"verify": "ssh", "trusted_keys": str(trusted.with_suffix(".pub"))}
    with Running(settings(tmp_path, remote.url, **options)) as running:
        status = refused(running, unsigned, "VerificationFailed")
        assert conditions(status)["SourceVerified"][:2] == ("False", "VerificationFailed")
        assert status["active_revision"] == unsigned  # the only revision there is
        good = signed(remote, {"note.yaml": "# signed\n"}, "signed", trusted)
        status = wait_for(lambda: (s := running.status())["active_revision"] == good and s)
        assert conditions(status)["Ready"][:2] == ("True", "Succeeded")
