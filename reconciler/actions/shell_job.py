"""``shell`` with ``image:``: the argv run as a Kubernetes Job in the cluster.

Called by :mod:`reconciler.actions.process`. The Job runs the image with the argv as its
``command`` (never through a shell) and the params' ``env`` as environment variables; the call
waits for it to finish (polling, within the step's ``timeout``), returns the pod's log (size
limited) and deletes the Job. The Job carries the idempotency marker, so a resumed step can
find it. A Job that fails fails the step.

Least privilege: whether a Job may run at all, and in which namespace, the built-in guardrail
decides before the call (``matching.guardrails.Builtin``: ``shell_jobs_enabled``,
``shell_job_namespaces``). The Job runs as the fixed ``reconciler-shell`` service account with
no API token, and :func:`check_job` refuses a spec that mounts or reads a Secret, so a Job
cannot print one to its log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.actions.k8s_access import SHELL_SERVICE_ACCOUNT
from reconciler.actions.kubeops import names
from reconciler.actions.spec import ActionContext
from reconciler.errors import PermanentError, TemporaryError

if TYPE_CHECKING:
    from reconciler.actions.process import ShellParams

MARKER = "reconciler.dev/last-action"
POLL = 0.5  # seconds between looks at the Job


async def run_job(params: ShellParams, context: ActionContext) -> dict[str, Any]:
    cluster = context.cluster
    if cluster is None:
        raise PermanentError("no cluster configured: shell with image: runs as a Kubernetes Job")
    namespace = params.namespace or "default"
    names.check_namespace(namespace)  # it goes into the URL path: no "..", no "/"
    import kubernetes  # loaded when a Job runs, not when the catalogue is read
    from kubernetes.client.exceptions import ApiException

    batch = kubernetes.client.BatchV1Api(cluster.api)
    core = kubernetes.client.CoreV1Api(cluster.api)
    deadline = context.clock.monotonic() + params.timeout.total_seconds()
    try:
        job = _job(params, context)
        check_job(job)
        created = await cluster.run(batch.create_namespaced_job, namespace, job)
        name = str(created.metadata.name)  # type: ignore[union-attr]
        while True:
            read = await cluster.run(batch.read_namespaced_job, name, namespace)
            status: dict[str, Any] = cluster.api.sanitize_for_serialization(read).get("status", {})
            if status.get("succeeded") or status.get("failed"):
                break
            if context.clock.monotonic() > deadline:
                await _delete(cluster, batch, name, namespace)
                raise TemporaryError(
                    f"shell Job {namespace}/{name} did not finish in {params.timeout}"
                )
            await context.clock.sleep(POLL)
        log = await _log(cluster, core, name, namespace, params.max_output_bytes)
        await _delete(cluster, batch, name, namespace)
    except ApiException as exc:
        if exc.status in (429, 500, 502, 503, 504):
            raise TemporaryError(f"shell Job in {namespace}: {exc.status} {exc.reason}") from exc
        raise PermanentError(f"shell Job in {namespace}: {exc.status} {exc.reason}") from exc
    if not status.get("succeeded"):
        raise PermanentError(f"shell Job {namespace}/{name} failed: {log['stdout'][-200:]}")
    return {"job": f"{namespace}/{name}", "succeeded": True, **log}


def _job(params: ShellParams, context: ActionContext) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "reconciler"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "generateName": "reconciler-shell-",
            "labels": labels,
            "annotations": {MARKER: context.marker},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(int(params.timeout.total_seconds()), 1),
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": SHELL_SERVICE_ACCOUNT,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "containers": [
                        {
                            "name": "shell",
                            "image": params.image,
                            "command": list(params.command),
                            "env": [
                                {"name": k, "value": v}
                                for k, v in {
                                    **params.env,
                                    "RECONCILER_EXECUTION": context.execution,
                                    "RECONCILER_STEP": context.step,
                                }.items()
                            ],
                        }
                    ],
                },
            },
        },
    }


def check_job(job: dict[str, Any]) -> None:
    """Refuse a Job that would run as another service account, carry an API token, or read a
    Secret (a volume, a projected source, ``env`` or ``envFrom``): PermanentError saying which."""
    pod = job.get("spec", {}).get("template", {}).get("spec", {})
    where = f"shell Job {job.get('metadata', {}).get('generateName', '')}"
    if pod.get("serviceAccountName") != SHELL_SERVICE_ACCOUNT:
        raise PermanentError(f"{where}: must run as service account {SHELL_SERVICE_ACCOUNT}")
    if pod.get("automountServiceAccountToken") is not False:
        raise PermanentError(f"{where}: must not mount a service account token")
    for volume in pod.get("volumes") or ():
        sources = (volume.get("projected") or {}).get("sources") or ()
        if "secret" in volume or any("secret" in source for source in sources):
            raise PermanentError(f"{where}: volume {volume.get('name')!r} mounts a Secret")
    containers = [*(pod.get("containers") or ()), *(pod.get("initContainers") or ())]
    for container in containers:
        for env in container.get("env") or ():
            if "secretKeyRef" in (env.get("valueFrom") or {}):
                raise PermanentError(f"{where}: variable {env.get('name')!r} reads a Secret")
        if any("secretRef" in source for source in container.get("envFrom") or ()):
            raise PermanentError(f"{where}: container {container.get('name')!r} reads a Secret")


async def _log(cluster: Any, core: Any, job: str, namespace: str, limit: int) -> dict[str, Any]:
    pods = await cluster.run(core.list_namespaced_pod, namespace, label_selector=f"job-name={job}")
    names = [p["metadata"]["name"] for p in cluster.api.sanitize_for_serialization(pods)["items"]]
    if not names:
        return {"stdout": "", "truncated": False}
    text = await cluster.run(core.read_namespaced_pod_log, names[0], namespace)
    data = str(text).encode()
    return {"stdout": data[:limit].decode("utf-8", "replace"), "truncated": len(data) > limit}


async def _delete(cluster: Any, batch: Any, name: str, namespace: str) -> None:
    from kubernetes.client.exceptions import ApiException

    try:
        await cluster.run(
            batch.delete_namespaced_job, name, namespace, propagation_policy="Background"
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
