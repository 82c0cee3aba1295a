"""The generated CRDs on a real API server: bad objects are refused with a message that
names the offending field, edge cases and the examples are accepted, and kubectl shows
the descriptions and printer columns."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain import API_GROUP, API_VERSION
from souverain.api import (
    RESOURCES,
    CustomResource,
    ResidentVolume,
    SovereignNamespace,
    SovereignNamespaceSpec,
    SovereignNamespaceStatus,
    SovereigntyProfile,
)
from souverain.api.conditions import (
    COMPLIANT,
    NON_COMPLIANT_PODS,
    READY,
    RECONCILED,
    Condition,
    with_condition,
)
from tests.support.cluster import Cluster, wait_for
from tests.support.repository import REPO

CRDS = REPO / "crds"
EXAMPLES = REPO / "examples"
SOVEREIGN_LABEL = "node-restriction.kubernetes.io/french-sovereign"

DELETE = object()
"""Marks a field to remove in a list of changes."""


# -- valid objects every refused one is a small change of --------------------

PROFILE: dict[str, Any] = {
    "apiVersion": f"{API_GROUP}/{API_VERSION}",
    "kind": "SovereigntyProfile",
    "metadata": {"name": "profile"},
    "spec": {
        "nodeRequirements": [{"key": SOVEREIGN_LABEL, "operator": "In", "values": ["true"]}],
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "sovereign", "effect": "NoSchedule"}
        ],
        "egress": {
            "allowDNS": True,
            "cidrs": [
                {
                    "cidr": "10.0.0.0/8",
                    "except": ["10.255.0.0/16"],
                    "ports": [{"protocol": "TCP", "port": 443}],
                }
            ],
            "fqdns": [{"pattern": "*.gouv.fr", "ports": [{"protocol": "TCP", "port": 443}]}],
        },
        "storage": {
            "allowedClasses": ["sovereign-ssd"],
            "defaultClass": "sovereign-ssd",
            "topology": {"regions": ["fr-paris"], "zones": ["fr-paris-1"]},
        },
        "exposure": {
            "loadBalancer": True,
            "loadBalancerIPRanges": ["203.0.113.0/24"],
            "nodePort": False,
            "externalIPs": False,
        },
        "podSecurity": {"level": "restricted", "version": "v1.35"},
        "enforcement": {"mode": "Enforce", "evictNonCompliant": False},
    },
}

NAMESPACE: dict[str, Any] = {
    "apiVersion": f"{API_GROUP}/{API_VERSION}",
    "kind": "SovereignNamespace",
    "metadata": {"name": "tenant"},
    "spec": {
        "profileName": "french-sovereign",
        "owners": [
            {"kind": "Group", "name": "acme:payments"},
            {"kind": "ServiceAccount", "name": "deployer", "namespace": "argocd"},
        ],
        "egress": {
            "cidrs": [{"cidr": "10.20.30.0/24", "ports": [{"protocol": "TCP", "port": 5432}]}]
        },
        "labels": {"acme.example/team": "payments"},
        "annotations": {"acme.example/contact": "payments@acme.example"},
        "deletionPolicy": "Retain",
    },
}

VOLUME: dict[str, Any] = {
    "apiVersion": f"{API_GROUP}/{API_VERSION}",
    "kind": "ResidentVolume",
    "metadata": {"name": "volume"},
    "spec": {
        "size": "10Gi",
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": "Filesystem",
        "storageClassName": "sovereign-ssd",
        "reclaim": "Retain",
    },
}

BASES: dict[type[CustomResource], dict[str, Any]] = {
    SovereigntyProfile: PROFILE,
    SovereignNamespace: NAMESPACE,
    ResidentVolume: VOLUME,
}


def _step(part: str) -> int | str:
    return int(part) if part.isdigit() else part.replace("~", "/")


def changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``changes`` applied. A path is ``/``-separated; digits index
    lists; ``~`` stands for a ``/`` inside a map key; the value ``DELETE`` removes the field."""
    result = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = (_step(part) for part in path.split("/"))
        target: Any = result
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = copy.deepcopy(value)
    return result


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- talking to the API server ------------------------------------------------


