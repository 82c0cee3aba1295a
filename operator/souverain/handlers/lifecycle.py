"""Operator-wide settings, the API client, and the metrics endpoint, set up when kopf starts."""

from __future__ import annotations

import os
from typing import Any

import kopf

from souverain import API_GROUP, metrics
from souverain.kubeapi import KubeApi, load_api_client


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Keeps kopf's bookkeeping under the project's own API group, and connects."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    settings.posting.reporting_component = "souverain"
    settings.watching.server_timeout = 300
    settings.execution.max_workers = 16
    memo.kube = KubeApi(load_api_client())
    address = os.environ.get("SOUVERAIN_METRICS_ADDRESS", "")
    if address:
        metrics.serve(address)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod, the service account; elsewhere, the kubeconfig that ``$KUBECONFIG`` names."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
