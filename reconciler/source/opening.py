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
from reconciler.source.gitsource import GitSource, SourceError, is_url


def open_source(
    repo: str,
    *,
    branch: str = "main",
    path: str = "",
    cache_dir: Path,
    credentials: Credentials | None = None,
) -> GitSource | DirectorySource:
    """A :class:`GitSource` for a URL or a local Git repository, else a :class:`DirectorySource`.

    A local repository is read through its commits on ``branch`` (as a remote would be), not
    through its working tree: uncommitted edits are not seen.
    """
    if is_url(repo):
        return GitSource(
            repo, branch=branch, path=path, cache_dir=cache_dir, credentials=credentials
        )
    location = Path(repo).expanduser()
    if not location.exists():
        raise SourceError(f"--repo: no such file or directory: {repo}")
    if not location.is_dir():
        raise SourceError(f"--repo: not a folder nor a Git repository: {repo}")
    if _is_repository(location):
        return GitSource(
            location.resolve().as_uri(),
            branch=branch,
            path=path,
            cache_dir=cache_dir,
            credentials=credentials,
        )
    return DirectorySource(location, path=path)


def _is_repository(location: Path) -> bool:
    # Only the folder itself: a plain folder inside a checkout (example-repo/ in this project)
    # is a folder to watch, not the checkout around it.
    try:
        git.Repo(location, search_parent_directories=False).close()
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    return True
