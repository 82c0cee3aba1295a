"""The egress floor on a real API server, with real RBAC and no operator running.

User alice holds the built-in ``admin`` ClusterRole in namespaces bound to a profile.
She cannot write a NetworkPolicy whose egress reaches past the profile's allow-list, and
each refusal names the field to change; she can still write ones that narrow egress.
Audit mode only warns, unbound namespaces are untouched, and the operator and cluster
administrators pass."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain import API_GROUP, API_VERSION
from souverain.admission.egress_floor import (
    POLICY_NAME,
    egress_floor_binding,
    egress_floor_binding_name,
    egress_floor_policy,
)
from souverain.api import SovereigntyProfileSpec
from souverain.labels import PROFILE
from tests.support.cluster import Cluster, ignoring_absent, wait_for
from tests.support.repository import REPO

CRDS = REPO / "crds"
FIELD_MANAGER = "souverain-egress-floor-tests"

OWNER = "alice"
OPERATOR_NAMESPACE = "souverain-system"
OPERATOR_ACCOUNT = "souverain"
OPERATOR = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"

RUN = uuid.uuid4().hex[:6]
ENFORCED = f"egress-enforced-{RUN}"
AUDITED = f"egress-audited-{RUN}"

ALLOWED: list[dict[str, Any]] = [
    {"cidr": "192.0.2.0/24", "ports": [{"protocol": "TCP", "port": 443}]},
    {"cidr": "198.51.100.0/24"},
    {
        "cidr": "10.0.0.0/8",
        "except": ["10.255.0.0/16"],
        "ports": [{"protocol": "UDP", "port": 8000, "endPort": 8100}],
    },
]
ALLOWED_TEXT = (
    "192.0.2.0/24 on 443/TCP; 198.51.100.0/24; 10.0.0.0/8 except 10.255.0.0/16 on 8000-8100/UDP"
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def profile_spec(mode: str, cidrs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nodeRequirements": [
            {
                "key": "node-restriction.kubernetes.io/french-sovereign",
                "operator": "In",
                "values": ["true"],
            }
        ],
        "egress": {"cidrs": cidrs},
        "enforcement": {"mode": mode},
    }


def tcp(port: int, end_port: int | None = None) -> dict[str, Any]:
    port_spec: dict[str, Any] = {"protocol": "TCP", "port": port}
    if end_port is not None:
        port_spec["endPort"] = end_port
    return port_spec


def udp(port: int, end_port: int | None = None) -> dict[str, Any]:
    return {**tcp(port, end_port), "protocol": "UDP"}


def block(cidr: str, *excluded: str) -> dict[str, Any]:
    ip_block: dict[str, Any] = {"cidr": cidr}
    if excluded:
        ip_block["except"] = list(excluded)
    return {"ipBlock": ip_block}


def namespaces(labels: dict[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": labels}}


PODS: dict[str, Any] = {"podSelector": {}}
OF_THE_PROFILE = namespaces({PROFILE: ENFORCED})


def network_policy(
    name: str,
    egress: list[dict[str, Any]] | None,
    *,
    policy_types: tuple[str, ...] = ("Egress",),
    ingress: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": list(policy_types)}
    if egress is not None:
        spec["egress"] = egress
    if ingress is not None:
        spec["ingress"] = ingress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


WIDE = [{"to": [block("0.0.0.0/0")]}]
"""The widening every probe tries: all of IPv4."""


def message(error: ApiException) -> str:
    return str(json.loads(error.body)["message"])


def attempt(api: Any, namespace: str, body: dict[str, Any], *, dry_run: bool = False) -> str | None:
    """Creates ``body``; the refusal message, or None when it was accepted."""
    try:
        api.create_namespaced_network_policy(namespace, body, dry_run="All" if dry_run else None)
    except ApiException as error:
        return message(error)
    return None


def floor_refusal(api: Any, namespace: str, egress: list[dict[str, Any]]) -> str | None:
    """The egress floor's refusal of ``egress`` (tried without writing), or None."""
    refusal = attempt(api, namespace, network_policy(unique("probe"), egress), dry_run=True)
    return refusal if refusal and POLICY_NAME in refusal else None


