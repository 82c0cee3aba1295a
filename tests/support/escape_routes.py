"""The catalogue of escape routes: what souverain defends against, one entry per route.

A namespace owner (user ``alice``, the built-in ``admin`` ClusterRole in a bound
namespace, as the operator grants it) tries each route; ``test_escape_routes.py`` runs
every entry with the operator up and with it stopped. An entry either expects a refusal
whose message names the field to change, or lets the API server accept what it may and
then checks the outcome with an evaluator that does not share code with the admission
policies: the pods' effective egress (:mod:`souverain.outcomes.egress`), or the nodes a
pod's scheduling constraints allow, read here from the node labels.

Routes by guarantee and class (create / update or delete what the operator made / a
field the policy does not look at / an equivalent form):

- placement: nodeSelector, ORed affinity terms, tolerations, ``nodeName``,
  ``pods/binding``, host network, DaemonSets, workload templates;
- egress: wide policies, policies without destinations, equivalent CIDR and selector
  forms, updates of tenant policies, rules that policyTypes ignore until an update
  adds Egress, and update, delete, re-selection, re-typing and relabelling of the
  operator's own policies;
- storage: every volume source outside the governed claims, in pods and in the pod
  templates of every workload kind, claims naming their volume (at creation and by
  update), classes that are not allowed, ephemeral volumes, StatefulSet templates;
- tenancy: the owners' RoleBinding, the claims of ResidentVolumes, the labels of the
  Namespace that bind it to its profile.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.admission.storage import GOVERNED_ELSEWHERE
from souverain.outcomes.egress import Floor, effective_egress
from tests.support.cluster import wait_for
from tests.support.placement import NO_SCHEDULER

SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"
ALLOWED_CLASS = "escape-fr-ssd"
ALLOWED_NFS = "nfs.fr.example"
PROFILE_CIDRS: list[dict[str, Any]] = [
    {
        "cidr": "10.0.0.0/8",
        "except": ["10.255.0.0/16"],
        "ports": [{"protocol": "TCP", "port": 443}],
    },
    {"cidr": "192.0.2.0/24"},
]
POD_SHAPES: list[dict[str, str]] = [{}, {"app": "web"}, {"app": "db", "tier": "data"}]
"""Label sets of the pods whose effective egress is checked after each egress route."""


@dataclass
class Tenant:
    """What a route needs: the owner's clients, the admin's, and the tenant's names."""

    namespace: str
    profile: str
    owner: Any
    admin: Any
    nodes: dict[str, dict[str, str]]

    @property
    def core(self) -> Any:
        return client.CoreV1Api(self.owner)

    @property
    def networking(self) -> Any:
        return client.NetworkingV1Api(self.owner)

    @property
    def apps(self) -> Any:
        return client.AppsV1Api(self.owner)

    @property
    def batch(self) -> Any:
        return client.BatchV1Api(self.owner)

    @property
    def rbac(self) -> Any:
        return client.RbacAuthorizationV1Api(self.owner)

    def floor(self) -> Floor:
        return Floor(self.profile, self.namespace, True, tuple(PROFILE_CIDRS))


@dataclass(frozen=True)
class Route:
    guarantee: str
    name: str
    attempt: Callable[[Tenant], None]

    @property
    def id(self) -> str:
        return f"{self.guarantee}:{self.name}"


ROUTES: list[Route] = []


def route(
    guarantee: str, name: str
) -> Callable[[Callable[[Tenant], None]], Callable[[Tenant], None]]:
    def register(attempt: Callable[[Tenant], None]) -> Callable[[Tenant], None]:
        ROUTES.append(Route(guarantee, name, attempt))
        return attempt

    return register


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def refused(call: Callable[[], Any], *expected: str) -> str:
    """Runs ``call``, which must be refused; returns the message, which must name each of
    ``expected``."""
    with pytest.raises(ApiException) as caught:
        call()
    error = caught.value
    assert error.status in (403, 422), f"{error.status} {error.reason}: {error.body}"
    message = str(json.loads(error.body).get("message", error.body))
    for text in expected:
        assert text in message, f"{text!r} not in the refusal: {message}"
    return message


