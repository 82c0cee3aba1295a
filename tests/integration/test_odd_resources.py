"""Odd input on the real control plane, with the operator running: each row of
:data:`tests.support.odd_resources.ROWS` is refused by the API server naming its field,
converges with every item in place, or is reported in a condition and an Event; and the
operator survives all of them without a traceback."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.utils.quantity import parse_quantity

from tests.support.cluster import Cluster, ignoring_absent, wait_for
from tests.support.odd_resources import BASE_PROFILE, RESIDENT_CLASS, ROWS, OddInput
from tests.support.operator import Operator
from tests.support.tenancy import GROUP, VERSION, Tenancy

RUN = uuid.uuid4().hex[:5]
BASE = f"odd-base-{RUN}"
VOLUMES = f"odd-volumes-{RUN}"
TENANT = f"odd-tenant-{RUN}"
PROFILE_LABEL = "souverain.io/profile"
ALLOW_PROFILE = "souverain-allow-profile-egress"
ALLOW_EXTRA = "souverain-allow-namespace-egress"
OWNERS_BINDING = "souverain-owners"

pytestmark = pytest.mark.usefixtures("operator")


def object_name(row: OddInput) -> str:
    """A name unique to the row and the run, padded to the row's name length."""
    name = f"odd-{RUN}-{ROWS.index(row)}"
    if row.name_length is None:
        return name
    return name + "-" + "x" * (row.name_length - len(name) - 1)


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}


def refusal(create: Callable[[], Any]) -> str:
    with pytest.raises(ApiException) as caught:
        create()
    assert caught.value.status == 422, caught.value.body
    return str(caught.value.body)


def ip_blocks(policy: Any) -> list[dict[str, Any]]:
    """The egress rules of a NetworkPolicy as the profile writes them: cidr, except, ports."""
    rules = []
    for rule in policy.spec.egress or []:
        block = rule.to[0].ip_block
        ports = [
            {
                "protocol": p.protocol,
                "port": p.port,
                **({"endPort": p.end_port} if p.end_port else {}),
            }
            for p in rule.ports or []
        ]
        rules.append({"cidr": block.cidr, "except": block._except or [], "ports": ports})
    return rules


