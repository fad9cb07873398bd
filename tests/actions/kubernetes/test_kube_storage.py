"""expand_pvc: grow a claim whose StorageClass allows it, never shrink, respect max_size."""

from __future__ import annotations

import pytest
from kubesim import MARKER, events_about, stored, writes

from reconciler.actions.spec import CheckResult
from reconciler.errors import PermanentError

DATA = "prod-data"
POSTGRES = {"namespace": DATA, "name": "data-postgres-0"}  # gp3: expandable, 50Gi
REDIS = {"namespace": DATA, "name": "data-redis-0"}  # local-nvme: not expandable


def test_expand_grows_the_request_and_the_capacity_follows(act, sim, check) -> None:
    output = act("kubernetes.expand_pvc", {**POSTGRES, "factor": 1.5})
    assert (output["previous_size"], output["size"], output["storage_class"]) == (
        "50Gi",
        "75Gi",
        "gp3",
    )
    pvc = stored(sim, "PersistentVolumeClaim", DATA, "data-postgres-0")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "75Gi"
    assert pvc["status"]["capacity"]["storage"] == "75Gi"
    assert pvc["metadata"]["annotations"][MARKER] == "exec-1/step/1"
    (event,) = events_about(sim, "data-postgres-0")
    assert event["reason"] == "ReconcilerExpandedVolume" and "50Gi to 75Gi" in event["message"]
    assert check("kubernetes.expand_pvc", {**POSTGRES, "factor": 1.5}) is CheckResult.DONE


def test_expand_is_capped_by_max_size_and_fails_once_there(act, sim) -> None:
    output = act("kubernetes.expand_pvc", {**POSTGRES, "factor": 3.0, "max_size": "100Gi"})
    assert output["size"] == "100Gi"
    with pytest.raises(PermanentError, match="cannot grow further"):
        act("kubernetes.expand_pvc", {**POSTGRES, "factor": 1.5, "max_size": "100Gi"}, step="b")


def test_expand_refuses_a_storage_class_without_volume_expansion(act, sim) -> None:
    before = len(sim.cluster.audit)
    with pytest.raises(PermanentError, match="StorageClass local-nvme, which does not allow"):
        act("kubernetes.expand_pvc", {**REDIS, "size": "40Gi"})
    assert writes(sim.cluster.audit[before:], "patch", "persistentvolumeclaims") == []


def test_expand_never_shrinks_and_an_equal_size_changes_nothing(act, sim) -> None:
    with pytest.raises(PermanentError, match="would shrink it"):
        act("kubernetes.expand_pvc", {**POSTGRES, "size": "10Gi"})
    same = act("kubernetes.expand_pvc", {**POSTGRES, "size": "50Gi"})
    assert same["changed"] is False and same["size"] == "50Gi"


def test_expand_in_dry_run_changes_nothing(act, sim) -> None:
    before = len(sim.cluster.audit)
    output = act("kubernetes.expand_pvc", {**POSTGRES, "size": "60Gi"}, dry_run=True)
    assert output["dry_run"] is True and output["size"] == "60Gi"
    (patch,) = writes(sim.cluster.audit[before:], "patch", "persistentvolumeclaims")
    assert patch["dry_run"] is True
    pvc = stored(sim, "PersistentVolumeClaim", DATA, "data-postgres-0")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
