"""Run-time options of the operator, read from the command line or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

LogFormat = Literal["plain", "json"]


@dataclass(frozen=True)
class RunOptions:
    """How ``souverain run`` starts kopf."""

    log_format: LogFormat = "plain"
    verbose: bool = False
    liveness: str = "0.0.0.0:8080"
    standalone: bool = True
    peering_name: str | None = None
    priority: int = 0
    metrics: str = "0.0.0.0:9090"

    @classmethod
    def from_environment(cls) -> RunOptions:
        """Defaults taken from ``SOUVERAIN_*`` variables (the Helm chart sets them)."""
        log_format = os.environ.get("SOUVERAIN_LOG_FORMAT", "plain")
        if log_format not in ("plain", "json"):
            raise ValueError(f"SOUVERAIN_LOG_FORMAT must be plain or json, not {log_format!r}")
        peering = os.environ.get("SOUVERAIN_PEERING_NAME") or None
        return cls(
            log_format="json" if log_format == "json" else "plain",
            liveness=os.environ.get("SOUVERAIN_LIVENESS", cls.liveness),
            standalone=peering is None,
            peering_name=peering,
            priority=int(os.environ.get("SOUVERAIN_PRIORITY", "0")),
            metrics=os.environ.get("SOUVERAIN_METRICS_ADDRESS", cls.metrics),
        )


AdmissionLayer = Literal["native", "webhook"]
ADMISSION_LAYERS: tuple[AdmissionLayer, ...] = ("native", "webhook")


@dataclass(frozen=True)
class WebhookOptions:
    """Where the operator's admission webhooks listen, and how the API server reaches them.

    Read from ``SOUVERAIN_*`` variables, which ``souverain run`` sets from its options.
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

    @property
    def enabled(self) -> bool:
        """Whether the webhooks run: they need an address the API server can call."""
        return "webhook" in self.layers and bool(self.listen) and bool(self.url or self.service)

    @property
    def native(self) -> bool:
        return "native" in self.layers

    @classmethod
    def from_environment(cls) -> WebhookOptions:
        layers = tuple(
            layer.strip()
            for layer in os.environ.get("SOUVERAIN_ADMISSION_LAYERS", "native,webhook").split(",")
            if layer.strip()
        )
        unknown = [layer for layer in layers if layer not in ADMISSION_LAYERS]
        if unknown:
            raise ValueError(
                f"SOUVERAIN_ADMISSION_LAYERS takes native and webhook, not {', '.join(unknown)}"
            )
        return cls(
            listen=os.environ.get("SOUVERAIN_WEBHOOK_LISTEN", cls.listen),
            url=os.environ.get("SOUVERAIN_WEBHOOK_URL", ""),
            service=os.environ.get("SOUVERAIN_WEBHOOK_SERVICE", ""),
            cert_dir=os.environ.get("SOUVERAIN_WEBHOOK_CERT_DIR", ""),
            secret=os.environ.get("SOUVERAIN_WEBHOOK_SECRET", ""),
            layers=tuple(layer for layer in ADMISSION_LAYERS if layer in layers),
        )


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
