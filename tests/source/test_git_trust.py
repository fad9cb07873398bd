"""What ``GitSource`` refuses to trust: unsigned or untrusted commits (``--verify``), rewinds of
the branch, credentials over plain ``http://``, and blobs it has no reason to read.

Real keys (``ssh-keygen``, ``gpg``), real signed commits, real repositories on disk; every test
reproduces the attack it guards against.
"""

from __future__ import annotations

import os
import subprocess
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_git import Remote, isolated_git, run_git  # noqa: F401 - isolated_git is autouse

from reconciler.source.credentials import Credentials
from reconciler.source.gitsource import GitSource, SourceError
from reconciler.source.opening import open_source
from reconciler.source.signatures import Verifier


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "origin")


@pytest.fixture(autouse=True)
def no_agent_left(tmp_path: Path) -> Iterator[None]:
    """Signing with a test's gpg key starts a gpg-agent for its GNUPGHOME: stop it after."""
    yield
    for home in tmp_path.rglob("pubring.kbx"):
        subprocess.run(
            ["gpgconf", "--homedir", str(home.parent), "--kill", "gpg-agent"],
            capture_output=True,
            check=False,
        )


def ssh_key(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


def gpg_key(home: Path, email: str) -> Path:
    """A signing key in its own GNUPGHOME (no agent left running); its exported public key."""
    home.mkdir(mode=0o700, parents=True)
    environment = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(
        [*gpg, "--quick-gen-key", f"Signer <{email}>", "ed25519", "sign", "never"],
        env=environment,
        check=True,
        capture_output=True,
    )
    public = home / "public.asc"
    exported = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", email],
        env=environment,
        check=True,
        capture_output=True,
    )
    public.write_bytes(exported.stdout)
    return public


def signed_commit(
    remote: Remote, message: str, *config: str, env: dict[str, str] | None = None
) -> str:
    """Commit (signed as ``config`` says) and push; the commit's sha."""
    (remote.work / f"{message}.yaml").write_text(f"m: {message}\n")
    run_git("add", "--all", cwd=remote.work)
    subprocess.run(
        ["git", *config, "commit", "--quiet", "-S", "-m", message],
        cwd=remote.work,
        env={**os.environ, **(env or {})},
        check=True,
        capture_output=True,
    )
    remote.push()
    return run_git("rev-parse", "HEAD", cwd=remote.work)


def ssh_signed(remote: Remote, message: str, key: Path) -> str:
    return signed_commit(remote, message, "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}")


