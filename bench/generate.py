"""Generators of realistic repositories for the benchmarks (seeded: the same input every run)."""

from __future__ import annotations

import random

import yaml

ALERTS = [
    ("KubePodCrashLooping", "pod"),
    ("KubeDeploymentReplicasMismatch", "deployment"),
    ("KubePersistentVolumeFillingUp", "persistentvolumeclaim"),
    ("KubeHpaMaxedOut", "horizontalpodautoscaler"),
    ("KubeNodeNotReady", "node"),
    ("KubeContainerMemoryHigh", "deployment"),
    ("KubeJobFailed", "job_name"),
    ("KubeStatefulSetReplicasMismatch", "statefulset"),
    ("TargetDown", "job"),
    ("KubeCPUOvercommit", "cluster"),
]


ARCHETYPES = [
    "memory",
    "cpu",
    "latency",
    "errors",
    "saturation",
    "disk",
    "queue",
    "replicas",
    "restarts",
    "probe",
]


def workflow(index: int, rng: random.Random) -> tuple[dict, dict]:
    """One workflow of 10 steps with about 20 expressions, and the policy that starts it.

    Step ids, object kinds and thresholds vary the way they do between hand-written workflows,
    so expressions repeat across workflows about as much as they do in a real repository.
    """
    name = f"remediation-{index:03d}"
    alertname, label = ALERTS[index % len(ALERTS)]
    topic = ARCHETYPES[(index // len(ALERTS)) % len(ARCHETYPES)]
    kind = "StatefulSet" if index % 4 == 0 else "Deployment"
    threshold = rng.randint(2, 20)
    inspect, evaluate, scale, check = (
        f"inspect_{topic}",
        f"evaluate_{topic}",
        f"scale_{topic}",
        f"check_{topic}",
    )
    steps = [
        {
            "id": inspect,
            "action": "kubernetes.get",
            "with": {
                "kind": kind,
                "namespace": "{{ params.namespace }}",
                "name": "{{ params.name }}",
            },
        },
        {
            "id": "history",
            "action": "http.request",
            "needs": [],
            "with": {
                "url": f"https://grafana.example/api/annotations?tags={topic}",
                "method": "GET",
            },
        },
        {
            "id": evaluate,
            "needs": [inspect, "history"],
            "decide": {
                "options": ["scale", "restart", "escalate"],
                "rules": [
                    {
                        "if": f"steps.{inspect}.output.status.readyReplicas < {threshold}",
                        "choose": "scale",
                    },
                    {
                        "if": f'steps.history.output.status == 200 && params.severity == "{rng.choice(["critical", "page"])}"',
                        "choose": "restart",
                    },
                ],
                "fallback": "escalate",
            },
        },
        {
            "id": scale,
            "if": f'steps.{evaluate}.output.choice == "scale"',
            "action": "kubernetes.scale_statefulset"
            if kind == "StatefulSet"
            else "kubernetes.scale_deployment",
            "with": {
                "namespace": "{{ params.namespace }}",
                "name": "{{ params.name }}",
                "replicas": f"{{{{ math.least([steps.{inspect}.output.spec.replicas + {index % 3 + 1}, params.max_replicas]) }}}}",
            },
            "retry": {"limit": 3, "backoff": "10s", "factor": 2, "max_backoff": "2m"},
            "verify": {
                "expr": f"steps.{scale}.output.status.readyReplicas >= {threshold}",
                "within": "5m",
            },
            "compensate": {
                "action": "kubernetes.scale_deployment",
                "with": {
                    "namespace": "{{ params.namespace }}",
                    "name": "{{ params.name }}",
                    "replicas": f"{{{{ steps.{inspect}.output.spec.replicas }}}}",
                },
            },
        },
        {
            "id": "restart",
            "needs": [evaluate],
            "if": f'steps.{evaluate}.output.choice == "restart"',
            "action": "kubernetes.restart_deployment",
            "with": {"namespace": "{{ params.namespace }}", "name": "{{ params.name }}"},
        },
        {"id": "settle", "needs": [scale, "restart"], "wait": f"{30 + index % 60}s"},
        {
            "id": check,
            "wait_until": {
                "expr": f"now - timestamp(execution.started_at) > duration('{index % 9 + 1}m')",
                "interval": "30s",
                "timeout": "10m",
            },
        },
        {
            "id": "record",
            "action": "core.set",
            "with": {
                "alert": alertname,
                "workflow": name,
                "choice": f"{{{{ steps.{evaluate}.output.choice }}}}",
            },
        },
        {
            "id": "escalate",
            "when": "always",
            "if": f'steps.{evaluate}.output.choice == "escalate" || steps.{check}.status == "failed"',
            "action": "notify.webhook",
            "with": {
                "url": "{{ secret('oncall', 'url') }}",
                "text": f"{alertname} ({topic}) on {{{{ params.name }}}} needs a person",
            },
        },
        {"id": "done", "action": "core.log", "with": {"message": f"{name} finished"}},
    ]
    document = {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "description": f"remediate {alertname} ({topic})"},
        "spec": {
            "params": {
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "severity": {"type": "string", "default": "warning"},
                "max_replicas": {"type": "int", "default": 10 + index % 20},
            },
            "timeout": "30m",
            "on_failure": "rollback",
            "steps": steps,
            "outputs": {"choice": f"steps.{evaluate}.output.choice"},
        },
    }
    policy = {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": f"{name}-policy"},
        "spec": {
            "match": f'alert.labels.alertname == "{alertname}" && alert.labels.namespace == "team-{index}"',
            "workflow": name,
            "priority": index % 7,
            "params": {
                "namespace": "{{ alert.labels.namespace }}",
                "name": f"{{{{ alert.labels.{label} }}}}",
                "severity": "{{ alert.labels.severity }}",
            },
            "guardrails": {"cooldown": "30m"},
        },
    }
    return document, policy


def repository(count: int = 200, seed: int = 7) -> dict[str, bytes]:
    """``count`` files, each a workflow and its policy."""
    rng = random.Random(seed)
    files = {}
    for index in range(count):
        documents = workflow(index, rng)
        files[f"workflows/remediation-{index:03d}.yaml"] = yaml.safe_dump_all(
            documents, sort_keys=False
        ).encode()
    return files


def policies(count: int, *, indexable: bool, seed: int = 11) -> dict[str, bytes]:
    """One tiny workflow and ``count`` policies over the alert names above."""
    rng = random.Random(seed)
    documents: list[dict] = [
        {
            "apiVersion": "reconciler.dev/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "notify"},
            "spec": {
                "params": {"target": {"type": "string"}},
                "steps": [
                    {"id": "log", "action": "core.log", "with": {"message": "{{ params.target }}"}}
                ],
            },
        }
    ]
    for index in range(count):
        alertname, label = ALERTS[index % len(ALERTS)]
        namespace = f"team-{rng.randint(0, 99)}"
        if indexable:
            match = f'alert.labels.alertname == "{alertname}" && alert.labels.namespace == "{namespace}"'
        else:  # a disjunction the index cannot narrow: evaluated for every alert
            match = f'alert.labels.namespace == "{namespace}" || alert.labels.alertname == "{alertname}-{index}"'
        documents.append(
            {
                "apiVersion": "reconciler.dev/v1alpha1",
                "kind": "Policy",
                "metadata": {"name": f"policy-{index:04d}"},
                "spec": {
                    "match": match,
                    "workflow": "notify",
                    "priority": index % 10,
                    "params": {
                        "target": f"{{{{ alert.labels.namespace + '/' + alert.labels.{label} }}}}"
                    },
                },
            }
        )
    # One file per 100 policies: a file holds at most 200 documents.
    files = {"workflow.yaml": yaml.safe_dump(documents[0], sort_keys=False).encode()}
    for start in range(1, len(documents), 100):
        chunk = documents[start : start + 100]
        files[f"policies-{start // 100:02d}.yaml"] = yaml.safe_dump_all(
            chunk, sort_keys=False
        ).encode()
    return files
