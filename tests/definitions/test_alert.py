"""Alerts in: Alertmanager webhook v4 payloads, bare alert lists as amtool sends, fingerprints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.definitions.alert import ZERO_TIME, WebhookPayload, fingerprint, parse_alerts
from reconciler.errors import InputError

ALERTS = Path(__file__).parent.parent / "fixtures" / "alerts"


def payload(name: str) -> Any:
    return json.loads((ALERTS / name).read_text())


# --- webhook payloads ---------------------------------------------------------------------------


def test_a_firing_crash_loop_alert_is_read_from_a_webhook_payload() -> None:
    [alert] = parse_alerts(payload("kube-pod-crash-looping-firing.json"))

    assert alert.name == "KubePodCrashLooping"
    assert alert.status == "firing"
    assert alert.labels["namespace"] == "prod"
    assert alert.labels["pod"] == "web-7d9c8b5f4-x2k8q"
    assert alert.labels["container"] == "web"
    assert alert.annotations["summary"] == "Pod is crash looping."
    assert alert.generator_url.startswith("http://prometheus-k8s.monitoring.svc:9090/graph?")
    # Alertmanager writes nanoseconds; Python keeps microseconds.
    assert alert.starts_at == datetime(2024, 5, 14, 9, 21, 30, 123456, tzinfo=UTC)
    assert alert.ends_at == ZERO_TIME


def test_a_resolved_node_alert_keeps_its_status_and_times_in_utc() -> None:
    [alert] = parse_alerts(payload("kube-node-not-ready-resolved.json"))

    assert alert.name == "KubeNodeNotReady"
    assert alert.status == "resolved"
    assert alert.labels["node"] == "ip-10-0-3-17.eu-west-1.compute.internal"
    assert alert.starts_at == datetime(2024, 5, 14, 5, 2, 15, 500000, tzinfo=UTC)
    assert alert.ends_at == datetime(2024, 5, 14, 5, 47, 45, 500000, tzinfo=UTC)
    assert alert.ends_at > alert.starts_at


def test_every_alert_of_a_group_is_read_and_truncated_alerts_are_counted() -> None:
    data = payload("two-alerts-truncated.json")

    alerts = parse_alerts(data)

    assert [a.labels["pod"] for a in alerts] == ["api-5f6d7c8b9-q4w7e", "worker-0"]
    assert WebhookPayload.model_validate(data).truncated_alerts == 3


@pytest.mark.parametrize(
    "name",
    [
        "kube-pod-crash-looping-firing.json",
        "kube-node-not-ready-resolved.json",
        "two-alerts-truncated.json",
    ],
)
def test_alertmanager_fingerprints_in_payloads_match_ours(name: str) -> None:
    for raw, alert in zip(payload(name)["alerts"], parse_alerts(payload(name)), strict=True):
        assert alert.fingerprint == raw["fingerprint"]
        assert fingerprint(alert.labels) == raw["fingerprint"]


def test_a_fingerprint_sent_by_alertmanager_is_kept_as_sent() -> None:
    [alert] = parse_alerts(
        {
            "version": "4",
            "alerts": [{"labels": {"alertname": "X"}, "fingerprint": "0123456789abcdef"}],
        }
    )
    assert alert.fingerprint == "0123456789abcdef"


def test_the_payload_envelope_is_read() -> None:
    envelope = WebhookPayload.model_validate(payload("kube-pod-crash-looping-firing.json"))

    assert envelope.receiver == "reconciler"
    assert envelope.group_labels == {"alertname": "KubePodCrashLooping", "namespace": "prod"}
    assert envelope.external_url == "http://alertmanager-main.monitoring.svc:9093"
    assert envelope.group_key.startswith("{}/")


def test_unknown_payload_fields_are_ignored() -> None:
    data = payload("kube-pod-crash-looping-firing.json")
    data["somethingNew"] = {"added": "in a later Alertmanager"}
    data["alerts"][0]["silencedBy"] = []

    assert len(parse_alerts(data)) == 1


# --- bare alerts (amtool) -----------------------------------------------------------------------


def test_bare_alerts_as_amtool_sends_them_are_read() -> None:
    alerts = parse_alerts(payload("amtool-alerts.json"))

    assert [a.name for a in alerts] == ["KubePodCrashLooping", "KubeNodeNotReady"]
    assert alerts[0].status == "firing"
    assert alerts[0].starts_at == datetime(2024, 5, 14, 11, 0, tzinfo=UTC)
    assert alerts[1].ends_at == datetime(2024, 5, 14, 12, 0, tzinfo=UTC)


def test_one_bare_alert_is_read_as_a_list_of_one() -> None:
    [alert] = parse_alerts({"labels": {"alertname": "Watchdog"}})
    assert alert.name == "Watchdog"
    assert alert.status == "firing"
    assert alert.annotations == {}


def test_an_alert_without_a_fingerprint_gets_one_computed_from_its_labels() -> None:
    alerts = parse_alerts(payload("amtool-alerts.json"))

    for alert in alerts:
        assert len(alert.fingerprint) == 16
        assert int(alert.fingerprint, 16) >= 0
        assert alert.fingerprint == fingerprint(alert.labels)
    assert alerts[0].fingerprint != alerts[1].fingerprint


def test_a_computed_fingerprint_is_stable_and_ignores_label_order() -> None:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": "web-1"}
    reordered = dict(reversed(labels.items()))

    first = parse_alerts([{"labels": labels}])[0].fingerprint
    again = parse_alerts([{"labels": labels}])[0].fingerprint
    other_order = parse_alerts([{"labels": reordered}])[0].fingerprint

    assert first == again == other_order


def test_a_computed_fingerprint_ignores_annotations_status_and_times() -> None:
    labels = {"alertname": "KubeNodeNotReady", "node": "n1"}
    plain = parse_alerts([{"labels": labels}])[0]
    decorated = parse_alerts(
        [
            {
                "labels": labels,
                "annotations": {"summary": "Node is not ready."},
                "status": "resolved",
                "startsAt": "2024-05-14T11:00:00Z",
            }
        ]
    )[0]
    assert plain.fingerprint == decorated.fingerprint


# --- fingerprint against Prometheus' own test vectors -------------------------------------------
# prometheus/common model/metric_test.go (LabelSet.Fingerprint, FNV-1a 64 with 0xff separators).


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {"first_name": "electro", "occupation": "robot", "manufacturer": "westinghouse"},
            5911716720268894962,
        ),
        ({}, 14695981039346656037),
        ({"x": "y"}, 8241431561484471700),
        ({"a": "bb", "b": "c"}, 3016285359649981711),
        ({"a": "b", "bb": "c"}, 7122421792099404749),
    ],
)
def test_the_fingerprint_is_prometheus_label_set_fingerprint(
    labels: dict[str, str], expected: int
) -> None:
    assert fingerprint(labels) == f"{expected:016x}"


def test_the_fingerprint_is_sixteen_lowercase_hex_digits() -> None:
    value = fingerprint(
        {"first_name": "electro", "occupation": "robot", "manufacturer": "westinghouse"}
    )
    assert value == "520aa309145d62f2"


def test_label_boundaries_change_the_fingerprint() -> None:
    assert fingerprint({"a": "bb", "b": "c"}) != fingerprint({"a": "b", "bb": "c"})


# --- errors -------------------------------------------------------------------------------------


def test_a_webhook_payload_of_another_version_is_refused() -> None:
    data = payload("kube-pod-crash-looping-firing.json")
    data["version"] = "3"

    with pytest.raises(InputError, match=r"webhook version '3'; expected \"4\""):
        parse_alerts(data, "alert.json")


def test_errors_name_the_source() -> None:
    with pytest.raises(InputError, match=r"^alert\.json: "):
        parse_alerts({"version": "3", "alerts": []}, "alert.json")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"version": "4", "alerts": [{"labels": {"alertname": "X"}, "status": "pending"}]},
            "alerts.0.status",
        ),
        ({"version": "4", "alerts": [{"labels": {}}]}, "alerts.0.labels"),
        ({"version": "4", "alerts": [{"annotations": {}}]}, "alerts.0.labels"),
        ({"version": "4", "alerts": "KubePodCrashLooping"}, "alerts"),
        ({"version": "4", "truncatedAlerts": "many", "alerts": []}, "truncatedAlerts"),
        ([{"labels": {"alertname": 1}}], "labels.alertname"),
        ([{"labels": {"alertname": "X"}, "startsAt": "yesterday"}], "startsAt"),
        ({"labels": {"alertname": "X"}, "endsAt": "soon"}, "endsAt"),
        ({"labels": {"alertname": "X"}, "endsAt": 0}, "endsAt"),
        ({"labels": {"alertname": "X"}, "startsAt": 1767225600.5}, "startsAt"),
        ({"annotations": {"summary": "no labels"}}, "labels"),
    ],
)
def test_a_malformed_alert_is_refused_naming_the_field(data: Any, field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_alerts(data, "alert.json")
    assert f"alert.json: {field}: " in str(caught.value)


@pytest.mark.parametrize("data", ["KubePodCrashLooping", 42, None, 4.5])
def test_something_that_is_not_an_alert_is_refused(data: Any) -> None:
    with pytest.raises(InputError, match="expected an Alertmanager webhook payload"):
        parse_alerts(data, "alert.json")


def test_a_list_holding_something_other_than_alerts_is_refused() -> None:
    with pytest.raises(InputError, match=r"^alert\.json: "):
        parse_alerts(["KubePodCrashLooping"], "alert.json")
