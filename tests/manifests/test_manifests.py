"""The deployment manifests (`manifests/`) and the demo cluster (`example-repo/cluster.yaml`).

Renders both kustomizations with `kubectl kustomize` (or, without kubectl, the Python build
of kustomize_build.py, which test_least_privilege holds to kubectl's output), then checks the
facts the docs promise: the ClusterRole grants exactly `k8s_access.cluster_rules()`, the pod is
locked down, the settings are real settings. test_least_privilege.py checks the RBAC split,
the namespace components and the NetworkPolicy's egress. Objects
are checked field by field against the official client's models, so a misspelt or misplaced
field fails here instead of at `kubectl apply`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import models
from kustomize_build import render

from reconciler.actions import k8s, k8s_access
from reconciler.metrics import Metrics
from reconciler.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
CLUSTER = ROOT / "example-repo" / "cluster.yaml"

# Read from the environment by reconciler.source.credentials, not ServiceSettings fields.
GIT_VARIABLES = {
    "RECONCILER_GIT_TOKEN_FILE",
    "RECONCILER_GIT_SSH_KEY_FILE",
    "RECONCILER_GIT_KNOWN_HOSTS_FILE",
    "RECONCILER_GIT_USERNAME",
}


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(MANIFESTS)


@pytest.fixture(scope="module")
def monitored() -> list[dict[str, Any]]:
    return render(MANIFESTS / "monitoring")


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


# -- schema: every field is a field of the official client's model, of the right type ----------
def model_of(obj: dict[str, Any]) -> type | None:
    version = obj["apiVersion"].rpartition("/")[2]
    return getattr(models, f"{version.capitalize()}{obj['kind']}", None)


def schema_problems(value: Any, type_name: str, path: str) -> list[str]:
    if type_name == "object":  # IntOrString, raw JSON
        return []
    if match := re.fullmatch(r"(?:List|list)\[(.+)\]", type_name):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            p for i, v in enumerate(value) for p in schema_problems(v, match[1], f"{path}[{i}]")
        ]
    if match := re.fullmatch(r"(?:Dict|dict)\[str, (.+)\]|dict\(str, (.+)\)", type_name):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        inner = match[1] or match[2]
        return [p for k, v in value.items() for p in schema_problems(v, inner, f"{path}.{k}")]
    scalars = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}
    if type_name in scalars:
        ok = isinstance(value, scalars[type_name]) and not (
            type_name == "int" and isinstance(value, bool)
        )
        return [] if ok else [f"{path}: expected {type_name}, got {value!r}"]
    if type_name == "datetime":
        return [] if isinstance(value, str) else [f"{path}: expected an RFC 3339 string"]
    model = getattr(models, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping"]
    fields = {
        json_name: model.openapi_types[attr] for attr, json_name in model.attribute_map.items()
    }
    problems = []
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}: not a field of {type_name}")
        elif item is not None:
            problems.extend(schema_problems(item, fields[key], f"{path}.{key}"))
    return problems


def assert_schema_valid(objects: list[dict[str, Any]], *, allow: Collection[str] = ()) -> None:
    problems = []
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name"), obj
        name = f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        model = model_of(obj)
        if model is None:
            assert obj["kind"] in allow, f"{name}: no model for {obj['apiVersion']}"
            continue
        problems += schema_problems(obj, model.__name__, name)
    assert not problems, "\n".join(problems)


def test_the_base_and_the_monitoring_overlay_render(
    base: list[dict[str, Any]], monitored: list[dict[str, Any]]
) -> None:
    kinds = sorted(o["kind"] for o in base)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
            "NetworkPolicy",
        ]
    )
    # The base needs no CRDs; the overlay adds exactly the Prometheus Operator's two objects.
    assert all(not o["apiVersion"].startswith("monitoring.coreos.com/") for o in base)
    added = sorted(o["kind"] for o in monitored if o not in base)
    assert added == ["PrometheusRule", "ServiceMonitor"]
    assert all(
        o["metadata"].get("namespace") == "reconciler"
        for o in monitored
        if o["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    )
    assert_schema_valid(monitored, allow={"ServiceMonitor", "PrometheusRule"})


def test_no_secret_is_shipped(monitored: list[dict[str, Any]]) -> None:
    assert not [o for o in monitored if o["kind"] == "Secret"]


# -- RBAC ----------------------------------------------------------------------------------------
def test_the_cluster_role_grants_exactly_the_cluster_rules(base: list[dict[str, Any]]) -> None:
    role = one(base, "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    required = {(a.group, a.resource, verb) for a in k8s_access.cluster_rules() for verb in a.verbs}
    assert granted == required, (
        f"granted but not required: {sorted(granted - required)}; "
        f"required but not granted: {sorted(required - granted)}"
    )
    assert "*" not in str(role["rules"])
    assert all("resourceNames" not in r and "nonResourceURLs" not in r for r in role["rules"])
    assert not {resource for _, resource, _ in granted} & {"secrets", "configmaps"}
    assert not {verb for _, _, verb in granted} & {"watch", "update", "deletecollection"}


def test_the_binding_gives_the_role_to_the_service_account(base: list[dict[str, Any]]) -> None:
    binding = one(base, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one(base, "ClusterRole")["metadata"]["name"],
    }
    account = one(base, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    pod = one(base, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["name"]


def test_every_kubernetes_action_declares_its_access() -> None:
    declared = {a.name for a in k8s.ACTIONS}
    described = {name for name in k8s_access.ACCESS if name.startswith("kubernetes.")}
    assert declared == described
    assert {"shell", "guardrails.cluster_view"} <= set(k8s_access.ACCESS)
    assert set(k8s_access.KINDS) == set(typing.get_args(k8s.Kind))


def test_required_rules_merge_verbs_per_resource() -> None:
    rules = k8s_access.required_rules()
    keys = [(a.group, a.resource) for a in rules]
    assert keys == sorted(set(keys))
    assert all(a.verbs == tuple(sorted(set(a.verbs))) for a in rules)
    pods = next(a for a in rules if (a.group, a.resource) == ("", "pods"))
    assert pods.verbs == ("delete", "get", "list", "patch")


def test_the_generic_actions_are_limited_to_granted_kinds() -> None:
    assert k8s_access.allows("kubernetes.get", "Pod", "get")
    assert not k8s_access.allows("kubernetes.get", "ConfigMap", "get")
    assert k8s_access.allows("kubernetes.patch", "Deployment", "patch")
    assert not k8s_access.allows("kubernetes.patch", "ReplicaSet", "patch")
    assert not k8s_access.allows("kubernetes.get", "Secret", "get")
    assert not k8s_access.allows("kubernetes.nope", "Pod", "get")


# -- the Deployment --------------------------------------------------------------------------
def test_the_pod_is_locked_down(base: list[dict[str, Any]]) -> None:
    deployment = one(base, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    # SQLite on a ReadWriteOnce volume: one writer, so the old pod stops before the new starts.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["args"][0] == "run"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "persistentVolumeClaim" in volumes[mounts["/var/lib/reconciler"]]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    claim = volumes[mounts["/var/lib/reconciler"]]["persistentVolumeClaim"]["claimName"]
    assert claim == one(base, "PersistentVolumeClaim")["metadata"]["name"]


def test_the_service_and_probes_use_the_one_http_port(base: list[dict[str, Any]]) -> None:
    (port,) = one(base, "Service")["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 8080)
    (container,) = one(base, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert "0.0.0.0:8080" in container["args"]


def test_every_reconciler_variable_is_a_real_setting(base: list[dict[str, Any]]) -> None:
    settings = {f"RECONCILER_{name.upper()}" for name in ServiceSettings.model_fields}
    configmap = one(base, "ConfigMap")
    assert set(configmap["data"]) >= {"RECONCILER_REPO", "RECONCILER_BRANCH"}
    unknown = {k for k in configmap["data"] if k not in settings}
    assert not unknown, f"the ConfigMap sets variables reconciler does not read: {unknown}"
    (container,) = one(base, "Deployment")["spec"]["template"]["spec"]["containers"]
    variables = {e["name"] for e in container["env"] if e["name"].startswith("RECONCILER_")}
    assert not variables - settings - GIT_VARIABLES
    assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]


def test_secrets_are_mounted_files_or_optional(base: list[dict[str, Any]]) -> None:
    pod = one(base, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    referenced = {
        e["valueFrom"]["secretKeyRef"]["name"]: e
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert referenced["reconciler-anthropic"]["valueFrom"]["secretKeyRef"]["optional"] is True
    secret_volumes = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secret_volumes == {"reconciler-webhook", "reconciler-api-tokens", "reconciler-git"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert all(
        mounts[v["name"]]["readOnly"] for v in pod["volumes"] if "secret" in v or "projected" in v
    )


def test_the_network_policy_admits_only_the_monitoring_namespace(
    base: list[dict[str, Any]],
) -> None:
    policy = one(base, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_the_alerts_about_reconciler_use_its_metrics(monitored: list[dict[str, Any]]) -> None:
    rules = one(monitored, "PrometheusRule")["spec"]["groups"][0]["rules"]
    alerts = [r["alert"] for r in rules]
    assert sorted(alerts) == [
        "ReconcilerApprovalsWaiting",
        "ReconcilerEngineErrors",
        "ReconcilerExecutionsStuck",
        "ReconcilerNotReady",
        "ReconcilerRevisionFailing",
        "ReconcilerStoreCannotWrite",
        "ReconcilerSuspended",
    ]
    # Metric families by name (a counter's family drops the `_total` of its sample).
    metrics = Metrics()
    metrics.watch_store(lambda: (0, True))  # as the service does with its store
    families = {family.name for family in metrics.registry.collect()}
    for rule in rules:
        used = re.findall(r"\breconciler_[a-z_]+", rule["expr"])
        assert used, rule["alert"]
        for name in used:  # a rule over a metric that does not exist never fires
            assert name.removesuffix("_total") in families, (rule["alert"], name)
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
    monitor = one(monitored, "ServiceMonitor")["spec"]
    assert monitor["endpoints"][0]["port"] == "http"
    assert monitor["endpoints"][0]["path"] == "/metrics"


# -- example-repo/cluster.yaml -------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(CLUSTER.read_text()) if d]


def named(objects: list[dict[str, Any]], kind: str, namespace: str, name: str) -> dict[str, Any]:
    for o in objects:
        meta = o["metadata"]
        if (o["kind"], meta.get("namespace", ""), meta["name"]) == (kind, namespace, name):
            return o
    raise AssertionError(f"no {kind} {namespace}/{name} in {CLUSTER.name}")


def test_the_demo_cluster_is_made_of_valid_kubernetes_objects(
    cluster: list[dict[str, Any]],
) -> None:
    assert_schema_valid(cluster)
    assert all(not o["apiVersion"].startswith("reconciler.dev/") for o in cluster)
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in cluster]
    assert len(keys) == len(set(keys))
    uids = [o["metadata"]["uid"] for o in cluster]
    assert len(uids) == len(set(uids))


def test_the_demo_cluster_is_consistent(cluster: list[dict[str, Any]]) -> None:
    by_uid = {o["metadata"]["uid"]: o for o in cluster}
    nodes = {o["metadata"]["name"] for o in cluster if o["kind"] == "Node"}
    namespaces = {o["metadata"]["name"] for o in cluster if o["kind"] == "Namespace"}
    selectors = {
        "Service": lambda spec: spec["selector"],
        "PodDisruptionBudget": lambda spec: spec["selector"]["matchLabels"],
    }
    for obj in cluster:
        meta = obj["metadata"]
        if "namespace" in meta:
            assert meta["namespace"] in namespaces
        for ref in meta.get("ownerReferences", []):
            owner = by_uid[ref["uid"]]
            assert (owner["kind"], owner["metadata"]["name"]) == (ref["kind"], ref["name"])
            assert owner["metadata"]["namespace"] == meta["namespace"]
        if obj["kind"] == "Pod":
            assert obj["spec"]["nodeName"] in nodes
        if obj["kind"] == "Pod" and meta["ownerReferences"][0]["kind"] == "ReplicaSet":
            owner = by_uid[meta["ownerReferences"][0]["uid"]]["metadata"]
            assert meta["name"].startswith(f"{owner['name']}-")
            hash_ = owner["labels"]["pod-template-hash"]
            assert meta["labels"]["pod-template-hash"] == hash_
        if obj["kind"] in selectors:
            selector = selectors[obj["kind"]](obj["spec"])
            assert any(
                o["kind"] == "Pod"
                and o["metadata"]["namespace"] == meta["namespace"]
                and selector.items() <= o["metadata"]["labels"].items()
                for o in cluster
            ), f"{obj['kind']} {meta['name']} selects no pod"


def test_the_current_replica_set_of_each_deployment_carries_its_template(
    cluster: list[dict[str, Any]],
) -> None:
    # What a Deployment controller (and the simulated one) relies on: the ReplicaSet of the
    # Deployment's revision holds the Deployment's pod template, plus the pod-template-hash label.
    revision = "deployment.kubernetes.io/revision"
    for deployment in (o for o in cluster if o["kind"] == "Deployment"):
        uid = deployment["metadata"]["uid"]
        sets = [
            o
            for o in cluster
            if o["kind"] == "ReplicaSet"
            and any(r["uid"] == uid for r in o["metadata"]["ownerReferences"])
        ]
        (current,) = [
            rs
            for rs in sets
            if rs["metadata"]["annotations"][revision]
            == deployment["metadata"]["annotations"][revision]
        ]
        template = yaml.safe_load(yaml.safe_dump(current["spec"]["template"]))
        hash_ = template["metadata"]["labels"].pop("pod-template-hash")
        assert current["metadata"]["name"] == f"{deployment['metadata']['name']}-{hash_}"
        assert template == deployment["spec"]["template"], deployment["metadata"]["name"]


def test_the_sample_alerts_name_objects_of_the_demo_cluster(
    cluster: list[dict[str, Any]],
) -> None:
    pod = named(cluster, "Pod", "prod-checkout", "payment-gateway-7d9c8b6f5-x2x8k")
    assert pod["metadata"]["uid"] == "bd49ad46-5fe8-51a7-985e-2ed863dfb5c2"
    (status,) = pod["status"]["containerStatuses"]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] != 0
    node = named(cluster, "Node", "", "ip-10-20-3-42.eu-west-1.compute.internal")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")
    assert sum(o["kind"] == "Node" for o in cluster) == 3
    named(cluster, "Deployment", "prod-checkout", "checkout-api")
    named(cluster, "Deployment", "prod-catalog", "catalog-api")
    named(cluster, "HorizontalPodAutoscaler", "prod-checkout", "storefront")
    claim = named(cluster, "PersistentVolumeClaim", "prod-data", "data-postgres-0")
    storage = named(cluster, "StorageClass", "", claim["spec"]["storageClassName"])
    assert storage["allowVolumeExpansion"] is True
    named(cluster, "StatefulSet", "prod-data", "postgres")
    assert any(o["kind"] == "PodDisruptionBudget" for o in cluster)
    assert any(o["kind"] == "Service" for o in cluster)
