"""The pydantic models of the three kinds: wire names, defaults, bounds, patterns,
descriptions, and the examples."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from souverain.api import (
    RESOURCES,
    CIDRRule,
    NodeRequirement,
    Owner,
    Port,
    ResidentVolume,
    ResidentVolumeSpec,
    SovereignNamespace,
    SovereignNamespaceSpec,
    SovereigntyProfile,
    SovereigntyProfileSpec,
    SovereigntyProfileStatus,
)
from tests.support.repository import REPO

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

MINIMAL_PROFILE: dict[str, Any] = {
    "nodeRequirements": [
        {"key": "node-restriction.kubernetes.io/french-sovereign", "operator": "Exists"}
    ]
}
MINIMAL_NAMESPACE: dict[str, Any] = {"profileName": "french-sovereign"}
MINIMAL_VOLUME: dict[str, Any] = {"size": "1Gi", "accessModes": ["ReadWriteOnce"]}


# -- examples ---------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_reads_into_its_model_and_dumps_back(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    resource = {r.__name__: r for r in RESOURCES}[document["kind"]]
    model = resource.model_validate(document)
    assert model.api_version == document["apiVersion"]
    assert model.metadata.name == document["metadata"]["name"]
    dumped = model.spec.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    assert type(model.spec).model_validate(dumped) == model.spec
    json.dumps(model.model_dump(by_alias=True, exclude_none=True))


def test_the_french_sovereign_profile_pins_to_the_sovereign_label() -> None:
    [path] = [p for p in EXAMPLES if "french-sovereign" in p.name]
    profile = SovereigntyProfile.model_validate(yaml.safe_load(path.read_text()))
    assert profile.metadata.name == "french-sovereign"
    keys = {requirement.key for requirement in profile.spec.node_requirements}
    assert "node-restriction.kubernetes.io/french-sovereign" in keys
    assert profile.spec.enforcement.mode == "Enforce"


# -- wire names and defaults --------------------------------------------------------


def test_fields_are_camel_case_on_the_wire_and_snake_case_in_python() -> None:
    rule = CIDRRule.model_validate(
        {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"], "ports": [{"port": 80, "endPort": 90}]}
    )
    assert rule.except_ == ["10.1.0.0/16"]
    assert rule.ports[0].end_port == 90
    assert rule.model_dump(by_alias=True, exclude_none=True) == {
        "cidr": "10.0.0.0/8",
        "except": ["10.1.0.0/16"],
        "ports": [{"protocol": "TCP", "port": 80, "endPort": 90}],
    }
    by_name = CIDRRule(cidr="10.0.0.0/8", except_=["10.1.0.0/16"])
    assert by_name.except_ == ["10.1.0.0/16"]

    spec = SovereigntyProfileSpec.model_validate(MINIMAL_PROFILE)
    dumped = spec.model_dump(by_alias=True, exclude_none=True)
    assert dumped["egress"]["allowDNS"] is True
    assert dumped["enforcement"] == {"mode": "Enforce", "evictNonCompliant": False}
    assert "nodeRequirements" in dumped


def test_defaults_of_every_kind() -> None:
    profile = SovereigntyProfileSpec.model_validate(MINIMAL_PROFILE)
    assert profile.egress.allow_dns is True
    assert profile.egress.cidrs == []
    assert profile.enforcement.mode == "Enforce"
    assert profile.enforcement.evict_non_compliant is False
    assert profile.storage.allowed_classes == []

    namespace = SovereignNamespaceSpec.model_validate(MINIMAL_NAMESPACE)
    assert namespace.deletion_policy == "Retain"
    assert namespace.owners == []
    assert namespace.labels == {}

    volume = ResidentVolumeSpec.model_validate(MINIMAL_VOLUME)
    assert volume.volume_mode == "Filesystem"
    assert volume.reclaim == "Retain"
    assert volume.storage_class_name is None
    assert Port(port=53).protocol == "TCP"


def test_whole_object_reads_a_body_from_the_api_server() -> None:
    body = {
        "apiVersion": "souverain.io/v1alpha1",
        "kind": "ResidentVolume",
        "metadata": {
            "name": "data",
            "namespace": "tenant",
            "generation": 3,
            "uid": "0b9f",
            "resourceVersion": "812",
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": MINIMAL_VOLUME,
        "status": {"observedGeneration": 2, "zone": "fr-paris-1", "fieldFromANewerOperator": 1},
    }
    volume = ResidentVolume.model_validate(body)
    assert volume.metadata.generation == 3
    assert volume.metadata.resource_version == "812"
    assert volume.status.observed_generation == 2
    assert volume.status.zone == "fr-paris-1"
    assert (
        ResidentVolume.model_validate({**body, "status": None} | {"status": {}}).status.zone is None
    )
    without_status = {key: value for key, value in body.items() if key != "status"}
    assert ResidentVolume.model_validate(without_status).status.conditions == []


def test_unknown_spec_fields_are_refused_and_unknown_status_fields_ignored() -> None:
    with pytest.raises(ValidationError, match="nodeSelector"):
        SovereigntyProfileSpec.model_validate({**MINIMAL_PROFILE, "nodeSelector": {}})
    with pytest.raises(ValidationError, match="host"):
        CIDRRule.model_validate({"cidr": "10.0.0.0/8", "host": "x"})
    status = SovereigntyProfileStatus.model_validate({"qualifiedNodes": 3, "later": True})
    assert status.qualified_nodes == 3


# -- bounds and patterns ----------------------------------------------------------------


def _profile_with(**changes: Any) -> dict[str, Any]:
    return {**MINIMAL_PROFILE, **changes}


REFUSED_SPECS = [
    pytest.param(SovereigntyProfileSpec, {}, "nodeRequirements", id="profile-no-nodeRequirements"),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(nodeRequirements=[]),
        "at least 1 item",
        id="profile-empty-nodeRequirements",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(nodeRequirements=[{"key": "a", "operator": "Exists"}] * 17),
        "at most 16 items",
        id="profile-too-many-nodeRequirements",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(nodeRequirements=[{"key": "bad key", "operator": "Exists"}]),
        "should match pattern",
        id="profile-bad-label-key",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(nodeRequirements=[{"key": "a" * 254 + "/x", "operator": "Exists"}]),
        "prefix of a key must be at most 253",
        id="profile-label-key-prefix-over-253",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(nodeRequirements=[{"key": "k", "operator": "Equals"}]),
        "operator",
        id="profile-unknown-operator",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"cidrs": [{"cidr": "10.0.0.0/33"}]}),
        "cidr",
        id="profile-bad-cidr",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"cidrs": [{"cidr": "10.0.0.0"}]}),
        "must be an IPv4 or IPv6 CIDR",
        id="profile-address-without-prefix",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"cidrs": [{"cidr": "10.0.0.0/255.0.0.0"}]}),
        "must be an IPv4 or IPv6 CIDR",
        id="profile-netmask-instead-of-prefix",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"cidrs": [{"cidr": "10.0.0.1/8"}]}),
        "canonical form",
        id="profile-cidr-with-host-bits",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"cidrs": [{"cidr": "2001:DB8::/32"}]}),
        "canonical form",
        id="profile-ipv6-upper-case",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"cidrs": [{"cidr": "10.0.0.0/8", "except": ["nope"]}]}),
        "except",
        id="profile-except-not-a-cidr",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"cidrs": [{"cidr": "10.0.0.0/8", "ports": [{"port": 0}]}]}),
        "greater than or equal to 1",
        id="profile-port-zero",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(egress={"fqdns": [{"pattern": "https://gouv.fr"}]}),
        "should match pattern",
        id="profile-bad-fqdn",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(storage={"topology": {"zones": ["z" * 64]}}),
        "at most 63 characters",
        id="profile-over-long-zone",
    ),
    pytest.param(
        SovereigntyProfileSpec,
        _profile_with(enforcement={"mode": "Warn"}),
        "Enforce",
        id="profile-unknown-mode",
    ),
    pytest.param(
        SovereignNamespaceSpec,
        {"profileName": "Not_A_Name"},
        "should match pattern",
        id="namespace-bad-profileName",
    ),
    pytest.param(
        SovereignNamespaceSpec,
        {**MINIMAL_NAMESPACE, "labels": {"bad key": "v"}},
        "should match pattern",
        id="namespace-bad-label-key",
    ),
    pytest.param(
        SovereignNamespaceSpec,
        {**MINIMAL_NAMESPACE, "labels": {"kubernetes.io/metadata.name": "elsewhere"}},
        "set by the API server",
        id="namespace-name-label",
    ),
    pytest.param(
        SovereignNamespaceSpec,
        {**MINIMAL_NAMESPACE, "labels": {f"k{i}": "v" for i in range(65)}},
        "at most 64 items",
        id="namespace-too-many-labels",
    ),
    pytest.param(
        SovereignNamespaceSpec,
        {**MINIMAL_NAMESPACE, "annotations": {"a": "x" * 4097}},
        "at most 4096 characters",
        id="namespace-over-long-annotation",
    ),
    pytest.param(
        SovereignNamespaceSpec,
        {**MINIMAL_NAMESPACE, "owners": [{"kind": "Robot", "name": "r"}]},
        "kind",
        id="namespace-unknown-owner-kind",
    ),
    pytest.param(
        SovereignNamespaceSpec,
        {**MINIMAL_NAMESPACE, "deletionPolicy": "Orphan"},
        "deletionPolicy",
        id="namespace-unknown-deletionPolicy",
    ),
    pytest.param(
        ResidentVolumeSpec,
        {**MINIMAL_VOLUME, "size": "ten gigabytes"},
        "should match pattern",
        id="volume-size-not-a-quantity",
    ),
    pytest.param(
        ResidentVolumeSpec,
        {**MINIMAL_VOLUME, "accessModes": []},
        "at least 1 item",
        id="volume-no-accessModes",
    ),
    pytest.param(
        ResidentVolumeSpec,
        {**MINIMAL_VOLUME, "accessModes": ["ReadWriteSometimes"]},
        "accessModes",
        id="volume-unknown-accessMode",
    ),
    pytest.param(
        ResidentVolumeSpec,
        {**MINIMAL_VOLUME, "storageClassName": "s" * 254},
        "at most 253 characters",
        id="volume-over-long-storageClassName",
    ),
]


@pytest.mark.parametrize(("model", "data", "says"), REFUSED_SPECS)
def test_model_refuses_what_one_value_says_is_wrong(
    model: type[BaseModel], data: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        model.model_validate(data)


@pytest.mark.parametrize(
    "key",
    [
        "app",
        "node-restriction.kubernetes.io/french-sovereign",
        "a.b/c_d.e-f",
        "x" * 63,
        ".".join(["p" * 63] * 3) + "." + "q" * 61 + "/" + "n" * 63,
    ],
)
def test_valid_label_keys_are_accepted(key: str) -> None:
    requirement = NodeRequirement(key=key, operator="Exists")
    assert requirement.key == key


def test_owner_names_and_namespaces() -> None:
    owner = Owner.model_validate({"kind": "ServiceAccount", "name": "ci", "namespace": "tools"})
    assert owner.namespace == "tools"
    assert Owner(kind="User", name="alice@example.fr").namespace is None
    with pytest.raises(ValidationError, match="namespace"):
        Owner.model_validate({"kind": "ServiceAccount", "name": "ci", "namespace": "Tools"})


@pytest.mark.parametrize("size", ["1", "10Gi", "1.5Ti", "500M", "1e9", "+3Gi"])
def test_quantities_are_accepted(size: str) -> None:
    assert ResidentVolumeSpec.model_validate({**MINIMAL_VOLUME, "size": size}).size == size


# -- every field is described -------------------------------------------------------


def _models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    yield model
    for info in model.model_fields.values():
        yield from _nested(info.annotation)


def _nested(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _models(annotation)
    elif get_origin(annotation) is not None or get_args(annotation):
        for argument in get_args(annotation):
            yield from _nested(argument)


def test_every_field_of_spec_and_status_has_a_description() -> None:
    for resource in RESOURCES:
        for top in ("spec", "status"):
            for model in _models(resource.model_fields[top].annotation):  # type: ignore[arg-type]
                assert model.__doc__, model.__name__
                for name, info in model.model_fields.items():
                    assert info.description, f"{model.__name__}.{name}"


def test_every_kind_is_listed_once() -> None:
    assert (SovereigntyProfile, SovereignNamespace, ResidentVolume) == RESOURCES
