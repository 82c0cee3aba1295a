"""Where the operator reaches the API server from a pod: by the address every pod is
given, never by a name that needs cluster DNS."""

from __future__ import annotations

from souverain.handlers.lifecycle import in_cluster_server


def test_a_pod_reaches_the_api_server_by_its_service_address() -> None:
    environment = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_server(environment) == "https://10.96.0.1:443"


def test_an_ipv6_service_address_is_bracketed() -> None:
    environment = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    assert in_cluster_server(environment) == "https://[fd00::1]:6443"


def test_the_port_defaults_to_443_and_outside_a_pod_there_is_none() -> None:
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) == "https://10.0.0.1:443"
    assert in_cluster_server({}) is None
