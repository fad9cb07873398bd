"""The engine's own settings: one root of documented sections with safe defaults.

Modelled on kopf's ``OperatorSettings``. Later, CLI flags, ``RECONCILER_*`` environment variables
and the settings file map 1:1 onto these fields. Everything below ``settings`` in the layer graph
may read them; nothing here imports the rest of the package but :mod:`reconciler.durations`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from reconciler.durations import parse_flexible


def _seconds(value: Any) -> Any:
    """``30s``, ``5m``, ``1h30m``, ``500ms`` or a bare number of seconds, as float seconds."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return parse_flexible(value).total_seconds()


# A duration setting: written as users write durations (SPEC §3), held as float seconds.
Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoaderLimits(_Section):
    """Bounds on what one repository may make the loader do (hostile or broken YAML)."""

    max_file_bytes: int = Field(1024 * 1024, description="largest YAML file read, in bytes")
    max_documents_per_file: int = Field(200, description="most YAML documents in one file")
    max_alias_expansion: int = Field(
        10_000, description="most nodes YAML aliases may add to one file once expanded"
    )
    max_depth: int = Field(64, description="deepest nesting of mappings and sequences")
    max_files: int = Field(10_000, description="most YAML files in one repository")
    # Memory follows the node count (~350 bytes a node, loaded), not the bytes: a 1 MiB flow
    # list of 350,000 one-letter items took ~100 MB. 500,000 nodes keep a revision near 175 MB,
    # under the Deployment's 512Mi; the example repository holds ~28,000.
    max_nodes_per_file: int = Field(
        100_000,
        description="most YAML nodes in one file (a mapping or sequence counts two: start, end)",
    )
    max_nodes_per_revision: int = Field(
        500_000, description="most YAML nodes in all the files of one revision together"
    )
    max_revision_bytes: int = Field(
        16 * 1024 * 1024, description="most bytes of YAML in all the files of one revision"
    )
    max_steps_per_workflow: int = Field(
        500, description="most steps in one workflow, nested included"
    )


class ExpressionLimits(_Section):
    """Bounds on CEL inputs; cel-expr-python has a fixed iteration budget but no time bound."""

    max_source_length: int = Field(4096, description="longest expression source, in characters")
    max_string_length: int = Field(64 * 1024, description="longest string handed to an expression")
    # map() and filter() in cel-expr-python 0.1.3 are quadratic: ~0.3 s over 2,000 items.
    max_list_length: int = Field(2_000, description="longest list or map handed to an expression")
    max_depth: int = Field(32, description="deepest nesting of values handed to an expression")
    # Estimated at compile time from the checked tree (reconciler/expressions/cost.py): the
    # library holds the GIL for a whole evaluation, ~40 ns per byte a replace() builds.
    max_built_bytes: int = Field(
        1024 * 1024, description="largest value an expression may build, estimated worst case"
    )
    max_work_bytes: int = Field(
        4 * 1024 * 1024,
        description="most bytes an expression may build in all (loops included), estimated",
    )
    max_result_bytes: int = Field(
        16 * 1024 * 1024,
        description="largest result of one evaluation (JSON), measured at run time",
    )


