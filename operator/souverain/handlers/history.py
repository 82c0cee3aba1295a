"""Writes the violation history of :mod:`souverain.history` into the cluster: one
ConfigMap per sovereign namespace in the operator's own namespace (tenants have no
rights there), appended under the ConfigMap's resourceVersion, and its head anchored in
the SovereignNamespace's status (which tenants cannot write either). The ConfigMap is
written first and the anchor after it, so that an anchor never points past what is
stored.

A failure to record is logged in one line and tried again at the next observation:
recording never fails the reconciliation that observed the violation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain.history.chain import History, Scope, Violation
from souverain.history.location import COMPONENT, COMPONENT_VALUE, config_map_name
from souverain.history.record import anchor, everything, observe
from souverain.history.verify import anchor_of
from souverain.kubeapi import KubeApi, describe
from souverain.labels import managed_labels
from souverain.runtime.context import Context
from souverain.settings import history_namespace

log = logging.getLogger(__name__)

ATTEMPTS = 5
"""Appends tried again after a conflict (another writer changed the ConfigMap)."""


def config_map(namespace: str, history: History, version: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": config_map_name(namespace),
        "namespace": history_namespace(),
        "labels": {**managed_labels(namespace), COMPONENT: COMPONENT_VALUE},
    }
    if version:
        metadata["resourceVersion"] = version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": history.data()}


def record(
    context: Context,
    namespace: str,
    current: Iterable[Violation],
    scope: Scope = everything,
    *,
    released: bool = False,
    anchor_status: bool = True,
) -> dict[str, Any] | None:
    """Records what the active replica observes in ``namespace``: the violations now
    in ``scope`` against those the history has open; ``released``: the
    SovereignNamespace is being deleted, every violation ends.

    Returns the ``status.history`` that anchors the head written, None when nothing
    was; ``anchor_status`` False leaves writing it to the caller, in the status write
    it makes next (one request instead of two)."""
    now = datetime.now(UTC).replace(microsecond=0)
    found = list(current)
    term = context.history
    with term.lock(namespace):
        if not released and term.unchanged(namespace, found, scope, now):
            return term.anchor(namespace)
        try:
            return _append(context, namespace, found, scope, now, released, anchor_status)
        except (ApiException, OSError) as error:
            log.warning("The history of %s was not written: %s", namespace, describe(error))
        except (ValueError, TypeError, KeyError) as error:
            log.warning(
                "The history of %s cannot be read (%r): it is left as it is", namespace, error
            )
    return None


def _append(
    context: Context,
    namespace: str,
    current: list[Violation],
    scope: Scope,
    now: datetime,
    released: bool,
    anchor_status: bool,
) -> dict[str, Any] | None:
    api, term, home = context.api, context.history, history_namespace()
    name = config_map_name(namespace)
    kept = term.stored(namespace)
    for _ in range(ATTEMPTS):
        # The informer's copy: its anchor may lag the last status write, which the
        # check before appending allows as long as it points into the chain.
        sns = context.snapshot.sovereign_namespaces.get(namespace)
        if sns is None or (sns["metadata"].get("deletionTimestamp") and not released):
            return None
        if kept is not None:
            history, version, exists = kept.history, kept.version, True
        else:
            stored = api.get("ConfigMap", name, home)
            history = History.from_data((stored or {}).get("data"))
            version = (stored or {}).get("metadata", {}).get("resourceVersion")
            exists = stored is not None
        anchored = anchor_of(sns.get("status"))
        first = namespace not in term.seen
        new, problem = observe(
            history,
            anchored,
            current,
            scope,
            now,
            context.identity,
            first_in_term=first,
            released=released,
        )
        if problem is not None and kept is not None:
            kept = None  # what this replica wrote last is not what is there: read it
            continue
        if problem is not None:
            log.warning(
                "The history of %s does not verify (%s): it is kept as found, and a record says so",
                namespace,
                problem,
            )
        if new is not history:
            try:
                written = _write(api, config_map(namespace, new, version), not exists)
            except ApiException as error:
                # Changed or deleted by someone else since this replica wrote it (or a
                # race with another writer): read it as it is, and observe again.
                if error.status == 409 or (error.status == 404 and kept is not None):
                    kept = None
                    term.drop(namespace)
                    continue
                raise
            version = written["metadata"].get("resourceVersion")
        term.store(namespace, new, version)
        wanted = anchor(new, f"{home}/{name}")
        if anchor_status and anchored != wanted:
            try:
                api.patch_status("SovereignNamespace", namespace, {"history": wanted})
            except ApiException as error:
                if error.status != 404:
                    raise
        term.remember(namespace, new.open().keys(), new.last_time(), wanted)
        context.metrics.record_history(namespace, new.count, len(new.open()))
        return wanted
    log.warning(
        "The history of %s was changed by another writer %d times in a row", namespace, ATTEMPTS
    )
    return None


def _write(api: KubeApi, body: dict[str, Any], create: bool) -> dict[str, Any]:
    """The ConfigMap as written."""
    if not create:
        return api.replace(body)
    try:
        return api.create(body)
    except ApiException as error:
        if error.status != 404:
            raise
        # The operator's namespace is missing (outside a cluster): make it, then the map.
        home = body["metadata"]["namespace"]
        api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": home}})
        return api.create(body)


def forget(context: Context, namespace: str) -> None:
    """After a SovereignNamespace is gone: its ConfigMap stays, as evidence."""
    context.history.forget(namespace)
    context.metrics.forget_history(namespace)
