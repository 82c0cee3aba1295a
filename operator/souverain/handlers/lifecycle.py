"""Operator-wide settings, the API client, and the metrics endpoint, set up when kopf starts."""

from __future__ import annotations

import os
import threading
from typing import Any

import aiohttp
import kopf

from souverain import API_GROUP, metrics
from souverain.handlers import drift, events
from souverain.handlers import namespace as namespace_handlers
from souverain.handlers.indices import given
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
    events.post_directly_with(memo.kube)
    address = os.environ.get("SOUVERAIN_METRICS_ADDRESS", "")
    if address:
        metrics.serve(address)


@kopf.on.startup()
def watch_managed_objects(memo: kopf.Memo, **kwargs: Any) -> None:
    """Starts the watches that put back deleted or edited managed objects."""
    api: KubeApi = memo.kube
    namespaces, profiles = given(kwargs, "sovereign_namespaces"), given(kwargs, "profiles")

    def repair(kind: str, obj: dict[str, Any], event_type: str) -> None:
        namespace_handlers.repair_if_drifted(kind, obj, event_type, api, namespaces, profiles)

    memo.drift_stop = threading.Event()
    drift.start(api, repair, memo.drift_stop)


@kopf.on.cleanup()
def stop_watches(memo: kopf.Memo, **_: Any) -> None:
    """Ends the watches of managed objects."""
    stop = getattr(memo, "drift_stop", None)
    if stop is not None:
        stop.set()


# Connections kopf may hold open to the API server. Each TLS connection costs a few
# hundred KiB; kopf's own default is unbounded, which at a few hundred objects being
# patched at once costs tens of MiB for no gain on a single API server.
API_CONNECTIONS = 16


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """In a pod, the service account; elsewhere, the kubeconfig that ``$KUBECONFIG`` names;
    either way over a bounded pool of connections."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is None:
        return None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=API_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        aiohttp_session=session,
    )