def refused(call: Callable[[], Any]) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value


def exists(api: Any, namespace: str, name: str) -> bool:
    try:
        api.read_namespaced_network_policy(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


@dataclass
class Tenancy:
    """Profiles, their bindings and namespaces made for these tests, and the people who
    write NetworkPolicies in them; removes everything it made."""

    cluster: Cluster
    api: Any
    owner: Any
    operator: Any
    files: Path
    profiles: list[str] = field(default_factory=list)
    bindings: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def admin(self) -> Any:
        """NetworkPolicies as the test's own user, a member of system:masters."""
        return client.NetworkingV1Api(self.api)

    def apply(self, *objects: dict[str, Any]) -> None:
        """Server-side apply, as the operator would: objects that exist are reused."""
        path = self.files / f"{unique('apply')}.json"
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
        self.cluster.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            f"--field-manager={FIELD_MANAGER}",
            "-f",
            str(path),
        )

    def bind(
        self, name: str, mode: str, cidrs: list[dict[str, Any]], *, create_profile: bool = True
    ) -> None:
        """A profile (unless ``create_profile`` is false) and its egress-floor binding."""
        spec = profile_spec(mode, cidrs)
        if create_profile:
            client.CustomObjectsApi(self.api).create_cluster_custom_object(
                API_GROUP,
                API_VERSION,
                "sovereigntyprofiles",
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": "SovereigntyProfile",
                    "metadata": {"name": name},
                    "spec": spec,
                },
            )
            self.profiles.append(name)
        self.bindings.append(egress_floor_binding_name(name))
        self.apply(egress_floor_binding(name, SovereigntyProfileSpec.model_validate(spec)))

    def namespace(self, name: str, profile: str | None) -> str:
        """A namespace bound to ``profile`` (or to none) where alice and the operator hold
        the admin ClusterRole, once alice's permissions are in effect."""
        core = client.CoreV1Api(self.api)
        labels = {PROFILE: profile} if profile else {}
        core.create_namespace({"metadata": {"name": name, "labels": labels}})
        self.namespaces.append(name)
        subjects = {
            "owner": {"kind": "User", "name": OWNER, "apiGroup": "rbac.authorization.k8s.io"},
            "operator": {
                "kind": "ServiceAccount",
                "name": OPERATOR_ACCOUNT,
                "namespace": OPERATOR_NAMESPACE,
            },
        }
        rbac = client.RbacAuthorizationV1Api(self.api)
        for role, subject in subjects.items():
            rbac.create_namespaced_role_binding(
                name,
                {
                    "metadata": {"name": f"{role}-admin"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "admin",
                    },
                    "subjects": [subject],
                },
            )
        for api in (self.owner, self.operator):
            wait_for(
                lambda api=api: api.list_namespaced_network_policy(name),
                f"the admin role of a user in {name}",
            )
        return name

    def remove(self) -> None:
        admission = client.AdmissionregistrationV1Api(self.api)
        for binding in self.bindings:
            ignoring_absent(
                lambda binding=binding: admission.delete_validating_admission_policy_binding(
                    binding
                )
            )
        core = client.CoreV1Api(self.api)
        for namespace in self.namespaces:
            ignoring_absent(lambda namespace=namespace: core.delete_namespace(namespace))
        custom = client.CustomObjectsApi(self.api)
        for profile in self.profiles:
            ignoring_absent(
                lambda profile=profile: custom.delete_cluster_custom_object(
                    API_GROUP, API_VERSION, "sovereigntyprofiles", profile
                )
            )


