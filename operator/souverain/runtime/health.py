"""``/healthz`` and ``/readyz``, served by every replica.

``/healthz`` answers while the process's event loop runs. ``/readyz`` answers 200 once
every informer has listed and the webhook server listens (when it runs), 503 before; the
Service in front of the webhooks sends reviews only to ready replicas. Both say in JSON
whether this replica is the active one.
"""

from __future__ import annotations

import json

from aiohttp import web

from souverain.placement.server import WebhookServer
from souverain.runtime.context import Context


class HealthServer:
    def __init__(self, context: Context, address: str, webhooks: WebhookServer | None) -> None:
        self.context = context
        self.address = address
        self.webhooks = webhooks
        self._runner: web.AppRunner | None = None

    def state(self) -> dict[str, object]:
        return {
            "identity": self.context.identity,
            "active": self.context.active.is_set(),
            "synced": self.context.snapshot.synced(),
            "webhooks": None if self.webhooks is None else self.webhooks.listening,
        }

    def ready(self) -> bool:
        return self.context.snapshot.synced() and (self.webhooks is None or self.webhooks.listening)

    async def healthz(self, _: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self.state()), content_type="application/json")

    async def readyz(self, _: web.Request) -> web.Response:
        return web.Response(
            status=200 if self.ready() else 503,
            text=json.dumps(self.state()),
            content_type="application/json",
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, _, port = self.address.rpartition(":")
        await web.TCPSite(self._runner, host or None, int(port)).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