@dataclass
class Objects:
    """Creates, replaces and deletes souverain objects, and forgets nothing it made."""

    custom: Any
    namespace: str
    made: list[tuple[type[CustomResource], str]] = field(default_factory=list)

    def _scope(self, resource: type[CustomResource]) -> dict[str, Any]:
        scope = {"group": API_GROUP, "version": API_VERSION, "plural": resource.definition.plural}
        if resource.definition.scope == "Namespaced":
            scope["namespace"] = self.namespace
        return scope

    def create(self, resource: type[CustomResource], body: dict[str, Any]) -> dict[str, Any]:
        scope = self._scope(resource)
        if "namespace" in scope:
            created = self.custom.create_namespaced_custom_object(
                body=body, field_validation="Strict", **scope
            )
        else:
            created = self.custom.create_cluster_custom_object(
                body=body, field_validation="Strict", **scope
            )
        self.made.append((resource, body["metadata"]["name"]))
        return dict(created)

    def get(self, resource: type[CustomResource], name: str) -> dict[str, Any]:
        scope = self._scope(resource)
        if "namespace" in scope:
            return dict(self.custom.get_namespaced_custom_object(name=name, **scope))
        return dict(self.custom.get_cluster_custom_object(name=name, **scope))

    def replace(self, resource: type[CustomResource], body: dict[str, Any]) -> dict[str, Any]:
        scope = self._scope(resource)
        name = body["metadata"]["name"]
        if "namespace" in scope:
            return dict(
                self.custom.replace_namespaced_custom_object(
                    name=name, body=body, field_validation="Strict", **scope
                )
            )
        return dict(
            self.custom.replace_cluster_custom_object(
                name=name, body=body, field_validation="Strict", **scope
            )
        )

    def patch_status(
        self, resource: type[CustomResource], name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        scope = self._scope(resource)
        body = {"status": status}
        if "namespace" in scope:
            return dict(
                self.custom.patch_namespaced_custom_object_status(name=name, body=body, **scope)
            )
        return dict(self.custom.patch_cluster_custom_object_status(name=name, body=body, **scope))

    def delete_all(self) -> None:
        for resource, name in reversed(self.made):
            scope = self._scope(resource)
            try:
                if "namespace" in scope:
                    self.custom.delete_namespaced_custom_object(name=name, **scope)
                else:
                    self.custom.delete_cluster_custom_object(name=name, **scope)
            except ApiException as error:
                if error.status != 404:
                    raise
        self.made.clear()


def refusal(error: ApiException) -> str:
    """The message of the Status the API server answered with."""
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.body)


@pytest.fixture(scope="module")
def crds_installed(cluster: Cluster, api: Any) -> None:
    """The committed CRDs, installed with plain ``kubectl apply -f crds/`` and established."""
    cluster.kubectl("apply", "-f", str(CRDS))
    extensions = client.ApiextensionsV1Api(api)

    def established(name: str) -> bool:
        crd = extensions.read_custom_resource_definition(name)
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    for resource in RESOURCES:
        name = f"{resource.definition.plural}.{API_GROUP}"
        wait_for(lambda name=name: established(name), f"the CRD {name} to be established")


@pytest.fixture(scope="module")
def tenant_namespace(api: Any) -> Iterator[str]:
    """A namespace for the namespaced kind (no pods run in it)."""
    core = client.CoreV1Api(api)
    name = unique("crds")
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def objects(api: Any, crds_installed: None, tenant_namespace: str) -> Iterator[Objects]:
    made = Objects(client.CustomObjectsApi(api), tenant_namespace)
    yield made
    made.delete_all()


# -- refused on creation ---------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """An object the API server must refuse, and what its answer must say."""

    id: str
    resource: type[CustomResource]
    changes: dict[str, Any]
    field: str
    """The path the message must name."""
    says: str
    """A fragment the message must contain."""
    status: int = 422


KEY_PREFIX_253 = ".".join(("a" * 63, "b" * 63, "c" * 63, "d" * 61))
"""A DNS subdomain of exactly 253 characters."""

