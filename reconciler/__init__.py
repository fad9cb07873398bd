"""reconciler: a GitOps engine that turns Prometheus alerts into safe, reviewed Kubernetes
remediation. Layers and modules are described in README.md and docs/.

``__version__`` is read from the installed metadata on first use (the OpenAPI document):
``importlib.metadata`` costs tens of milliseconds, and every ``reconciler`` command imports this
package (SPEC §3: the read-only commands start at once)."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("reconciler")
    except PackageNotFoundError:  # running from a source tree that was not installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
