"""kopf's settings and its connection to the API server."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import kopf
from kubernetes.client.exceptions import ApiException

from souverain import API_GROUP
from souverain.kubeapi import describe, watch_inactivity
from souverain.runtime.context import context_of
from souverain.runtime.work import StandbyError

Handler = TypeVar("Handler", bound=Callable[..., Any])

API_RETRY_SECONDS = 2
"""How soon a handler is tried again after the API server failed it (5xx, 409, 429, no
answer)."""


def active_only(handler: Handler) -> Handler:
    """Runs a kopf handler only while this replica is the active one, and so that a
    replica stepping down waits for it to end; on a replica that no longer is, kopf
    is told to try again later (the active replica does it). A start-up activity is
    not tried again there: kopf would retry it until it succeeds, and never stop, and
    the next active replica runs its own."""

    @functools.wraps(handler)
    def acting(*args: Any, **kwargs: Any) -> Any:
        try:
            with context_of(kwargs["memo"]).acting():
                return handler(*args, **kwargs)
        except StandbyError:
            if "activity" in kwargs:
                return None
            raise kopf.TemporaryError("this replica is no longer the active one", delay=1) from None
        except OSError as error:
            # The API server is away or did not answer: kopf logs one line and tries
            # again, rather than a traceback for what is no bug.
            raise kopf.TemporaryError(describe(error), delay=API_RETRY_SECONDS) from None
        except ApiException as error:
            if error.status is None or (error.status < 500 and error.status not in (409, 429)):
                raise
            raise kopf.TemporaryError(describe(error), delay=API_RETRY_SECONDS) from None

    return acting  # type: ignore[return-value]


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Keeps kopf's bookkeeping under the project's own API group."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    settings.posting.reporting_component = "souverain"
    # The API server ends each watch after this long; a watch that sends nothing (not
    # even a bookmark) for a while is dead, and is opened again. Requests time out too,
    # so that an API server that stops answering costs seconds, not kopf's 5 minutes.
    watch_seconds = context_of(memo).watch_seconds
    settings.watching.server_timeout = watch_seconds
    settings.watching.inactivity_timeout = watch_inactivity(watch_seconds)
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.execution.max_workers = 16
    # An object's worker ends after this long without events. On SIGTERM kopf waits for
    # its workers to end before it returns, and the Lease is given back after that: a
    # short idle time is a fast handover (kopf's default is 5 s).
    settings.queueing.idle_timeout = 1.0


# Connections kopf may hold open to the API server. Each TLS connection costs a few
# hundred KiB; kopf's own default is unbounded, which at a few hundred objects being
# patched at once costs tens of MiB for no gain on a single API server.
API_CONNECTIONS = 16


KOPF_IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
"""The address kopf gives the API server in a pod: a DNS name, which needs cluster DNS."""


def in_cluster_server(environment: Mapping[str, str]) -> str | None:
    """The API server as every pod is told of it (``KUBERNETES_SERVICE_HOST`` and
    ``_PORT``), as client-go and the kubernetes package reach it: by address, so that the
    operator keeps working when cluster DNS does not answer. None outside a pod."""
    host = environment.get("KUBERNETES_SERVICE_HOST")
    port = environment.get("KUBERNETES_SERVICE_PORT") or "443"
    if not host:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """In a pod, the service account; elsewhere, the kubeconfig that ``$KUBECONFIG`` names;
    either way over a bounded pool of connections."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is None:
        return None
    server = in_cluster_server(os.environ) if info.server == KOPF_IN_CLUSTER_SERVER else None
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=API_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        server=server or info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        aiohttp_session=session,
    )
