"""``souverain run``: the start-up order of the operator, in one place.

1. Options, the API client, the context (informers, placement state, Event poster).
2. Once the API server serves the operator's own kinds (their storage may still be
   initializing right after their CRDs were made), the informers start listing; the
   settle loop and the node counter wait for leadership.
3. ``/healthz`` and ``/readyz``, the metrics, and the webhook server start: every
   replica serves the webhooks.
4. Once every informer has listed, the replica campaigns for the Lease (without a Lease
   configured, it acts at once).
5. Active: it applies the webhook configurations, settles every namespace, counts every
   profile's nodes, and starts kopf (standalone) with the context in its ``memo``.
6. On SIGTERM it stops acting, stops kopf, and gives the Lease back, so that a standby
   takes over at its next try; if it loses the Lease, it stops acting and exits with
   code 1, to start again as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import socket
import threading
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from souverain.admission import placement
from souverain.handlers import drift, recheck
from souverain.handlers import namespace as namespace_handlers
from souverain.handlers import profile as profile_handlers
from souverain.handlers import volume as volume_handlers
from souverain.kubeapi import KubeApi, describe, load_api_client
from souverain.placement.server import WebhookServer, certificate, configurations
from souverain.placement.settle import Settler
from souverain.reconcile.probe_objects import PROBE_ROLE, probe_role
from souverain.runtime import logs
from souverain.runtime.context import Context
from souverain.runtime.health import HealthServer
from souverain.runtime.informer import Change
from souverain.runtime.lease import LeaseElector, Timings
from souverain.runtime.served import wait_served
from souverain.runtime.work import StandbyError, start_worker, work_on
from souverain.settings import RunOptions, WebhookOptions

log = logging.getLogger(__name__)

STEP_DOWN_SECONDS = 20.0
"""The longest a leaving replica waits for its work under way to end (within the
kubelet's 30 s of grace)."""
KOPF_GRACE_SECONDS = 0.5
"""How long kopf gets to wind down before the Lease is given back anyway."""


def default_identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}"


def when_active(context: Context, subscriber: Any) -> Any:
    """``subscriber``, called only while this replica is the active one."""

    def gated(change: Change) -> None:
        with contextlib.suppress(StandbyError), context.acting():
            subscriber(context, change)

    return gated


def wire(context: Context) -> Settler:
    """Subscribes the work of the active replica to the informers; returns the settle
    loop of placement."""
    snapshot = context.snapshot
    for informer in (snapshot.namespaces, snapshot.network_policies, snapshot.role_bindings):
        informer.subscribe(when_active(context, drift.repair_if_drifted))
    snapshot.nodes.subscribe(when_active(context, profile_handlers.nodes_changed))
    snapshot.resident_claims.subscribe(when_active(context, volume_handlers.claim_changed))
    snapshot.volumes.subscribe(when_active(context, volume_handlers.volume_changed))
    for informer in (snapshot.mutating_webhooks, snapshot.validating_webhooks):
        informer.subscribe(when_active(context, drift.keep_webhook_configuration))
    snapshot.policy_bindings.subscribe(when_active(context, drift.keep_profile_bindings))

    def placement_changed(namespace: str) -> None:
        namespace_handlers.placement_changed(context, namespace)

    return Settler(
        context.placement, context.api, context.events, placement_changed, context.metrics
    )


def webhook_owner(api: KubeApi, name: str) -> dict[str, Any] | None:
    """The owner reference the webhook configurations carry: ``{}`` when no owner is
    configured, None when the configured ClusterRole does not exist."""
    if not name:
        return {}
    found = api.get("ClusterRole", name)
    if found is None:
        return None
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "name": name,
        "uid": found["metadata"]["uid"],
    }


def keep_probe_role(api: KubeApi) -> None:
    """Creates the probe identity's ClusterRole where the installation did not (the Helm
    chart does): without it no namespace can be seen enforced, and none is Ready."""
    if api.get("ClusterRole", PROBE_ROLE) is not None:
        return
    try:
        api.create(probe_role())
    except ApiException as error:
        log.warning(
            "ClusterRole %s is missing and cannot be created (%s): no namespace can be "
            "probed, so none will be Ready",
            PROBE_ROLE,
            describe(error),
        )


def activate(context: Context, settler: Settler, served: Any) -> None:
    """What a replica does when it becomes the active one, before kopf starts."""
    api = context.api
    owner = webhook_owner(api, context.webhook.owner) if served is not None else {}
    if served is not None and owner is None:
        log.warning(
            "ClusterRole %s, which owns the webhook configurations, is gone (the release is "
            "being uninstalled): the webhooks are left out, the native policies hold",
            context.webhook.owner,
        )
    elif served is not None:
        for configuration in configurations(
            context.webhook, served, mutating_policies=context.placement.mutating_policies
        ):
            if owner:
                configuration["metadata"]["ownerReferences"] = [owner]
            api.apply(configuration)
            context.webhook_configurations[configuration["kind"]] = configuration
    else:
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            api.delete(kind, placement.WEBHOOK_CONFIGURATION_NAME)
    keep_probe_role(api)
    context.active.set()
    context.metrics.leader.set(1)
    settler.activate()
    context.counts.add(*(p["metadata"]["name"] for p in context.snapshot.profiles.items()))