# -- outcome checks -------------------------------------------------------------------


def egress_holds(tenant: Tenant) -> None:
    """Every pod shape of the namespace is isolated for egress and reaches nothing past
    the floor, computed from the NetworkPolicies as they are now."""
    networking = client.NetworkingV1Api(tenant.admin)
    policies = [
        tenant.admin.sanitize_for_serialization(item)
        for item in networking.list_namespaced_network_policy(tenant.namespace).items
    ]
    for labels in POD_SHAPES:
        outcome = effective_egress(labels, policies, tenant.floor())
        assert outcome.isolated, f"pods labelled {labels} are not isolated for egress"
        assert not outcome.escapes, f"pods labelled {labels} reach {outcome.escapes}"


def _node_term_matches(term: dict[str, Any], name: str, labels: dict[str, str]) -> bool:
    for requirement in term.get("matchExpressions") or []:
        key, op, values = (
            requirement["key"],
            requirement["operator"],
            requirement.get("values") or [],
        )
        present = key in labels
        if (
            (op == "In" and not (present and labels[key] in values))
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
            or (op == "Gt" and not (present and int(labels[key]) > int(values[0])))
            or (op == "Lt" and not (present and int(labels[key]) < int(values[0])))
        ):
            return False
    for requirement in term.get("matchFields") or []:
        values = requirement.get("values") or []
        if requirement["key"] == "metadata.name":
            if requirement["operator"] == "In" and name not in values:
                return False
            if requirement["operator"] == "NotIn" and name in values:
                return False
    return bool(term.get("matchExpressions") or term.get("matchFields"))


def schedulable_nodes(pod: dict[str, Any], nodes: dict[str, dict[str, str]]) -> set[str]:
    """The nodes a pod's nodeSelector, required node affinity and nodeName allow."""
    spec = pod.get("spec") or {}
    allowed = set()
    terms = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    for name, labels in nodes.items():
        if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
            continue
        if terms is not None and not any(_node_term_matches(t, name, labels) for t in terms):
            continue
        if spec.get("nodeName") and spec["nodeName"] != name:
            continue
        allowed.add(name)
    return allowed


def placement_holds(tenant: Tenant, pod: dict[str, Any]) -> None:
    """The pod can only be placed on sovereign nodes, and is on none other."""
    outside = {
        name
        for name in schedulable_nodes(pod, tenant.nodes)
        if tenant.nodes[name].get(SOVEREIGN) != "true"
    }
    assert not outside, f"pod {pod['metadata']['name']} can run on {sorted(outside)}"
    node = (pod.get("spec") or {}).get("nodeName")
    assert not node or tenant.nodes[node].get(SOVEREIGN) == "true", f"pod runs on {node}"


def pods_of(tenant: Tenant, selector: str, count: int = 1) -> list[dict[str, Any]]:
    """The pods a workload's controller created (at least ``count``), as dicts."""
    core = client.CoreV1Api(tenant.admin)

    def found() -> list[Any] | None:
        items = core.list_namespaced_pod(tenant.namespace, label_selector=selector).items
        return items if len(items) >= count else None

    items = wait_for(found, f"pods {selector} in {tenant.namespace}")
    return [tenant.admin.sanitize_for_serialization(item) for item in items]


# -- placement ------------------------------------------------------------------------

US_SELECTOR = {"topology.kubernetes.io/region": "us-east"}


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"route": name}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}], **spec},
    }


def _created_pod_holds(tenant: Tenant, body: dict[str, Any]) -> None:
    created = tenant.core.create_namespaced_pod(tenant.namespace, body)
    placement_holds(tenant, tenant.owner.sanitize_for_serialization(created))


@route("placement", "node-selector-abroad")
def _node_selector(tenant: Tenant) -> None:
    _created_pod_holds(tenant, pod(unique("selector"), nodeSelector=US_SELECTOR))