REFUSED = [
    # SovereigntyProfile
    Refused(
        "profile-missing-nodeRequirements",
        SovereigntyProfile,
        {"spec/nodeRequirements": DELETE},
        "spec.nodeRequirements",
        "Required value",
    ),
    Refused(
        "profile-empty-nodeRequirements",
        SovereigntyProfile,
        {"spec/nodeRequirements": []},
        "spec.nodeRequirements",
        "at least 1 items",
    ),
    Refused(
        "profile-too-many-nodeRequirements",
        SovereigntyProfile,
        {
            "spec/nodeRequirements": [
                {"key": f"example.com/label-{i}", "operator": "Exists"} for i in range(17)
            ]
        },
        "spec.nodeRequirements",
        "must have at most 16 items",
    ),
    Refused(
        "profile-unknown-spec-field",
        SovereigntyProfile,
        {"spec/nodeSelector": {SOVEREIGN_LABEL: "true"}},
        "spec.nodeSelector",
        "unknown field",
        status=400,
    ),
    Refused(
        "profile-unknown-nested-field",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/host": "db.internal"},
        "spec.egress.cidrs[0].host",
        "unknown field",
        status=400,
    ),
    Refused(
        "profile-unknown-node-operator",
        SovereigntyProfile,
        {"spec/nodeRequirements/0/operator": "Equals"},
        "spec.nodeRequirements[0].operator",
        "Unsupported value",
    ),
    Refused(
        "profile-In-without-values",
        SovereigntyProfile,
        {"spec/nodeRequirements/0/values": []},
        "spec.nodeRequirements[0].values",
        "values must be non-empty for In and NotIn",
    ),
    Refused(
        "profile-Exists-with-values",
        SovereigntyProfile,
        {"spec/nodeRequirements/0/operator": "Exists"},
        "spec.nodeRequirements[0].values",
        "empty for Exists and DoesNotExist",
    ),
    Refused(
        "profile-bad-label-key",
        SovereigntyProfile,
        {"spec/nodeRequirements/0/key": "not a label key"},
        "spec.nodeRequirements[0].key",
        "should match",
    ),
    Refused(
        "profile-label-key-prefix-over-253",
        SovereigntyProfile,
        {"spec/nodeRequirements/0/key": KEY_PREFIX_253 + "e/sovereign"},
        "spec.nodeRequirements[0].key",
        "prefix of a key must be at most 253 characters",
    ),
    Refused(
        "profile-bad-label-value",
        SovereigntyProfile,
        {"spec/nodeRequirements/0/values": ["yes please"]},
        "spec.nodeRequirements[0].values[0]",
        "should match",
    ),
    Refused(
        "profile-bad-cidr",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/cidr": "10.0.0.0/33"},
        "spec.egress.cidrs[0].cidr",
        "must be an IPv4 or IPv6 CIDR",
    ),
    Refused(
        "profile-cidr-with-host-bits",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/cidr": "10.0.0.1/8"},
        "spec.egress.cidrs[0].cidr",
        "canonical form",
    ),
    Refused(
        "profile-except-outside-cidr",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/except": ["192.168.0.0/16"]},
        "spec.egress.cidrs[0].except",
        "every except block must lie strictly inside cidr",
    ),
    Refused(
        "profile-except-equal-to-cidr",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/except": ["10.0.0.0/8"]},
        "spec.egress.cidrs[0].except",
        "strictly inside cidr",
    ),
    Refused(
        "profile-except-not-a-cidr",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/except": ["10.1.2.3"]},
        "spec.egress.cidrs[0].except[0]",
        "must be an IPv4 or IPv6 CIDR",
    ),
    Refused(
        "profile-duplicate-cidr",
        SovereigntyProfile,
        {
            "spec/egress/cidrs": [
                {"cidr": "192.0.2.0/24"},
                {"cidr": "192.0.2.0/24", "ports": [{"port": 22}]},
            ]
        },
        "spec.egress.cidrs[1]",
        "Duplicate value",
    ),
    Refused(
        "profile-endPort-below-port",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/ports/0/endPort": 80},
        "spec.egress.cidrs[0].ports[0].endPort",
        "endPort must not be lower than port",
    ),
    Refused(
        "profile-port-zero",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/ports/0/port": 0},
        "spec.egress.cidrs[0].ports[0].port",
        "should be greater than or equal to 1",
    ),
    Refused(
        "profile-port-above-65535",
        SovereigntyProfile,
        {"spec/egress/fqdns/0/ports/0/port": 70000},
        "spec.egress.fqdns[0].ports[0].port",
        "should be less than or equal to 65535",
    ),
    Refused(
        "profile-unknown-protocol",
        SovereigntyProfile,
        {"spec/egress/cidrs/0/ports/0/protocol": "ICMP"},
        "spec.egress.cidrs[0].ports[0].protocol",
        "Unsupported value",
    ),
    Refused(
        "profile-bad-fqdn",
        SovereigntyProfile,
        {"spec/egress/fqdns/0/pattern": "https://impots.gouv.fr"},
        "spec.egress.fqdns[0].pattern",
        "should match",
    ),
    Refused(
        "profile-allowDNS-not-boolean",
        SovereigntyProfile,
        {"spec/egress/allowDNS": "yes"},
        "spec.egress.allowDNS",
        "must be of type boolean",
    ),
    Refused(
        "profile-defaultClass-not-allowed",
        SovereigntyProfile,
        {"spec/storage/defaultClass": "standard"},
        "spec.storage.defaultClass",
        "defaultClass must be one of allowedClasses",
    ),
    Refused(
        "profile-duplicate-allowedClass",
        SovereigntyProfile,
        {"spec/storage/allowedClasses": ["sovereign-ssd", "sovereign-ssd"]},
        "spec.storage.allowedClasses[1]",
        "Duplicate value",
    ),
    Refused(
        "profile-over-long-zone",
        SovereigntyProfile,
        {"spec/storage/topology/zones": ["z" * 64]},
        "spec.storage.topology.zones[0]",
        "Too long",
    ),
    Refused(
        "profile-toleration-Exists-with-value",
        SovereigntyProfile,
        {"spec/tolerations/0/operator": "Exists"},
        "spec.tolerations[0].value",
        "value must be empty when operator is Exists",
    ),
    Refused(
        "profile-tolerationSeconds-without-NoExecute",
        SovereigntyProfile,
        {"spec/tolerations/0/tolerationSeconds": 300},
        "spec.tolerations[0].tolerationSeconds",
        "tolerationSeconds applies only to effect NoExecute",
    ),
    Refused(
        "profile-toleration-without-key-nor-Exists",
        SovereigntyProfile,
        {"spec/tolerations/0/key": DELETE},
        "spec.tolerations[0].operator",
        "a toleration without key must use operator Exists",
    ),
    Refused(
        "profile-unknown-enforcement-mode",
        SovereigntyProfile,
        {"spec/enforcement/mode": "Warn"},
        "spec.enforcement.mode",
        "Unsupported value",
    ),
    # SovereignNamespace
    Refused(
        "namespace-missing-profileName",
        SovereignNamespace,
        {"spec/profileName": DELETE},
        "spec.profileName",
        "Required value",
    ),
    Refused(
        "namespace-missing-spec",
        SovereignNamespace,
        {"spec": DELETE},
        "spec",
        "Required value",
    ),
    Refused(
        "namespace-name-not-a-dns-label",
        SovereignNamespace,
        {"metadata/name": "acme.payments"},
        "metadata.name",
        "must be a valid namespace name",
    ),
    Refused(
        "profile-name-over-63",
        SovereigntyProfile,
        {"metadata/name": "p" * 64},
        "metadata.name",
        "Too long",
    ),
    Refused(
        "profile-name-not-a-dns-label",
        SovereigntyProfile,
        {"metadata/name": "french.sovereign"},
        "metadata.name",
        "used as a label value",
    ),
    Refused(
        "namespace-profileName-over-63",
        SovereignNamespace,
        {"spec/profileName": "p" * 64},
        "spec.profileName",
        "63",
    ),
    Refused(
        "namespace-name-over-63",
        SovereignNamespace,
        {"metadata/name": "n" * 64},
        "metadata.name",
        "Too long",
    ),
    Refused(
        "namespace-serviceaccount-owner-without-namespace",
        SovereignNamespace,
        {"spec/owners/1/namespace": DELETE},
        "spec.owners[1].namespace",
        "namespace is required for a ServiceAccount",
    ),
    Refused(
        "namespace-group-owner-with-namespace",
        SovereignNamespace,
        {"spec/owners/0/namespace": "argocd"},
        "spec.owners[0].namespace",
        "must be omitted for a User or a Group",
    ),
    Refused(
        "namespace-unknown-owner-kind",
        SovereignNamespace,
        {"spec/owners/0/kind": "Robot"},
        "spec.owners[0].kind",
        "Unsupported value",
    ),
    Refused(
        "namespace-too-many-owners",
        SovereignNamespace,
        {"spec/owners": [{"kind": "User", "name": f"user-{i}"} for i in range(33)]},
        "spec.owners",
        "must have at most 32 items",
    ),
    Refused(
        "namespace-reserved-label",
        SovereignNamespace,
        {"spec/labels/souverain.io~profile": "other"},
        "spec.labels",
        "label keys under souverain.io/ are reserved",
    ),
    Refused(
        "namespace-reserved-annotation-subdomain",
        SovereignNamespace,
        {"spec/annotations/audit.souverain.io~evidence": "none"},
        "spec.annotations",
        "annotation keys under souverain.io/ are reserved",
    ),
    Refused(
        "namespace-bad-label-key",
        SovereignNamespace,
        {"spec/labels/cost centre": "payments"},
        "spec.labels",
        "label keys must be qualified names",
    ),
    Refused(
        "namespace-bad-label-value",
        SovereignNamespace,
        {"spec/labels/acme.example~team": "payments team"},
        "spec.labels.acme.example/team",
        "should match",
    ),
    Refused(
        "namespace-too-many-labels",
        SovereignNamespace,
        {"spec/labels": {f"acme.example/label-{i}": "x" for i in range(65)}},
        "spec.labels",
        "must have at most 64 items",
    ),
    Refused(
        "namespace-over-long-annotation",
        SovereignNamespace,
        {"spec/annotations/acme.example~contact": "x" * 4097},
        "spec.annotations.acme.example/contact",
        "Too long",
    ),
    Refused(
        "namespace-unknown-deletionPolicy",
        SovereignNamespace,
        {"spec/deletionPolicy": "Orphan"},
        "spec.deletionPolicy",
        "Unsupported value",
    ),
    Refused(
        "namespace-bad-egress-cidr",
        SovereignNamespace,
        {"spec/egress/cidrs/0/cidr": "10.20.30.0/24/8"},
        "spec.egress.cidrs[0].cidr",
        "must be an IPv4 or IPv6 CIDR",
    ),
    # ResidentVolume
    Refused(
        "volume-missing-size",
        ResidentVolume,
        {"spec/size": DELETE},
        "spec.size",
        "Required value",
    ),
    Refused(
        "volume-negative-size",
        ResidentVolume,
        {"spec/size": "-1Gi"},
        "spec.size",
        "size must be greater than zero",
    ),
    Refused(
        "volume-zero-size",
        ResidentVolume,
        {"spec/size": "0"},
        "spec.size",
        "size must be greater than zero",
    ),
    Refused(
        "volume-size-not-a-quantity",
        ResidentVolume,
        {"spec/size": "ten gigabytes"},
        "spec.size",
        "should match",
    ),
    Refused(
        "volume-no-accessModes",
        ResidentVolume,
        {"spec/accessModes": []},
        "spec.accessModes",
        "at least 1 items",
    ),
    Refused(
        "volume-unknown-accessMode",
        ResidentVolume,
        {"spec/accessModes": ["ReadWriteSometimes"]},
        "spec.accessModes[0]",
        "Unsupported value",
    ),
    Refused(
        "volume-duplicate-accessMode",
        ResidentVolume,
        {"spec/accessModes": ["ReadWriteOnce", "ReadWriteOnce"]},
        "spec.accessModes[1]",
        "Duplicate value",
    ),
    Refused(
        "volume-ReadWriteOncePod-combined",
        ResidentVolume,
        {"spec/accessModes": ["ReadWriteOncePod", "ReadOnlyMany"]},
        "spec.accessModes",
        "ReadWriteOncePod cannot be combined",
    ),
    Refused(
        "volume-unknown-volumeMode",
        ResidentVolume,
        {"spec/volumeMode": "Raw"},
        "spec.volumeMode",
        "Unsupported value",
    ),
    Refused(
        "volume-bad-storageClassName",
        ResidentVolume,
        {"spec/storageClassName": "Sovereign_SSD"},
        "spec.storageClassName",
        "should match",
    ),
    Refused(
        "volume-over-long-storageClassName",
        ResidentVolume,
        {"spec/storageClassName": "s" * 254},
        "spec.storageClassName",
        "Too long",
    ),
    Refused(
        "volume-unknown-reclaim",
        ResidentVolume,
        {"spec/reclaim": "Recycle"},
        "spec.reclaim",
        "Unsupported value",
    ),
    Refused(
        "volume-unknown-field",
        ResidentVolume,
        {"spec/capacity": "10Gi"},
        "spec.capacity",
        "unknown field",
        status=400,
    ),
]


