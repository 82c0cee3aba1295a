"""Rehearsals of what production does to souverain: the API server or etcd restarting,
the operator killed mid-work or down during a restart, its webhook configurations
deleted, its profile deleted under its namespaces, an API server that stops answering.

A :class:`Rehearsal` is a local control plane of its own (its components are stopped and
started through :class:`souverain.devcluster.components.Components`), the CRDs, one
operator and one bound namespace, ``steady``. Each ``rehearse_*`` function causes one
event, asserts what must hold, and returns how long the cluster took to converge after
it: the integration tests run them for the outcomes, ``tools/bench_chaos.py`` for the
durations.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain import labels
from souverain.admission.placement import WEBHOOK_CONFIGURATION_NAME
from souverain.devcluster.cluster import DevCluster
from souverain.devcluster.components import Components
from tests.support.cluster import Cluster, wait_for
from tests.support.operator import Operator
from tests.support.placement import native_placement_holds, pinned, pod
from tests.support.repository import REPO
from tests.support.tenancy import GROUP, VERSION, Tenancy

PROFILE = "chaos"
STEADY = "steady"
OWNER = "alice"
WATCH_SECONDS = 10
"""The operator's watches last 10 s here, so that one that stays silent is found dead
within 20 s (:func:`souverain.kubeapi.watch_inactivity`)."""
WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


class Rehearsal:
    """A control plane, the CRDs, the operator and the bound namespace ``steady``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dev = DevCluster(folder / "cluster")
        self.components = Components(self.dev)
        self.cluster = Cluster(self.dev.kubeconfig, "local")
        (folder / "operator").mkdir(parents=True, exist_ok=True)
        self.operator = Operator(
            self.cluster,
            folder / "operator",
            extra_env={"SOUVERAIN_WATCH_SECONDS": str(WATCH_SECONDS)},
        )
        self.api: Any = None

    def start(self) -> Rehearsal:
        self.dev.up()
        crds = str(REPO / "crds")
        self.cluster.kubectl("apply", "--server-side", "-f", crds)
        self.cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", crds)
        self.connect()
        self.operator.start()
        self.tenancy.profile(PROFILE)
        self.bind(STEADY)
        return self

    def connect(self) -> None:
        """API clients with fresh connections, as the admin and as the tenant."""
        self.api = self.cluster.api()
        self.tenant = self.cluster.api(impersonate=OWNER)
        self.core = client.CoreV1Api(self.api)
        self.tenancy = Tenancy(self.api)

    def reconnect(self) -> None:
        """Drops the clients' connections, which an API server that was frozen may have
        closed without a word, and connects again."""
        self.api.close()
        self.tenant.close()
        self.connect()

    def close(self) -> None:
        self.operator.stop()
        if self.api is not None:
            self.api.close()
            self.tenant.close()
        self.dev.down()

    # -- tenants --------------------------------------------------------------------

    def bind(self, name: str, profile: str = PROFILE) -> str:
        """A SovereignNamespace owned by alice, once it is Ready: its native policies are
        then in force, and alice is refused her escapes at once."""
        self.tenancy.namespace(name, profile, owners=[{"kind": "User", "name": OWNER}])
        self.tenancy.wait(name)
        native_placement_holds(self.core, name)
        assert self.escapes_refused(name), f"an escape was not refused in {name} once Ready"
        return name

    def unbind(self, name: str) -> None:
        """Deletes the SovereignNamespace and waits until it and its Namespace are gone."""
        self.tenancy.delete("sovereignnamespaces", name)
        wait_for(lambda: self.gone("sovereignnamespaces", name), f"{name} to go", timeout=90)

    def gone(self, plural: str, name: str) -> bool:
        try:
            client.CustomObjectsApi(self.api).get_cluster_custom_object(
                GROUP, VERSION, plural, name
            )
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    def sovereign_namespace(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = client.CustomObjectsApi(self.api).get_cluster_custom_object(
            GROUP, VERSION, "sovereignnamespaces", name
        )
        return found

    def ready_condition(self, name: str) -> dict[str, Any] | None:
        conditions = (self.sovereign_namespace(name).get("status") or {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Ready"), None)

    def children(self, name: str) -> Counter[str]:
        """How many objects of each kind the operator made for the SovereignNamespace."""
        selector = f"{labels.SOVEREIGN_NAMESPACE}={name}"
        found: Counter[str] = Counter()
        for kind, items in (
            ("NetworkPolicy", client.NetworkingV1Api(self.api).list_namespaced_network_policy),
            ("RoleBinding", client.RbacAuthorizationV1Api(self.api).list_namespaced_role_binding),
        ):
            found[kind] = len(items(name, label_selector=selector).items)
        found["Namespace"] = sum(
            1 for n in self.core.list_namespace().items if n.metadata.name == name
        )
        return found

    def managed_policy(self, namespace: str) -> str:
        """The name of one NetworkPolicy the operator made in ``namespace``."""
        policies = client.NetworkingV1Api(self.api).list_namespaced_network_policy(
            namespace, label_selector=f"{labels.SOVEREIGN_NAMESPACE}={namespace}"
        )
        return str(sorted(p.metadata.name for p in policies.items)[0])

    def policy_uid(self, namespace: str, name: str) -> str | None:
        try:
            found = client.NetworkingV1Api(self.api).read_namespaced_network_policy(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return str(found.metadata.uid)

    # -- what must hold -------------------------------------------------------------

    def escapes_refused(self, namespace: str) -> bool:
        """Whether the tenant is refused a pod on a node outside the jurisdiction and a
        NetworkPolicy opening egress to everywhere, and gets a plain pod pinned (all as
        dry runs: nothing is made)."""
        tenant_core = client.CoreV1Api(self.tenant)
        tenant_net = client.NetworkingV1Api(self.tenant)
        wide = {
            "metadata": {"name": "wide"},
            "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
        }
        for attempt in (
            lambda: tenant_core.create_namespaced_pod(
                namespace, pod("escape", nodeName="std-us-1"), dry_run="All"
            ),
            lambda: tenant_net.create_namespaced_network_policy(namespace, wide, dry_run="All"),
        ):
            try:
                attempt()
            except ApiException as error:
                if error.status not in (400, 403, 422):
                    return False
            else:
                return False
        made = tenant_core.create_namespaced_pod(namespace, pod("plain"), dry_run="All")
        return made.spec.affinity is not None and pinned(made)

    def pod_created(self, namespace: str) -> bool:
        """Whether a plain pod is created in ``namespace`` (then deleted)."""
        name = f"p-{uuid.uuid4().hex[:6]}"
        self.core.create_namespaced_pod(namespace, pod(name), _request_timeout=10)
        self.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        return True

    def webhook_configurations(self) -> dict[str, Any]:
        """The operator's webhook configurations by kind, as the API server has them."""
        admission = client.AdmissionregistrationV1Api(self.api)
        found: dict[str, Any] = {}
        for kind, read in zip(
            WEBHOOK_KINDS,
            (
                admission.read_mutating_webhook_configuration,
                admission.read_validating_webhook_configuration,
            ),
            strict=True,
        ):
            try:
                found[kind] = read(WEBHOOK_CONFIGURATION_NAME)
            except ApiException as error:
                if error.status != 404:
                    raise
        return found

    def delete_webhook_configurations(self) -> None:
        admission = client.AdmissionregistrationV1Api(self.api)
        admission.delete_mutating_webhook_configuration(WEBHOOK_CONFIGURATION_NAME)
        admission.delete_validating_webhook_configuration(WEBHOOK_CONFIGURATION_NAME)

    def informer_lists(self) -> dict[str, int]:
        """How often each of the operator's informers has listed its kind."""
        with urllib.request.urlopen(self.operator.metrics_url, timeout=5) as response:
            text = response.read().decode()
        return {
            kind: int(float(count))
            for kind, count in re.findall(
                r'^souverain_informer_lists_total\{kind="([^"]+)"\} (\S+)$', text, re.M
            )
        }

    def operator_log_since(self, offset: int) -> str:
        return self.operator.log()[offset:]


def since(started: float) -> float:
    return round(time.monotonic() - started, 2)