@route("placement", "ored-affinity-terms")
def _ored_terms(tenant: Tenant) -> None:
    us = {
        "matchExpressions": [
            {"key": "topology.kubernetes.io/region", "operator": "In", "values": ["us-east"]}
        ]
    }
    anywhere = {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "Exists"}]}
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [us, anywhere]}
        }
    }
    _created_pod_holds(tenant, pod(unique("ored"), affinity=affinity))


@route("placement", "node-name-by-field-match")
def _match_fields(tenant: Tenant) -> None:
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["std-us-1"]}]}
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
    }
    _created_pod_holds(tenant, pod(unique("fields"), affinity=affinity))


@route("placement", "tolerate-every-taint")
def _tolerations(tenant: Tenant) -> None:
    _created_pod_holds(
        tenant,
        pod(unique("tolerate"), tolerations=[{"operator": "Exists"}], nodeSelector=US_SELECTOR),
    )


@route("placement", "node-name")
def _node_name(tenant: Tenant) -> None:
    refused(
        lambda: tenant.core.create_namespaced_pod(
            tenant.namespace, pod(unique("named"), nodeName="std-us-1")
        ),
        "spec.nodeName",
    )


@route("placement", "host-network")
def _host_network(tenant: Tenant) -> None:
    refused(
        lambda: tenant.core.create_namespaced_pod(
            tenant.namespace, pod(unique("host"), hostNetwork=True)
        ),
        # The API server's PodSecurity admission (baseline, the profile's default level)
        # answers before souverain's policy, with "hostNetwork=true"; both name the field.
        "hostNetwork",
    )


@route("placement", "pods-binding-abroad")
def _binding(tenant: Tenant) -> None:
    name = unique("unscheduled")
    client.CoreV1Api(tenant.admin).create_namespaced_pod(
        tenant.namespace, pod(name, schedulerName=NO_SCHEDULER)
    )
    body = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "std-us-1"},
    }
    refused(
        lambda: tenant.core.create_namespaced_pod_binding(
            name, tenant.namespace, body, _preload_content=False
        )
    )


def _template(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"route": name}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}], **spec},
    }


@route("placement", "daemonset-on-every-node")
def _daemonset(tenant: Tenant) -> None:
    name = unique("ds")
    tenant.apps.create_namespaced_daemon_set(
        tenant.namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": {"route": name}},
                "template": _template(name, tolerations=[{"operator": "Exists"}]),
            },
        },
    )
    for created in pods_of(tenant, f"route={name}", count=len(tenant.nodes)):
        placement_holds(tenant, created)


@route("placement", "deployment-template-abroad")
def _deployment(tenant: Tenant) -> None:
    name = unique("deploy")
    tenant.apps.create_namespaced_deployment(
        tenant.namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"route": name}},
                "template": _template(name, nodeSelector=US_SELECTOR),
            },
        },
    )
    for created in pods_of(tenant, f"route={name}", count=2):
        placement_holds(tenant, created)


@route("placement", "job-template-node-name")
def _job(tenant: Tenant) -> None:
    name = unique("job")
    tenant.batch.create_namespaced_job(
        tenant.namespace,
        {
            "metadata": {"name": name},
            "spec": {"template": _template(name, restartPolicy="Never", nodeSelector=US_SELECTOR)},
        },
    )
    for created in pods_of(tenant, f"route={name}"):
        placement_holds(tenant, created)


# -- egress ---------------------------------------------------------------------------

OPERATOR_POLICIES = (
    "souverain-deny-egress",
    "souverain-allow-dns",
    "souverain-allow-same-namespace",
    "souverain-allow-profile-egress",
)


