"""Placement at run time: the operator's admission webhooks, and the drift of pods
already running (a node that loses its qualification, a namespace adopted with pods on
other nodes), reported in status, Events and metrics, and evicted under Enforce.

One :class:`Tracker` holds what both need, kept by three label-selected or plain watch
threads (bound Namespaces, Nodes, Pods): reading it costs the webhooks no API call. The
webhooks are served by kopf's webhook server over TLS; their reviews are answered by a
lean dispatcher (no per-request logging, profile data computed once per profile
version), and kopf's own admission handling serves any other path.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast
from urllib.parse import urlsplit

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from souverain import labels, metrics
from souverain.admission import placement
from souverain.api import Condition, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.certificates import serving_certificate, shared_serving_certificate
from souverain.handlers import events
from souverain.handlers.indices import first, given
from souverain.kubeapi import KubeApi, load_api_client
from souverain.reconcile.placement import Compliance, assess, placement_conditions
from souverain.reconcile.qualification import qualifies
from souverain.settings import WebhookOptions

log = logging.getLogger(__name__)

EVICTION_RETRY_SECONDS = 5.0
SWEEP_SECONDS = 2.0
LAYER_MUTATING_POLICY = "MutatingAdmissionPolicy"
LAYER_VALIDATING_POLICY = "ValidatingAdmissionPolicy"
LAYER_WEBHOOK = "AdmissionWebhook"


@dataclass
class PlacementReport:
    """What a SovereignNamespace's status says about placement."""

    conditions: list[Condition]
    compliant_pods: int
    non_compliant_pods: int
    layers: list[str]


@dataclass
class _Profile:
    version: str | None
    spec: SovereigntyProfileSpec
    pins: placement.Pinning