def _crds_established(api: Any) -> bool:
    extensions = client.ApiextensionsV1Api(api)
    names = [f"{path.stem.partition('_')[2]}.{API_GROUP}" for path in CRDS.glob("*.yaml")]
    return all(
        any(
            condition.type == "Established" and condition.status == "True"
            for condition in extensions.read_custom_resource_definition(name).status.conditions
            or []
        )
        for name in names
    )


@pytest.fixture(scope="module")
def tenancy(
    cluster: Cluster, api: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenancy]:
    """The CRDs and the egress-floor policy installed, and a place to make tenancies."""
    with cluster.api(impersonate=OWNER) as owner, cluster.api(impersonate=OPERATOR) as operator:
        made = Tenancy(
            cluster=cluster,
            api=api,
            owner=client.NetworkingV1Api(owner),
            operator=client.NetworkingV1Api(operator),
            files=tmp_path_factory.mktemp("egress-floor"),
        )
        try:
            made.cluster.kubectl(
                "apply",
                "--server-side",
                "--force-conflicts",
                f"--field-manager={FIELD_MANAGER}",
                "-f",
                str(CRDS),
            )
            wait_for(lambda: _crds_established(api), "the souverain CRDs to be established")
            made.apply(egress_floor_policy(OPERATOR))
            yield made
        finally:
            made.remove()
            ignoring_absent(
                lambda: client.AdmissionregistrationV1Api(api).delete_validating_admission_policy(
                    POLICY_NAME
                )
            )


@pytest.fixture(scope="module")
def enforced(tenancy: Tenancy) -> str:
    """A namespace bound to an Enforce profile, once the floor refuses widenings in it."""
    tenancy.bind(ENFORCED, "Enforce", ALLOWED)
    namespace = tenancy.namespace(unique("egress-enforced"), ENFORCED)
    wait_for(
        lambda: floor_refusal(tenancy.owner, namespace, WIDE),
        f"the egress floor to refuse widenings in {namespace}",
    )
    return namespace


def _audit_warning(cluster: Cluster, path: Path) -> str | None:
    result = cluster.kubectl(
        f"--as={OWNER}", "create", "--dry-run=server", "-f", str(path), check=False
    )
    warning = f"Warning: Validation failed for ValidatingAdmissionPolicy '{POLICY_NAME}'"
    return result.stderr if result.returncode == 0 and warning in result.stderr else None


@pytest.fixture(scope="module")
def audited(tenancy: Tenancy) -> str:
    """A namespace bound to an Audit profile, once the floor warns of widenings in it."""
    tenancy.bind(AUDITED, "Audit", ALLOWED)
    namespace = tenancy.namespace(unique("egress-audited"), AUDITED)
    probe = tenancy.files / "audit-probe.json"
    probe.write_text(
        json.dumps(
            {**network_policy("probe", WIDE), "metadata": {"name": "probe", "namespace": namespace}}
        )
    )
    wait_for(
        lambda: _audit_warning(tenancy.cluster, probe),
        f"the egress floor to warn of widenings in {namespace}",
    )
    return namespace


# -- the policy itself --------------------------------------------------------


