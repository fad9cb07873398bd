"""Renders the manifests' kustomizations: `kubectl kustomize` when kubectl is installed, else a
small Python build of the few kustomize features the manifests use.

Used by the tests under tests/manifests. CI machines may lack kubectl (.ci/run installs only
Alertmanager); test_least_privilege checks that the Python build gives the same objects as
kubectl wherever both are available, so the fallback cannot drift silently.

Supported: `resources` (files and folders), `components` (kind Component, their `resources`),
`namespace` (set on every namespaced object) and `labels` (`pairs` added to metadata.labels;
`includeSelectors: true` is refused, as nothing uses it). Anything else fails loudly.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "Node",
    "CustomResourceDefinition",
}
_KNOWN = {"apiVersion", "kind", "namespace", "labels", "resources", "components"}


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize folder` prints; the Python build without kubectl."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return build(folder)
    return with_kubectl(kubectl, folder)


def with_kubectl(kubectl: str, folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize {folder} failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def build(folder: Path) -> list[dict[str, Any]]:
    """The Python build of a Kustomization (or Component) folder."""
    spec = _kustomization(folder)
    unknown = set(spec) - _KNOWN
    assert not unknown, f"{folder}: kustomize fields the Python build does not know: {unknown}"
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += build(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for entry in spec.get("components", []):
        component = (folder / entry).resolve()
        assert _kustomization(component)["kind"] == "Component", f"{component}: not a Component"
        objects += build(component)
    objects = copy.deepcopy(objects)
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if "namespace" in spec and obj["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = spec["namespace"]
        for label in spec.get("labels", []):
            assert not label.get("includeSelectors"), f"{folder}: includeSelectors unsupported"
            meta["labels"] = {**meta.get("labels", {}), **label["pairs"]}
    return objects


def _kustomization(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / "kustomization.yaml").read_text())
    return loaded
