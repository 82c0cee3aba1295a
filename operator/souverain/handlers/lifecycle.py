"""kopf's settings and its connection to the API server."""

from __future__ import annotations

from typing import Any

import aiohttp
import kopf

from souverain import API_GROUP


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Keeps kopf's bookkeeping under the project's own API group."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    settings.posting.reporting_component = "souverain"
    settings.watching.server_timeout = 300
    settings.execution.max_workers = 16


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