def causes(error: ApiException) -> set[str]:
    """The fields a 422 answer names (the causes the API server lists)."""
    status = json.loads(error.body)
    return {
        cause["field"]
        for cause in status.get("details", {}).get("causes", [])
        if cause.get("field") and "rules were not checked" not in cause.get("message", "")
    }


def named(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with a fresh name, unless the name is what a case is about."""
    if body.get("metadata", {}).get("name") in ("profile", "tenant", "volume"):
        body["metadata"]["name"] = unique(body["metadata"]["name"])
    return body


@pytest.mark.parametrize("resource", list(BASES), ids=lambda r: r.__name__)
def test_the_valid_object_every_refused_case_starts_from_is_accepted(
    objects: Objects, resource: type[CustomResource]
) -> None:
    body = named(copy.deepcopy(BASES[resource]))
    created = objects.create(resource, body)
    assert created["spec"] == body["spec"]


def test_enough_distinct_invalid_objects_are_checked() -> None:
    assert len({case.id for case in REFUSED}) == len(REFUSED) >= 25


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.id)
def test_invalid_object_is_refused_naming_the_field(objects: Objects, case: Refused) -> None:
    body = named(changed(BASES[case.resource], case.changes))
    with pytest.raises(ApiException) as refused:
        objects.create(case.resource, body)
    message = refusal(refused.value)
    assert refused.value.status == case.status, message
    assert case.says in message
    if case.status == 422:
        assert causes(refused.value) == {case.field}, message
    else:
        assert f'unknown field "{case.field}"' in message


# -- refused on update -------------------------------------------------------------


@dataclass(frozen=True)
class RefusedUpdate:
    """A change to an existing object the API server must refuse."""

    id: str
    resource: type[CustomResource]
    changes: dict[str, Any]
    field: str
    says: str


REFUSED_UPDATES = [
    RefusedUpdate(
        "namespace-profileName-changed",
        SovereignNamespace,
        {"spec/profileName": "another-profile"},
        "spec.profileName",
        "profileName cannot change once set",
    ),
    RefusedUpdate(
        "volume-size-shrinks",
        ResidentVolume,
        {"spec/size": "5Gi"},
        "spec.size",
        "size may grow but never shrink",
    ),
    RefusedUpdate(
        "volume-size-shrinks-across-units",
        ResidentVolume,
        {"spec/size": "10G"},
        "spec.size",
        "size may grow but never shrink",
    ),
    RefusedUpdate(
        "volume-accessModes-changed",
        ResidentVolume,
        {"spec/accessModes": ["ReadWriteMany"]},
        "spec.accessModes",
        "accessModes cannot change once set",
    ),
    RefusedUpdate(
        "volume-accessMode-added",
        ResidentVolume,
        {"spec/accessModes": ["ReadWriteOnce", "ReadOnlyMany"]},
        "spec.accessModes",
        "accessModes cannot change once set",
    ),
    RefusedUpdate(
        "volume-volumeMode-changed",
        ResidentVolume,
        {"spec/volumeMode": "Block"},
        "spec.volumeMode",
        "volumeMode cannot change once set",
    ),
    RefusedUpdate(
        "volume-storageClassName-changed",
        ResidentVolume,
        {"spec/storageClassName": "sovereign-hdd"},
        "spec.storageClassName",
        "storageClassName cannot change once set",
    ),
    RefusedUpdate(
        "volume-storageClassName-removed",
        ResidentVolume,
        {"spec/storageClassName": DELETE},
        "spec.storageClassName",
        "storageClassName cannot change once set",
    ),
]


@pytest.mark.parametrize("case", REFUSED_UPDATES, ids=lambda case: case.id)
def test_forbidden_change_is_refused_naming_the_field(
    objects: Objects, case: RefusedUpdate
) -> None:
    created = objects.create(case.resource, named(copy.deepcopy(BASES[case.resource])))
    update = changed(created, case.changes)
    with pytest.raises(ApiException) as refused:
        objects.replace(case.resource, update)
    message = refusal(refused.value)
    assert refused.value.status == 422, message
    assert case.says in message
    assert causes(refused.value) == {case.field}, message
    assert objects.get(case.resource, created["metadata"]["name"])["spec"] == created["spec"]


@pytest.mark.parametrize(
    ("resource", "changes"),
    [
        pytest.param(ResidentVolume, {"spec/size": "11Gi"}, id="volume-size-grows"),
        pytest.param(ResidentVolume, {"spec/size": "10240Mi"}, id="volume-size-same-other-unit"),
        pytest.param(ResidentVolume, {"spec/reclaim": "Delete"}, id="volume-reclaim-changes"),
        pytest.param(
            SovereignNamespace,
            {"spec/labels/acme.example~tier": "gold", "spec/owners": []},
            id="namespace-labels-and-owners-change",
        ),
        pytest.param(
            SovereigntyProfile,
            {"spec/enforcement/mode": "Audit", "spec/storage/topology/zones": []},
            id="profile-mode-and-zones-change",
        ),
    ],
)
def test_allowed_change_is_accepted(
    objects: Objects, resource: type[CustomResource], changes: dict[str, Any]
) -> None:
    created = objects.create(resource, named(copy.deepcopy(BASES[resource])))
    update = changed(created, changes)
    replaced = objects.replace(resource, update)
    assert replaced["spec"] == update["spec"]


def test_storage_class_may_be_set_once_when_it_was_empty(objects: Objects) -> None:
    body = named(changed(VOLUME, {"spec/storageClassName": DELETE}))
    created = objects.create(ResidentVolume, body)
    replaced = objects.replace(
        ResidentVolume, changed(created, {"spec/storageClassName": "sovereign-hdd"})
    )
    assert replaced["spec"]["storageClassName"] == "sovereign-hdd"


# -- valid edge cases --------------------------------------------------------------


def _dns_name(length: int, fill: str) -> str:
    """A DNS subdomain of exactly ``length`` characters, in labels of at most 63."""
    labels, left = [], length
    while left > 0:
        size = min(63, left if left <= 63 else 62)
        labels.append(fill * size)
        left -= size + 1
    name = ".".join(labels)
    assert len(name) == length, (len(name), length)
    return name


def _longest_key(index: int) -> str:
    """A label key of 317 characters (253 of prefix, 63 of name), distinct per index."""
    name = f"k{index:03d}" + "n" * 59
    return f"{KEY_PREFIX_253}/{name}"


def _longest_ports() -> list[dict[str, Any]]:
    return [{"protocol": "UDP", "port": 1000 + i, "endPort": 65535} for i in range(16)]


PROFILE_AT_EVERY_MAXIMUM: dict[str, Any] = {
    "nodeRequirements": [
        {
            "key": _longest_key(i),
            "operator": "NotIn",
            "values": [f"{j:02d}" + "v" * 61 for j in range(32)],
        }
        for i in range(16)
    ],
    "tolerations": [
        {
            "key": _longest_key(i),
            "operator": "Equal",
            "value": "v" * 63,
            "effect": "NoExecute",
            "tolerationSeconds": 3600,
        }
        for i in range(16)
    ],
    "egress": {
        "allowDNS": False,
        "cidrs": [
            {
                "cidr": f"10.{i}.0.0/16",
                "except": [f"10.{i}.{j}.0/24" for j in range(16)],
                "ports": _longest_ports(),
            }
            for i in range(63)
        ]
        + [
            {
                "cidr": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120",
                "except": ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff80/128"],
            }
        ],
        "fqdns": [
            {"pattern": f"*.h{i:02d}." + _dns_name(247, "f"), "ports": _longest_ports()}
            for i in range(32)
        ],
    },
    "storage": {
        "allowedClasses": [_dns_name(250, "s") + f"{i:03d}" for i in range(32)],
        "defaultClass": _dns_name(250, "s") + "000",
        "topology": {
            "regions": [f"r{i:02d}" + "r" * 60 for i in range(32)],
            "zones": [f"z{i:02d}" + "z" * 60 for i in range(64)],
        },
    },
    "enforcement": {"mode": "Audit", "evictNonCompliant": True},
}

NAMESPACE_AT_EVERY_MAXIMUM: dict[str, Any] = {
    "profileName": "p" * 63,
    "owners": [{"kind": "User", "name": "u" * 253}]
    + [
        {
            "kind": "ServiceAccount",
            "name": _dns_name(253, "s"),
            "namespace": f"ns{i:02d}" + "n" * 59,
        }
        for i in range(31)
    ],
    "egress": {
        key: value for key, value in PROFILE_AT_EVERY_MAXIMUM["egress"].items() if key != "allowDNS"
    },
    "labels": {_longest_key(i): "v" * 63 for i in range(64)},
    "annotations": {_longest_key(i): "a" * 4096 for i in range(32)},
    "deletionPolicy": "Delete",
}

EMPTY_OPTIONAL_LISTS: dict[type[CustomResource], dict[str, Any]] = {
    SovereigntyProfile: {
        "nodeRequirements": [{"key": SOVEREIGN_LABEL, "operator": "Exists", "values": []}],
        "tolerations": [],
        "egress": {"cidrs": [], "fqdns": []},
        "storage": {"allowedClasses": [], "topology": {"regions": [], "zones": []}},
    },
    SovereignNamespace: {
        "profileName": "french-sovereign",
        "owners": [],
        "egress": {"cidrs": [], "fqdns": []},
        "labels": {},
        "annotations": {},
    },
    ResidentVolume: {"size": "1", "accessModes": ["ReadWriteOncePod"]},
}


@pytest.mark.parametrize(
    ("resource", "name", "spec"),
    [
        pytest.param(
            SovereigntyProfile, "profile", PROFILE_AT_EVERY_MAXIMUM, id="profile-at-every-maximum"
        ),
        pytest.param(
            SovereignNamespace,
            "n" * 63,
            NAMESPACE_AT_EVERY_MAXIMUM,
            id="namespace-at-every-maximum",
        ),
        *(
            pytest.param(
                resource,
                BASES[resource]["metadata"]["name"],
                spec,
                id=f"{BASES[resource]['metadata']['name']}-empty-optional-lists",
            )
            for resource, spec in EMPTY_OPTIONAL_LISTS.items()
        ),
        pytest.param(
            SovereigntyProfile,
            "profile",
            changed(
                PROFILE["spec"],
                {"egress/cidrs": [{"cidr": "2001:db8::/32", "except": ["2001:db8:ffff::/48"]}]},
            ),
            id="profile-ipv6-egress",
        ),
    ],
)
def test_valid_edge_case_is_accepted_and_reads_back_into_its_model(
    objects: Objects, resource: type[CustomResource], name: str, spec: dict[str, Any]
) -> None:
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": resource.__name__,
        "metadata": {"name": name},
        "spec": spec,
    }
    created = objects.create(resource, named(body))
    model = resource.model_validate(created)
    assert without_empty(model.model_dump(by_alias=True, exclude_none=True)["spec"]) == (
        without_empty(created["spec"])
    )


def test_minimal_profile_gets_the_defaults_of_the_model(objects: Objects) -> None:
    body = named(changed(PROFILE, {"spec": EMPTY_OPTIONAL_LISTS[SovereigntyProfile]}))
    created = objects.create(SovereigntyProfile, body)
    assert created["spec"]["egress"]["allowDNS"] is True
    assert created["spec"]["enforcement"] == {"mode": "Enforce", "evictNonCompliant": False}
    assert created["spec"]["exposure"] == {
        "loadBalancer": False,
        "nodePort": False,
        "externalIPs": False,
    }
    assert created["spec"]["podSecurity"] == {"level": "baseline", "version": "latest"}


# -- examples ----------------------------------------------------------------------


def without_empty(value: Any) -> Any:
    """``value`` without empty lists and maps, at any depth (absent and empty mean the same)."""
    if isinstance(value, dict):
        kept = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ([], {})}
    if isinstance(value, list):
        return [without_empty(item) for item in value]
    return value


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_every_kind_has_an_example() -> None:
    kinds = {yaml.safe_load(path.read_text())["kind"] for path in EXAMPLE_FILES}
    assert kinds == {resource.__name__ for resource in RESOURCES}
    names = {yaml.safe_load(path.read_text())["metadata"]["name"] for path in EXAMPLE_FILES}
    assert "french-sovereign" in names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: path.stem)
def test_example_applies_and_reads_back_into_its_model(
    cluster: Cluster, objects: Objects, tmp_path: Path, path: Path
) -> None:
    document = yaml.safe_load(path.read_text())
    resource = {r.__name__: r for r in RESOURCES}[document["kind"]]
    if resource.definition.scope == "Namespaced":
        document["metadata"]["namespace"] = objects.namespace
    applied = tmp_path / path.name
    applied.write_text(yaml.safe_dump(document))
    objects.made.append((resource, document["metadata"]["name"]))
    cluster.kubectl("apply", "-f", str(applied))

    served = objects.get(resource, document["metadata"]["name"])
    model = resource.model_validate(served)
    dumped = model.model_dump(by_alias=True, exclude_none=True)
    # What the server stored, defaults included, is what the model holds and writes back.
    assert without_empty(dumped["spec"]) == without_empty(served["spec"])
    # The defaults the server filled in are the model's own.
    local = type(model.spec).model_validate(document["spec"])
    assert local == model.spec


# -- status, kubectl explain, kubectl get --------------------------------------------


def test_status_written_from_the_model_reads_back_unchanged(objects: Objects) -> None:
    created = objects.create(SovereignNamespace, named(copy.deepcopy(NAMESPACE)))
    moment = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    conditions = with_condition(
        [], Condition(type=READY, status="True", reason=RECONCILED, last_transition_time=moment)
    )
    conditions = with_condition(
        conditions,
        Condition(
            type=COMPLIANT,
            status="False",
            reason=NON_COMPLIANT_PODS,
            message="1 pod runs on std-us-1",
            last_transition_time=moment,
            observed_generation=1,
        ),
    )
    status = SovereignNamespaceStatus(
        conditions=conditions,
        observed_generation=1,
        compliant_pods=3,
        non_compliant_pods=1,
        enforcement_layers=["NetworkPolicy", "ValidatingAdmissionPolicy"],
        unenforceable_egress=["fqdn *.gouv.fr: no network plugin enforces FQDN rules"],
    )
    patched = objects.patch_status(
        SovereignNamespace,
        created["metadata"]["name"],
        status.model_dump(by_alias=True, exclude_none=True),
    )
    assert SovereignNamespace.model_validate(patched).status == status
    assert patched["status"]["conditions"][0]["lastTransitionTime"] == "2026-03-01T12:30:05Z"


def test_status_with_an_unknown_condition_status_is_refused(objects: Objects) -> None:
    created = objects.create(SovereignNamespace, named(copy.deepcopy(NAMESPACE)))
    condition = {
        "type": READY,
        "status": "Maybe",
        "reason": RECONCILED,
        "lastTransitionTime": "2026-03-01T12:30:05Z",
    }
    with pytest.raises(ApiException) as refused:
        objects.patch_status(
            SovereignNamespace, created["metadata"]["name"], {"conditions": [condition]}
        )
    assert refused.value.status == 422
    assert causes(refused.value) == {"status.conditions[0].status"}, refusal(refused.value)


def _explained(cluster: Cluster, what: str) -> str | None:
    result = cluster.kubectl("explain", what, check=False)
    return result.stdout if result.returncode == 0 else None


def test_kubectl_explain_shows_the_field_descriptions(
    cluster: Cluster, crds_installed: None
) -> None:
    text = wait_for(
        lambda: _explained(cluster, "sovereignnamespace.spec"),
        "kubectl explain sovereignnamespace.spec to answer",
    )
    flat = " ".join(text.split())
    for name, info in SovereignNamespaceSpec.model_fields.items():
        assert (info.alias or name) in flat
        assert info.description, name
        assert " ".join(info.description.split()) in flat, name
    kind = _explained(cluster, "sovereignnamespace")
    assert kind is not None
    assert "One tenant namespace bound to a SovereigntyProfile" in " ".join(kind.split())


def _table(output: str) -> list[dict[str, str]]:
    """The rows of ``kubectl get`` output, keyed by column header (cells may be empty)."""
    header, *rows = output.rstrip().splitlines()
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    ends = [*starts[1:], None]
    names = header.split()
    return [
        {name: row[start:end].strip() for name, start, end in zip(names, starts, ends, strict=True)}
        for row in rows
    ]


def test_kubectl_get_sns_shows_the_printer_columns(cluster: Cluster, objects: Objects) -> None:
    created = objects.create(SovereignNamespace, named(copy.deepcopy(NAMESPACE)))
    name = created["metadata"]["name"]
    objects.patch_status(
        SovereignNamespace,
        name,
        {
            "conditions": [
                {
                    "type": READY,
                    "status": "True",
                    "reason": RECONCILED,
                    "message": "",
                    "lastTransitionTime": "2026-03-01T12:30:05Z",
                }
            ],
            "compliantPods": 3,
            "nonCompliantPods": 1,
            "enforcementLayers": ["NetworkPolicy"],
        },
    )
    [row] = _table(cluster.kubectl("get", "sns", name).stdout)
    assert row == {
        "NAME": name,
        "PROFILE": "french-sovereign",
        "READY": "True",
        "COMPLIANT": "3",
        "NON-COMPLIANT": "1",
        "AGE": row["AGE"],
    }
    [wide] = _table(cluster.kubectl("get", "sns", name, "-o", "wide").stdout)
    assert wide["LAYERS"] == '["NetworkPolicy"]'
    assert wide["DELETION"] == "Retain"
    assert wide["REASON"] == RECONCILED


def test_short_names_and_category_reach_every_kind(cluster: Cluster, objects: Objects) -> None:
    profile = objects.create(SovereigntyProfile, named(copy.deepcopy(PROFILE)))
    volume = objects.create(ResidentVolume, named(copy.deepcopy(VOLUME)))
    listed = cluster.kubectl("get", "souverain", "-A", "-o", "name").stdout.split()
    assert f"sovereigntyprofile.souverain.io/{profile['metadata']['name']}" in listed
    assert f"residentvolume.souverain.io/{volume['metadata']['name']}" in listed
    [row] = _table(cluster.kubectl("get", "sp", profile["metadata"]["name"]).stdout)
    assert row["MODE"] == "Enforce"
    [row] = _table(
        cluster.kubectl("get", "rv", "-n", objects.namespace, volume["metadata"]["name"]).stdout
    )
    assert row["SIZE"] == "10Gi"
