"""Reading the violation histories for ``souverain report --since`` and ``--verify``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException

from souverain.history.chain import History
from souverain.history.location import SELECTOR, config_map_name, namespace_of
from souverain.history.verify import Verdict, anchor_of, verify
from souverain.kubeapi import ApiUnavailableError, KubeApi, load_api_client
from souverain.report.collect import ClusterError


@dataclass(frozen=True)
class StoredHistory:
    """One namespace's history as read, with the anchor its SovereignNamespace holds."""

    namespace: str
    history: History
    anchor: dict[str, Any] | None
    anchored: bool
    """Whether the SovereignNamespace exists (its status must then anchor the head)."""
    stored: bool
    """Whether the ConfigMap exists."""

    def verdict(self) -> Verdict:
        return verify(self.history, self.anchor, anchored=self.anchored)


def read_histories(
    api: KubeApi, sovereign: list[dict[str, Any]], home: str, namespace: str | None = None
) -> list[StoredHistory]:
    """The history of each sovereign namespace (or of ``namespace``), and of each
    namespace whose history outlives its SovereignNamespace, by name."""
    maps = {
        name: obj
        for obj in api.list_objects("ConfigMap", namespace=home, label_selector=SELECTOR)
        if (name := namespace_of(obj["metadata"]["name"])) is not None
    }
    objects = {s["metadata"]["name"]: s for s in sovereign}
    found = []
    for name in sorted(set(objects) | set(maps)):
        if namespace is not None and name != namespace:
            continue
        stored = maps.get(name)
        if stored is None and name in objects:
            # Listed by label; a map whose label was removed is still the namespace's.
            stored = api.get("ConfigMap", config_map_name(name), home)
        sns = objects.get(name)
        found.append(
            StoredHistory(
                namespace=name,
                history=History.from_data((stored or {}).get("data")),
                anchor=anchor_of((sns or {}).get("status")),
                anchored=sns is not None,
                stored=stored is not None,
            )
        )
    return found


def cluster_histories(home: str, namespace: str | None = None) -> list[StoredHistory]:
    """:func:`read_histories` of the cluster the kubeconfig names; ClusterError with one
    line saying why when it cannot be read."""
    try:
        api = KubeApi(load_api_client())
    except ConfigException as error:
        raise ClusterError(f"no cluster to read: {error} (set KUBECONFIG)") from None
    try:
        return read_histories(api, api.list_objects("SovereignNamespace"), home, namespace)
    except ApiUnavailableError as error:
        raise ClusterError(f"cannot reach the API server {api.server}: {error.reason}") from None
    except ApiException as error:
        raise ClusterError(
            f"the API server {api.server} answered {error.status} {error.reason}"
            f" reading the histories in {home}"
        ) from None


def verdict_line(found: StoredHistory) -> str:
    """One line of ``souverain report --verify``."""
    verdict = found.verdict()
    if not found.stored and verdict.intact:
        return f"{found.namespace}: no history yet"
    if not verdict.intact:
        return f"{found.namespace}: BROKEN at record {verdict.seq}: {verdict.problem}"
    gone = "" if found.anchored else " (its SovereignNamespace is gone: not anchored)"
    return (
        f"{found.namespace}: intact, {verdict.records} record(s),"
        f" head {found.history.head[:12]}{gone}"
    )
