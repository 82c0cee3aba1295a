"""Replicas of the operator share one generated webhook certificate through a Secret, so
that the API server trusts whichever replica its webhook Service reaches."""

from __future__ import annotations

import concurrent.futures
import uuid
from pathlib import Path
from typing import Any

from souverain.certificates import shared_serving_certificate
from souverain.kubeapi import KubeApi, load_api_client

HOSTS = ("souverain-webhook.souverain-system.svc",)


def test_replicas_starting_together_agree_on_one_certificate(
    namespace: str, tmp_path: Path, core: Any
) -> None:
    secret = f"{namespace}/webhook-{uuid.uuid4().hex[:6]}"

    def replica(index: int) -> bytes:
        api = KubeApi(load_api_client())
        made = shared_serving_certificate(api, secret, tmp_path / f"replica-{index}", HOSTS)
        return made.certfile.read_bytes() + made.ca_pem

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(replica, range(4)))
    assert len(set(results)) == 1, "the replicas ended with different certificates"
    stored = core.read_namespaced_secret(secret.split("/")[1], namespace)
    assert stored.type == "kubernetes.io/tls"
    assert set(stored.data) == {"tls.crt", "tls.key", "ca.crt"}
    assert (tmp_path / "replica-0" / "tls.key").stat().st_mode & 0o777 == 0o600


def test_a_certificate_that_no_longer_covers_the_service_is_replaced(
    namespace: str, tmp_path: Path
) -> None:
    secret = f"{namespace}/webhook-{uuid.uuid4().hex[:6]}"
    api = KubeApi(load_api_client())
    first = shared_serving_certificate(api, secret, tmp_path / "a", HOSTS)
    again = shared_serving_certificate(api, secret, tmp_path / "b", HOSTS)
    assert again.ca_pem == first.ca_pem
    moved = shared_serving_certificate(api, secret, tmp_path / "c", ("other.svc",))
    assert moved.ca_pem != first.ca_pem
    reread = shared_serving_certificate(api, secret, tmp_path / "d", ("other.svc",))
    assert reread.ca_pem == moved.ca_pem