def network_policy(
    name: str, egress: list[dict[str, Any]] | None, types: list[str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": types or ["Egress"]}
    if egress is not None:
        spec["egress"] = egress
    return {"metadata": {"name": name}, "spec": spec}


def _create_refused(
    tenant: Tenant, egress: list[dict[str, Any]], *expected: str, by: str = "souverain-egress-floor"
) -> None:
    refused(
        lambda: tenant.networking.create_namespaced_network_policy(
            tenant.namespace, network_policy(unique("wide"), egress)
        ),
        *([by] if by else []),
        *expected,
    )
    egress_holds(tenant)


def _block(cidr: str) -> dict[str, Any]:
    return {"ipBlock": {"cidr": cidr}}


def _namespaces(*expressions: dict[str, Any]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchExpressions": list(expressions)}}


TCP_443 = [{"protocol": "TCP", "port": 443}]
CLUSTER_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
PROFILE_KEY = "souverain.io/profile"

WIDENINGS: dict[str, tuple[Callable[[Tenant], list[dict[str, Any]]], str]] = {
    "all-of-ipv4": (lambda t: [{"to": [_block("0.0.0.0/0")]}], "spec.egress[0].to[0].ipBlock.cidr"),
    "all-of-ipv6": (lambda t: [{"to": [_block("::/0")]}], "spec.egress[0].to[0].ipBlock.cidr"),
    "split-halves-of-ipv4": (
        lambda t: [{"to": [_block("0.0.0.0/1"), _block("128.0.0.0/1")]}],
        "ipBlock.cidr",
    ),
    "excluded-block": (lambda t: [{"to": [_block("10.255.0.0/24")], "ports": TCP_443}], "ipBlock"),
    "port-outside": (
        lambda t: [{"to": [_block("10.1.0.0/16")], "ports": [{"protocol": "TCP", "port": 22}]}],
        "ports",
    ),
    "named-port": (
        lambda t: [
            {"to": [_block("10.1.0.0/16")], "ports": [{"protocol": "TCP", "port": "https"}]}
        ],
        "ports",
    ),
    "rule-without-destination": (lambda t: [{"ports": TCP_443}], "spec.egress[0].to is empty"),
    "every-namespace": (lambda t: [{"to": [{"namespaceSelector": {}}]}], "namespaceSelector"),
    "profile-exists-selector": (
        lambda t: [{"to": [_namespaces({"key": PROFILE_KEY, "operator": "Exists"})]}],
        "namespaceSelector",
    ),
    "profile-in-two-values": (
        lambda t: [
            {
                "to": [
                    _namespaces({"key": PROFILE_KEY, "operator": "In", "values": [t.profile, "x"]})
                ]
            }
        ],
        "namespaceSelector",
    ),
    "profile-notin-selector": (
        lambda t: [
            {"to": [_namespaces({"key": PROFILE_KEY, "operator": "NotIn", "values": ["x"]})]}
        ],
        "namespaceSelector",
    ),
    "cluster-dns-on-every-port": (
        lambda t: [{"to": [CLUSTER_DNS]}],
        "namespaceSelector",
    ),
    "kube-system-by-name": (
        lambda t: [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        }
                    }
                ]
            }
        ],
        "namespaceSelector",
    ),
}
"""Policies a tenant creates to widen egress, each refused by the floor naming the field."""

for _widening, (_egress, _field) in WIDENINGS.items():

    @route("egress", f"create-{_widening}")
    def _create(
        tenant: Tenant,
        egress: Callable[[Tenant], list[dict[str, Any]]] = _egress,
        field: str = _field,
    ) -> None:
        _create_refused(tenant, egress(tenant), field)


@route("egress", "create-host-bits-set")
def _host_bits(tenant: Tenant) -> None:
    # 10.255.0.1/8 is all of 10.0.0.0/8, the excluded management block included; the
    # API server's own validation refuses it, naming the field.
    _create_refused(
        tenant,
        [{"to": [_block("10.255.0.1/8")], "ports": TCP_443}],
        "spec.egress[0].to[0].ipBlock.cidr",
        by="",
    )


@route("egress", "update-own-policy-to-wide")
def _update_own(tenant: Tenant) -> None:
    name = unique("narrow")
    tenant.networking.create_namespaced_network_policy(
        tenant.namespace, network_policy(name, [{"to": [{"podSelector": {}}]}])
    )
    refused(
        lambda: tenant.networking.patch_namespaced_network_policy(
            name, tenant.namespace, {"spec": {"egress": [{"to": [_block("0.0.0.0/0")]}]}}
        ),
        "souverain-egress-floor",
    )
    egress_holds(tenant)


