"""``--repo`` to a source: a Git repository (remote or local) or a plain folder.

The service calls :func:`open_source` once at start with its ``--repo``, ``--branch`` and
``--path`` settings; the reconcile loop then polls a :class:`GitSource` or watches a
:class:`DirectorySource`.
"""

from __future__ import annotations

from pathlib import Path

import git

from reconciler.source.credentials import Credentials
from reconciler.source.directory import DirectorySource
from reconciler.source.gitsource import GitSource, SourceError
from reconciler.source.signatures import Mode, Verifier
from reconciler.source.urls import is_url


def open_source(
    repo: str,
    *,
    branch: str = "main",
    path: str = "",
    cache_dir: Path,
    credentials: Credentials | None = None,
    verify: Mode = "none",
    trusted_keys: str = "",
    allow_insecure_http: bool = False,
) -> GitSource | DirectorySource:
    """A :class:`GitSource` for a URL or a local Git repository, else a :class:`DirectorySource`.

    A local repository is read through its commits on ``branch`` (as a remote would be), not
    through its working tree: uncommitted edits are not seen. ``verify`` (with the keys in
    ``trusted_keys``) needs commits, so it refuses a plain folder.
    """
    verifier = _verifier(verify, trusted_keys)

    def git_source(url: str) -> GitSource:
        return GitSource(
            url,
            branch=branch,
            path=path,
            cache_dir=cache_dir,
            credentials=credentials,
            verifier=verifier,
            allow_insecure_http=allow_insecure_http,
        )

    if is_url(repo):
        return git_source(repo)
    location = Path(repo).expanduser()
    if not location.exists():
        raise SourceError(f"--repo: no such file or directory: {repo}")
    if not location.is_dir():
        raise SourceError(f"--repo: not a folder nor a Git repository: {repo}")
    if _is_repository(location):
        return git_source(location.resolve().as_uri())
    if verifier is not None:
        raise SourceError(
            f"--verify {verify}: {repo} is a plain folder, with no commits to verify; "
            "point --repo at a Git repository, or set --verify none"
        )
    return DirectorySource(location, path=path)


def _verifier(verify: Mode, trusted_keys: str) -> Verifier | None:
    if verify == "none":
        return None
    if not trusted_keys:
        raise SourceError(f"--verify {verify} needs --trusted-keys PATH: the keys to trust")
    return Verifier(verify, Path(trusted_keys).expanduser())


def _is_repository(location: Path) -> bool:
    # Only the folder itself: a plain folder inside a checkout (example-repo/ in this project)
    # is a folder to watch, not the checkout around it.
    try:
        git.Repo(location, search_parent_directories=False).close()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return True
