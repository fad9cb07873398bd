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


def workflow(index: int, rng: random.Random) -> tuple[dict, dict]:
    """One workflow of 10 steps with about 20 expressions, and the policy that starts it."""
    name = f"remediation-{index:03d}"
    alertname, label = ALERTS[index % len(ALERTS)]
    threshold = rng.randint(2, 20)
    steps = [
        {
            "id": "inspect",
            "action": "kubernetes.get",
            "with": {
                "kind": "Deployment",
                "namespace": "{{ params.namespace }}",
                "name": "{{ params.name }}",
            },
        },
        {
            "id": "history",
            "action": "http.request",
            "needs": [],
            "with": {
                "url": "https://grafana.example/api/annotations?tags={{ params.name }}",
                "method": "GET",
            },
        },
        {
            "id": "evaluate",
            "needs": ["inspect", "history"],
            "decide": {
                "options": ["scale", "restart", "escalate"],
                "rules": [
                    {
                        "if": f"steps.inspect.output.status.readyReplicas < {threshold}",
                        "choose": "scale",
                    },
                    {
                        "if": 'steps.history.output.status == 200 && params.severity == "critical"',
                        "choose": "restart",
                    },
                ],
                "fallback": "escalate",
            },
        },
        {
            "id": "scale",
            "if": 'steps.evaluate.output.choice == "scale"',
            "action": "kubernetes.scale_deployment",
            "with": {
                "namespace": "{{ params.namespace }}",
                "name": "{{ params.name }}",
                "replicas": f"{{{{ math.least([steps.inspect.output.spec.replicas + {index % 3 + 1}, params.max_replicas]) }}}}",
            },
            "retry": {"limit": 3, "backoff": "10s", "factor": 2, "max_backoff": "2m"},
            "verify": {
                "expr": "steps.scale.output.status.readyReplicas >= steps.scale.output.spec.replicas",
                "within": "5m",
            },
            "compensate": {
                "action": "kubernetes.scale_deployment",
                "with": {
                    "namespace": "{{ params.namespace }}",
                    "name": "{{ params.name }}",
                    "replicas": "{{ steps.inspect.output.spec.replicas }}",
                },
            },
        },
        {
            "id": "restart",
            "needs": ["evaluate"],
            "if": 'steps.evaluate.output.choice == "restart"',
            "action": "kubernetes.restart_deployment",
            "with": {"namespace": "{{ params.namespace }}", "name": "{{ params.name }}"},
        },
        {"id": "settle", "needs": ["scale", "restart"], "wait": f"{30 + index % 60}s"},
        {
            "id": "check",
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
                "alert": "{{ alert.labels.alertname }}",
                "workflow": f"{name}",
                "summary": "{{ params.namespace }}/{{ params.name }} handled by {{ execution.id }}",
            },
        },
        {
            "id": "escalate",
            "when": "always",
            "if": 'steps.evaluate.output.choice == "escalate" || steps.check.status == "failed"',
            "action": "notify.webhook",
            "with": {
                "url": "{{ secret('oncall', 'url') }}",
                "text": f"{alertname} on {{{{ params.name }}}} needs a person",
            },
        },
        {
            "id": "done",
            "action": "core.log",
            "with": {"message": f"{name} finished for {{{{ params.name }}}}"},
        },
    ]
    document = {
        "apiVersion": "reconciler.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "description": f"remediate {alertname}"},
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
            "outputs": {"choice": "steps.evaluate.output.choice"},
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
    return {"policies.yaml": yaml.safe_dump_all(documents, sort_keys=False).encode()}