@route("egress", "ignored-rules-then-add-egress-type")
def _retype_own(tenant: Tenant) -> None:
    name = unique("ingress")
    # Egress rules in a policy of type Ingress only are ignored, so they are accepted.
    tenant.networking.create_namespaced_network_policy(
        tenant.namespace, network_policy(name, [{"to": [_block("0.0.0.0/0")]}], types=["Ingress"])
    )
    egress_holds(tenant)
    refused(
        lambda: tenant.networking.patch_namespaced_network_policy(
            name, tenant.namespace, {"spec": {"policyTypes": ["Ingress", "Egress"]}}
        ),
        "souverain-egress-floor",
    )
    egress_holds(tenant)


@route("egress", "create-policy-labelled-as-the-operators")
def _pose(tenant: Tenant) -> None:
    body = network_policy(unique("posing"), [{"to": [{"podSelector": {}}]}])
    body["metadata"]["labels"] = {"souverain.io/sovereign-namespace": tenant.namespace}
    refused(
        lambda: tenant.networking.create_namespaced_network_policy(tenant.namespace, body),
        "souverain-managed-objects",
        "remove the label",
    )


def _operator_policy_refused(tenant: Tenant, name: str, call: Callable[[], Any], verb: str) -> None:
    refused(call, "souverain-managed-objects", f"NetworkPolicy {name} is kept by souverain", verb)
    egress_holds(tenant)


for _name in OPERATOR_POLICIES:

    @route("egress", f"delete-{_name}")
    def _delete(tenant: Tenant, name: str = _name) -> None:
        _operator_policy_refused(
            tenant,
            name,
            lambda: tenant.networking.delete_namespaced_network_policy(name, tenant.namespace),
            "may delete it",
        )


@route("egress", "delete-collection-of-policies")
def _delete_collection(tenant: Tenant) -> None:
    refused(lambda: tenant.networking.delete_collection_namespaced_network_policy(tenant.namespace))
    egress_holds(tenant)


@route("egress", "reselect-deny-egress")
def _reselect(tenant: Tenant) -> None:
    _operator_policy_refused(
        tenant,
        "souverain-deny-egress",
        lambda: tenant.networking.patch_namespaced_network_policy(
            "souverain-deny-egress",
            tenant.namespace,
            {"spec": {"podSelector": {"matchLabels": {"none": "x"}}}},
        ),
        "may change it",
    )


@route("egress", "retype-deny-egress")
def _retype(tenant: Tenant) -> None:
    _operator_policy_refused(
        tenant,
        "souverain-deny-egress",
        lambda: tenant.networking.patch_namespaced_network_policy(
            "souverain-deny-egress", tenant.namespace, {"spec": {"policyTypes": ["Ingress"]}}
        ),
        "may change it",
    )


@route("egress", "widen-allow-profile-egress")
def _widen(tenant: Tenant) -> None:
    message = refused(
        lambda: tenant.networking.patch_namespaced_network_policy(
            "souverain-allow-profile-egress",
            tenant.namespace,
            {"spec": {"egress": [{"to": [_block("0.0.0.0/0")]}]}},
        ),
        "souverain-allow-profile-egress",
    )
    # Both the protection and the floor refuse it; the API server names the first it ran.
    assert (
        "is kept by souverain" in message
        or "spec.egress[0].to[0].ipBlock.cidr 0.0.0.0/0" in message
    ), message
    egress_holds(tenant)


@route("egress", "unlabel-deny-egress")
def _unlabel(tenant: Tenant) -> None:
    _operator_policy_refused(
        tenant,
        "souverain-deny-egress",
        lambda: tenant.networking.patch_namespaced_network_policy(
            "souverain-deny-egress",
            tenant.namespace,
            {"metadata": {"labels": {"souverain.io/sovereign-namespace": None}}},
        ),
        "may change it",
    )


# -- storage --------------------------------------------------------------------------