def run(options: RunOptions, webhook: WebhookOptions) -> int:
    """Runs the operator until SIGTERM or SIGINT; the exit code."""
    import souverain.handlers  # noqa: F401  (registers the kopf handlers)

    # `kill -USR1` prints every thread's stack to stderr, to see what a busy replica does.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    logs.configure(verbose=options.verbose, json=options.log_format == "json")
    api = KubeApi(load_api_client())
    identity = options.identity or default_identity()
    context = Context.build(api, webhook, identity, watch_seconds=options.watch_seconds)
    return asyncio.run(_serve(context, options))


async def _serve(context: Context, options: RunOptions) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop(signum: signal.Signals) -> None:
        # Ctrl-C under `make run` brings SIGINT, then the script's SIGTERM: one line.
        log.log(
            logging.DEBUG if stopping.is_set() else logging.INFO,
            "Received %s: stopping",
            signum.name,
        )
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    log.info(
        "souverain starting as %s (%s)",
        context.identity,
        f"Lease {options.lease}" if options.lease else "no Lease: acting alone",
    )

    # The informers list the operator's own kinds once the API server serves them.
    given_up = threading.Event()
    if not await _until(stopping, asyncio.to_thread(wait_served, context.api, given_up)):
        given_up.set()
        return 0
    settler = wire(context)
    context.snapshot.start(context.stop)
    start_worker(
        "placement-settle", lambda: settler.run(context.stop, context.active, context.acting)
    )
    start_worker(
        "profile-nodes",
        lambda: work_on(
            context.counts,
            lambda name: profile_handlers.count_nodes(context, name),
            context.stop,
            context.active,
            context.acting,
        ),
    )
    start_worker("recheck", lambda: recheck.run(context))
    start_worker(
        "repairs",
        lambda: work_on(
            context.repairs,
            lambda key: drift.repair(context, key),
            context.stop,
            context.active,
            context.acting,
        ),
    )
    if options.metrics:
        context.metrics.serve(options.metrics)
    served = webhooks = None
    if context.webhook.enabled:
        served = await asyncio.to_thread(certificate, context.api, context.webhook)
        webhooks = WebhookServer(context.placement, context.webhook, served, context.metrics)
        await webhooks.start()
    health = HealthServer(context, options.liveness, webhooks) if options.liveness else None
    if health is not None:
        await health.start()

    leading = threading.Event()  # set to end the campaign or the renewals
    elector = None
    if options.lease:
        namespace, _, name = options.lease.partition("/")
        timings = Timings.scaled(options.lease_seconds)
        elector = LeaseElector(context.api, namespace, name, context.identity, timings)

    code = 0
    kopf_stop = threading.Event()
    kopf_thread: threading.Thread | None = None
    renewals: asyncio.Future[bool] | None = None
    try:
        if not await _until(stopping, asyncio.to_thread(context.snapshot.wait_synced, leading)):
            return 0
        log.info("Every informer has listed; %s", "campaigning" if elector else "acting alone")
        if elector is not None:
            campaign = asyncio.to_thread(elector.campaign, leading)
            if not await _until(stopping, campaign):
                return 0
        await asyncio.to_thread(activate, context, settler, served)
        log.info("Active as %s", context.identity)
        kopf_ended = asyncio.Event()
        kopf_thread = threading.Thread(
            target=_run_kopf,
            args=(context, kopf_stop, lambda: loop.call_soon_threadsafe(kopf_ended.set)),
            name="souverain-kopf",
            daemon=True,
        )
        kopf_thread.start()
        # Not a thread blocked in join: one that never returned would keep the process
        # from exiting, as the interpreter waits for its executor's threads.
        kopf_done = asyncio.ensure_future(kopf_ended.wait())
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stopping.wait()), kopf_done]
        if elector is not None:
            renewals = asyncio.ensure_future(asyncio.to_thread(elector.keep, leading))
            waits.append(renewals)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not stopping.is_set():
            log.error("Stopping: %s", "kopf ended" if kopf_done.done() else "the Lease was lost")
            code = 1
    finally:
        # No new work begins; work under way ends before the Lease is given back. kopf
        # may still wind down its idle workers and timers for a few seconds: they can
        # no longer act (every handler runs inside ``context.acting()``).
        kopf_stop.set()
        if not await asyncio.to_thread(context.step_down, STEP_DOWN_SECONDS):
            log.warning("Work still under way after %.0f s; stopping anyway", STEP_DOWN_SECONDS)
        context.metrics.leader.set(0)
        leading.set()
        if kopf_thread is not None:
            await asyncio.to_thread(kopf_thread.join, KOPF_GRACE_SECONDS)
        if renewals is not None:
            await renewals
        if elector is not None:
            await asyncio.to_thread(elector.release)
        context.stop.set()
        log.info("Stopped")
        if webhooks is not None:
            await webhooks.stop()
        if health is not None:
            await health.stop()
    return code


async def _until(stopping: asyncio.Event, work: Any) -> bool:
    """Awaits ``work`` unless ``stopping`` is set first; its result, or False."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not task.done():
        return False  # the thread ends on its own once ``leading`` is set
    return bool(task.result())


def _run_kopf(context: Context, stop: threading.Event, ended: Any) -> None:
    """kopf, standalone, on its own thread and event loop, until ``stop``; calls
    ``ended`` when kopf returns."""
    try:
        kopf.run(
            clusterwide=True,
            standalone=True,
            stop_flag=stop,
            memo=kopf.Memo(context=context),
        )
    finally:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            ended()