class ServiceSettings(_Section):
    """``reconciler run``. Each field is a flag (``--repo``), an environment variable
    (``RECONCILER_REPO``) and a key of the settings file (``repo:``); a flag beats the
    environment, which beats the file."""

    repo: str = Field("", description="Git URL (https, ssh, file://) or local path of definitions")
    branch: str = Field("main", description="branch to follow")
    path: str = Field("", description="subfolder of the repository holding the definitions")
    interval: Seconds = Field(
        30.0,
        gt=0,
        description="time between polls of the branch (jittered): 30s, 5m, 1h30m, or seconds",
    )
    state_dir: str = Field(
        ".reconciler", description="where the store and the Git cache live (created if missing)"
    )
    store: str = Field("", description="sqlite:///PATH (default: STATE_DIR/reconciler.db)")
    listen: str = Field("127.0.0.1:8080", description="HOST:PORT of the webhook, API and metrics")
    webhook_token_file: str = Field(
        "", description="file holding the bearer token Alertmanager must send (none: open)"
    )
    api_token_file: str = Field(
        "", description="file of named API tokens, `name: token` per line (none: control is open)"
    )
    # Cross-site defences of the HTTP API (reconciler.app.guard): the Host names it answers to
    # besides its listen address, localhost and (listening on 0.0.0.0 or ::) its IP addresses.
    allowed_hosts: tuple[str, ...] = Field(
        (),
        description="other Host names the service answers to, comma-separated (its Kubernetes "
        "Service DNS names, an ingress name); * accepts any",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: Any) -> Any:
        """``a,b`` (a flag or a variable) or a list (the settings file): bare host names."""
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple):
            return value  # pydantic names the type it expected
        cleaned = []
        for name in (str(n).strip() for n in names):
            bare = name.strip("[]")
            if any(c in bare for c in "/@ ") or (bare.count(":") == 1 and name == bare):
                raise ValueError(
                    f"{name!r} is not a host name: write names such as reconciler.monitoring.svc "
                    "(no scheme, port or path), or * to accept any"
                )
            if bare:
                cleaned.append(bare.lower().rstrip("."))
        return tuple(cleaned)

    secrets_dir: str = Field("", description="folder of mounted secrets for secret(name, key)")
    dry_run: bool = Field(False, description="run every execution in dry-run mode")
    cluster: str = Field(
        "auto",
        description="auto (in-cluster, else a kubeconfig, else none), kubeconfig, in-cluster, "
        "none, or sim:PATH (a simulated cluster loaded from manifests)",
    )
    # Where the service is, for the people and tools around it (docs/service.md, "Where it is").
    sim_kubeconfig: str = Field(
        "",
        description="with --cluster sim:PATH, write a kubeconfig for the simulated cluster to "
        "this file at start (kubectl --kubeconfig PATH)",
    )
    prometheus_url: str = Field(
        "",
        description="Prometheus base URL that prometheus.query steps without url: query",
    )

    @field_validator("prometheus_url")
    @classmethod
    def _prometheus_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{value!r} is not a URL: write the Prometheus base URL, such as "
                "http://prometheus.monitoring.svc:9090"
            )
        return value

    @model_validator(mode="after")
    def _sim_kubeconfig_needs_sim(self) -> ServiceSettings:
        if self.sim_kubeconfig and not self.cluster.startswith("sim:"):
            raise ValueError(
                "sim_kubeconfig (--sim-kubeconfig, RECONCILER_SIM_KUBECONFIG) is written for a "
                "simulated cluster only: give --cluster sim:PATH, or leave it unset"
            )
        return self

    max_running_executions: int = Field(1000, ge=1, description="cap on running executions")
    max_running_steps: int = Field(256, ge=1, description="cap on running steps")
    # The webhook answers 503 with Retry-After past either bound (Alertmanager retries 5xx), so
    # an overload is refused, not absorbed into memory and latency.
    max_queued_alerts: int = Field(
        10_000, ge=1, description="most alerts received and not yet evaluated (then 503)"
    )
    max_deliveries_in_flight: int = Field(
        128, ge=1, description="most webhook deliveries being handled at once (then 503)"
    )
    max_bytes_in_flight: int = Field(
        32 * 1024 * 1024,
        ge=1024 * 1024,  # at least one webhook body at its largest (1 MiB)
        description="most bytes of webhook bodies being read, parsed and stored at once (then 503)",
    )
    # Least privilege (docs/deployment.md, RBAC): what reconciler refuses itself, whatever the
    # repository's guardrails say, and the only namespaces shell's Jobs may run in.
    allow_protected_namespaces: bool = Field(
        False,
        description="let actions change kube-system and reconciler's own namespace "
        "(refused by default)",
    )
    own_namespace: str = Field(
        "reconciler",
        min_length=1,
        description="reconciler's own namespace, protected like kube-system (the manifests set "
        "it from the pod's)",
    )
    shell_jobs_enabled: bool = Field(
        False, description="let shell with image: run Kubernetes Jobs (off by default)"
    )
    shell_job_namespaces: tuple[str, ...] = Field(
        (), description="the namespaces shell Jobs may run in, comma-separated"
    )

    @field_validator("shell_job_namespaces", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        """``a,b`` (a flag or variable) or a list (the settings file), as a tuple of names."""
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @model_validator(mode="after")
    def _shell_jobs_need_namespaces(self) -> ServiceSettings:
        if self.shell_jobs_enabled and not self.shell_job_namespaces:
            raise ValueError(
                "shell_jobs_enabled needs shell_job_namespaces (--shell-job-namespaces, "
                "RECONCILER_SHELL_JOB_NAMESPACES): the namespaces shell Jobs may run in"
            )
        return self

    # Trust in the Git source (SPEC §4, §5): signed heads, no silent rewinds, no clear-text
    # credentials.
    verify: Literal["none", "ssh", "gpg"] = Field(
        "none",
        description="adopt only Git commits signed by a key in trusted_keys: ssh, gpg, or none",
    )
    trusted_keys: str = Field(
        "", description="file or folder of public keys trusted to sign commits (with verify)"
    )
    allow_rewind: bool = Field(
        False, description="adopt a move of the branch to a commit not descending from the last"
    )
    allow_insecure_http: bool = Field(
        False, description="allow sending Git credentials over plain http://"
    )

    # Retention (reconciler.app.retention): finished executions older than this are deleted in
    # the background, hourly and once at start. Off by default: deleting history is opt-in.
    retention: Seconds = Field(
        0.0,
        ge=0,
        description="delete finished executions this long after they finished (30d, 12h); "
        "0 keeps them all",
    )

    @field_validator("retention")
    @classmethod
    def _retention_floor(cls, value: float) -> float:
        # Guardrail cooldowns and budgets count a policy's recent executions: an hour is the
        # least that keeps them honest (a longer window needs a longer retention; docs/service.md).
        if 0 < value < 3600:
            raise ValueError(
                "retention must be 0 (keep every finished execution) or at least 1h, e.g. 30d"
            )
        return value


class Settings(_Section):
    """Root of reconciler's settings."""

    loader: LoaderLimits = LoaderLimits()
    expressions: ExpressionLimits = ExpressionLimits()
    service: ServiceSettings = ServiceSettings()


DEFAULT = Settings()
