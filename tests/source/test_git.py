"""``GitSource``, ``Credentials`` and ``open_source`` against real repositories, never mocks.

Remotes are bare repositories on disk, pushed to from a work tree with the git CLI; the HTTP
tests serve them through ``git http-backend`` behind a small server on ``127.0.0.1:0`` that
checks basic auth. Every test runs with its own Git identity and without the machine's Git
configuration (a fresh CI machine has neither).
"""

from __future__ import annotations

import base64
import http.server
import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.source.credentials import Credentials, secrets
from reconciler.source.directory import DirectorySource
from reconciler.source.gitsource import GitSource, SourceError
from reconciler.source.opening import open_source

EXAMPLE_REPO = Path(__file__).parents[2] / "example-repo"


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{name}_NAME", "Reconciler Tests")
        monkeypatch.setenv(f"GIT_{name}_EMAIL", "tests@reconciler.invalid")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)


def run_git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Remote:
    """A bare repository and a work tree that commits and pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        run_git("init", "--quiet", "--bare", "-b", "main", str(self.bare))
        run_git("init", "--quiet", "-b", "main", str(self.work))

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, message: str, files: dict[str, str | None]) -> str:
        """Write (or, for None, delete) files, commit them all and return the commit's sha."""
        for name, content in files.items():
            file = self.work / name
            if content is None:
                file.unlink()
            else:
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(content)
        run_git("add", "--all", cwd=self.work)
        run_git("commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        return run_git("rev-parse", "HEAD", cwd=self.work)

    def push(self, branch: str = "main", *, force: bool = False) -> None:
        flags = ["--force"] if force else []
        run_git(
            "push", "--quiet", *flags, str(self.bare), f"HEAD:refs/heads/{branch}", cwd=self.work
        )


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "origin")


def source_for(remote: Remote, tmp_path: Path, **options: str) -> GitSource:
    return GitSource(remote.url, cache_dir=tmp_path / "cache", **options)


def test_head_is_the_pushed_commit(remote: Remote, tmp_path: Path) -> None:
    sha = remote.commit("first", {"a.yaml": "a: 1\n"})
    remote.push()

    assert source_for(remote, tmp_path).head() == sha


def test_snapshot_has_exactly_the_yaml_files_of_the_commit(remote: Remote, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE_REPO, remote.work / "definitions")
    sha = remote.commit("Add the example repository\n\nWith a body.", {"README.md": "# x\n"})
    remote.push()
    expected = {
        file.relative_to(EXAMPLE_REPO).as_posix(): file.read_bytes()
        for file in EXAMPLE_REPO.rglob("*")
        if file.is_file() and file.suffix in {".yaml", ".yml"}  # nothing else is read
    }

    whole = source_for(remote, tmp_path).snapshot(sha)
    under = source_for(remote, tmp_path, path="definitions/").snapshot(sha)

    assert whole.revision == sha
    assert whole.message == "Add the example repository"
    assert whole.files == {f"definitions/{k}": v for k, v in expected.items()}
    assert under.files == expected


