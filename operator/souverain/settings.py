"""Run-time options of the operator, read from the command line or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

LogFormat = Literal["plain", "json"]


@dataclass(frozen=True)
class RunOptions:
    """How ``souverain run`` runs: logs, endpoints, leader election, watches."""

    log_format: LogFormat = "plain"
    verbose: bool = False
    liveness: str = "0.0.0.0:8080"
    """``host:port`` of ``/healthz`` and ``/readyz`` (empty to disable)."""
    metrics: str = "0.0.0.0:9090"
    lease: str = ""
    """``namespace/name`` of the Lease the replicas elect the active one with; empty: no
    election, this process acts alone."""
    identity: str = ""
    """This replica's name in the Lease (default: host name and process id)."""
    lease_seconds: float = 10.0
    """How long a holder's Lease lasts without renewal: the longest a failover takes."""
    watch_seconds: int = 300
    """How long one watch lasts before the informer lists again."""

    @classmethod
    def from_environment(cls) -> RunOptions:
        """Defaults taken from ``SOUVERAIN_*`` variables (the Helm chart sets them)."""
        log_format = os.environ.get("SOUVERAIN_LOG_FORMAT", "plain")
        if log_format not in ("plain", "json"):
            raise ValueError(f"SOUVERAIN_LOG_FORMAT must be plain or json, not {log_format!r}")
        return cls(
            log_format="json" if log_format == "json" else "plain",
            liveness=os.environ.get("SOUVERAIN_LIVENESS", cls.liveness),
            metrics=os.environ.get("SOUVERAIN_METRICS_ADDRESS", cls.metrics),
            lease=os.environ.get("SOUVERAIN_LEASE", ""),
            identity=os.environ.get("SOUVERAIN_IDENTITY", ""),
            lease_seconds=float(os.environ.get("SOUVERAIN_LEASE_SECONDS", cls.lease_seconds)),
            watch_seconds=int(os.environ.get("SOUVERAIN_WATCH_SECONDS", cls.watch_seconds)),
        )


AdmissionLayer = Literal["native", "webhook"]
ADMISSION_LAYERS: tuple[AdmissionLayer, ...] = ("native", "webhook")


@dataclass(frozen=True)
class WebhookOptions:
    """Where the operator's admission webhooks listen, and how the API server reaches them.

    Defaults read from ``SOUVERAIN_*`` variables; ``souverain run``'s options win.
    """

    listen: str = "0.0.0.0:9443"
    """``host:port`` the webhook server listens on."""
    url: str = ""
    """Base URL the API server calls (``https://127.0.0.1:9443`` outside a cluster)."""
    service: str = ""
    """``namespace/name[:port]`` of the Service in front of the operator, in a cluster."""
    cert_dir: str = ""
    """Folder with tls.crt, tls.key and ca.crt; certificates are made there when absent."""
    secret: str = ""
    """``namespace/name`` of a Secret that replicas share generated certificates through."""
    layers: tuple[AdmissionLayer, ...] = ADMISSION_LAYERS
    """Which placement layers the operator keeps: native policies, its webhooks, or both."""
    owner: str = ""
    """A ClusterRole that owns the webhook configurations (the chart's own): when it is
    deleted, by ``helm uninstall``, the garbage collector deletes them, so that no
    webhook is left calling a Service that is gone. The native policies stay."""

    @property
    def enabled(self) -> bool:
        """Whether the webhooks run: they need an address the API server can call."""
        return "webhook" in self.layers and bool(self.listen) and bool(self.url or self.service)

    @property
    def native(self) -> bool:
        return "native" in self.layers

    @staticmethod
    def parse_layers(text: str) -> tuple[AdmissionLayer, ...]:
        """``native,webhook`` (either or both) as layers, in their canonical order."""
        layers = tuple(layer.strip() for layer in text.split(",") if layer.strip())
        unknown = [layer for layer in layers if layer not in ADMISSION_LAYERS]
        if unknown:
            raise ValueError(f"admission layers are native and webhook, not {', '.join(unknown)}")
        return tuple(layer for layer in ADMISSION_LAYERS if layer in layers)

    @classmethod
    def from_environment(cls) -> WebhookOptions:
        return cls(
            listen=os.environ.get("SOUVERAIN_WEBHOOK_LISTEN", cls.listen),
            url=os.environ.get("SOUVERAIN_WEBHOOK_URL", ""),
            service=os.environ.get("SOUVERAIN_WEBHOOK_SERVICE", ""),
            cert_dir=os.environ.get("SOUVERAIN_WEBHOOK_CERT_DIR", ""),
            secret=os.environ.get("SOUVERAIN_WEBHOOK_SECRET", ""),
            layers=cls.parse_layers(os.environ.get("SOUVERAIN_ADMISSION_LAYERS", "native,webhook")),
            owner=os.environ.get("SOUVERAIN_WEBHOOK_OWNER", ""),
        )


def history_namespace() -> str:
    """Where the violation histories are kept: a namespace tenants have no rights in,
    ``$SOUVERAIN_HISTORY_NAMESPACE`` (the Helm chart sets the release namespace), else
    ``souverain-system`` (made when missing)."""
    return os.environ.get("SOUVERAIN_HISTORY_NAMESPACE") or "souverain-system"


def operator_username() -> str:
    """Who the operator is to the API server: admission policies let its own writes through.

    ``$SOUVERAIN_OPERATOR_USERNAME`` when set (the Helm chart sets it); otherwise the
    service account ``souverain`` of the namespace the pod runs in, or of
    ``souverain-system`` outside a pod (where the local control plane's admin is in
    ``system:masters``, which the policies trust anyway).
    """
    configured = os.environ.get("SOUVERAIN_OPERATOR_USERNAME")
    if configured:
        return configured
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as handle:
            namespace = handle.read().strip()
    except OSError:
        namespace = "souverain-system"
    return f"system:serviceaccount:{namespace}:souverain"
