"""reconciler: a GitOps engine that turns Prometheus alerts into safe, reviewed Kubernetes
remediation. Layers and modules are described in README.md and docs/."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reconciler")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
