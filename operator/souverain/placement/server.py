"""The TLS server of the placement webhooks, served by every replica.

``POST /pin`` and ``POST /binding`` take an AdmissionReview and answer it from the
placement state (:func:`souverain.admission.review.review`): no API call, no per-request
log line. The certificate is mounted, shared between replicas through a Secret, or made
here (:mod:`souverain.certificates`). The webhook configurations that point the API
server here are applied by the active replica (:func:`configurations`).

Anything that is not a well-formed review is answered with a 4xx saying what is wrong
(405 for a method other than POST, 404 for another path, 415 for a body that is not
``application/json``, 413 for one over :data:`MAX_BODY_BYTES`, 400 for one that is not
JSON or not an AdmissionReview), and one warning line in the log. The API server counts
such an answer as a failure of the webhook; it never sends one.
"""

from __future__ import annotations

import base64
import logging
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from souverain.admission import placement
from souverain.admission.review import WEBHOOKS, malformation, review
from souverain.certificates import (
    ServingCertificate,
    serving_certificate,
    shared_serving_certificate,
)
from souverain.kubeapi import KubeApi
from souverain.metrics import Metrics
from souverain.placement.state import PlacementState
from souverain.settings import WebhookOptions

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 8 * 1024 * 1024
"""The largest review taken: the API server stores objects of up to about 3 MiB, and an
update's review carries the object twice (``object`` and ``oldObject``)."""


def hosts(options: WebhookOptions) -> tuple[str, ...]:
    """The names the API server calls the webhooks by."""
    if options.url:
        return (urlsplit(options.url).hostname or "localhost",)
    namespace, _, rest = options.service.partition("/")
    name = rest.partition(":")[0]
    return (f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")


def client_config(options: WebhookOptions, ca_pem: bytes) -> Callable[[str], dict[str, Any]]:
    """How the API server reaches the webhook at a path: by URL or through the Service."""
    bundle = base64.b64encode(ca_pem).decode()

    def config(path: str) -> dict[str, Any]:
        if options.url:
            return {"url": f"{options.url.rstrip('/')}/{path}", "caBundle": bundle}
        namespace, _, rest = options.service.partition("/")
        name, _, port = rest.partition(":")
        return {
            "service": {
                "namespace": namespace,
                "name": name,
                "port": int(port or 443),
                "path": f"/{path}",
            },
            "caBundle": bundle,
        }

    return config


def certificate(api: KubeApi, options: WebhookOptions) -> ServingCertificate:
    """The serving certificate: from the folder, from the shared Secret, or made now."""
    folder = Path(options.cert_dir or tempfile.mkdtemp(prefix="souverain-webhook-"))
    if options.secret:
        return shared_serving_certificate(api, options.secret, folder, hosts(options))
    return serving_certificate(folder, hosts(options))


def configurations(
    options: WebhookOptions, served: ServingCertificate, *, mutating_policies: bool
) -> list[dict[str, Any]]:
    """The webhook configurations pointing the API server at this server."""
    return placement.webhook_configurations(
        client_config(options, served.ca_pem),
        pinning_is_native=options.native and mutating_policies,
        # The Service in front of the operator is in the operator's own namespace.
        operator_namespace=options.service.partition("/")[0],
    )


class WebhookServer:
    """An aiohttp server answering the placement reviews over TLS."""

    def __init__(
        self,
        state: PlacementState,
        options: WebhookOptions,
        served: ServingCertificate,
        metrics: Metrics,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.options = options
        self.served = served
        self._runner: web.AppRunner | None = None
        self.listening = False

    async def answer(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            webhook, body = await self._review_of(request)
        except web.HTTPClientError as refused:
            log.warning("Refused %s %r: %s", request.method, request.path, refused.text)
            raise
        payload = body["request"]
        answer, outcome = review(
            webhook, body, self.state.placement_of(payload["namespace"]), ready=self.state.synced
        )
        operation = str(payload.get("operation", ""))
        self.metrics.record_admission(webhook, operation, outcome, time.perf_counter() - started)
        return web.Response(
            body=orjson.dumps(answer), content_type="application/json", charset="utf-8"
        )

    @staticmethod
    async def _review_of(request: web.Request) -> tuple[str, dict[str, Any]]:
        """The webhook asked and the review it is asked, or the 4xx refusing the request."""
        webhook = request.match_info["webhook"]
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(
                request.method, ["POST"], text=f"{request.method} is not allowed: POST a review"
            )
        if webhook not in WEBHOOKS:
            paths = " and ".join(f"/{each}" for each in WEBHOOKS)
            raise web.HTTPNotFound(text=f"no webhook {request.path!r} here: POST to {paths}")
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(
                text=f"the body must be application/json, not {request.content_type}"
            )
        too_large = f"the body is over {MAX_BODY_BYTES} bytes, more than any review"
        length = request.content_length or 0
        if length > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, length, text=too_large)
        try:
            body = orjson.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            # A chunked body with no length, found too large while it was read.
            raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, text=too_large) from None
        except ValueError as error:  # orjson's errors, also for JSON nested too deep
            raise web.HTTPBadRequest(text=f"not JSON: {error}") from None
        problem = malformation(webhook, body)
        if problem is not None:
            raise web.HTTPBadRequest(text=f"not an AdmissionReview: {problem}")
        return webhook, body

    async def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.served.certfile), str(self.served.keyfile))
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        # Every method and path comes to answer(), so that each refusal says why.
        app.router.add_route("*", "/{webhook:.*}", self.answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, _, port = self.options.listen.rpartition(":")
        site = web.TCPSite(self._runner, host or None, int(port), ssl_context=context)
        await site.start()
        self.listening = True
        log.info("Placement webhooks listening on %s", self.options.listen)

    async def stop(self) -> None:
        self.listening = False
        if self._runner is not None:
            await self._runner.cleanup()