SOURCES: dict[str, dict[str, Any]] = {
    "awsElasticBlockStore": {"volumeID": "vol-us-east-1"},
    "azureDisk": {"diskName": "us", "diskURI": "https://us.example/us.vhd"},
    "azureFile": {"secretName": "azure", "shareName": "us"},
    "cephfs": {"monitors": ["203.0.113.1:6789"]},
    "cinder": {"volumeID": "us"},
    "csi": {"driver": "csi.us.example"},
    "fc": {"targetWWNs": ["500a0982991b8dc5"], "lun": 0},
    "flexVolume": {"driver": "example.com/us"},
    "flocker": {"datasetName": "us"},
    "gcePersistentDisk": {"pdName": "us"},
    "gitRepo": {"repository": "https://git.us.example/data.git"},
    "glusterfs": {"endpoints": "us", "path": "data"},
    "hostPath": {"path": "/"},
    "iscsi": {"targetPortal": "203.0.113.1:3260", "iqn": "iqn.2001-04.com.example:us", "lun": 0},
    "nfs": {"server": "nfs.us.example", "path": "/exports"},
    "photonPersistentDisk": {"pdID": "us"},
    "portworxVolume": {"volumeID": "us"},
    "quobyte": {"registry": "us.example:7861", "volume": "us"},
    "rbd": {"monitors": ["203.0.113.1:6789"], "image": "us"},
    "scaleIO": {
        "gateway": "https://us.example",
        "system": "us",
        "volumeName": "us",
        "secretRef": {"name": "s"},
    },
    "storageos": {"volumeName": "us"},
    "vsphereVolume": {"volumePath": "[us] data.vmdk"},
}
"""A valid volume of every source souverain refuses unless the profile allows it."""


def _pod_refused(tenant: Tenant, volume: dict[str, Any], *expected: str) -> None:
    body = pod(unique("storage"), volumes=[{"name": "data", **volume}])
    refused(lambda: tenant.core.create_namespaced_pod(tenant.namespace, body), *expected)


for _source in GOVERNED_ELSEWHERE:

    @route("storage", f"pod-volume-{_source}")
    def _volume(tenant: Tenant, source: str = _source) -> None:
        # PodSecurity's baseline level refuses hostPath before souverain's policy does.
        expected = (
            ('hostPath volumes (volume "data")',)
            if source == "hostPath"
            else ("spec.volumes[0] data", source)
        )
        _pod_refused(tenant, {source: SOURCES[source]}, *expected)


@route("storage", "pod-nfs-server-in-other-case")
def _nfs_case(tenant: Tenant) -> None:
    _pod_refused(tenant, {"nfs": {"server": "NFS.US.example", "path": "/"}}, "spec.volumes[0] data")


@route("storage", "pod-second-volume-abroad")
def _second(tenant: Tenant) -> None:
    body = pod(
        unique("second"),
        volumes=[
            {"name": "ok", "nfs": {"server": ALLOWED_NFS, "path": "/"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "abroad", "nfs": {"server": "nfs.us.example", "path": "/var"}},
        ],
    )
    refused(
        lambda: tenant.core.create_namespaced_pod(tenant.namespace, body), "spec.volumes[2] abroad"
    )


def _claim(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": ALLOWED_CLASS,
            "resources": {"requests": {"storage": "1Gi"}},
            **spec,
        },
    }


@route("storage", "claim-by-volume-name")
def _claim_named(tenant: Tenant) -> None:
    refused(
        lambda: tenant.core.create_namespaced_persistent_volume_claim(
            tenant.namespace, _claim(unique("named"), volumeName="pv-us-east")
        ),
        "spec.volumeName pv-us-east",
    )


@route("storage", "claim-volume-name-set-by-update")
def _claim_named_later(tenant: Tenant) -> None:
    name = unique("later")
    tenant.core.create_namespaced_persistent_volume_claim(tenant.namespace, _claim(name))
    refused(
        lambda: tenant.core.patch_namespaced_persistent_volume_claim(
            name, tenant.namespace, {"spec": {"volumeName": "pv-us-east"}}
        ),
        "spec.volumeName pv-us-east",
    )


