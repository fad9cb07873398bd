"""``reconciler run``: the service (Git loop, webhook, API, executions) under uvicorn.

Settings come from flags, ``RECONCILER_*`` environment variables (a flag wins) and a settings
file (``--config``, YAML with the same names: ``repo``, ``state_dir``, ...), onto
:class:`~reconciler.settings.ServiceSettings`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.output import fail
from reconciler.errors import InputError, ReconcilerError

if TYPE_CHECKING:
    from reconciler.settings import ServiceSettings


def _option(help_text: str, name: str) -> Any:
    return typer.Option(help=help_text, envvar=f"RECONCILER_{name.upper()}", show_default=False)


def run(
    ctx: typer.Context,
    repo: Annotated[
        str | None, _option("Git URL (https, ssh, file://) or local path", "repo")
    ] = None,
    branch: Annotated[str | None, _option("branch to follow [main]", "branch")] = None,
    path: Annotated[str | None, _option("subfolder holding the definitions", "path")] = None,
    interval: Annotated[
        str | None, _option("time between polls: 30s, 5m, 1h30m, or seconds [30s]", "interval")
    ] = None,
    state_dir: Annotated[
        str | None, _option("store and Git cache folder [.reconciler]", "state_dir")
    ] = None,
    store: Annotated[
        str | None, _option("sqlite:///PATH [STATE_DIR/reconciler.db]", "store")
    ] = None,
    listen: Annotated[
        str | None, _option("HOST:PORT to serve on [127.0.0.1:8080]", "listen")
    ] = None,
    webhook_token_file: Annotated[
        str | None, _option("bearer token Alertmanager must send", "webhook_token_file")
    ] = None,
    api_token_file: Annotated[
        str | None, _option("named API tokens, `name: token` per line", "api_token_file")
    ] = None,
    allowed_hosts: Annotated[
        str | None,
        _option("other Host names to answer to, comma-separated (* any)", "allowed_hosts"),
    ] = None,
    secrets_dir: Annotated[
        str | None, _option("mounted secrets for secret()", "secrets_dir")
    ] = None,
    dry_run: Annotated[bool | None, _option("every execution in dry-run mode", "dry_run")] = None,
    cluster: Annotated[
        str | None, _option("auto, kubeconfig, in-cluster, none or sim:PATH [auto]", "cluster")
    ] = None,
    sim_kubeconfig: Annotated[
        str | None,
        _option("with --cluster sim:PATH, write a kubeconfig for it here", "sim_kubeconfig"),
    ] = None,
    prometheus_url: Annotated[
        str | None,
        _option("Prometheus base URL of prometheus.query steps without url:", "prometheus_url"),
    ] = None,
    max_running_executions: Annotated[
        int | None, _option("cap on running executions [1000]", "max_running_executions")
    ] = None,
    max_running_steps: Annotated[
        int | None, _option("cap on running steps [256]", "max_running_steps")
    ] = None,
    max_queued_alerts: Annotated[
        int | None, _option("alerts not yet evaluated before 503 [10000]", "max_queued_alerts")
    ] = None,
    max_deliveries_in_flight: Annotated[
        int | None,
        _option("webhook deliveries handled at once before 503 [128]", "max_deliveries_in_flight"),
    ] = None,
    max_bytes_in_flight: Annotated[
        int | None,
        _option("webhook body bytes in flight before 503 [33554432]", "max_bytes_in_flight"),
    ] = None,
    verify: Annotated[
        str | None,
        _option("adopt only commits signed by a trusted key: ssh, gpg or none", "verify"),
    ] = None,
    trusted_keys: Annotated[
        str | None, _option("file or folder of public keys trusted to sign", "trusted_keys")
    ] = None,
    allow_rewind: Annotated[
        bool | None, _option("adopt a move of the branch to an older commit", "allow_rewind")
    ] = None,
    allow_insecure_http: Annotated[
        bool | None, _option("allow Git credentials over plain http://", "allow_insecure_http")
    ] = None,
    allow_protected_namespaces: Annotated[
        bool | None,
        _option(
            "let actions change kube-system and reconciler's own namespace [refused]",
            "allow_protected_namespaces",
        ),
    ] = None,
    own_namespace: Annotated[
        str | None, _option("reconciler's own namespace, protected [reconciler]", "own_namespace")
    ] = None,
    shell_jobs_enabled: Annotated[
        bool | None,
        _option("let shell with image: run Kubernetes Jobs [off]", "shell_jobs_enabled"),
    ] = None,
    shell_job_namespaces: Annotated[
        str | None,
        _option("namespaces shell Jobs may run in, comma-separated", "shell_job_namespaces"),
    ] = None,
    retention: Annotated[
        str | None,
        _option(
            "delete finished executions this long after they end: 30d, 12h [0: keep]", "retention"
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="settings file (YAML)", envvar="RECONCILER_CONFIG")
    ] = None,
) -> None:
    """Run the service: poll Git, serve the Alertmanager webhook and the API, execute."""
    given = {k: v for k, v in locals().items() if k not in ("config", "ctx") and v is not None}
    # The service and the HTTP server load here, with this command only: every other command
    # (and `reconciler --help`) starts without them (SPEC §3, tests/cli/test_imports.py).
    import structlog
    import uvicorn
    from pydantic import ValidationError

    from reconciler.app.auth import api_tokens, webhook_token
    from reconciler.app.http import create_app
    from reconciler.app.service import Service, store_path, tune_gc
    from reconciler.store.lock import StoreLock

    log = structlog.get_logger("reconciler.service")
    try:
        settings = _settings(config, given, _origins(ctx, given))
        host, port = _listen(settings.listen)
        webhook, api = (
            webhook_token(settings.webhook_token_file),
            api_tokens(settings.api_token_file),
        )
        # One instance per store: refused here, before anything starts or serves.
        lock = StoreLock(store_path(settings))
        lock.acquire()
    except (ReconcilerError, ValidationError) as exc:
        raise fail(str(exc)) from exc
    try:
        service = Service(settings, store_lock=lock)
    except (ReconcilerError, ValidationError) as exc:
        lock.release()
        raise fail(str(exc)) from exc
    if not ipaddress.ip_address(host).is_loopback and not api.enabled:
        log.warning(
            "the API is reachable from the network and --api-token-file is not set: control "
            "(approve, cancel, suspend, ...) is refused with 403 until it is",
            listen=settings.listen,
        )
    app = create_app(service, webhook=webhook, api=api)
    from reconciler.app.server import Server  # says where it serves once bound

    server = Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False), service
    )
    tune_gc()
    try:
        server.run()
    finally:
        lock.release()  # the store released it if it opened; this covers a failed start


def _origins(ctx: typer.Context, given: dict[str, Any]) -> dict[str, str]:
    """How to name each given setting in an error: its flag, or its environment variable."""
    origins = {}
    for name in given:
        # Compared by name: typer ships its own copy of click's ParameterSource.
        source = ctx.get_parameter_source(name)
        if getattr(source, "name", "") == "ENVIRONMENT":
            origins[name] = f"RECONCILER_{name.upper()}"
        else:
            origins[name] = "--" + name.replace("_", "-")
    return origins


def _settings(
    config: Path | None, given: dict[str, Any], origins: dict[str, str] | None = None
) -> ServiceSettings:
    """Settings from the file, then the flags and variables (which win); errors name where
    each bad value came from (flag, variable or settings-file key)."""
    import yaml
    from pydantic import ValidationError

    from reconciler.settings import ServiceSettings

    values: dict[str, Any] = {}
    if config is not None:
        try:
            loaded = yaml.safe_load(config.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"--config {config}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InputError(f"--config {config}: expected a mapping of settings")
        values.update(loaded)
    values.update(given)
    try:
        return ServiceSettings.model_validate(values)
    except ValidationError as exc:
        messages = []
        for error in exc.errors(include_url=False):
            key = ".".join(str(p) for p in error["loc"])
            if key in given:
                where = (origins or {}).get(key, "--" + key.replace("_", "-"))
            else:
                where = f"--config {config}: {key}" if config else key
            text = str(error["msg"]).removeprefix("Value error, ")
            messages.append(f"{where}: {text}")
        raise InputError("; ".join(messages)) from exc


def _listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    try:
        ipaddress.ip_address(host or "invalid")
        number = int(port)
    except ValueError as exc:
        raise InputError(f"--listen {listen!r}: expected HOST:PORT with an IP address") from exc
    return host, number