def written(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CIDR rules as a spec writes them, with the schema's defaults filled in."""
    return [
        {
            "cidr": rule["cidr"],
            "except": rule.get("except", []),
            "ports": [{"protocol": "TCP", **port} for port in rule.get("ports", [])],
        }
        for rule in rules
    ]


class Odd:
    """Creates the objects of the rows, checks their answers and removes them."""

    def __init__(self, api: Any, cluster: Cluster) -> None:
        self.cluster = cluster
        self.tenancy = Tenancy(api)
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.networking = client.NetworkingV1Api(api)
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.admission = client.AdmissionregistrationV1Api(api)
        self.made: list[tuple[str, str, str | None]] = []

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        if namespace:
            found = self.objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        else:
            found = self.objects.get_cluster_custom_object(GROUP, VERSION, plural, name)
        return dict(found)

    def profile(self, name: str, spec: dict[str, Any]) -> None:
        self.tenancy.profile_of(name, spec)
        self.made.append(("sovereigntyprofiles", name, None))

    def namespace(self, name: str, profile: str, **spec: Any) -> None:
        self.tenancy.namespace(name, profile, **spec)
        self.made.insert(0, ("sovereignnamespaces", name, None))

    def volume(self, name: str, namespace: str, spec: dict[str, Any]) -> None:
        self.tenancy.volume(name, namespace, spec)
        self.made.insert(0, ("residentvolumes", name, namespace))

    def delete(self, plural: str, name: str, namespace: str | None) -> None:
        if namespace is None:
            self.tenancy.delete(plural, name)
            return
        try:
            self.objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except ApiException as error:
            if error.status != 404:
                raise

    def remove(self) -> None:
        """Deletes what the rows made, newest first, and waits until it is gone."""
        for plural, name, namespace in self.made:
            self.delete(plural, name, namespace)
        for plural, name, namespace in self.made:

            def gone(plural: str = plural, name: str = name, ns: str | None = namespace) -> bool:
                try:
                    self.get(plural, name, ns)
                except ApiException as error:
                    return error.status == 404
                return False

            wait_for(gone, f"{plural} {name} to go", timeout=90)
        self.made.clear()

    def wait_condition(
        self, plural: str, name: str, kind: str, namespace: str | None = None
    ) -> dict[str, Any]:
        return wait_for(
            lambda: (
                conditions(self.get(plural, name, namespace)).get(kind, {}).get("status") == "True"
                and self.get(plural, name, namespace)
            ),
            f"{plural} {name} to be {kind}",
            timeout=90,
        )

    def event(self, name: str, reason: str) -> Any:
        return wait_for(
            lambda: (
                self.core.list_event_for_all_namespaces(
                    field_selector=f"involvedObject.name={name},reason={reason}"
                ).items
            ),
            f"an Event {reason} on {name}",
        )

    def reported(self, plural: str, name: str, reason: str, namespace: str | None = None) -> None:
        """A condition says ``reason``, Ready is not True, and an Event says it too."""

        def found() -> dict[str, Any] | None:
            conds = conditions(self.get(plural, name, namespace))
            hits = [c for c in conds.values() if c["reason"] == reason and c["status"] != "True"]
            return hits[0] if hits and conds.get("Ready", {}).get("status") != "True" else None

        hit = wait_for(found, f"{plural} {name} to report {reason}", timeout=90)
        assert hit["message"]
        self.event(name, reason)


@pytest.fixture(scope="module")
def odd(api: Any, cluster: Cluster, operator: Operator) -> Iterator[Odd]:
    """The base profile, a namespace bound to it for volumes, and the late-binding class
    the profile allows; every row's objects are removed after it."""
    made = Odd(api, cluster)
    storage = client.StorageV1Api(api)
    try:
        storage.create_storage_class(
            {
                "metadata": {"name": RESIDENT_CLASS},
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "WaitForFirstConsumer",
            }
        )
    except ApiException as error:
        if error.status != 409:
            raise
    base = Odd(api, cluster)
    base.profile(BASE, dict(BASE_PROFILE))
    base.namespace(VOLUMES, BASE)
    base.tenancy.wait(VOLUMES)
    yield made
    made.remove()
    base.remove()
    ignoring_absent(lambda: storage.delete_storage_class(RESIDENT_CLASS))


@pytest.fixture(scope="module")
def first_pid(operator: Operator) -> int | None:
    return operator.pid


def check_profile(odd: Odd, row: OddInput, name: str) -> None:
    spec = dict(row.spec)
    odd.profile(name, spec)
    if row.answer == "refused":
        return
    if row.answer == "reported":
        odd.reported("sovereigntyprofiles", name, row.detail)
        return
    profile = odd.wait_condition("sovereigntyprofiles", name, "Ready")
    assert conditions(profile)["Valid"]["status"] == "True"
    bindings = odd.admission.list_validating_admission_policy_binding(
        label_selector=f"{PROFILE_LABEL}={name}"
    ).items
    assert f"souverain-placement-{name}" in {b.metadata.name for b in bindings}
    for binding in bindings:
        odd.admission.read_validating_admission_policy(binding.spec.policy_name)
        if binding.spec.param_ref is not None:
            assert binding.spec.param_ref.name == name
    # A namespace bound to the profile carries every network of its allow-list.
    namespace = f"{name[:55]}-ns"
    odd.namespace(namespace, name, owners=[{"kind": "User", "name": TENANT}])
    odd.tenancy.wait(namespace)
    cidrs = spec.get("egress", {}).get("cidrs", [])
    if cidrs:
        policy = odd.networking.read_namespaced_network_policy(ALLOW_PROFILE, namespace)
        assert ip_blocks(policy) == written(cidrs)
    else:
        with pytest.raises(ApiException) as absent:
            odd.networking.read_namespaced_network_policy(ALLOW_PROFILE, namespace)
        assert absent.value.status == 404
    # A tenant's own NetworkPolicy inside the floor passes the floor's admission policy,
    # however long the profile's lists.
    tenant = client.NetworkingV1Api(odd.cluster.api(impersonate=TENANT))
    wait_for(lambda: tenant.list_namespaced_network_policy(namespace), "the tenant's rights")
    peer: dict[str, Any] = {"podSelector": {}}
    if cidrs:
        peer = {"ipBlock": {"cidr": cidrs[0]["cidr"], "except": cidrs[0].get("except", [])}}
    rule: dict[str, Any] = {"to": [peer]}
    if cidrs and cidrs[0].get("ports"):
        rule["ports"] = [{"protocol": "TCP", **cidrs[0]["ports"][0]}]
    tenant.create_namespaced_network_policy(
        namespace,
        {
            "metadata": {"name": "tenant-egress"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]},
        },
    )


