"""Commit signatures: is a commit signed by a trusted key? (``--verify ssh|gpg``, as Flux's
``spec.verify``.)

:class:`reconciler.source.gitsource.GitSource` asks a :class:`Verifier` for the ``git`` arguments
and environment that check a commit's signature in its mirror, then for its verdict on git's
answer. Git does the cryptography: ``gpg.ssh.allowedSignersFile`` for ssh (``ssh-keygen -Y``), a
keyring in a temporary ``GNUPGHOME`` holding only the trusted keys for gpg. That git reads no
user or system configuration (``HOME`` is the temporary folder too), so nothing on the machine
can add a key, swap the program that checks, or trust more than ``--trusted-keys`` says.

The trusted keys are read on every check, so a rotated Secret is picked up without a restart.
``--trusted-keys`` is a file or a folder of files (a mounted Kubernetes Secret); ssh keys are
public keys (``ssh-ed25519 AAAA... comment``, as in ``authorized_keys``) or ``allowed_signers``
lines; gpg keys are exported public keys, armored or binary.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.errors import ReconcilerError, printable

Mode = Literal["none", "ssh", "gpg"]
# %G? (the verdict), the key's fingerprint, the signer (a gpg user id, or the ssh principal).
FORMAT = "--format=%G?%x1f%GF%x1f%GS"
_KEY_TYPES = ("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")
_VERDICTS = {
    "N": "is not signed",
    "B": "has a bad signature (the commit was changed after signing)",
    "U": "is signed by a key that is not in",
    "E": "has a signature that cannot be checked: by a key that is not in",
    "X": "has an expired signature",
    "Y": "is signed by an expired key",
    "R": "is signed by a revoked key",
}


class TrustError(ReconcilerError):
    """``--trusted-keys`` cannot be used: missing, unreadable, empty, or not keys."""


@dataclass(frozen=True)
class Verification:
    """Git's verdict on one commit: ``trusted`` only for a good signature by a trusted key."""

    trusted: bool
    message: str


@dataclass(frozen=True)
class Verifier:
    mode: Literal["ssh", "gpg"]
    trusted_keys: Path

    def check(self) -> None:
        """At start: the keys are readable and the program that checks is installed."""
        program = "ssh-keygen" if self.mode == "ssh" else "gpg"
        if shutil.which(program) is None:
            raise TrustError(f"--verify {self.mode} needs {program}, which is not installed")
        self._key_files()

    @contextlib.contextmanager
    def session(self) -> Iterator[tuple[list[str], dict[str, str]]]:
        """``git -c`` arguments and environment for one check, valid inside the ``with``."""
        with tempfile.TemporaryDirectory(prefix="reconciler-verify-") as temporary:
            home = Path(temporary)
            gnupg = home / "gnupg"
            gnupg.mkdir(mode=0o700)
            # No agent (it would outlive the folder) and every imported key fully trusted:
            # being in --trusted-keys is what trusts a key, not a web of trust.
            (gnupg / "gpg.conf").write_text("trust-model always\nno-autostart\n")
            environment = {
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home),
                "GNUPGHOME": str(gnupg),  # empty for ssh: no gpg signature can pass there
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_CONFIG_COUNT": "0",
                "GIT_CONFIG_PARAMETERS": "",
            }
            config = ["-c", "gpg.program=gpg", "-c", "gpg.ssh.program=ssh-keygen"]
            if self.mode == "ssh":
                signers = home / "allowed_signers"
                signers.write_text(self._allowed_signers())
                config += ["-c", f"gpg.ssh.allowedSignersFile={signers}"]
            else:
                self._import(environment)
            yield config, environment

    def judge(self, commit: str, answer: str) -> Verification:
        """The verdict on ``git show -s FORMAT commit``'s output."""
        verdict, _, rest = answer.strip().partition("\x1f")
        fingerprint, _, signer = rest.partition("\x1f")
        by = f" {printable(fingerprint)}" if fingerprint else ""
        if signer:
            by += f" ({printable(signer)})"
        if verdict == "G":
            return Verification(True, f"commit {commit[:12]} is signed by trusted key{by}")
        said = _VERDICTS.get(verdict, f"has a signature git cannot judge ({verdict!r})")
        if said.endswith(" in"):
            said += f" --trusted-keys {self.trusted_keys}"
        where = f" (key{by})" if by and verdict != "N" else ""
        return Verification(
            False, f"commit {commit[:12]} {said}{where}; --verify {self.mode} refuses it"
        )

    def _key_files(self) -> list[Path]:
        path = self.trusted_keys
        if path.is_dir():
            # A mounted Secret: its keys are links into ..data; dot-entries are its bookkeeping.
            files = [p for p in sorted(path.iterdir()) if not p.name.startswith(".")]
            files = [p for p in files if p.is_file()]
        elif path.is_file():
            files = [path]
        else:
            raise TrustError(f"--trusted-keys {path}: no such file or folder")
        if not files:
            raise TrustError(f"--trusted-keys {path}: the folder holds no key files")
        return files

    def _allowed_signers(self) -> str:
        lines = []
        for file in self._key_files():
            for line in _read(file).splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                # A bare public key trusts its holder for any identity (principal "*").
                lines.append(f"* {line}" if line.startswith(_KEY_TYPES) else line)
        if not lines:
            raise TrustError(f"--trusted-keys {self.trusted_keys}: no ssh public keys in it")
        return "\n".join(lines) + "\n"

    def _import(self, environment: dict[str, str]) -> None:
        for file in self._key_files():
            done = subprocess.run(  # noqa: S603 - an argument list, no shell
                ["gpg", "--batch", "--quiet", "--import", str(file)],  # noqa: S607 - gpg on PATH
                env={**os.environ, **environment},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                said = printable(
                    done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
                )
                raise TrustError(f"--trusted-keys {file}: not gpg public keys ({said})")


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrustError(f"--trusted-keys {file}: cannot read it ({exc})") from None
