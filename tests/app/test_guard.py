"""The Host and content-type rules of the service's cross-site guard, and `--allowed-hosts`.

The guard in front of a real service is exercised in tests/e2e/test_service_guard.py.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.app.guard import Hosts, is_json, is_loopback
from reconciler.settings import ServiceSettings


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8080",
        "localhost:8080",
        "LOCALHOST",
        "[::1]:8080",
        "::1",
        "127.0.0.2:9",
        "localhost.",
    ],
)
def test_loopback_names_are_always_accepted(host: str) -> None:
    assert Hosts.of("127.0.0.1:8080", ()).accepts(host)
    assert Hosts.of("10.0.0.5:8080", ()).accepts(host)


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example", ""],
)
def test_names_a_rebinding_page_would_send_are_refused(host: str) -> None:
    for listen in ("127.0.0.1:8080", "0.0.0.0:8080", "[::]:8080", "10.0.0.5:8080"):
        assert not Hosts.of(listen, ()).accepts(host)


def test_a_request_without_host_is_no_browser_and_is_accepted() -> None:
    # HTTP/1.0 tools may leave Host out; a browser, the only rebinding victim, never does.
    assert Hosts.of("127.0.0.1:8080", ()).accepts(None)


def test_the_listen_address_is_accepted_on_any_port() -> None:
    hosts = Hosts.of("10.0.0.5:8080", ())
    assert hosts.accepts("10.0.0.5:8080") and hosts.accepts("10.0.0.5")
    assert not hosts.accepts("10.0.0.6:8080")  # another address of nobody we know


def test_listening_on_every_address_accepts_any_address_so_probes_and_scrapes_get_in() -> None:
    # Kubelet probes and Prometheus send the pod IP, which the service cannot know in advance.
    for listen in ("0.0.0.0:8080", "[::]:8080"):
        hosts = Hosts.of(listen, ())
        assert hosts.accepts("10.244.1.17:8080")
        assert hosts.accepts("[fd00::17]:8080")
        assert not hosts.accepts("reconciler.monitoring.svc:8080")  # names must be allowed


def test_allowed_names_are_accepted_whatever_their_case_or_port() -> None:
    hosts = Hosts.of("0.0.0.0:8080", ("reconciler.monitoring.svc", "Reconciler.Example.com."))
    assert hosts.accepts("reconciler.monitoring.svc:8080")
    assert hosts.accepts("RECONCILER.MONITORING.SVC")
    assert hosts.accepts("reconciler.example.com")
    assert not hosts.accepts("monitoring.svc")
    assert Hosts.of("127.0.0.1:8080", ("*",)).accepts("anything.example")


def test_only_application_json_is_json() -> None:
    assert is_json("application/json")
    assert is_json("Application/JSON; charset=utf-8")
    for other in (
        None,
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        assert not is_json(other)
    assert not is_json("text/plain; application/json")


def test_loopback_listeners_are_told_apart_from_wider_ones() -> None:
    assert is_loopback("127.0.0.1:8080") and is_loopback("[::1]:8080")
    assert not is_loopback("0.0.0.0:8080") and not is_loopback("10.0.0.5:8080")


def test_allowed_hosts_are_read_from_a_comma_separated_flag_or_a_list() -> None:
    flag = ServiceSettings(allowed_hosts="reconciler, reconciler.monitoring.svc.")  # type: ignore[arg-type]
    assert flag.allowed_hosts == ("reconciler", "reconciler.monitoring.svc")
    listed = ServiceSettings.model_validate({"allowed_hosts": ["A.example", "[fd00::1]"]})
    assert listed.allowed_hosts == ("a.example", "fd00::1")
    assert ServiceSettings().allowed_hosts == ()


@pytest.mark.parametrize("name", ["http://reconciler.example", "reconciler:8080", "a b", "u@host"])
def test_an_allowed_host_that_is_no_host_name_is_refused_saying_how_to_write_one(name: str) -> None:
    with pytest.raises(ValidationError, match="is not a host name: write names such as"):
        ServiceSettings(allowed_hosts=name)  # type: ignore[arg-type]