@route("storage", "claim-class-not-allowed")
def _claim_class(tenant: Tenant) -> None:
    refused(
        lambda: tenant.core.create_namespaced_persistent_volume_claim(
            tenant.namespace, _claim(unique("class"), storageClassName="us-standard")
        ),
        "spec.storageClassName us-standard",
    )


def _ephemeral(**spec: Any) -> dict[str, Any]:
    claim = _claim("unused", **spec)["spec"]
    return {"ephemeral": {"volumeClaimTemplate": {"spec": claim}}}


@route("storage", "ephemeral-class-not-allowed")
def _ephemeral_class(tenant: Tenant) -> None:
    _pod_refused(tenant, _ephemeral(storageClassName="us-standard"), "storageClassName us-standard")


@route("storage", "ephemeral-by-volume-name")
def _ephemeral_named(tenant: Tenant) -> None:
    _pod_refused(tenant, _ephemeral(volumeName="pv-us-east"), "volumeName pv-us-east")


def _statefulset(name: str, claim: dict[str, Any] | None, **pod_spec: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceName": name,
        "selector": {"matchLabels": {"route": name}},
        "template": _template(name, **pod_spec),
    }
    if claim is not None:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": claim}]
    return {"metadata": {"name": name}, "spec": spec}


@route("storage", "statefulset-claim-class-not-allowed")
def _sts_class(tenant: Tenant) -> None:
    body = _statefulset(unique("sts"), _claim("x", storageClassName="us-standard")["spec"])
    refused(
        lambda: tenant.apps.create_namespaced_stateful_set(tenant.namespace, body),
        "storageClassName us-standard",
    )


@route("storage", "statefulset-claim-by-volume-name")
def _sts_named(tenant: Tenant) -> None:
    body = _statefulset(unique("sts"), _claim("x", volumeName="pv-us-east")["spec"])
    refused(
        lambda: tenant.apps.create_namespaced_stateful_set(tenant.namespace, body),
        "spec.volumeName pv-us-east",
    )


HOST_PATH = [{"name": "host", "hostPath": {"path": "/"}}]
TEMPLATE_PATH = "spec.template.spec.volumes[0] host"


@route("storage", "statefulset-template-host-path")
def _sts_host(tenant: Tenant) -> None:
    body = _statefulset(unique("sts"), None, volumes=HOST_PATH)
    refused(
        lambda: tenant.apps.create_namespaced_stateful_set(tenant.namespace, body), TEMPLATE_PATH
    )


def _workload(name: str, template: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"route": name}}, "template": template},
    }


@route("storage", "deployment-template-nfs")
def _deployment_nfs(tenant: Tenant) -> None:
    name = unique("deploy")
    body = _workload(
        name,
        _template(
            name, volumes=[{"name": "host", "nfs": {"server": "nfs.us.example", "path": "/"}}]
        ),
    )
    refused(
        lambda: tenant.apps.create_namespaced_deployment(tenant.namespace, body),
        TEMPLATE_PATH,
        "nfs",
    )


@route("storage", "deployment-template-added-by-update")
def _deployment_update(tenant: Tenant) -> None:
    name = unique("deploy")
    body = _workload(name, _template(name))
    body["spec"]["replicas"] = 0
    tenant.apps.create_namespaced_deployment(tenant.namespace, body)
    refused(
        lambda: tenant.apps.patch_namespaced_deployment(
            name, tenant.namespace, {"spec": {"template": {"spec": {"volumes": HOST_PATH}}}}
        ),
        TEMPLATE_PATH,
    )


@route("storage", "replicaset-template-host-path")
def _replicaset(tenant: Tenant) -> None:
    name = unique("rs")
    body = _workload(name, _template(name, volumes=HOST_PATH))
    refused(
        lambda: tenant.apps.create_namespaced_replica_set(tenant.namespace, body), TEMPLATE_PATH
    )


