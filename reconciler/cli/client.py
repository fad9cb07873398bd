"""Talking to a running service: the server URL and API token from flags or the environment.

Used by ``fire``, ``executions``, ``status`` and ``suspend``. Every failure becomes a message
for a person (which server, what it answered) and exit code 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from reconciler.cli.output import fail

ServerOption = Annotated[
    str,
    typer.Option("--server", envvar="RECONCILER_SERVER", help="URL of the running service"),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token-file",
        envvar="RECONCILER_TOKEN_FILE",
        help="file holding an API token (or set RECONCILER_TOKEN)",
    ),
]
DEFAULT_SERVER = "http://127.0.0.1:8080"


class Client:
    def __init__(
        self, server: str, token_file: str | None = None, token: str | None = None
    ) -> None:
        self.server = server.rstrip("/")
        if token_file:
            try:
                token = Path(token_file).read_text().strip()
            except OSError as exc:
                raise fail(f"--token-file {token_file}: cannot read it ({exc.strerror})") from exc
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        # Always a JSON body: the service refuses any other POST (415), so that web pages
        # cannot post to it across sites.
        return self._send("POST", path, json={} if body is None else body)

    def _send(self, method: str, path: str, **options: Any) -> Any:
        import httpx

        try:
            # A connection per request, closed at once: a command sends one or two (``watch``
            # one per poll), and none is left open when the CLI runs in-process (tests).
            with httpx.Client(base_url=self.server, headers=self._headers, timeout=30.0) as http:
                response = http.request(method, path, **options)
        except httpx.HTTPError as exc:
            raise fail(
                f"cannot reach the service at {self.server} ({type(exc).__name__}: {exc}); is "
                "`reconciler run` running? (--server or RECONCILER_SERVER)"
            ) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            hint = _HINTS.get(response.status_code, "")
            raise fail(f"{method} {path}: {response.status_code}: {detail}{hint}")
        return response.json()


_HINTS = {
    401: " (give an API token: --token-file, RECONCILER_TOKEN_FILE or RECONCILER_TOKEN)",
    421: " (use the service's address, or add this name to its --allowed-hosts)",
}


def connect(server: str, token_file: str | None) -> Client:
    return Client(server, token_file, os.environ.get("RECONCILER_TOKEN"))
