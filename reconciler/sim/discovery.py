"""What the simulated cluster says about itself: ``/version``, ``/api``, ``/apis``, each group
version's resource list (short names, categories, subresources such as ``pods/eviction`` that
``kubectl drain`` looks for), and an OpenAPI v3 index whose PATCH operations declare the
``fieldValidation`` parameter, so ``kubectl apply`` leaves validation to the server instead of
failing to download a schema. Called by the HTTP layer (:mod:`reconciler.sim.server`) before it
routes a path to an object.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.sim.resources import RESOURCES, SCALABLE, Resource

Obj = dict[str, Any]

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
SHORT_NAMES = {
    "namespaces": ["ns"],
    "nodes": ["no"],
    "pods": ["po"],
    "events": ["ev"],
    "configmaps": ["cm"],
    "services": ["svc"],
    "persistentvolumeclaims": ["pvc"],
    "deployments": ["deploy"],
    "replicasets": ["rs"],
    "statefulsets": ["sts"],
    "daemonsets": ["ds"],
    "horizontalpodautoscalers": ["hpa"],
    "poddisruptionbudgets": ["pdb"],
    "storageclasses": ["sc"],
}
# `kubectl get all` lists the kinds in the "all" category.
ALL = {
    "pods",
    "services",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "horizontalpodautoscalers",
}
VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-reconciler-sim",
    "platform": "linux/amd64",
}


def answer(path: str) -> Obj | None:
    """The discovery or OpenAPI document at this path, or None when the path is not one."""
    path = "/" + path.strip("/")
    if path == "/version":
        return dict(VERSION)
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        return _groups()
    if path == "/openapi/v3":
        return {
            "paths": {
                _prefix(group, version).lstrip("/"): {
                    "serverRelativeURL": f"/openapi/v3{_prefix(group, version)}"
                    f"?hash={_hash(group, version)}"
                }
                for group, version in _group_versions()
            }
        }
    for group, version in _group_versions():
        if path == _prefix(group, version):
            return _resource_list(group, version)
        if path == "/openapi/v3" + _prefix(group, version):
            return _openapi(group, version)
    return None


def _group_versions() -> list[tuple[str, str]]:
    return sorted({(r.group, r.version) for r in RESOURCES})


def _prefix(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _groups() -> Obj:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
                "preferredVersion": {"groupVersion": f"{group}/{version}", "version": version},
            }
            for group, version in _group_versions()
            if group
        ],
    }


def _resource_list(group: str, version: str) -> Obj:
    entries: list[Obj] = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        entries.append(
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": VERBS,
                **({"shortNames": SHORT_NAMES[r.plural]} if r.plural in SHORT_NAMES else {}),
                **({"categories": ["all"]} if r.plural in ALL else {}),
            }
        )
        entries.extend(_subresources(r))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _subresources(r: Resource) -> list[Obj]:
    def sub(name: str, verbs: list[str], **kind: str) -> Obj:
        return {
            "name": f"{r.plural}/{name}",
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs,
            **kind,
        }

    found = [sub("status", ["get", "patch", "update"])]
    if r.plural in SCALABLE:
        found.append(
            sub(
                "scale", ["get", "patch", "update"], group="autoscaling", version="v1", kind="Scale"
            )
        )
    if r.plural == "pods":
        # kubectl drain evicts (honouring PodDisruptionBudgets) only when discovery lists this.
        found.append(sub("eviction", ["create"], group="policy", version="v1", kind="Eviction"))
        found.append(sub("log", ["get"]))
    return found


def _openapi(group: str, version: str) -> Obj:
    """Enough of a group version's OpenAPI v3 document for kubectl: a PATCH operation per kind
    that takes ``fieldValidation`` (so kubectl sends it and skips client-side schema checks)."""
    paths: Obj = {}
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        where = "/namespaces/{namespace}" if r.namespaced else ""
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        paths[f"{_prefix(group, version)}{where}/{r.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{r.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "schema": {"type": "string", "uniqueItems": True},
                    }
                    for name in ("dryRun", "fieldManager", "fieldValidation", "force")
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _hash(group: str, version: str) -> str:
    text = json.dumps(_openapi(group, version), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32].upper()