def check_namespace(odd: Odd, row: OddInput, name: str) -> None:
    spec = dict(row.spec)
    profile = spec.pop("profileName", BASE)
    if row.profile is not None:
        profile = f"{name[:55]}-p"
        odd.profile(profile, dict(row.profile))
    odd.namespace(name, profile, **spec)
    if row.answer == "refused":
        return
    if row.answer == "reported":
        odd.reported("sovereignnamespaces", name, row.detail)
        return
    odd.tenancy.wait(name)
    namespace = odd.core.read_namespace(name).metadata
    assert spec.get("labels", {}).items() <= (namespace.labels or {}).items()
    assert spec.get("annotations", {}).items() <= (namespace.annotations or {}).items()
    owners = spec.get("owners", [])
    if owners:
        binding = odd.rbac.read_namespaced_role_binding(OWNERS_BINDING, name)
        subjects = [(s.kind, s.name, s.namespace) for s in binding.subjects]
        assert subjects == [(o["kind"], o["name"], o.get("namespace")) for o in owners]
    else:
        with pytest.raises(ApiException) as absent:
            odd.rbac.read_namespaced_role_binding(OWNERS_BINDING, name)
        assert absent.value.status == 404
    cidrs = spec.get("egress", {}).get("cidrs", [])
    if cidrs:
        policy = odd.networking.read_namespaced_network_policy(ALLOW_EXTRA, name)
        assert ip_blocks(policy) == written(cidrs)


def check_volume(odd: Odd, row: OddInput, name: str) -> None:
    namespace = VOLUMES
    if row.profile is not None:
        namespace = f"{name[:55]}-ns"
        odd.profile(f"{name[:55]}-p", dict(row.profile))
        odd.namespace(namespace, f"{name[:55]}-p")
        odd.wait_condition("sovereignnamespaces", namespace, "NamespaceReady")
    odd.volume(name, namespace, dict(row.spec))
    if row.answer == "refused":
        return
    if row.answer == "reported":
        odd.reported("residentvolumes", name, row.detail, namespace)
        with pytest.raises(ApiException) as absent:
            odd.core.read_namespaced_persistent_volume_claim(name, namespace)
        assert absent.value.status == 404
        return
    claim = wait_for(
        lambda: odd.core.read_namespaced_persistent_volume_claim(name, namespace),
        f"the claim of {name}",
    )
    size: Decimal = parse_quantity(row.spec["size"])
    assert parse_quantity(claim.spec.resources.requests["storage"]) == size
    assert set(claim.spec.access_modes) == set(row.spec["accessModes"])
    assert claim.spec.storage_class_name == RESIDENT_CLASS
    assert claim.metadata.labels["souverain.io/resident-volume"] == name
    volume = wait_for(
        lambda: conditions(odd.get("residentvolumes", name, namespace)).get("Bound"),
        f"{name} to say whether it is bound",
    )
    assert volume["reason"] == "ClaimPending"


CHECKS = {
    "SovereigntyProfile": check_profile,
    "SovereignNamespace": check_namespace,
    "ResidentVolume": check_volume,
}


def params() -> list[Any]:
    return [pytest.param(row, id=row.id) for row in ROWS]


@pytest.mark.parametrize("row", params())
def test_odd_input_gets_its_answer(odd: Odd, first_pid: int | None, row: OddInput) -> None:
    name = object_name(row)
    try:
        if row.answer == "refused":
            message = refusal(lambda: CHECKS[row.kind](odd, row, name))
            assert row.detail in message, message
        else:
            CHECKS[row.kind](odd, row, name)
    finally:
        odd.remove()


def test_the_operator_survives_every_row(
    odd: Odd, first_pid: int | None, operator: Operator
) -> None:
    """Run last: the rows leave the operator running, the same process, with no traceback."""
    assert first_pid is not None
    assert operator.pid == first_pid
    assert "Traceback" not in operator.log()
