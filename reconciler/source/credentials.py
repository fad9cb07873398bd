"""How git subprocesses authenticate: an SSH key, known hosts, or an HTTPS token.

The service builds one :class:`Credentials` from ``RECONCILER_GIT_*`` variables and hands it to
:class:`reconciler.source.gitsource.GitSource`, which asks for :meth:`Credentials.environment` before
every git command. Secrets travel only in the environment of the git process: never in a URL,
never on a command line (both show up in ``ps`` and in error messages), never in a log.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_BASIC = "Authorization: Basic "


@dataclass(frozen=True)
class Credentials:
    """Where the secrets are; the files are read on use, so a rotated Secret is picked up.

    ``username`` goes with the token in HTTP basic auth (GitHub accepts ``x-access-token``).
    Without ``known_hosts_file`` ssh keeps its own host checks (``~/.ssh/known_hosts``), and an
    unknown host is refused: nobody is there to answer the prompt.
    """

    ssh_key_file: Path | None = None
    known_hosts_file: Path | None = None
    token_file: Path | None = None
    username: str = "git"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Credentials:
        """Read ``RECONCILER_GIT_SSH_KEY_FILE``, ``_KNOWN_HOSTS_FILE``, ``_TOKEN_FILE``, ``_USERNAME``."""

        def path(name: str) -> Path | None:
            value = environ.get(f"RECONCILER_GIT_{name}", "")
            return Path(value) if value else None

        return cls(
            ssh_key_file=path("SSH_KEY_FILE"),
            known_hosts_file=path("KNOWN_HOSTS_FILE"),
            token_file=path("TOKEN_FILE"),
            username=environ.get("RECONCILER_GIT_USERNAME", "") or "git",
        )

    def environment(self) -> dict[str, str]:
        """Extra environment for a git process; never log it.

        Raises ``OSError`` if the token file cannot be read and ``ValueError`` if it is empty
        (the caller wraps both: it knows which repository they were for).
        """
        environment = {"GIT_TERMINAL_PROMPT": "0"}
        if self.token_file is not None:
            token = self.token_file.read_text(encoding="utf-8").strip()
            if not token:
                raise ValueError(f"the Git token file {self.token_file} is empty")
            environment.update(basic_auth_environment(self.username, token))
        if self.ssh_key_file is not None or self.known_hosts_file is not None:
            environment["GIT_SSH_COMMAND"] = shlex.join(self._ssh_argv())
        return environment

    def _ssh_argv(self) -> list[str]:
        # BatchMode: ssh must fail rather than wait for a passphrase or a host key answer.
        argv = ["ssh", "-o", "BatchMode=yes"]
        if self.ssh_key_file is not None:
            argv += ["-i", str(self.ssh_key_file), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts_file is not None:
            known_hosts = str(self.known_hosts_file)
            # ssh splits option values on whitespace unless they are double-quoted.
            if any(c.isspace() for c in known_hosts):
                known_hosts = f'"{known_hosts}"'
            argv += [
                "-o",
                f"UserKnownHostsFile={known_hosts}",
                "-o",
                "StrictHostKeyChecking=yes",
            ]
        return argv


def basic_auth_environment(username: str, secret: str) -> dict[str, str]:
    """Environment that makes git send HTTP basic auth, through config read from variables.

    ``GIT_CONFIG_COUNT`` (git ≥ 2.31) keeps the header out of argv and out of any config file.
    """
    encoded = base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")
    return {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": _BASIC + encoded,
    }


def secrets(environment: Mapping[str, str]) -> frozenset[str]:
    """Every secret value an environment from this module carries, to redact from messages."""
    found: set[str] = set()
    for key, value in environment.items():
        if not (key.startswith("GIT_CONFIG_VALUE_") and value.startswith(_BASIC)):
            continue
        encoded = value.removeprefix(_BASIC)
        found.add(encoded)
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
            continue
        found.add(decoded)
        found.add(decoded.partition(":")[2])
    return frozenset(value for value in found if value)