def verifier_agents() -> list[str]:
    """Processes started for a verification that outlived it (a gpg-agent, say)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = status.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "reconciler-verify-" in line:
            found.append(line)
    return found


# -- --verify ssh ----------------------------------------------------------------------------


def test_ssh_verify_adopts_only_commits_signed_by_a_trusted_key(
    remote: Remote, tmp_path: Path
) -> None:
    trusted = ssh_key(tmp_path / "keys", "trusted")
    stranger = ssh_key(tmp_path / "keys", "stranger")
    source = GitSource(
        remote.url,
        cache_dir=tmp_path / "cache",
        verifier=Verifier("ssh", trusted.with_suffix(".pub")),
    )

    good = ssh_signed(remote, "good", trusted)
    verdict = source.verify(good)
    assert verdict is not None and verdict.trusted
    assert "SHA256:" in verdict.message

    forged = ssh_signed(remote, "forged", stranger)
    verdict = source.verify(forged)
    assert verdict is not None and not verdict.trusted
    assert "not in --trusted-keys" in verdict.message

    unsigned = remote.commit("unsigned", {"u.yaml": "u: 1\n"})
    remote.push()
    verdict = source.verify(unsigned)
    assert verdict is not None and not verdict.trusted
    assert "is not signed" in verdict.message
    assert verifier_agents() == []


def test_ssh_keys_may_be_a_mounted_secret_folder_or_allowed_signers(
    remote: Remote, tmp_path: Path
) -> None:
    key = ssh_key(tmp_path / "keys", "signer")
    # A Kubernetes Secret volume: keys are links into ..data, which holds the files.
    secret = tmp_path / "secret"
    (secret / "..data").mkdir(parents=True)
    (secret / "..data" / "signer.pub").write_text(key.with_suffix(".pub").read_text())
    (secret / "signer.pub").symlink_to(secret / "..data" / "signer.pub")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"# comment\nsigner@example.com {key.with_suffix('.pub').read_text()}")
    commit = ssh_signed(remote, "signed", key)

    for keys in (secret, allowed):
        source = GitSource(remote.url, cache_dir=tmp_path / "cache", verifier=Verifier("ssh", keys))
        verdict = source.verify(commit)
        assert verdict is not None and verdict.trusted, keys


def test_ssh_verify_refuses_a_gpg_signature_by_a_key_the_machine_trusts(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service's own GNUPGHOME holds the signer: --verify ssh must not consult it.
    home = tmp_path / "gnupg"
    gpg_key(home, "signer@example.com")
    monkeypatch.setenv("GNUPGHOME", str(home))
    commit = signed_commit(remote, "gpg", "-c", "user.signingkey=signer@example.com")
    key = ssh_key(tmp_path / "keys", "signer")
    source = GitSource(
        remote.url, cache_dir=tmp_path / "cache", verifier=Verifier("ssh", key.with_suffix(".pub"))
    )

    verdict = source.verify(commit)

    assert verdict is not None and not verdict.trusted


# -- --verify gpg ----------------------------------------------------------------------------


def test_gpg_verify_trusts_exactly_the_given_keys(remote: Remote, tmp_path: Path) -> None:
    public = gpg_key(tmp_path / "signer", "signer@example.com")
    gpg_key(tmp_path / "stranger", "stranger@example.com")
    good = signed_commit(
        remote,
        "good",
        "-c",
        "user.signingkey=signer@example.com",
        env={"GNUPGHOME": str(tmp_path / "signer")},
    )
    forged = signed_commit(
        remote,
        "forged",
        "-c",
        "user.signingkey=stranger@example.com",
        env={"GNUPGHOME": str(tmp_path / "stranger")},
    )
    ssh = ssh_signed(remote, "ssh", ssh_key(tmp_path / "keys", "signer"))
    source = GitSource(remote.url, cache_dir=tmp_path / "cache", verifier=Verifier("gpg", public))

    trusted = source.verify(good)
    assert trusted is not None and trusted.trusted and "signer@example.com" in trusted.message
    for commit in (forged, ssh):
        verdict = source.verify(commit)
        assert verdict is not None and not verdict.trusted, verdict
    assert verifier_agents() == []


def test_verify_needs_usable_keys_and_a_git_repository(tmp_path: Path) -> None:
    Remote(tmp_path / "origin")
    with pytest.raises(SourceError, match=r"--trusted-keys .*missing: no such file"):
        GitSource(
            (tmp_path / "origin" / "remote.git").as_uri(),
            cache_dir=tmp_path / "cache",
            verifier=Verifier("ssh", tmp_path / "missing"),
        )
    with pytest.raises(SourceError, match="--verify ssh needs --trusted-keys"):
        open_source(str(tmp_path / "origin" / "remote.git"), cache_dir=tmp_path, verify="ssh")
    folder = tmp_path / "plain"
    folder.mkdir()
    (tmp_path / "k.pub").write_text("ssh-ed25519 AAAA k\n")
    with pytest.raises(SourceError, match="plain folder, with no commits to verify"):
        open_source(
            str(folder), cache_dir=tmp_path, verify="ssh", trusted_keys=str(tmp_path / "k.pub")
        )


# -- rewinds ---------------------------------------------------------------------------------


def test_descends_sees_forward_moves_through_a_shallow_mirror(
    remote: Remote, tmp_path: Path
) -> None:
    source = GitSource(remote.url, cache_dir=tmp_path / "cache")
    first = remote.commit("first", {"a.yaml": "a: 1\n"})
    remote.push()
    source.snapshot(first)  # the mirror holds `first` only (--depth=1)
    for n in range(3):
        remote.commit(f"more {n}", {"a.yaml": f"a: {n}\n"})
    remote.push()
    later = source.head()
    source.snapshot(later)

    assert source.descends(first, later)
    assert not source.descends(later, first)  # a force-push back to `first`


def test_descends_refuses_a_force_push_aside_and_unknown_commits(
    remote: Remote, tmp_path: Path
) -> None:
    source = GitSource(remote.url, cache_dir=tmp_path / "cache")
    base = remote.commit("base", {"a.yaml": "a: 1\n"})
    adopted = remote.commit("adopted", {"a.yaml": "a: 2\n"})
    remote.push()
    source.snapshot(adopted)
    run_git("reset", "--quiet", "--hard", base, cwd=remote.work)
    aside = remote.commit("aside", {"a.yaml": "a: 3\n"})
    remote.push(force=True)

    assert not source.descends(adopted, aside)
    assert not source.descends("0" * 40, aside)  # gone from every history
    assert source.descends(base, aside)


# -- plain http ------------------------------------------------------------------------------


def test_credentials_are_refused_over_plain_http(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with_token = Credentials(token_file=token)
    cache = tmp_path / "cache"

    with pytest.raises(SourceError, match=r"plain http://.*--allow-insecure-http") as refused:
        GitSource("http://git.example/r.git", cache_dir=cache, credentials=with_token)
    assert "s3cret" not in str(refused.value)
    with pytest.raises(SourceError, match="plain http://") as refused:
        GitSource("http://user:hunter2@git.example/r.git", cache_dir=cache)
    assert "hunter2" not in str(refused.value)

    GitSource("http://git.example/r.git", cache_dir=cache)  # no credentials: nothing to leak
    GitSource("https://git.example/r.git", cache_dir=cache, credentials=with_token)
    GitSource(
        "http://git.example/r.git",
        cache_dir=cache,
        credentials=with_token,
        allow_insecure_http=True,
    )


# -- blobs -----------------------------------------------------------------------------------


def test_non_yaml_blobs_are_never_read(remote: Remote, tmp_path: Path) -> None:
    (remote.work / "archive.bin").write_bytes(b"\0" * (64 * 1024 * 1024))
    sha = remote.commit("a large archive", {"a.yaml": "a: 1\n"})
    remote.push()
    source = GitSource(remote.url, cache_dir=tmp_path / "cache")
    source.fetch(sha)

    tracemalloc.start()
    try:
        snapshot = source.snapshot(sha)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert snapshot.files == {"a.yaml": b"a: 1\n"}
    assert peak < 8 * 1024 * 1024  # reading the archive would take 64 MiB


def test_yaml_blobs_over_the_limit_are_left_unread_and_named(
    remote: Remote, tmp_path: Path
) -> None:
    sha = remote.commit("big", {"big.yaml": "x: " + "y" * 5000 + "\n", "ok.yaml": "a: 1\n"})
    remote.push()
    source = GitSource(remote.url, cache_dir=tmp_path / "cache", max_file_bytes=1000)

    snapshot = source.snapshot(sha)

    assert snapshot.files == {"ok.yaml": b"a: 1\n"}
    assert snapshot.too_large == {"big.yaml": 5004}