@route("storage", "daemonset-template-host-path")
def _daemonset_host(tenant: Tenant) -> None:
    name = unique("ds")
    body = _workload(name, _template(name, volumes=HOST_PATH))
    refused(lambda: tenant.apps.create_namespaced_daemon_set(tenant.namespace, body), TEMPLATE_PATH)


@route("storage", "job-template-iscsi")
def _job_iscsi(tenant: Tenant) -> None:
    volume = [{"name": "host", "iscsi": SOURCES["iscsi"]}]
    body = {
        "metadata": {"name": unique("job")},
        "spec": {"template": _template("job", restartPolicy="Never", volumes=volume)},
    }
    refused(
        lambda: tenant.batch.create_namespaced_job(tenant.namespace, body), TEMPLATE_PATH, "iscsi"
    )


@route("storage", "cronjob-template-cephfs")
def _cronjob(tenant: Tenant) -> None:
    volume = [{"name": "host", "cephfs": SOURCES["cephfs"]}]
    body = {
        "metadata": {"name": unique("cron")},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {"template": _template("cron", restartPolicy="Never", volumes=volume)}
            },
        },
    }
    refused(
        lambda: tenant.batch.create_namespaced_cron_job(tenant.namespace, body),
        "spec.jobTemplate.spec.template.spec.volumes[0] host",
        "cephfs",
    )


@route("storage", "replicationcontroller-template-csi")
def _rc(tenant: Tenant) -> None:
    name = unique("rc")
    volume = [{"name": "host", "csi": SOURCES["csi"]}]
    body = {
        "metadata": {"name": name},
        "spec": {"selector": {"route": name}, "template": _template(name, volumes=volume)},
    }
    refused(
        lambda: tenant.core.create_namespaced_replication_controller(tenant.namespace, body),
        TEMPLATE_PATH,
        "csi",
    )


# -- tenancy --------------------------------------------------------------------------


@route("tenancy", "delete-owners-rolebinding")
def _delete_owners(tenant: Tenant) -> None:
    refused(
        lambda: tenant.rbac.delete_namespaced_role_binding("souverain-owners", tenant.namespace),
        "RoleBinding souverain-owners is kept by souverain",
    )


@route("tenancy", "edit-owners-rolebinding")
def _edit_owners(tenant: Tenant) -> None:
    refused(
        lambda: tenant.rbac.patch_namespaced_role_binding(
            "souverain-owners",
            tenant.namespace,
            {"metadata": {"labels": {"souverain.io/sovereign-namespace": "elsewhere"}}},
        ),
        "RoleBinding souverain-owners is kept by souverain",
    )


@route("tenancy", "delete-resident-volume-claim")
def _delete_claim(tenant: Tenant) -> None:
    refused(
        lambda: tenant.core.delete_namespaced_persistent_volume_claim("ledger", tenant.namespace),
        "souverain-resident-claims",
        "ResidentVolume ledger",
    )


@route("tenancy", "unlabel-resident-volume-claim")
def _unlabel_claim(tenant: Tenant) -> None:
    refused(
        lambda: tenant.core.patch_namespaced_persistent_volume_claim(
            "ledger",
            tenant.namespace,
            {"metadata": {"labels": {"souverain.io/resident-volume": None}}},
        ),
        "souverain-resident-claims",
    )


@route("tenancy", "unbind-namespace-from-profile")
def _unbind(tenant: Tenant) -> None:
    # The owner holds update on this one Namespace here (an administrator's mistake).
    refused(
        lambda: tenant.core.patch_namespace(
            tenant.namespace, {"metadata": {"labels": {"souverain.io/profile": None}}}
        ),
        "souverain-namespace-labels",
        "metadata.labels under souverain.io/",
    )


@route("tenancy", "rebind-namespace-to-other-profile")
def _rebind(tenant: Tenant) -> None:
    refused(
        lambda: tenant.core.patch_namespace(
            tenant.namespace, {"metadata": {"labels": {"souverain.io/profile": "lax"}}}
        ),
        "souverain-namespace-labels",
    )
