"""SovereignNamespace reconciliation on the real control plane, with the operator running:
the namespace, its owners and its egress floor appear, come back when removed, follow
their profile, and go as the deletion policy says."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from souverain import labels
from souverain.handlers.namespace import converge
from souverain.kubeapi import KubeApi, load_api_client
from souverain.reconcile import egress
from souverain.runtime.context import Context
from souverain.settings import WebhookOptions
from tests.support.cluster import Cluster, wait_for
from tests.support.operator import Operator
from tests.support.placement import running

GROUP, VERSION = "souverain.io", "v1alpha1"
RUN = uuid.uuid4().hex[:6]
PROFILE = f"sns-profile-{RUN}"
OWNER = f"owner-{RUN}"

pytestmark = pytest.mark.usefixtures("operator")


def profile_body(name: str, cidrs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereigntyProfile",
        "metadata": {"name": name},
        "spec": {
            "nodeRequirements": [
                {
                    "key": "node-restriction.kubernetes.io/french-sovereign",
                    "operator": "In",
                    "values": ["true"],
                }
            ],
            "egress": {
                "cidrs": cidrs
                if cidrs is not None
                else [{"cidr": "10.0.0.0/8", "ports": [{"port": 443}]}],
                "fqdns": [{"pattern": "*.gouv.fr", "ports": [{"port": 443}]}],
            },
        },
    }


def sns_body(name: str, profile: str = PROFILE, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereignNamespace",
        "metadata": {"name": name},
        "spec": {"profileName": profile, "owners": [{"kind": "User", "name": OWNER}], **spec},
    }


@pytest.fixture(scope="module")
def objects(api: Any) -> Any:
    return client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def profile(objects: Any, souverain_crds: None) -> Iterator[str]:
    objects.create_cluster_custom_object(
        GROUP, VERSION, "sovereigntyprofiles", profile_body(PROFILE)
    )
    yield PROFILE
    try:
        objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)
    except ApiException as error:
        if error.status != 404:
            raise


class Tenants:
    """Creates SovereignNamespaces for a test and deletes them afterwards."""

    def __init__(self, objects: Any) -> None:
        self.objects = objects
        self.names: list[str] = []

    def create(self, name: str | None = None, **spec: Any) -> str:
        name = name or f"tenant-{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        self.objects.create_cluster_custom_object(
            GROUP, VERSION, "sovereignnamespaces", sns_body(name, **spec)
        )
        return name

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.objects.get_cluster_custom_object(
            GROUP, VERSION, "sovereignnamespaces", name
        )
        return found

    def condition(self, name: str, kind: str) -> dict[str, Any] | None:
        conditions = (self.get(name).get("status") or {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == kind), None)

    def wait_ready(self, name: str) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            found = self.condition(name, "Ready")
            return found if found and found["status"] == "True" else None

        return wait_for(ready, f"SovereignNamespace {name} to be Ready")

    def delete(self, name: str) -> None:
        try:
            self.objects.delete_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
        except ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture
def tenants(objects: Any, profile: str, core: Any) -> Iterator[Tenants]:
    made = Tenants(objects)
    yield made
    for name in made.names:
        made.delete(name)


def policies(api: Any, namespace: str) -> dict[str, Any]:
    listed = client.NetworkingV1Api(api).list_namespaced_network_policy(namespace).items
    return {p.metadata.name: p for p in listed}


def test_new_namespace_becomes_ready_with_its_objects(
    tenants: Tenants, api: Any, core: Any, cluster: Cluster
) -> None:
    name = tenants.create(
        labels={"acme.example/team": "payments"},
        annotations={"acme.example/contact": "ops@acme.example"},
        egress={"cidrs": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}]},
    )
    cluster.kubectl("wait", "--for=condition=Ready", f"sns/{name}", "--timeout=60s")
    namespace = core.read_namespace(name)
    assert namespace.metadata.labels[labels.PROFILE] == PROFILE
    assert namespace.metadata.labels[labels.SOVEREIGN_NAMESPACE] == name
    assert namespace.metadata.labels[labels.MANAGED_BY] == labels.MANAGED_BY_VALUE
    assert namespace.metadata.labels["acme.example/team"] == "payments"
    assert namespace.metadata.annotations["acme.example/contact"] == "ops@acme.example"

    binding = client.RbacAuthorizationV1Api(api).read_namespaced_role_binding(
        "souverain-owners", name
    )
    assert binding.role_ref.name == "admin"
    assert [(s.kind, s.name) for s in binding.subjects] == [("User", OWNER)]

    found = policies(api, name)
    assert set(found) == set(egress.POLICY_NAMES)
    deny = found[egress.DENY_ALL].spec
    assert deny.policy_types == ["Egress"]
    assert not deny.egress
    dns_ports = {(p.protocol, p.port) for p in found[egress.ALLOW_DNS].spec.egress[0].ports}
    assert dns_ports == {("UDP", 53), ("TCP", 53)}
    assert found[egress.ALLOW_PROFILE].spec.egress[0].to[0].ip_block.cidr == "10.0.0.0/8"
    assert found[egress.ALLOW_EXTRA].spec.egress[0].to[0].ip_block.cidr == "10.20.0.0/16"
    for policy in found.values():
        owner = policy.metadata.owner_references[0]
        assert (owner.kind, owner.name) == ("SovereignNamespace", name)

    status = tenants.get(name)["status"]
    assert status["observedGeneration"] == 1
    assert "NetworkPolicy" in status["enforcementLayers"]
    assert "ValidatingAdmissionPolicy" in status["enforcementLayers"]
    assert status["unenforceableEgress"] == ["fqdn *.gouv.fr ports TCP/443"]
    egress_condition = tenants.condition(name, "EgressRestricted")
    assert egress_condition is not None
    assert egress_condition["reason"] == "EgressPartiallyEnforced"

    table = cluster.kubectl("get", "sns", name).stdout
    assert "PROFILE" in table
    assert PROFILE in table
    assert "True" in table
    reasons = cluster.kubectl(
        "get",
        "events",
        "--field-selector",
        f"involvedObject.name={name}",
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout
    assert "NamespaceCreated" in reasons


def test_ready_is_first_written_with_where_pods_may_run(tenants: Tenants, objects: Any) -> None:
    """Every status a new SovereignNamespace goes through is watched: the first that says
    Ready already carries placement's conditions, so Ready never means less than the
    profile asks for."""
    listed = objects.list_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces")
    name = tenants.create()
    seen: list[dict[str, str]] = []
    stream = watch.Watch()
    for event in stream.stream(
        objects.list_cluster_custom_object,
        GROUP,
        VERSION,
        "sovereignnamespaces",
        resource_version=listed["metadata"]["resourceVersion"],
        field_selector=f"metadata.name={name}",
        timeout_seconds=60,
    ):
        status = event["object"].get("status") or {}
        seen.append({c["type"]: c["status"] for c in status.get("conditions", [])})
        if seen[-1].get("Ready") == "True":
            stream.stop()
    ready = [conditions for conditions in seen if conditions.get("Ready") == "True"]
    assert ready, f"{name} was not Ready within 60 s: {seen}"
    assert {"PlacementEnforced", "Compliant"} <= set(ready[0]), seen


def _delete_policy(api: Any, namespace: str, name: str) -> None:
    client.NetworkingV1Api(api).delete_namespaced_network_policy(name, namespace)


def _widen_policy(api: Any, namespace: str, name: str) -> None:
    client.NetworkingV1Api(api).patch_namespaced_network_policy(
        name, namespace, {"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}}
    )


def _strip_policy_label(api: Any, namespace: str, name: str) -> None:
    client.NetworkingV1Api(api).patch_namespaced_network_policy(
        name, namespace, {"metadata": {"labels": {labels.MANAGED_BY: None}}}
    )


@pytest.mark.parametrize(
    ("change", "policy"),
    [
        pytest.param(_delete_policy, egress.DENY_ALL, id="deny-all-deleted"),
        pytest.param(_delete_policy, egress.ALLOW_DNS, id="dns-deleted"),
        pytest.param(_delete_policy, egress.ALLOW_PROFILE, id="allow-list-deleted"),
        pytest.param(_widen_policy, egress.DENY_ALL, id="deny-all-widened"),
        pytest.param(_widen_policy, egress.ALLOW_NAMESPACE, id="same-namespace-widened"),
        pytest.param(_strip_policy_label, egress.DENY_ALL, id="managed-label-removed"),
    ],
)
def test_edited_or_deleted_network_policy_comes_back(
    tenants: Tenants, api: Any, change: Any, policy: str
) -> None:
    name = tenants.create()
    tenants.wait_ready(name)
    before = policies(api, name)[policy]
    change(api, name, policy)

    def restored() -> bool:
        now = policies(api, name).get(policy)
        return (
            now is not None
            and now.spec.to_dict() == before.spec.to_dict()
            and (now.metadata.labels or {}).get(labels.MANAGED_BY) == labels.MANAGED_BY_VALUE
        )

    wait_for(restored, f"NetworkPolicy {policy} to be put back", timeout=30)


def test_deleted_or_edited_role_binding_comes_back(
    tenants: Tenants, api: Any, cluster: Cluster
) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    name = tenants.create()
    tenants.wait_ready(name)
    rbac.delete_namespaced_role_binding("souverain-owners", name)
    wait_for(
        lambda: rbac.read_namespaced_role_binding("souverain-owners", name),
        "the owners' RoleBinding to be recreated",
        timeout=30,
    )
    rbac.patch_namespaced_role_binding(
        "souverain-owners",
        name,
        {
            "subjects": [
                {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
            ]
        },
    )
    wait_for(
        lambda: (
            [s.name for s in rbac.read_namespaced_role_binding("souverain-owners", name).subjects]
            == [OWNER]
        ),
        "the owners' RoleBinding subjects to be restored",
        timeout=30,
    )

    def repair_reported() -> bool:
        messages = cluster.kubectl(
            "get",
            "events",
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "jsonpath={.items[*].message}",
        ).stdout
        # Not the creation Event, which lists every object: the repair names this one only.
        return "Applied RoleBinding/souverain-owners." in messages

    wait_for(repair_reported, "an Event saying the RoleBinding was put back")


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param({labels.PROFILE: None}, id="profile-label-removed"),
        pytest.param({labels.PROFILE: "something-else"}, id="profile-label-changed"),
        pytest.param({labels.SOVEREIGN_NAMESPACE: None}, id="owner-label-removed"),
    ],
)
def test_namespace_labels_come_back(tenants: Tenants, core: Any, patch: dict[str, Any]) -> None:
    name = tenants.create()
    tenants.wait_ready(name)
    core.patch_namespace(name, {"metadata": {"labels": patch}})

    def restored() -> bool:
        current = core.read_namespace(name).metadata.labels or {}
        return (
            current.get(labels.PROFILE) == PROFILE
            and current.get(labels.SOVEREIGN_NAMESPACE) == name
        )

    wait_for(restored, "the namespace labels to be restored", timeout=30)


def test_converging_twice_changes_nothing(tenants: Tenants, api: Any, profile: str) -> None:
    name = tenants.create(egress={"cidrs": [{"cidr": "10.30.0.0/16", "ports": [{"port": 443}]}]})
    tenants.wait_ready(name)

    def versions() -> dict[str, str]:
        found = {f"np/{k}": v.metadata.resource_version for k, v in policies(api, name).items()}
        found["ns"] = client.CoreV1Api(api).read_namespace(name).metadata.resource_version
        found["sns"] = tenants.get(name)["metadata"]["resourceVersion"]
        return found

    # A context of its own, never active: it converges, but posts no Event.
    context = Context.build(KubeApi(load_api_client()), WebhookOptions(), "test")
    profile_object = client.CustomObjectsApi(api).get_cluster_custom_object(
        GROUP, VERSION, "sovereigntyprofiles", profile
    )
    converge(context, tenants.get(name), profile_object)

    def settled() -> dict[str, str] | None:
        # The operator may still be writing its own bookkeeping from the first pass.
        first = versions()
        time.sleep(1)
        return first if versions() == first else None

    before = wait_for(settled, "the objects to stop changing")
    plan = converge(context, tenants.get(name), profile_object)
    assert plan.refused_egress == []
    assert versions() == before


def test_extra_egress_outside_the_profile_is_refused_clearly(tenants: Tenants, api: Any) -> None:
    name = tenants.create(egress={"cidrs": [{"cidr": "172.16.0.0/12"}]})

    def refused() -> dict[str, Any] | None:
        found = tenants.condition(name, "EgressRestricted")
        return found if found and found["reason"] == "EgressOutsideProfile" else None

    condition = wait_for(refused, "the extra egress to be refused")
    assert condition["status"] == "False"
    assert "172.16.0.0/12" in condition["message"]
    ready = tenants.condition(name, "Ready")
    assert ready is not None
    assert ready["status"] == "False"
    assert egress.ALLOW_EXTRA not in policies(api, name)
    assert egress.DENY_ALL in policies(api, name)


def test_profile_change_reaches_every_bound_namespace(
    tenants: Tenants, api: Any, objects: Any
) -> None:
    name = f"sns-moving-{RUN}"
    objects.create_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", profile_body(name))
    try:
        bound = [tenants.create(profile=name) for _ in range(3)]
        for namespace in bound:
            tenants.wait_ready(namespace)
        objects.patch_cluster_custom_object(
            GROUP,
            VERSION,
            "sovereigntyprofiles",
            name,
            {"spec": {"egress": {"cidrs": [{"cidr": "192.0.2.0/24"}]}}},
        )

        def updated() -> bool:
            return all(
                policies(api, ns)[egress.ALLOW_PROFILE].spec.egress[0].to[0].ip_block.cidr
                == "192.0.2.0/24"
                for ns in bound
            )

        wait_for(updated, "the new allow-list in every bound namespace", timeout=30)
    finally:
        for namespace in tenants.names:
            tenants.delete(namespace)
        objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", name)


def test_missing_profile_is_reported_then_picked_up(
    tenants: Tenants, objects: Any, core: Any
) -> None:
    missing = f"sns-later-{RUN}"
    name = tenants.create(profile=missing)

    def not_found() -> dict[str, Any] | None:
        found = tenants.condition(name, "Ready")
        return found if found and found["reason"] == "ProfileNotFound" else None

    wait_for(not_found, "Ready=False with reason ProfileNotFound")
    with pytest.raises(ApiException) as absent:
        core.read_namespace(name)
    assert absent.value.status == 404
    objects.create_cluster_custom_object(
        GROUP, VERSION, "sovereigntyprofiles", profile_body(missing)
    )
    try:
        tenants.wait_ready(name)
        assert core.read_namespace(name).metadata.labels[labels.PROFILE] == missing
    finally:
        tenants.delete(name)
        objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", missing)


def test_existing_namespace_is_adopted_and_kept_on_retain(
    tenants: Tenants, core: Any, api: Any, cluster: Cluster
) -> None:
    name = f"adopted-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        {"metadata": {"name": name, "labels": {labels.MANAGED_BY: "helm", "team": "a"}}}
    )
    wait_for(lambda: core.read_namespaced_service_account("default", name), "default SA")
    core.create_namespaced_pod(
        name,
        {
            "metadata": {"name": "app"},
            "spec": {
                "nodeSelector": {"node-restriction.kubernetes.io/french-sovereign": "true"},
                "containers": [{"name": "app", "image": "registry.example/app:1"}],
            },
        },
    )
    wait_for(lambda: running(core, name, "app"), "the pod to run")
    tenants.create(name, deletionPolicy="Retain", labels={"acme.example/tier": "gold"})
    tenants.wait_ready(name)
    adopted = core.read_namespace(name).metadata.labels
    assert adopted[labels.MANAGED_BY] == "helm"
    assert adopted["team"] == "a"
    assert adopted[labels.PROFILE] == PROFILE

    tenants.delete(name)

    def released() -> bool:
        current = core.read_namespace(name).metadata.labels or {}
        return labels.PROFILE not in current and egress.DENY_ALL not in policies(api, name)

    wait_for(released, "the namespace to be released", timeout=60)
    kept = core.read_namespace(name)
    assert kept.status.phase == "Active"
    assert kept.metadata.labels["team"] == "a"
    assert kept.metadata.labels[labels.MANAGED_BY] == "helm"
    assert kept.metadata.labels["acme.example/tier"] == "gold"
    assert kept.metadata.labels[labels.RETAINED] == "true"
    assert running(core, name, "app")
    assert policies(api, name) == {}
    with pytest.raises(ApiException):
        client.RbacAuthorizationV1Api(api).read_namespaced_role_binding("souverain-owners", name)
    reasons = cluster.kubectl(
        "get",
        "events",
        "--field-selector",
        f"involvedObject.name={name}",
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout
    assert "NamespaceRetained" in reasons
    core.delete_namespace(name)


def test_delete_policy_deletes_the_namespace(tenants: Tenants, core: Any) -> None:
    name = tenants.create(deletionPolicy="Delete")
    tenants.wait_ready(name)
    tenants.delete(name)

    def gone() -> bool:
        try:
            return bool(core.read_namespace(name).metadata.deletion_timestamp)
        except ApiException as error:
            return error.status == 404

    wait_for(gone, f"namespace {name} to be deleted", timeout=60)


def test_profile_in_use_is_kept_until_its_namespaces_go(tenants: Tenants, objects: Any) -> None:
    name = f"sns-in-use-{RUN}"
    objects.create_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", profile_body(name))
    tenant = tenants.create(profile=name)
    tenants.wait_ready(tenant)
    objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", name)

    def blocked() -> dict[str, Any] | None:
        found = objects.get_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", name)
        ready = next(
            (c for c in (found.get("status") or {}).get("conditions", []) if c["type"] == "Ready"),
            None,
        )
        return ready if ready and ready["reason"] == "ProfileInUse" else None

    condition = wait_for(blocked, "the profile deletion to be held")
    assert tenant in condition["message"]
    tenants.wait_ready(tenant)
    tenants.delete(tenant)

    def gone() -> bool:
        try:
            objects.get_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", name)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, "the profile to go once unused", timeout=60)


WIDE = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "let-me-out"},
    "spec": {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
    },
}
NARROW = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "just-the-api"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.1.2.0/24"}}], "ports": [{"port": 443}]}],
    },
}


def test_owner_cannot_widen_egress_even_with_the_operator_stopped(
    tenants: Tenants, cluster: Cluster, operator: Operator
) -> None:
    name = tenants.create()
    tenants.wait_ready(name)
    with cluster.api(impersonate=OWNER) as owner_api:
        owner = client.NetworkingV1Api(owner_api)

        def refused() -> str | None:
            try:
                owner.create_namespaced_network_policy(name, WIDE)
            except ApiException as error:
                return str(error.body) if error.status in (403, 422) else None
            owner.delete_namespaced_network_policy("let-me-out", name)
            return None

        message = wait_for(refused, "a widening NetworkPolicy to be refused")
        assert "0.0.0.0/0" in message
        assert "spec.egress[0].to[0].ipBlock.cidr" in message
        operator.stop()
        try:
            assert refused() is not None
            owner.create_namespaced_network_policy(name, NARROW)
        finally:
            operator.start()


def test_metrics_count_reconciles_and_namespaces(tenants: Tenants, operator: Operator) -> None:
    name = tenants.create()
    tenants.wait_ready(name)

    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if line.startswith("souverain_") and " " in line:
                key, value = line.rsplit(" ", 1)
                values[key] = float(value)
        return values

    success = 'souverain_reconcile_total{kind="SovereignNamespace",result="success"}'

    def counted() -> dict[str, float] | None:
        # The gauge is set as the status is written, the counter once the reconciliation
        # that wrote it has posted its Events and ends: a scrape can fall in between.
        values = scrape()
        key = f'souverain_sovereign_namespaces{{profile="{PROFILE}",ready="True"}}'
        return values if values.get(key, 0) >= 1 and values.get(success, 0) >= 1 else None

    values = wait_for(counted, "the namespace gauge and the reconcile counter")
    assert any(k.startswith("souverain_reconcile_duration_seconds_bucket") for k in values)
    assert json.dumps(values)