def test_a_new_push_is_seen_and_its_snapshot_read(remote: Remote, tmp_path: Path) -> None:
    source = source_for(remote, tmp_path)
    first = remote.commit("first", {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    remote.push()
    assert source.snapshot(source.head()).files == {"a.yaml": b"a: 1\n", "b.yaml": b"b: 1\n"}

    second = remote.commit("second", {"a.yaml": "a: 2\n", "b.yaml": None})
    remote.push()

    assert source.head() == second != first
    assert source.snapshot(second).files == {"a.yaml": b"a: 2\n"}
    assert source.snapshot(first).files == {"a.yaml": b"a: 1\n", "b.yaml": b"b: 1\n"}


def test_a_force_push_replaces_the_branch(remote: Remote, tmp_path: Path) -> None:
    source = source_for(remote, tmp_path)
    remote.commit("base", {"a.yaml": "a: 1\n"})
    old = remote.commit("to be rewritten", {"b.yaml": "b: 1\n"})
    remote.push()
    source.snapshot(source.head())

    run_git("reset", "--quiet", "--hard", "HEAD~1", cwd=remote.work)
    new = remote.commit("rewritten", {"c.yaml": "c: 1\n"})
    remote.push(force=True)

    is_ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", old, new], cwd=remote.work)
    assert is_ancestor.returncode == 1
    assert source.head() == new
    assert source.snapshot(new).files == {"a.yaml": b"a: 1\n", "c.yaml": b"c: 1\n"}


def test_a_commit_the_branch_moved_past_can_still_be_read(remote: Remote, tmp_path: Path) -> None:
    source = source_for(remote, tmp_path)
    first = remote.commit("first", {"a.yaml": "a: 1\n"})
    remote.push()
    remote.commit("second", {"a.yaml": "a: 2\n"})
    remote.push()

    # The branch is fetched with depth 1, so the older commit is fetched by its sha.
    assert source.snapshot(first).files == {"a.yaml": b"a: 1\n"}


def test_a_commit_that_is_nowhere_is_an_error(remote: Remote, tmp_path: Path) -> None:
    remote.commit("first", {"a.yaml": "a: 1\n"})
    remote.push()

    with pytest.raises(SourceError, match=r"commit 0{12} is not on branch main of file://"):
        source_for(remote, tmp_path).snapshot("0" * 40)
    with pytest.raises(SourceError, match="not a full commit sha"):
        source_for(remote, tmp_path).snapshot("--upload-pack=touch")


def test_symlinks_and_submodule_links_are_left_out(remote: Remote, tmp_path: Path) -> None:
    remote.commit("first", {"a.yaml": "a: 1\n", ".hidden.yaml": "h: 1\n"})
    (remote.work / "link.yaml").symlink_to("/etc/passwd")
    sha = remote.commit("link", {})
    remote.push()

    # Dot-files are kept: skipping them is the loader's business, as for any other file.
    assert set(source_for(remote, tmp_path).snapshot(sha).files) == {"a.yaml", ".hidden.yaml"}


def test_a_missing_branch_is_a_clear_error(remote: Remote, tmp_path: Path) -> None:
    remote.commit("first", {"a.yaml": "a: 1\n"})
    remote.push()

    with pytest.raises(SourceError, match=r"^branch 'release' not found in file://.*remote\.git$"):
        source_for(remote, tmp_path, branch="release").head()


def test_a_missing_path_is_a_clear_error(remote: Remote, tmp_path: Path) -> None:
    sha = remote.commit("first", {"defs/a.yaml": "a: 1\n"})
    remote.push()

    with pytest.raises(
        SourceError, match=rf"^path 'other/defs' not found in commit {sha[:12]} of branch main$"
    ):
        source_for(remote, tmp_path, path="other/defs").snapshot(sha)
    with pytest.raises(SourceError, match="is not a folder"):
        source_for(remote, tmp_path, path="defs/a.yaml").snapshot(sha)
    with pytest.raises(SourceError, match="must stay inside the repository"):
        source_for(remote, tmp_path, path="../x")


def test_a_missing_repository_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.git"

    with pytest.raises(SourceError, match="no such Git repository"):
        GitSource(str(missing), cache_dir=tmp_path / "cache").head()
    with pytest.raises(SourceError, match="no such file or directory"):
        open_source(str(missing), cache_dir=tmp_path / "cache")


def test_invalid_branch_names_are_refused(tmp_path: Path) -> None:
    for branch in ("", "-x", "a..b", "a:b", "a b", "x/", "*"):
        with pytest.raises(SourceError, match="not a valid branch name"):
            GitSource("https://example.invalid/x.git", branch=branch, cache_dir=tmp_path)


def test_url_credentials_are_never_shown(tmp_path: Path) -> None:
    source = GitSource("https://user:secret@127.0.0.1:9/x.git", cache_dir=tmp_path)
    started = time.monotonic()

    with pytest.raises(SourceError) as raised:
        source.head()  # nothing listens on port 9: the connection is refused at once

    assert time.monotonic() - started < 10
    assert source.describe() == "https://127.0.0.1:9/x.git"
    assert "secret" not in str(raised.value)
    assert str(raised.value).startswith("cannot list the branches of https://127.0.0.1:9/x.git: ")
    assert GitSource("ssh://git:pw@host/x", cache_dir=tmp_path).describe() == "ssh://git@host/x"


def test_a_token_file_is_never_shown(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_not-a-real-token\n")
    credentials = Credentials(token_file=token)
    source = GitSource("https://127.0.0.1:9/x.git", cache_dir=tmp_path, credentials=credentials)

    with pytest.raises(SourceError) as raised:
        source.head()

    assert "ghp_" not in str(raised.value)
    token.unlink()
    with pytest.raises(SourceError, match="cannot read the Git credentials"):
        source.head()


# --- Credentials -----------------------------------------------------------------------------


def test_a_token_travels_only_in_the_environment(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")

    environment = Credentials(token_file=token, username="x-access-token").environment()

    header = "Authorization: Basic " + base64.b64encode(b"x-access-token:s3cr3t-token").decode()
    assert environment == {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": header,
    }
    assert "s3cr3t-token" in secrets(environment)
    token.write_text("")
    with pytest.raises(ValueError, match="empty"):
        Credentials(token_file=token).environment()


def test_ssh_options_parse_back_to_the_expected_argv(tmp_path: Path) -> None:
    key = tmp_path / "deploy key"  # a space, to prove the quoting
    known_hosts = tmp_path / "known_hosts"

    environment = Credentials(ssh_key_file=key, known_hosts_file=known_hosts).environment()

    assert environment["GIT_TERMINAL_PROMPT"] == "0"
    assert shlex.split(environment["GIT_SSH_COMMAND"]) == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    assert Credentials().environment() == {"GIT_TERMINAL_PROMPT": "0"}


def test_credentials_come_from_reconciler_variables() -> None:
    environ = {
        "RECONCILER_GIT_SSH_KEY_FILE": "/secrets/key",
        "RECONCILER_GIT_KNOWN_HOSTS_FILE": "",
        "RECONCILER_GIT_TOKEN_FILE": "/secrets/token",
        "RECONCILER_GIT_USERNAME": "x-access-token",
    }

    assert Credentials.from_environment(environ) == Credentials(
        ssh_key_file=Path("/secrets/key"),
        token_file=Path("/secrets/token"),
        username="x-access-token",
    )
    assert Credentials.from_environment({}) == Credentials()


# --- over HTTP, with basic auth ----------------------------------------------------------------


class GitServer(http.server.ThreadingHTTPServer):
    """Smart HTTP through ``git http-backend``; refuses requests without ``authorization``."""

    def __init__(self, root: Path, authorization: str) -> None:
        super().__init__(("127.0.0.1", 0), GitHandler)
        self.root = root
        self.authorization = authorization
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class GitHandler(http.server.BaseHTTPRequestHandler):
    server: GitServer

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def serve(self) -> None:
        self.server.requests.append(self.path)
        if self.headers.get("Authorization") != self.server.authorization:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        # Requests of these tests are small: git sends them with a Content-Length, not chunked.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        environment = {
            "PATH": os.environ["PATH"],
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=environment, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")  # CGI headers, then the body
        headers = [line.partition(":")[::2] for line in head.decode().splitlines() if line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "status":
                self.send_header(name, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def server(remote: Remote) -> Iterator[GitServer]:
    if not (Path(run_git("--exec-path")) / "git-remote-http").exists():
        pytest.skip("this git has no HTTP transport (git-remote-http)")
    served = GitServer(remote.bare.parent, basic("x-access-token", "t0ken-one"))
    thread = threading.Thread(target=served.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()
    thread.join(timeout=10)


def test_a_token_authenticates_over_https_and_is_read_on_use(
    remote: Remote, server: GitServer, tmp_path: Path
) -> None:
    sha = remote.commit("first", {"a.yaml": "a: 1\n"})
    remote.push()
    token = tmp_path / "token"
    token.write_text("t0ken-one\n")
    credentials = Credentials(token_file=token, username="x-access-token")
    source = GitSource(
        f"{server.url}/remote.git",
        cache_dir=tmp_path / "cache",
        credentials=credentials,
        allow_insecure_http=True,  # the test server has no TLS
    )

    assert source.head() == sha
    assert source.snapshot(sha).files == {"a.yaml": b"a: 1\n"}
    served = len(server.requests)
    assert source.snapshot(sha).files == {"a.yaml": b"a: 1\n"}
    assert len(server.requests) == served  # a commit already in the mirror is not fetched again

    server.authorization = basic("x-access-token", "t0ken-two")  # the Secret is rotated
    with pytest.raises(SourceError) as raised:
        source.head()
    assert "t0ken" not in str(raised.value)
    token.write_text("t0ken-two\n")
    assert source.head() == sha


def test_a_password_in_the_url_is_sent_as_a_header(
    remote: Remote, server: GitServer, tmp_path: Path
) -> None:
    sha = remote.commit("first", {"a.yaml": "a: 1\n"})
    remote.push()
    server.authorization = basic("me", "p@ss word")
    url = server.url.replace("http://", "http://me:p%40ss%20word@") + "/remote.git"
    source = GitSource(url, cache_dir=tmp_path / "cache", allow_insecure_http=True)

    assert source.head() == sha
    assert source.snapshot(sha).files == {"a.yaml": b"a: 1\n"}
    assert "word" not in source.describe()


def test_a_remote_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never answers
        port = listener.getsockname()[1]
        source = GitSource(f"http://127.0.0.1:{port}/x.git", cache_dir=tmp_path, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(SourceError, match="did not finish within 1s"):
            source.head()
        assert time.monotonic() - started < 10


# --- open_source -----------------------------------------------------------------------------


def test_open_source_picks_git_for_urls_and_repositories(remote: Remote, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for url in ("https://github.com/org/repo.git", "git@github.com:org/repo.git", remote.url):
        assert isinstance(open_source(url, cache_dir=cache), GitSource)
    for repository in (remote.bare, remote.work):
        opened = open_source(str(repository), cache_dir=cache)
        assert isinstance(opened, GitSource)
        assert opened.describe() == repository.resolve().as_uri()


def test_open_source_picks_a_folder_for_plain_folders(remote: Remote, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    inside_a_checkout = remote.work / "definitions"
    inside_a_checkout.mkdir()

    for folder in (plain, inside_a_checkout):
        assert isinstance(open_source(str(folder), cache_dir=tmp_path / "cache"), DirectorySource)
