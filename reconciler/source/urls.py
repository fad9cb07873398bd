"""Repository URLs as ``GitSource`` handles them: which ``--repo`` is a URL, and a URL without
its credentials (to show) or with its password taken out (to send as a header instead).

Used by :mod:`reconciler.source.gitsource` only.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from pathlib import Path

# scp-like syntax, as git reads it: a colon before any slash (`git@github.com:org/repo.git`).
_SCP_LIKE = re.compile(r"^[^/:]+:")


def is_url(repo: str) -> bool:
    """Whether git reads ``repo`` as a URL (``scheme://...`` or scp-like) rather than a path."""
    return "://" in repo or bool(_SCP_LIKE.match(repo))


def file_url(path: str) -> str:
    return Path(path).expanduser().resolve().as_uri()


def local_path(url: str) -> Path | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in {"", "localhost"}:
        return None
    return Path(urllib.request.url2pathname(parts.path))


def without_password(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its password, and the (user, password) http(s) can send as a header.

    Other schemes cannot use a password in the URL (ssh asks its own way): it is dropped.
    """
    if "://" not in url:
        return url, None
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    if parts.scheme not in {"http", "https"}:
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}")), None
    auth = (urllib.parse.unquote(user), urllib.parse.unquote(parts.password))
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), auth


def passwords(url: str) -> set[str]:
    """The password of a URL, as written and decoded, to redact from git's messages."""
    if "://" not in url:
        return set()
    password = urllib.parse.urlsplit(url).password
    return {password, urllib.parse.unquote(password)} - {""} if password else set()


def display_url(url: str) -> str:
    """``url`` without credentials: no user info on http(s) (a user name may be a token)."""
    if "://" not in url:
        return url
    parts = urllib.parse.urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    keep = "" if parts.scheme in {"http", "https"} or not user else f"{user}@"
    return urllib.parse.urlunsplit(parts._replace(netloc=keep + host))
