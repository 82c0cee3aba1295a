"""Reading the cluster for the report (and for ``souverain plan``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException

from souverain.kubeapi import ApiUnavailableError, KubeApi, load_api_client
from souverain.report.build import ClusterState

ADMISSION_KINDS = (
    "ValidatingAdmissionPolicy",
    "MutatingAdmissionPolicy",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
)


def _listed(api: KubeApi, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
    try:
        return api.list_objects(kind, namespace=namespace)
    except ApiException as error:
        if error.status == 404:
            return []
        raise


def cluster_layers(api: KubeApi) -> list[str]:
    """The operator's admission objects present in the cluster, as ``Kind/name``."""
    layers = []
    for kind in ADMISSION_KINDS:
        if not api.serves(kind):
            continue
        for obj in _listed(api, kind):
            if obj["metadata"]["name"].startswith("souverain"):
                layers.append(f"{kind}/{obj['metadata']['name']}")
    return sorted(layers)


def read_cluster(api: KubeApi, server: str, namespace: str | None = None) -> ClusterState:
    """What the report needs, for every sovereign namespace or only ``namespace``."""
    sovereign = [
        sns
        for sns in _listed(api, "SovereignNamespace")
        if namespace is None or sns["metadata"]["name"] == namespace
    ]
    state = ClusterState(
        server=server,
        now=datetime.now(UTC).replace(microsecond=0),
        sovereign_namespaces=sovereign,
        profiles={p["metadata"]["name"]: p for p in _listed(api, "SovereigntyProfile")},
        nodes={
            n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
            for n in _listed(api, "Node")
        },
        volumes={v["metadata"]["name"]: v for v in _listed(api, "PersistentVolume")},
        namespace_labels={
            n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
            for n in _listed(api, "Namespace")
        },
        cluster_layers=cluster_layers(api),
    )
    for sns in sovereign:
        name = sns["metadata"]["name"]
        state.pods[name] = _listed(api, "Pod", name)
        state.claims[name] = _listed(api, "PersistentVolumeClaim", name)
        state.network_policies[name] = _listed(api, "NetworkPolicy", name)
        state.services[name] = _listed(api, "Service", name)
    read_snapshots(api, state)
    return state


def read_snapshots(api: KubeApi, state: ClusterState) -> None:
    """The VolumeSnapshots of the sovereign namespaces, every content and every class,
    when the cluster serves the snapshot API (a cluster without it has no snapshot)."""
    if not api.serves("VolumeSnapshot"):
        return
    for sns in state.sovereign_namespaces:
        name = sns["metadata"]["name"]
        state.snapshots[name] = _listed(api, "VolumeSnapshot", name)
    for kind, found in (
        ("VolumeSnapshotContent", state.snapshot_contents),
        ("VolumeSnapshotClass", state.snapshot_classes),
    ):
        found.update({obj["metadata"]["name"]: obj for obj in _listed(api, kind)})


class ClusterError(Exception):
    """The cluster cannot be read: no kubeconfig, no answer, a refusal, or no CRDs."""


def cluster_state(namespace: str | None = None) -> ClusterState:
    """:func:`read_cluster` of the cluster the kubeconfig names, raising ClusterError with
    one line saying why when it cannot be read.

    A cluster without the souverain CRDs is an error, not an empty report: nothing there
    enforces a profile, and a report of no namespace and no violation would read as a
    clean bill of health.
    """
    try:
        api = KubeApi(load_api_client())
    except ConfigException as error:
        raise ClusterError(f"no cluster to read: {error} (set KUBECONFIG)") from None
    server = api.server
    try:
        missing = [k for k in ("SovereigntyProfile", "SovereignNamespace") if not api.serves(k)]
        if missing:
            raise ClusterError(
                f"the souverain CRDs are not installed on {server}: it serves no"
                f" {' and no '.join(missing)}; install them with kubectl apply -f crds/"
            )
        return read_cluster(api, server, namespace)
    except ApiUnavailableError as error:
        raise ClusterError(f"cannot reach the API server {server}: {error.reason}") from None
    except ApiException as error:
        raise ClusterError(
            f"the API server {server} answered {error.status} {error.reason}"
        ) from None
