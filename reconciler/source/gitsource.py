"""A Git branch as a source of definitions: which commit it is at, and the files of a commit.

The service's reconcile loop polls :meth:`GitSource.head` (one ``git ls-remote``, no fetch; for a
repository on this machine one ``git rev-parse``) and, when the commit changed, takes a :meth:`GitSource.snapshot` of it: the commit is fetched into a
bare mirror under ``cache_dir`` and its tree is read from the object database, without a working
copy. Both block, so the loop calls them through ``asyncio.to_thread``, one call at a time.

Secrets never reach a command line or a message: a password in an ``https://`` URL is moved into
an HTTP header in the git process's environment (as a token file's is, see ``credentials.py``),
and everything git says is sanitized before it becomes a :class:`SourceError`. Credentials are
refused over plain ``http://`` unless ``allow_insecure_http``.

Before loading a new commit the loop also asks :meth:`GitSource.verify` (its signature, with
``--verify``) and :meth:`GitSource.descends` (whether the branch moved forward or was rewound).
Only YAML blobs are read, and none larger than ``max_file_bytes`` (their size is in the tree).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import stat
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import git

from reconciler.definitions.loader import is_yaml
from reconciler.errors import printable, sanitize
from reconciler.settings import DEFAULT
from reconciler.source import credentials as credentials_
from reconciler.source.credentials import Credentials
from reconciler.source.signatures import FORMAT, TrustError, Verification, Verifier
from reconciler.source.snapshot import Snapshot as Snapshot
from reconciler.source.snapshot import SourceError as SourceError
from reconciler.source.snapshot import folder as folder
from reconciler.source.urls import (
    display_url,
    file_url,
    is_url,
    local_path,
    passwords,
    without_password,
)

_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# What `git check-ref-format --branch` refuses, plus what would break a refspec (':', '*', '+').
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*+\[\\]|\.\.|@\{|//|^[-/.]|[/.]$|\.lock$|/\.")
# Let the maintenance a fetch may start run inside it, not as a detached process that outlives it.
_NO_DETACH = ("-c", "gc.autoDetach=false", "-c", "maintenance.autoDetach=false")


class GitSource:
    """One branch of one repository, read through a bare mirror under ``cache_dir``.

    ``repo`` is a URL (``https://``, ``ssh://``, ``git@host:org/repo.git``, ``file://``) or the
    path of a local repository, bare or not. ``path`` selects a folder of the repository.
    ``timeout`` bounds every git command that talks to the remote, in seconds.
    """

    def __init__(
        self,
        repo: str,
        *,
        branch: str = "main",
        path: str = "",
        cache_dir: Path,
        credentials: Credentials | None = None,
        timeout: float = 120.0,
        verifier: Verifier | None = None,
        allow_insecure_http: bool = False,
        max_file_bytes: int = DEFAULT.loader.max_file_bytes,
    ) -> None:
        if not branch or _BAD_BRANCH.search(branch):
            raise SourceError(f"--branch {branch!r} is not a valid branch name")
        if repo.startswith("-"):
            raise SourceError(f"--repo {repo!r} is neither a URL nor a path")
        self.branch = branch
        self.path = folder(path)
        self.cache_dir = cache_dir
        self.credentials = credentials
        self.timeout = timeout
        self.verifier = verifier
        self.max_file_bytes = max_file_bytes
        url = repo if is_url(repo) else file_url(repo)
        try:
            self._url, self._url_auth = without_password(url)
            self._display = display_url(self._url)
            self._secrets = frozenset(passwords(url))
        except ValueError:  # urlsplit: an invalid IPv6 host, for one
            raise SourceError(f"--repo {sanitize(repo)!r} is not a valid URL") from None
        has_token = credentials is not None and credentials.token_file is not None
        plain = urllib.parse.urlsplit(url).scheme == "http"  # urlsplit lowers the scheme
        if plain and (self._url_auth or has_token) and not allow_insecure_http:
            raise SourceError(
                f"--repo {self._display}: refusing to send Git credentials over plain http://, "
                "where anyone on the path can read them; use https://, or set "
                "--allow-insecure-http if this network is trusted"
            )
        if verifier is not None:
            try:
                verifier.check()
            except TrustError as exc:
                raise SourceError(str(exc)) from None
        self._ref = f"refs/heads/{branch}"
        key = f"{self._display}\n{branch}".encode()
        digest = hashlib.blake2b(key, digest_size=6).hexdigest()
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", self._display.rstrip("/").rsplit("/", 1)[-1])
        self._mirror = cache_dir / f"{name.removesuffix('.git')}-{digest}.git"
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The repository's location without credentials, for status and logs."""
        return self._display

    def head(self) -> str:
        """The commit the branch is at on the remote, without fetching anything."""
        local = local_path(self._url)
        if local is not None:
            return self._local_head(local)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        output = self._git(
            git.Git(self.cache_dir), "list the branches of", "ls-remote", "--", self._url, self._ref
        )
        for line in output.splitlines():
            sha, _, name = line.partition("\t")
            # ls-remote matches patterns on trailing path components: keep the exact ref only.
            if name == self._ref:
                return sha
        raise SourceError(f"branch {self.branch!r} not found in {self._display}")

    def snapshot(self, commit: str) -> Snapshot:
        """The files under ``path`` at ``commit`` (a full sha, as :meth:`head` returns)."""
        with self._lock, self._open_mirror() as mirror:
            found = self._fetched(mirror, commit)
            files, too_large = self._files(found)
            return Snapshot(commit, files, _subject(found), too_large)

    def fetch(self, commit: str) -> None:
        """Bring ``commit`` into the mirror (a no-op when it is there)."""
        with self._lock, self._open_mirror() as mirror:
            self._fetched(mirror, commit)

    def verify(self, commit: str) -> Verification | None:
        """Whether ``commit`` (fetched) is signed by a trusted key; None without ``--verify``."""
        if self.verifier is None:
            return None
        with self._lock, self._open_mirror() as mirror:
            self._fetched(mirror, commit)
            try:
                with self.verifier.session() as (config, environment):
                    status, output, errors = self._execute(
                        mirror.git,
                        [*config, "show", "-s", FORMAT, commit],
                        environment,
                        self.timeout,
                    )
            except (TrustError, OSError) as exc:
                raise SourceError(str(exc)) from None
        if status != 0:
            raise self._error("verify a commit of", errors, {})
        return self.verifier.judge(commit, output)

    def descends(self, old: str, new: str) -> bool:
        """Whether ``new`` is ``old`` or a descendant of it: the branch moved forward.

        The mirror is shallow: history is fetched back to ``old``'s date (and a day, for clock
        skew) and, if that does not join them, all of it, before answering no.
        """
        if old == new:
            return True
        with self._lock, self._open_mirror() as mirror:
            self._fetched(mirror, new)
            if self._is_ancestor(mirror, old, new):
                return True
            old_commit = _commit(mirror, old) if _SHA.match(old) else None
            if old_commit is not None and (self._mirror / "shallow").is_file():
                since = int(old_commit.committed_date) - 86_400
                self._fetch(mirror, self._branch_refspec(), f"--shallow-since=@{since}")
                if self._is_ancestor(mirror, old, new):
                    return True
            if (self._mirror / "shallow").is_file():
                self._fetch(mirror, self._branch_refspec(), "--unshallow")
            return self._is_ancestor(mirror, old, new)

    def _is_ancestor(self, mirror: git.Repo, old: str, new: str) -> bool:
        status, _, errors = self._execute(
            mirror.git, ["merge-base", "--is-ancestor", old, new], timeout=self.timeout
        )
        # 1: not an ancestor; 128: old is not in the mirror (gone from the branch's history).
        if status in (0, 1) or "Not a valid" in errors or "not a valid" in errors:
            return status == 0
        raise self._error("compare commits of", errors, {})

    def _branch_refspec(self) -> str:
        # --force and '+': a force-pushed branch replaces the mirror's copy of it.
        return f"+{self._ref}:refs/remotes/origin/{self.branch}"

    def _fetched(self, mirror: git.Repo, commit: str) -> git.Commit:
        if not _SHA.match(commit):
            raise SourceError(f"{commit!r} is not a full commit sha")
        found = _commit(mirror, commit)
        if found is None:
            self._fetch(mirror, self._branch_refspec())
            found = _commit(mirror, commit)
        if found is None:
            # The branch moved on since head(): ask for the commit itself, which servers
            # grant for commits still reachable from a branch (protocol v2).
            with contextlib.suppress(SourceError):
                self._fetch(mirror, commit)
            found = _commit(mirror, commit)
        if found is None:
            raise SourceError(
                f"commit {commit[:12]} is not on branch {self.branch} of {self._display}"
            )
        return found

    def _local_head(self, path: Path) -> str:
        # A local repository is read in place: one process instead of ls-remote's three
        # (git, sh, upload-pack), which keeps a poll of a file:// repository at a few ms.
        try:
            repository = git.Repo(path)
        except git.NoSuchPathError:
            raise SourceError(f"no such Git repository: {path}") from None
        except git.InvalidGitRepositoryError:
            raise SourceError(f"not a Git repository: {path}") from None
        with repository:
            status, output, errors = self._execute(
                repository.git,
                ["rev-parse", "--verify", "--quiet", f"{self._ref}^{{commit}}"],
                timeout=None,  # a local read: gitpython's watchdog thread would double its cost
            )
        if status != 0 and errors.strip():  # --quiet: a missing branch says nothing
            raise self._error("read", errors, {})  # "dubious ownership", for one
        if status != 0:
            raise SourceError(f"branch {self.branch!r} not found in {self._display}")
        return output.strip()

    def _open_mirror(self) -> git.Repo:
        if not (self._mirror / "HEAD").is_file():
            self._mirror.mkdir(parents=True, exist_ok=True)
            self._git(git.Git(self._mirror), "create a cache for", "init", "--quiet", "--bare")
        try:
            return git.Repo(self._mirror)
        except git.GitError as exc:
            raise SourceError(
                f"the Git cache {self._mirror} of {self._display} is unusable ({type(exc).__name__}); delete it to start over"
            ) from None

    def _fetch(self, mirror: git.Repo, refspec: str, depth: str = "--depth=1") -> None:
        self._git(
            mirror.git,
            "fetch from",
            *_NO_DETACH,
            "fetch",
            "--quiet",
            "--no-tags",
            "--force",
            depth,
            "--",
            self._url,
            refspec,
        )

    def _files(self, commit: git.Commit) -> tuple[dict[str, bytes], dict[str, int]]:
        tree = commit.tree
        where = f"commit {commit.hexsha[:12]} of branch {self.branch}"
        if self.path:
            try:
                found = tree / self.path
            except KeyError:
                raise SourceError(f"path {printable(self.path)!r} not found in {where}") from None
            if not isinstance(found, git.Tree):
                raise SourceError(f"path {printable(self.path)!r} is not a folder in {where}")
            tree = found
        cut = len(self.path) + 1 if self.path else 0
        files: dict[str, bytes] = {}
        too_large: dict[str, int] = {}
        trees = [tree]
        while trees:
            current = trees.pop()
            for blob in current.blobs:
                # A symlink's blob is its target's name, which may point outside the repository.
                # Other files are never read: the loader reads YAML only, and a commit may carry
                # a 250 MB archive (its size is known from the object's header, unread).
                if stat.S_ISLNK(blob.mode) or not is_yaml(blob.name):
                    continue
                name = os.fspath(blob.path)[cut:]
                if blob.size > self.max_file_bytes:
                    too_large[name] = blob.size
                else:
                    files[name] = blob.data_stream.read()
            # Submodules are neither blobs nor trees: they are left out.
            trees.extend(current.trees)
        return files, too_large

    def _git(self, runner: git.Git, doing: str, *args: str) -> str:
        environment = self._environment()
        status, output, errors = self._execute(runner, list(args), environment, self.timeout)
        if status == -signal.SIGKILL:  # gitpython's watchdog killed it
            errors = f"fatal: git did not finish within {self.timeout:g}s"
        if status != 0:
            raise self._error(doing, errors, environment)
        return output

    def _execute(
        self,
        runner: git.Git,
        args: list[str],
        environment: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, str, str]:
        try:
            return runner.execute(
                [str(runner.GIT_PYTHON_GIT_EXECUTABLE or "git"), *args],
                with_extended_output=True,
                with_exceptions=False,
                kill_after_timeout=timeout,
                env=environment,
            )
        except git.GitCommandNotFound:
            raise SourceError("git is not installed (or not on PATH)") from None

    def _environment(self) -> dict[str, str]:
        environment = {"GIT_TERMINAL_PROMPT": "0"}
        has_token = self.credentials is not None and self.credentials.token_file is not None
        if self._url_auth is not None and not has_token:
            environment.update(credentials_.basic_auth_environment(*self._url_auth))
        if self.credentials is not None:
            try:
                environment.update(self.credentials.environment())
            except (OSError, ValueError) as exc:
                raise SourceError(
                    f"cannot read the Git credentials for {self._display}: {exc}"
                ) from None
        return environment

    def _error(self, doing: str, errors: str, environment: Mapping[str, str]) -> SourceError:
        lines = [line.strip() for line in errors.splitlines() if line.strip()]
        # git's own words are after "fatal:"/"error:"; the rest is advice ("Please make sure...").
        said = [
            line.partition(":")[2].strip()
            for line in lines
            if line.startswith(("fatal:", "error:"))
        ]
        detail = "; ".join(said or lines[-1:]) or "git failed without saying why"
        secrets = self._secrets | credentials_.secrets(environment)
        return SourceError(sanitize(f"cannot {doing} {self._display}: {detail}", secrets))


def _commit(mirror: git.Repo, sha: str) -> git.Commit | None:
    # Not mirror.commit(sha): for a full sha gitpython trusts it and fails only on first use.
    binary = bytes.fromhex(sha)
    try:
        kind = mirror.odb.info(binary).type
    except ValueError:  # "could not be resolved": not in the mirror (yet)
        return None
    return git.Commit(mirror, binary) if kind == b"commit" else None


def _subject(commit: git.Commit) -> str:
    summary = commit.summary
    return summary if isinstance(summary, str) else summary.decode("utf-8", "replace")
