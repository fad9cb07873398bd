"""The three PATCH bodies of the Kubernetes API, applied to plain JSON objects.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``): maps merge, ``null`` deletes,
  lists are replaced.
- JSON patch (RFC 6902, ``application/json-patch+json``): add, remove, replace, move, copy, test.
- Strategic merge patch (``application/strategic-merge-patch+json``), the subset built-in kinds
  use in practice: maps merge, ``null`` deletes, and the lists below merge by their key (so a
  patch naming one container changes that container only); ``$patch: delete`` in a list item
  removes it; other lists are replaced.
"""

from __future__ import annotations

import copy
from typing import Any

# Lists that merge by a key in strategic merge patches (field name -> merge key).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "tolerations": "key",
}


class PatchError(Exception):
    """The patch cannot be applied (a test failed, a path is missing, a body is malformed)."""


def without_nulls(value: Any) -> Any:
    """A copy without the map entries that are null (the API reads them as absent)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, list):
        key = MERGE_KEYS.get(field)
        if key is None or not isinstance(target, list):
            return [copy.deepcopy(item) for item in patch if not _deletes(item)]
        return _merge_list(target, patch, key)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if name.startswith("$"):
            continue  # directives ($patch, $setElementOrder, $retainKeys) beyond the subset
        if value is None:
            result.pop(name, None)
        else:
            result[name] = strategic_merge_patch(result.get(name), value, name)
    return result


def _deletes(item: Any) -> bool:
    return isinstance(item, dict) and item.get("$patch") == "delete"


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    result = [copy.deepcopy(item) for item in target]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"strategic merge patch: every item needs its merge key {key!r}")
        index = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if _deletes(item):
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(strategic_merge_patch({}, item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"malformed JSON patch operation: {operation!r}")
        document = _apply(document, operation)
    return document


def _apply(document: Any, operation: dict[str, Any]) -> Any:
    op, path = operation["op"], operation["path"]
    if op == "test":
        if _get(document, path) != operation.get("value"):
            raise PatchError(f"test failed at {path}")
        return document
    if op in ("move", "copy"):
        value = copy.deepcopy(_get(document, operation["from"]))
        if op == "move":
            document = _remove(document, operation["from"])
        return _add(document, path, value)
    if op == "remove":
        return _remove(document, path)
    if op == "add":
        return _add(document, path, copy.deepcopy(operation.get("value")))
    if op == "replace":
        _get(document, path)  # must exist
        return _add(_remove(document, path), path, copy.deepcopy(operation.get("value")))
    raise PatchError(f"unknown JSON patch op {op!r}")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _get(document: Any, path: str) -> Any:
    for part in _pointer(path):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            raise PatchError(f"path {path} does not exist")
    return document


def _parent(document: Any, path: str) -> tuple[Any, str]:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot change the whole document")
    container = (
        _get(document, "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts[:-1]))
        if len(parts) > 1
        else document
    )
    return container, parts[-1]


def _add(document: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    container, last = _parent(document, path)
    if isinstance(container, dict):
        container[last] = value
    elif isinstance(container, list):
        index = len(container) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(container):
            raise PatchError(f"index out of range at {path}")
        container.insert(index, value)
    else:
        raise PatchError(f"path {path} does not exist")
    return document


def _remove(document: Any, path: str) -> Any:
    container, last = _parent(document, path)
    if isinstance(container, dict) and last in container:
        del container[last]
    elif isinstance(container, list) and last.isdigit() and int(last) < len(container):
        container.pop(int(last))
    else:
        raise PatchError(f"path {path} does not exist")
    return document