def _written_out(policy: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``policy`` with one more validation per variable, with the variables it
    uses written out. The API server's type checker looks at validations only, and types
    ``variables.*`` as dyn; written out, every expression is checked against the
    NetworkPolicy and SovereigntyProfile schemas."""
    checked = copy.deepcopy(policy)
    written: dict[str, str] = {}
    for variable in checked["spec"]["variables"]:
        written[variable["name"]] = re.sub(
            r"variables\.(\w+)", lambda used: f"({written[used[1]]})", variable["expression"]
        )
    checked["spec"]["validations"] += [
        {"expression": f"({expression}) == ({expression})", "message": name}
        for name, expression in written.items()
    ]
    return checked


def _type_checked(api: Any, name: str) -> Any | None:
    """The type-checking result of a policy, once the API server has checked it."""
    policy = client.AdmissionregistrationV1Api(api).read_validating_admission_policy(name)
    status = policy.status
    if not status or status.observed_generation != policy.metadata.generation:
        return None
    return status.type_checking


def _warnings(api: Any, name: str) -> list[str]:
    checked = wait_for(lambda: _type_checked(api, name), f"{name} to be type-checked")
    return [warning.warning for warning in checked.expression_warnings or []]


def test_policy_is_accepted_and_its_cel_type_checks(tenancy: Tenancy) -> None:
    written_out = _written_out(egress_floor_policy(OPERATOR))
    written_out["metadata"]["name"] = unique(f"{POLICY_NAME}-checked")
    # The same with a field NetworkPolicies do not have: the check must catch it.
    mistyped = json.loads(
        json.dumps(written_out).replace("peer.ipBlock.except", "peer.ipBlock.excep")
    )
    mistyped["metadata"]["name"] = unique(f"{POLICY_NAME}-mistyped")
    admission = client.AdmissionregistrationV1Api(tenancy.api)
    try:
        tenancy.apply(written_out, mistyped)

        assert _warnings(tenancy.api, POLICY_NAME) == []
        assert _warnings(tenancy.api, written_out["metadata"]["name"]) == []
        warnings = _warnings(tenancy.api, mistyped["metadata"]["name"])
        assert any("undefined field 'excep'" in warning for warning in warnings), warnings
    finally:
        for checked in (written_out, mistyped):
            ignoring_absent(
                lambda checked=checked: admission.delete_validating_admission_policy(
                    checked["metadata"]["name"]
                )
            )


# -- widenings ----------------------------------------------------------------

WIDENINGS = [
    pytest.param(
        [{"ports": [tcp(443)]}],
        [
            "spec.egress[0].to is empty, which allows every destination; list destinations"
            f" inside the egress allow-list of SovereigntyProfile {ENFORCED}"
        ],
        id="no-to",
    ),
    pytest.param(
        [{"to": [], "ports": [tcp(443)]}],
        ["spec.egress[0].to is empty, which allows every destination"],
        id="empty-to",
    ),
    pytest.param(
        [{"to": [block("0.0.0.0/0")]}],
        [
            "spec.egress[0].to[0].ipBlock.cidr 0.0.0.0/0 is outside the egress allow-list of"
            f" SovereigntyProfile {ENFORCED} (allowed: {ALLOWED_TEXT}); use a block inside one"
            " of those networks"
        ],
        id="all-of-ipv4",
    ),
    pytest.param(
        [{"to": [PODS, block("::/0")], "ports": [tcp(443)]}],
        ["spec.egress[0].to[1].ipBlock.cidr ::/0 is outside the egress allow-list"],
        id="all-of-ipv6-beside-pods",
    ),
    pytest.param(
        [{"to": [block("0.0.0.0/0", "128.0.0.0/1")]}],
        ["spec.egress[0].to[0].ipBlock.cidr 0.0.0.0/0 is outside"],
        id="all-of-ipv4-with-except",
    ),
    pytest.param(
        [{"to": [block("203.0.113.0/24")], "ports": [tcp(443)]}],
        ["spec.egress[0].to[0].ipBlock.cidr 203.0.113.0/24 is outside"],
        id="cidr-outside",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/23")], "ports": [tcp(443)]}],
        ["spec.egress[0].to[0].ipBlock.cidr 192.0.2.0/23 is outside"],
        id="cidr-around-an-allowed-one",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/23", "192.0.3.0/24")], "ports": [tcp(443)]}],
        ["spec.egress[0].to[0].ipBlock.cidr 192.0.2.0/23 is outside"],
        id="except-does-not-rescue-a-wider-cidr",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/25")], "ports": [tcp(80)]}],
        [
            f"spec.egress[0].ports allows ports outside those SovereigntyProfile {ENFORCED}"
            " allows to 192.0.2.0/25 (192.0.2.0/24 on 443/TCP); list port numbers within them"
        ],
        id="port-not-allowed",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/25")], "ports": [udp(443)]}],
        ["spec.egress[0].ports allows ports outside those"],
        id="protocol-not-allowed",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/25")], "ports": [tcp(443, 444)]}],
        ["spec.egress[0].ports allows ports outside those"],
        id="port-range-past-the-allowed-port",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/25")], "ports": [tcp(443), tcp(22)]}],
        ["spec.egress[0].ports allows ports outside those"],
        id="one-port-of-two-not-allowed",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/25")], "ports": [{"protocol": "TCP", "port": "https"}]}],
        ["spec.egress[0].ports allows ports outside those"],
        id="named-port-where-ports-are-listed",
    ),
    pytest.param(
        [{"to": [block("192.0.2.0/25")]}],
        [
            "spec.egress[0].ports is empty, which allows every port, beyond those"
            f" SovereigntyProfile {ENFORCED} allows to 192.0.2.0/25"
        ],
        id="no-ports-where-ports-are-listed",
    ),
    pytest.param(
        [{"to": [block("10.0.0.0/8")], "ports": [udp(8000)]}],
        [
            "spec.egress[0].to[0].ipBlock reaches 10.255.0.0/16, which SovereigntyProfile"
            f" {ENFORCED} excludes from 10.0.0.0/8; list it in ipBlock.except"
        ],
        id="excluded-block-left-open",
    ),
    pytest.param(
        [{"to": [block("10.255.1.0/24")], "ports": [udp(8000)]}],
        ["spec.egress[0].to[0].ipBlock reaches 10.255.0.0/16"],
        id="cidr-inside-an-excluded-block",
    ),
    pytest.param(
        [{"to": [{"namespaceSelector": {}}]}],
        [
            "spec.egress[0].to[0].namespaceSelector can select namespaces outside"
            f" SovereigntyProfile {ENFORCED}; add to its matchLabels {PROFILE}: {ENFORCED}"
        ],
        id="namespace-selector-of-every-namespace",
    ),
    pytest.param(
        [{"to": [{**namespaces({"team": "payments"}), **PODS}]}],
        ["spec.egress[0].to[0].namespaceSelector can select namespaces outside"],
        id="namespace-selector-on-another-label",
    ),
    pytest.param(
        [{"to": [namespaces({PROFILE: AUDITED})]}],
        ["spec.egress[0].to[0].namespaceSelector can select namespaces outside"],
        id="namespace-selector-of-another-profile",
    ),
    pytest.param(
        [
            {"to": [PODS]},
            {"to": [PODS, block("192.0.2.0/25")], "ports": [tcp(443)]},
            {"to": [OF_THE_PROFILE, block("0.0.0.0/0")]},
        ],
        ["spec.egress[2].to[1].ipBlock.cidr 0.0.0.0/0 is outside"],
        id="third-rule-widens",
    ),
    pytest.param(
        [{"to": [block("0.0.0.0/0"), {"namespaceSelector": {}}]}, {}],
        ["spec.egress[0].to[0].ipBlock.cidr 0.0.0.0/0 is outside", "(and 2 more)"],
        id="several-widenings-are-counted",
    ),
]

NARROW = [{"to": [block("192.0.2.0/25")], "ports": [tcp(443)]}]


@pytest.mark.parametrize(("egress", "refusal"), WIDENINGS)
def test_owner_cannot_create_a_widening_policy(
    tenancy: Tenancy, enforced: str, egress: list[dict[str, Any]], refusal: list[str]
) -> None:
    name = unique("wide")

    error = refused(
        lambda: tenancy.owner.create_namespaced_network_policy(
            enforced, network_policy(name, egress)
        )
    )

    assert error.status == 403
    text = message(error)
    assert f"ValidatingAdmissionPolicy '{POLICY_NAME}'" in text
    for expected in refusal:
        assert expected in text
    assert not exists(tenancy.admin, enforced, name)


@pytest.mark.parametrize(("egress", "refusal"), WIDENINGS)
def test_owner_cannot_widen_a_narrow_policy(
    tenancy: Tenancy, enforced: str, egress: list[dict[str, Any]], refusal: list[str]
) -> None:
    name = unique("narrow")
    created = tenancy.owner.create_namespaced_network_policy(enforced, network_policy(name, NARROW))
    widened = network_policy(name, egress)
    widened["metadata"]["resourceVersion"] = created.metadata.resource_version

    error = refused(
        lambda: tenancy.owner.replace_namespaced_network_policy(name, enforced, widened)
    )

    assert error.status == 403
    for expected in refusal:
        assert expected in message(error)
    kept = tenancy.admin.read_namespaced_network_policy(name, enforced)
    assert kept.metadata.resource_version == created.metadata.resource_version


# -- narrowings ---------------------------------------------------------------

NARROWINGS = [
    pytest.param(
        [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}], id="pods-of-the-namespace"
    ),
    pytest.param([{"to": [PODS], "ports": [tcp(5432)]}], id="every-pod-of-the-namespace-on-a-port"),
    pytest.param(NARROW, id="narrower-block-on-the-allowed-port"),
    pytest.param(
        [{"to": [block("192.0.2.0/24")], "ports": [{"port": 443}]}],
        id="allowed-network-on-its-port-protocol-defaulted",
    ),
    pytest.param([{"to": [block("198.51.100.0/24")]}], id="allowed-network-on-every-port"),
    pytest.param(
        [{"to": [block("198.51.100.7/32")], "ports": [udp(53)]}],
        id="one-host-of-an-allowed-network",
    ),
    pytest.param(
        [{"to": [block("10.0.0.0/8", "10.255.0.0/16")], "ports": [udp(8000, 8050)]}],
        id="network-with-its-exclusion-on-a-port-range",
    ),
    pytest.param(
        [{"to": [block("10.0.0.0/8", "10.255.0.0/16", "10.1.0.0/16")], "ports": [udp(8100)]}],
        id="network-excluding-more-than-the-profile",
    ),
    pytest.param(
        [{"to": [block("10.1.0.0/16")], "ports": [udp(8000)]}], id="block-clear-of-the-exclusion"
    ),
    pytest.param([{"to": [OF_THE_PROFILE]}], id="namespaces-of-the-profile"),
    pytest.param(
        [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {PROFILE: ENFORCED, "team": "payments"},
                            "matchExpressions": [
                                {"key": "tier", "operator": "In", "values": ["db"]}
                            ],
                        },
                        "podSelector": {"matchLabels": {"app": "db"}},
                    }
                ]
            }
        ],
        id="some-pods-of-some-namespaces-of-the-profile",
    ),
    pytest.param(
        [
            {"to": [PODS, OF_THE_PROFILE]},
            {"to": [block("192.0.2.128/25"), block("198.51.100.0/25")], "ports": [tcp(443)]},
        ],
        id="several-narrow-rules",
    ),
    pytest.param([], id="deny-all-egress"),
]


@pytest.mark.parametrize("egress", NARROWINGS)
def test_owner_can_create_a_narrowing_policy(
    tenancy: Tenancy, enforced: str, egress: list[dict[str, Any]]
) -> None:
    name = unique("narrow")

    tenancy.owner.create_namespaced_network_policy(enforced, network_policy(name, egress))

    assert exists(tenancy.admin, enforced, name)


def test_owner_can_create_an_ingress_only_policy(tenancy: Tenancy, enforced: str) -> None:
    name = unique("ingress")
    policy = network_policy(
        name, None, policy_types=("Ingress",), ingress=[{"from": [block("0.0.0.0/0")]}]
    )

    tenancy.owner.create_namespaced_network_policy(enforced, policy)

    assert exists(tenancy.admin, enforced, name)


def test_owner_can_narrow_a_policy_further(tenancy: Tenancy, enforced: str) -> None:
    name = unique("narrow")
    created = tenancy.owner.create_namespaced_network_policy(enforced, network_policy(name, NARROW))
    narrower = network_policy(name, [{"to": [block("192.0.2.0/26")], "ports": [tcp(443)]}])
    narrower["metadata"]["resourceVersion"] = created.metadata.resource_version

    tenancy.owner.replace_namespaced_network_policy(name, enforced, narrower)

    read = tenancy.admin.read_namespaced_network_policy(name, enforced)
    assert read.spec.egress[0].to[0].ip_block.cidr == "192.0.2.0/26"


# -- who and where the floor does not apply -----------------------------------


def test_cluster_admin_can_create_a_wide_policy(tenancy: Tenancy, enforced: str) -> None:
    name = unique("admin")

    tenancy.admin.create_namespaced_network_policy(enforced, network_policy(name, WIDE))

    assert exists(tenancy.admin, enforced, name)


def test_operator_can_create_a_wide_policy(tenancy: Tenancy, enforced: str) -> None:
    name = unique("operator")

    tenancy.operator.create_namespaced_network_policy(enforced, network_policy(name, WIDE))

    assert exists(tenancy.admin, enforced, name)


def test_owner_can_label_a_wide_policy_but_not_edit_its_spec(
    tenancy: Tenancy, enforced: str
) -> None:
    # A wide policy written by an administrator stays editable in its metadata.
    name = unique("admin")
    tenancy.admin.create_namespaced_network_policy(enforced, network_policy(name, WIDE))

    tenancy.owner.patch_namespaced_network_policy(
        name, enforced, {"metadata": {"labels": {"team": "payments"}}}
    )
    error = refused(
        lambda: tenancy.owner.patch_namespaced_network_policy(
            name, enforced, {"spec": {"podSelector": {"matchLabels": {"app": "web"}}}}
        )
    )

    assert error.status == 403
    assert "spec.egress[0].to[0].ipBlock.cidr 0.0.0.0/0 is outside" in message(error)
    read = tenancy.admin.read_namespaced_network_policy(name, enforced)
    assert read.metadata.labels == {"team": "payments"}
    assert read.spec.pod_selector.match_labels is None


def test_managed_by_label_does_not_let_a_widening_through(tenancy: Tenancy, enforced: str) -> None:
    policy = network_policy(unique("wide"), WIDE)
    policy["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "souverain"}

    error = refused(lambda: tenancy.owner.create_namespaced_network_policy(enforced, policy))

    assert error.status == 403
    assert POLICY_NAME in message(error)


def test_unbound_namespace_is_unaffected(tenancy: Tenancy, enforced: str) -> None:
    unbound = tenancy.namespace(unique("egress-unbound"), None)
    name = unique("wide")

    tenancy.owner.create_namespaced_network_policy(unbound, network_policy(name, WIDE))

    assert exists(tenancy.admin, unbound, name)


def test_audit_mode_admits_a_widening_with_a_warning(tenancy: Tenancy, audited: str) -> None:
    name = unique("wide")
    path = tenancy.files / f"{name}.json"
    body = network_policy(name, WIDE)
    body["metadata"]["namespace"] = audited
    path.write_text(json.dumps(body))

    result = tenancy.cluster.kubectl(f"--as={OWNER}", "create", "-f", str(path), check=False)

    assert result.returncode == 0, result.stderr
    assert (
        f"Warning: Validation failed for ValidatingAdmissionPolicy '{POLICY_NAME}' with binding"
        f" '{egress_floor_binding_name(AUDITED)}': spec.egress[0].to[0].ipBlock.cidr 0.0.0.0/0"
        f" is outside the egress allow-list of SovereigntyProfile {AUDITED}"
    ) in result.stderr
    assert exists(tenancy.admin, audited, name)


# -- the profile as the policy's parameter ------------------------------------


def test_namespace_of_a_missing_profile_refuses_every_write(tenancy: Tenancy) -> None:
    missing = unique("egress-missing")
    tenancy.bind(missing, "Enforce", ALLOWED, create_profile=False)
    namespace = tenancy.namespace(unique("egress-missing"), missing)

    pods_only = network_policy(unique("pods"), [{"to": [PODS]}])

    def refusal() -> str | None:
        found = attempt(tenancy.owner, namespace, pods_only, dry_run=True)
        return found if found and POLICY_NAME in found else None

    text = wait_for(refusal, "the binding of a missing profile to refuse writes")

    assert "no params found" in text


def test_profile_edit_takes_effect_without_new_objects(tenancy: Tenancy) -> None:
    profile = unique("egress-edited")
    tenancy.bind(profile, "Enforce", ALLOWED)
    namespace = tenancy.namespace(unique("egress-edited"), profile)
    new_network = [{"to": [block("203.0.113.0/24")], "ports": [tcp(443)]}]
    wait_for(
        lambda: floor_refusal(tenancy.owner, namespace, new_network),
        "the floor to refuse a network the profile does not list yet",
    )

    client.CustomObjectsApi(tenancy.api).patch_cluster_custom_object(
        API_GROUP,
        API_VERSION,
        "sovereigntyprofiles",
        profile,
        {"spec": {"egress": {"cidrs": [*ALLOWED, {"cidr": "203.0.113.0/24"}]}}},
    )

    name = unique("new-network")
    wait_for(
        lambda: attempt(tenancy.owner, namespace, network_policy(name, new_network)) is None,
        "the floor to accept the network the profile now lists",
    )
    assert exists(tenancy.admin, namespace, name)


# -- the API server's cost limit ----------------------------------------------

LARGEST_PROFILE = [
    {
        "cidr": f"10.{network}.0.0/16",
        "except": [f"10.{network}.{200 + block}.0/24" for block in range(16)],
        "ports": [tcp(1000 + 10 * port, 1005 + 10 * port) for port in range(16)],
    }
    for network in range(64)
]
"""As large as the CRD allows: 64 networks, each with 16 exclusions and 16 port ranges."""


def _costliest(destinations: int) -> list[dict[str, Any]]:
    """One rule with every port of the last network, to that network ``destinations`` times,
    each excluding what the profile excludes: what costs the floor most to accept."""
    last = LARGEST_PROFILE[-1]
    peer = block(last["cidr"], *last["except"])
    return [{"to": [peer] * destinations, "ports": last["ports"]}]


@pytest.fixture(scope="module")
def largest(tenancy: Tenancy) -> str:
    profile = unique("egress-largest")
    tenancy.bind(profile, "Enforce", LARGEST_PROFILE)
    namespace = tenancy.namespace(unique("egress-largest"), profile)
    wait_for(
        lambda: floor_refusal(tenancy.owner, namespace, WIDE),
        f"the egress floor to refuse widenings in {namespace}",
    )
    return namespace


def test_largest_profile_accepts_policies_with_dozens_of_destinations(
    tenancy: Tenancy, largest: str
) -> None:
    name = unique("costly")

    tenancy.owner.create_namespaced_network_policy(largest, network_policy(name, _costliest(50)))

    assert exists(tenancy.admin, largest, name)


def test_policy_too_large_to_check_is_refused(tenancy: Tenancy, largest: str) -> None:
    name = unique("too-costly")

    error = refused(
        lambda: tenancy.owner.create_namespaced_network_policy(
            largest, network_policy(name, _costliest(1000))
        )
    )

    assert POLICY_NAME in message(error)
    assert "cost limit exceeded" in message(error)
    assert not exists(tenancy.admin, largest, name)