@dataclass
class Tracker:
    """Bound namespaces, node labels and scheduled pods, as the watches last saw them."""

    api: KubeApi
    profiles: kopf.Index[str, Any]
    options: WebhookOptions
    mutating_policies: bool = False
    bound: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    pods: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    """namespace -> pod -> (uid, node) of scheduled pods that are not finished or leaving."""
    on_change: Callable[[str], None] | None = None
    synced: threading.Event = field(default_factory=threading.Event)
    _listed: set[str] = field(default_factory=set)
    _cache: dict[str, _Profile] = field(default_factory=dict)
    _dirty: set[str] = field(default_factory=set)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _reported: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    _last: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = field(default_factory=dict)
    _retry: dict[tuple[str, str], float] = field(default_factory=dict)
    _blocked: set[tuple[str, str]] = field(default_factory=set)
    _fresh: dict[tuple[str, str], str] = field(default_factory=dict)
    """(namespace, pod) -> uid of pods created while the operator watched, not yet
    announced as pinned (pods found at start-up are not: their Events were posted then)."""
    _settling: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    # -- lookups (also from the event loop: no API calls, no locks held long) --------

    def profile_of(self, namespace: str) -> _Profile | None:
        """The profile of a bound namespace, parsed once per profile version."""
        name = self.bound.get(namespace)
        if name is None:
            return None
        try:
            body = first(self.profiles, name)
        except RuntimeError:  # the index changed while being read
            body = None
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        version = body["metadata"].get("resourceVersion")
        cached = self._cache.get(name)
        if cached is not None and cached.version == version:
            return cached
        try:
            spec = SovereigntyProfileSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return None
        cached = _Profile(version, spec, placement.pinning(name, spec))
        self._cache[name] = cached
        return cached

    def node_qualifies(self, profile: _Profile) -> Callable[[str], bool]:
        def check(node: str) -> bool:
            found = self.nodes.get(node)
            return found is not None and qualifies(found, profile.spec.node_requirements)

        return check

    def layers(self, profile: _Profile) -> list[str]:
        found = []
        if self.options.native:
            if self.mutating_policies and profile.pins.enforced:
                found.append(LAYER_MUTATING_POLICY)
            found.append(LAYER_VALIDATING_POLICY)
        if self.options.enabled:
            found.append(LAYER_WEBHOOK)
        return found

    def compliance(self, namespace: str, profile: _Profile) -> Compliance:
        scheduled = {pod: node for pod, (_, node) in dict(self.pods.get(namespace, {})).items()}
        return assess(scheduled, self.nodes, profile.spec.node_requirements)

    def report(self, namespace: str, generation: int | None) -> PlacementReport | None:
        """Placement conditions and counts of a bound namespace, once the watches have
        listed everything; None before that or when the namespace has no profile."""
        profile = self.profile_of(namespace)
        if profile is None or not self.synced.is_set():
            return None
        found = self.compliance(namespace, profile)
        layers = self.layers(profile)
        evicting = profile.pins.enforced and profile.spec.enforcement.evict_non_compliant
        conditions = placement_conditions(
            profile.pins.profile, profile.pins.enforced, evicting, layers, found, generation
        )
        return PlacementReport(conditions, len(found.compliant), len(found.non_compliant), layers)

    # -- changes seen by the watches ------------------------------------------------

    def mark(self, *namespaces: str) -> None:
        with self._wake:
            self._dirty.update(namespaces)
            self._wake.notify()

    def mark_profile(self, profile: str) -> None:
        self._cache.pop(profile, None)
        self.mark(*(ns for ns, name in list(self.bound.items()) if name == profile))

    def namespace_seen(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        profile = (obj["metadata"].get("labels") or {}).get(labels.PROFILE)
        if event_type == "DELETED" or not profile:
            self.bound.pop(name, None)
        else:
            self.bound[name] = profile
        self.mark(name)

    def node_seen(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        new = None if event_type == "DELETED" else dict(obj["metadata"].get("labels") or {})
        old = self.nodes.get(name)
        if new is None:
            self.nodes.pop(name, None)
        else:
            self.nodes[name] = new
        if old != new:
            self.mark(
                *(
                    ns
                    for ns, pods in list(self.pods.items())
                    if ns in self.bound and any(node == name for _, node in pods.values())
                )
            )

    def pod_seen(self, event_type: str, obj: dict[str, Any]) -> None:
        metadata, spec = obj["metadata"], obj.get("spec") or {}
        namespace, name = metadata["namespace"], metadata["name"]
        node = spec.get("nodeName")
        phase = (obj.get("status") or {}).get("phase")
        pods = self.pods.setdefault(namespace, {})
        before = pods.get(name)
        gone = (
            event_type == "DELETED"
            or not node
            or phase in ("Succeeded", "Failed")
            or metadata.get("deletionTimestamp")
        )
        if event_type == "ADDED" and self.synced.is_set() and namespace in self.bound:
            self._fresh[(namespace, name)] = str(metadata["uid"])
        elif event_type == "DELETED":
            self._fresh.pop((namespace, name), None)
        if gone:
            pods.pop(name, None)
        else:
            pods[name] = (str(metadata["uid"]), str(node))
        if pods.get(name) != before and namespace in self.bound:
            self.mark(namespace)

    def listed(self, kind: str) -> None:
        """A watch finished its first list; once all have, every namespace is settled."""
        self._listed.add(kind)
        if {"Namespace", "Node", "Pod"} <= self._listed and not self.synced.is_set():
            self.synced.set()
            self.mark(*self.bound)

    # -- settling: metrics, Events, evictions, status -------------------------------

    def start_settling(self) -> None:
        """Starts the thread that settles namespaces, from a kopf handler's context: kopf
        posts Events only from a context derived from its resource processing, which its
        startup activities do not have. Nothing needs settling before a profile exists."""
        if self._settling is None:
            self._settling = _thread("placement-settle", self.run, self.stop)

    def run(self, stop: threading.Event) -> None:
        """Settles namespaces marked by the watches, a few at a time, until ``stop``."""
        while not stop.is_set():
            with self._wake:
                if not self._dirty:
                    self._wake.wait(SWEEP_SECONDS)
                now = time.monotonic()
                due = {ns for (ns, _), when in self._retry.items() if when <= now}
                dirty, self._dirty = self._dirty | due, set()
            if not self.synced.is_set():
                continue
            for namespace in sorted(dirty):
                try:
                    self.settle(namespace)
                except Exception:
                    log.exception("Settling the placement of namespace %s failed", namespace)

    def settle(self, namespace: str) -> None:
        profile = self.profile_of(namespace)
        if profile is None:
            metrics.record_non_compliant(namespace, None, 0)
            self._reported.pop(namespace, None)
            self._last.pop(namespace, None)
            return
        found = self.compliance(namespace, profile)
        metrics.record_non_compliant(
            namespace, profile.pins.profile, len(found.non_compliant), len(found.compliant)
        )
        pods = dict(self.pods.get(namespace, {}))
        for pod in found.compliant:
            uid = self._fresh.get((namespace, pod))
            if uid is not None and pod in pods and pods[pod][0] == uid:
                self._fresh.pop((namespace, pod), None)
                events.post(
                    _pod_ref(namespace, pod, uid),
                    c.POD_PINNED,
                    f"Pinned to nodes that meet {profile.pins.requirement_text}"
                    f" (SovereigntyProfile {profile.pins.profile}); runs on node {pods[pod][1]}.",
                )
        reported = self._reported.get(namespace, set())
        current = {(pod, node) for pod, node in found.non_compliant}
        for pod, node in sorted(current - reported):
            uid = pods[pod][0] if pod in pods else ""
            events.post(
                _pod_ref(namespace, pod, uid),
                c.POD_ON_UNQUALIFIED_NODE,
                f"Node {node} does not meet {profile.pins.requirement_text}, which"
                f" SovereigntyProfile {profile.pins.profile} requires.",
                warning=True,
            )
        self._reported[namespace] = current
        if profile.pins.enforced and profile.spec.enforcement.evict_non_compliant:
            for pod, node in found.non_compliant:
                if pod in pods:
                    self._evict(namespace, pod, pods[pod][0], node)
        for key in [k for k in self._retry if k[0] == namespace and k[1] not in pods]:
            self._retry.pop(key, None)
            self._blocked.discard(key)
        summary = (len(found.compliant), found.non_compliant)
        if self._last.get(namespace) != summary:
            self._last[namespace] = summary
            if self.on_change is not None:
                self.on_change(namespace)

    def _evict(self, namespace: str, pod: str, uid: str, node: str) -> None:
        key = (namespace, pod)
        if self._retry.get(key, 0.0) > time.monotonic():
            return
        # Evicted or not, the pod is not asked about again for a while: an evicted pod
        # takes a moment to leave, and a budget takes a moment to allow more.
        self._retry[key] = time.monotonic() + EVICTION_RETRY_SECONDS
        try:
            status = self.api.evict(pod, namespace)
        except ApiException as error:
            metrics.EVICTIONS.labels(namespace=namespace, result="failed").inc()
            log.warning("Evicting pod %s/%s failed: %s", namespace, pod, error.reason)
            return
        ref = _pod_ref(namespace, pod, uid)
        if status == 429:
            metrics.EVICTIONS.labels(namespace=namespace, result="blocked").inc()
            if key not in self._blocked:
                self._blocked.add(key)
                events.post(
                    ref,
                    c.EVICTION_BLOCKED,
                    f"Eviction from node {node} is refused for now by a PodDisruptionBudget;"
                    " the operator tries again.",
                    warning=True,
                )
        elif status == 201:
            self._blocked.discard(key)
            metrics.EVICTIONS.labels(namespace=namespace, result="evicted").inc()
            events.post(
                ref,
                c.POD_EVICTED,
                f"Evicted from node {node}, which does not qualify, so that the pod's controller"
                " recreates it on a qualified node.",
                warning=True,
            )
            log.info("Evicted pod %s/%s from node %s, which does not qualify", namespace, pod, node)

    # -- admission reviews (on the event loop) --------------------------------------

    def review(self, webhook: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """The AdmissionReview answering ``request`` for one of the placement webhooks."""
        started = time.perf_counter()
        payload = request.get("request") or {}
        operation = str(payload.get("operation", ""))
        response: dict[str, Any] = {"uid": payload.get("uid", ""), "allowed": True}
        outcome = "allowed"
        profile = self.profile_of(str(payload.get("namespace", "")))
        if profile is None and not self.synced.is_set():
            response["allowed"] = False
            response["status"] = {"code": 503, "message": "souverain is starting; try again"}
            outcome = "refused"
        elif profile is not None:
            outcome = self._decide(webhook, payload, profile, response)
        metrics.ADMISSION_DECISIONS.labels(webhook, operation, outcome).inc()
        metrics.ADMISSION_SECONDS.labels(webhook, operation).observe(time.perf_counter() - started)
        return {
            "apiVersion": request.get("apiVersion", "admission.k8s.io/v1"),
            "kind": "AdmissionReview",
            "response": response,
        }

    def _decide(
        self, webhook: str, payload: Mapping[str, Any], profile: _Profile, response: dict[str, Any]
    ) -> str:
        obj = payload.get("object") or {}
        original = spec = obj.get("spec") or {}
        qualifies_ = self.node_qualifies(profile)
        if webhook == placement.BINDING_WEBHOOK:
            target = (obj.get("target") or {}).get("name", "")
            refusal = placement.binding_refusal(target, profile.pins, qualifies_)
            found = [refusal] if refusal else []
        else:
            if profile.pins.enforced:
                # What pinning cannot mend is refused: host network, a node that does not
                # qualify. In Audit mode nothing is pinned, so an unpinned pod is reported.
                spec = placement.pin(spec, profile.pins)
            found = placement.refusals(spec, profile.pins, qualifies_)
        if found and profile.pins.enforced:
            response["allowed"] = False
            response["status"] = {"code": 403, "reason": "Forbidden", "message": "; ".join(found)}
            return "refused"
        if found:
            response["warnings"] = [
                f"SovereigntyProfile {profile.pins.profile} (Audit): {f}" for f in found
            ]
            return "warned"
        if webhook == placement.PIN_WEBHOOK and profile.pins.enforced:
            patch = placement.pin_patch(original, profile.pins, spec)
            if patch:
                response["patchType"] = "JSONPatch"
                response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
                return "patched"
        return "allowed"


def _pod_ref(namespace: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
    }


TRACKER: Tracker | None = None
"""The running operator's tracker; None in a process that only reconciles."""


def namespace_report(name: str, generation: int | None) -> PlacementReport | None:
    """Placement conditions and counts for a SovereignNamespace's status, or None when
    this process tracks no placement (yet)."""
    return TRACKER.report(name, generation) if TRACKER is not None else None


class NativeLayers(TypedDict):
    """Keyword arguments of ``plan_profile`` about native placement."""

    native_placement: bool
    mutating_policies: bool


def native_layers(api: KubeApi) -> NativeLayers:
    """Which native placement bindings a profile gets here (for ``plan_profile``)."""
    options = TRACKER.options if TRACKER is not None else WebhookOptions.from_environment()
    return {
        "native_placement": options.native,
        "mutating_policies": api.serves("MutatingAdmissionPolicy"),
    }


def keep_policies(api: KubeApi, profile: str, admission: list[dict[str, Any]]) -> None:
    """Applies the static placement policies the profile's bindings use, deletes placement
    bindings the profile no longer has (mode changed to Audit, native layer turned off),
    and settles the profile's namespaces again."""
    kinds = {obj["kind"] for obj in admission}
    if "MutatingAdmissionPolicyBinding" in kinds:
        api.apply(placement.mutating_policy())
    wanted = {(obj["kind"], obj["metadata"]["name"]) for obj in admission}
    if any(name.startswith(placement.VALIDATING_POLICY_NAME) for _, name in wanted):
        api.apply(placement.validating_policy())
    for stub in placement.profile_bindings(profile, None):
        key = (stub["kind"], stub["metadata"]["name"])
        if key not in wanted and api.serves(stub["kind"]):
            api.delete(*key)
    if TRACKER is not None:
        TRACKER.start_settling()
        TRACKER.mark_profile(profile)


# -- watches ---------------------------------------------------------------------------


def _watch(
    api: KubeApi,
    kind: str,
    selector: str | None,
    seen: Callable[[str, dict[str, Any]], None],
    tracker: Tracker,
    stop: threading.Event,
) -> None:
    """Lists, then watches, and starts over when the watch expires or fails."""
    while not stop.is_set():
        try:
            items, version = api.list_with_version(kind, selector)
            for item in items:
                seen("ADDED", item)
            tracker.listed(kind)
            for event_type, obj in api.watch(kind, version, selector):
                if stop.is_set():
                    return
                if event_type == "ERROR":
                    break
                if event_type != "BOOKMARK":
                    seen(event_type, obj)
        except (ApiException, OSError, ValueError) as error:
            log.warning("Watch of %s ended (%s); starting over", kind, error)
            stop.wait(2.0)
        except Exception:
            log.exception("Watch of %s failed; starting over", kind)
            stop.wait(2.0)


def _thread(name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
    context = contextvars.copy_context()  # so that Events can be posted through kopf
    thread = threading.Thread(
        target=context.run, args=(target, *args), name=f"souverain-{name}", daemon=True
    )
    thread.start()
    return thread


# -- the webhook server ----------------------------------------------------------------


class PlacementWebhookServer(kopf.WebhookServer):
    """kopf's TLS webhook server, with the placement webhooks answered directly and the
    webhook configurations applied once it listens."""

    def __init__(self, tracker: Tracker, configure: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tracker = tracker
        self.configure = configure

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        review = self.tracker.review
        ours = (placement.PIN_WEBHOOK, placement.BINDING_WEBHOOK)

        async def dispatch(request: Any, *, webhook: str | None = None, **kwargs: Any) -> Any:
            if webhook in ours:
                return review(webhook, request)
            return await fn(request, webhook=webhook, **kwargs)

        async for client_config in super().__call__(cast(Any, dispatch)):
            await asyncio.to_thread(self.configure)
            yield client_config


def _client_config(options: WebhookOptions, ca_pem: bytes) -> Callable[[str], dict[str, Any]]:
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


def _hosts(options: WebhookOptions) -> tuple[str, ...]:
    if options.url:
        return (urlsplit(options.url).hostname or "localhost",)
    namespace, _, rest = options.service.partition("/")
    name = rest.partition(":")[0]
    return (f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local")


# -- kopf handlers ---------------------------------------------------------------------


@kopf.on.startup()
def start_placement(settings: kopf.OperatorSettings, memo: kopf.Memo, **kwargs: Any) -> None:
    """Starts the placement watches, and the webhook server when it is configured."""
    global TRACKER
    from souverain.handlers import namespace as namespace_handlers

    api = KubeApi(load_api_client())
    options = WebhookOptions.from_environment()
    tracker = Tracker(
        api,
        given(kwargs, "profiles"),
        options,
        mutating_policies=api.serves("MutatingAdmissionPolicy"),
    )
    sovereign_namespaces, profiles = (
        given(kwargs, "sovereign_namespaces"),
        given(kwargs, "profiles"),
    )

    def converge(namespace: str) -> None:
        sns = first(sovereign_namespaces, namespace)
        if sns is None or sns["metadata"].get("deletionTimestamp"):
            return
        profile = first(profiles, sns["spec"].get("profileName", ""))
        namespace_handlers.converge(api, sns, profile)

    tracker.on_change = converge
    TRACKER = tracker
    stop = memo.placement_stop = tracker.stop
    _thread(
        "placement-namespaces",
        _watch,
        api,
        "Namespace",
        labels.PROFILE,
        tracker.namespace_seen,
        tracker,
        stop,
    )
    _thread("placement-nodes", _watch, api, "Node", None, tracker.node_seen, tracker, stop)
    _thread("placement-pods", _watch, api, "Pod", None, tracker.pod_seen, tracker, stop)

    if not options.enabled:
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            api.delete(kind, placement.WEBHOOK_CONFIGURATION_NAME)
        return
    folder = Path(options.cert_dir or tempfile.mkdtemp(prefix="souverain-webhook-"))
    if options.secret:
        certificate = shared_serving_certificate(api, options.secret, folder, _hosts(options))
    else:
        certificate = serving_certificate(folder, _hosts(options))
    configurations = placement.webhook_configurations(
        _client_config(options, certificate.ca_pem),
        pinning_is_native=options.native and tracker.mutating_policies,
    )

    def configure() -> None:
        for configuration in configurations:
            api.apply(configuration)

    # aiohttp logs every request at INFO: nothing on the admission hot path should.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    host, _, port = options.listen.rpartition(":")
    settings.admission.server = PlacementWebhookServer(
        tracker,
        configure,
        addr=host or None,
        port=int(port),
        certfile=certificate.certfile,
        pkeyfile=certificate.keyfile,
        cadata=certificate.ca_pem,
    )


@kopf.on.cleanup()
def stop_placement(memo: kopf.Memo, **_: Any) -> None:
    """Ends the placement watches. The webhook configurations stay: where they fail
    closed, pods of bound namespaces are refused rather than left unpinned."""
    stop = getattr(memo, "placement_stop", None)
    if stop is not None:
        stop.set()


PLACEMENT_LAYERS = (LAYER_MUTATING_POLICY, LAYER_VALIDATING_POLICY, LAYER_WEBHOOK)


def status_fields(
    layers: list[str], report: PlacementReport | None, current: Mapping[str, Any]
) -> dict[str, Any]:
    """The status fields placement adds to a SovereignNamespace's: its layers (kept as
    they are when this process tracks no placement) and its pod counts."""
    if report is None:
        kept = [
            layer for layer in current.get("enforcementLayers") or [] if layer in PLACEMENT_LAYERS
        ]
        return {"enforcementLayers": [*layers, *(k for k in kept if k not in layers)]}
    return {
        "enforcementLayers": [*layers, *(k for k in report.layers if k not in layers)],
        "compliantPods": report.compliant_pods,
        "nonCompliantPods": report.non_compliant_pods,
    }
