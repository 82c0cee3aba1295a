"""The CRD generator: committed CRDs match it, its schemas are structural and bounded,
and it refuses models it cannot turn into a bounded structural schema."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from souverain import API_GROUP, API_VERSION
from souverain.api import (
    RESOURCES,
    CustomResource,
    ResidentVolume,
    SovereignNamespace,
    SovereigntyProfile,
)
from souverain.crdgen import (
    CHART_HEADER,
    HEADER,
    SchemaError,
    chart_crd_files,
    crd_files,
    custom_resource_definition,
    model_schema,
    write_crds,
)
from tests.support.repository import REPO

COMMITTED = REPO / "crds"
CHART_TEMPLATES = REPO / "helm" / "souverain" / "templates" / "crds"


def test_committed_crds_do_not_drift_from_the_generator() -> None:
    committed = {path.name: path.read_text() for path in COMMITTED.glob("*.yaml")}
    generated = crd_files()
    assert sorted(committed) == sorted(generated), "run `make crds` and commit crds/"
    for name, text in generated.items():
        assert committed[name] == text, f"crds/{name} is stale: run `make crds` and commit it"


def test_chart_crd_templates_do_not_drift_from_the_generator() -> None:
    committed = {path.name: path.read_text() for path in CHART_TEMPLATES.glob(f"{API_GROUP}_*")}
    generated = chart_crd_files()
    assert sorted(committed) == sorted(generated), "run `make crds` and commit the chart"
    for name, text in generated.items():
        assert committed[name] == text, f"the chart's {name} is stale: run `make crds`"


def _chart_body(text: str) -> dict[str, Any]:
    """The CRD a chart template renders to with crds.enabled and crds.keep, with the
    release's labels left out (helm itself renders them in tests/integration/test_helm.py)."""
    lines = [
        line
        for line in text.splitlines()
        if not line.lstrip().startswith("{{") or "crds.keep" in line or line.strip() == "{{- end }}"
    ]
    kept = "\n".join(line for line in lines if "{{" not in line)
    parsed: dict[str, Any] = yaml.safe_load(kept)
    return parsed


def test_chart_crd_templates_hold_the_same_crds_behind_the_chart_switches() -> None:
    for name, text in chart_crd_files().items():
        assert text.startswith(CHART_HEADER)
        assert text.splitlines()[0] == "{{- if .Values.crds.enabled }}"
        assert text.rstrip().endswith("{{- end }}")
        assert "{{- if .Values.crds.keep }}" in text
        assert "helm.sh/resource-policy: keep" in text
        assert '{{- include "souverain.labels" . | nindent 4 }}' in text
        rendered = _chart_body(text)
        plain = yaml.safe_load(crd_files()[name])
        assert rendered["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert rendered["metadata"]["labels"] == plain["metadata"]["labels"]
        assert rendered["metadata"]["name"] == plain["metadata"]["name"]
        assert {k: v for k, v in rendered.items() if k != "metadata"} == {
            k: v for k, v in plain.items() if k != "metadata"
        }


def test_write_crds_writes_chart_templates(tmp_path: Path) -> None:
    written = write_crds(tmp_path, chart_crd_files())
    assert [path.name for path in written] == sorted(chart_crd_files())
    assert all(path.read_text().startswith(CHART_HEADER) for path in written)


def test_one_file_per_kind_named_after_group_and_plural() -> None:
    assert sorted(crd_files()) == [
        f"{API_GROUP}_residentvolumes.yaml",
        f"{API_GROUP}_sovereignnamespaces.yaml",
        f"{API_GROUP}_sovereigntyprofiles.yaml",
    ]


def test_output_is_deterministic_and_starts_with_the_header() -> None:
    first, second = crd_files(), crd_files()
    assert first == second
    for text in first.values():
        assert text.startswith(HEADER)
        assert "make crds" in text.splitlines()[0]


def test_write_crds_writes_every_kind_and_removes_stale_ones(tmp_path: Path) -> None:
    stale = tmp_path / f"{API_GROUP}_oldkinds.yaml"
    stale.write_text("kind: CustomResourceDefinition\n")
    unrelated = tmp_path / "kustomization.yaml"
    unrelated.write_text("resources: []\n")

    written = write_crds(tmp_path / ".")
    assert [path.name for path in written] == sorted(crd_files())
    assert not stale.exists()
    assert unrelated.exists()
    for path in written:
        assert path.read_text() == crd_files()[path.name]


def test_write_crds_creates_the_folder(tmp_path: Path) -> None:
    written = write_crds(tmp_path / "chart" / "crds")
    assert len(written) == len(RESOURCES)
    assert all(path.parent == tmp_path / "chart" / "crds" for path in written)


# -- the schemas, walked independently of the generator's own checks --------------


@functools.cache
def _generated() -> dict[str, str]:
    return crd_files()


def _crd(resource: type[CustomResource]) -> dict[str, Any]:
    text = _generated()[f"{API_GROUP}_{resource.definition.plural}.yaml"]
    parsed: dict[str, Any] = yaml.safe_load(text)
    return parsed


def _version(resource: type[CustomResource]) -> dict[str, Any]:
    [version] = _crd(resource)["spec"]["versions"]
    assert isinstance(version, dict)
    return version


def _nodes(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")
    if "items" in schema:
        yield from _nodes(schema["items"], f"{path}[]")


def _spec_and_status_nodes() -> Iterator[tuple[str, dict[str, Any]]]:
    for resource in RESOURCES:
        root = _version(resource)["schema"]["openAPIV3Schema"]
        for field in ("spec", "status"):
            yield from _nodes(root["properties"][field], f"{resource.__name__}.{field}")


def unbounded(nodes: Iterator[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every string, list or map in ``nodes`` without a bound, and every list without a type."""
    found = []
    for path, node in nodes:
        kind = node.get("type")
        if kind == "string" and "maxLength" not in node and "enum" not in node:
            found.append(f"{path}: unbounded string")
        if kind == "array" and "maxItems" not in node:
            found.append(f"{path}: unbounded list")
        if kind == "array" and "x-kubernetes-list-type" not in node:
            found.append(f"{path}: list without x-kubernetes-list-type")
        if isinstance(node.get("additionalProperties"), dict) and "maxProperties" not in node:
            found.append(f"{path}: unbounded map")
    return found


def test_every_string_list_and_map_is_bounded() -> None:
    assert unbounded(_spec_and_status_nodes()) == []


def test_the_bound_check_finds_unbounded_nodes() -> None:
    nodes = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "items": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "enum": ["a"]}},
        },
    }
    assert unbounded(_nodes(nodes, "x")) == [
        "x.name: unbounded string",
        "x.items: unbounded list",
        "x.items: list without x-kubernetes-list-type",
        "x.labels: unbounded map",
    ]


def test_schemas_are_structural() -> None:
    for path, node in _spec_and_status_nodes():
        assert "type" in node, path
        for keyword in ("$ref", "anyOf", "oneOf", "allOf", "title", "uniqueItems", "const"):
            assert keyword not in node, f"{path}: {keyword}"
        assert node.get("additionalProperties", {}) is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path


def test_every_field_has_a_description() -> None:
    for resource in RESOURCES:
        root = _version(resource)["schema"]["openAPIV3Schema"]
        assert root["description"]
        for path, node in _nodes(root, resource.__name__):
            if path.endswith(("[]", "{}")) or path.endswith(".metadata.name"):
                continue
            if path.endswith(".metadata"):
                continue
            assert node.get("description"), path


def test_optional_fields_are_not_required_and_required_ones_are() -> None:
    spec = _version(ResidentVolume)["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert sorted(spec["required"]) == ["accessModes", "size"]
    assert spec["properties"]["storageClassName"] == {
        "description": spec["properties"]["storageClassName"]["description"],
        "type": "string",
        "minLength": 1,
        "maxLength": 253,
        "pattern": spec["properties"]["storageClassName"]["pattern"],
    }
    root = _version(ResidentVolume)["schema"]["openAPIV3Schema"]
    assert root["required"] == ["spec"]
    assert "required" not in root["properties"]["status"]


def test_defaults_and_enums_reach_the_schema() -> None:
    spec = _version(SovereigntyProfile)["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]
    assert spec["egress"]["default"] == {}
    assert spec["egress"]["properties"]["allowDNS"]["default"] is True
    assert spec["enforcement"]["default"] == {}
    assert spec["enforcement"]["properties"]["mode"] == {
        "type": "string",
        "enum": ["Enforce", "Audit"],
        "default": "Enforce",
        "description": spec["enforcement"]["properties"]["mode"]["description"],
    }
    volume = _version(ResidentVolume)["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert volume["properties"]["volumeMode"]["default"] == "Filesystem"
    assert volume["properties"]["reclaim"]["default"] == "Retain"


def test_list_types_follow_the_natural_keys() -> None:
    profile = _version(SovereigntyProfile)["schema"]["openAPIV3Schema"]["properties"]
    cidrs = profile["spec"]["properties"]["egress"]["properties"]["cidrs"]
    assert cidrs["x-kubernetes-list-type"] == "map"
    assert cidrs["x-kubernetes-list-map-keys"] == ["cidr"]
    conditions = profile["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    volume = _version(ResidentVolume)["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert volume["properties"]["accessModes"]["x-kubernetes-list-type"] == "set"


def _rules(node: dict[str, Any]) -> list[str]:
    return [rule["rule"] for rule in node.get("x-kubernetes-validations", [])]


def test_transition_and_cross_field_rules_are_in_place() -> None:
    namespace = _version(SovereignNamespace)["schema"]["openAPIV3Schema"]
    assert "self == oldSelf" in _rules(namespace["properties"]["spec"]["properties"]["profileName"])
    assert any("self.metadata.name" in rule for rule in _rules(namespace))
    assert namespace["properties"]["metadata"] == {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 63}},
    }

    volume = _version(ResidentVolume)["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert any("quantity(oldSelf)" in rule for rule in _rules(volume["properties"]["size"]))
    assert "self == oldSelf" in _rules(volume["properties"]["accessModes"])
    assert "self == oldSelf" in _rules(volume["properties"]["volumeMode"])
    assert any("oldSelf.storageClassName" in rule for rule in _rules(volume))

    egress = _version(SovereigntyProfile)["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]
    cidr_rule = egress["egress"]["properties"]["cidrs"]["items"]
    assert any("containsCIDR" in rule for rule in _rules(cidr_rule))
    assert "isCIDR(self)" in _rules(cidr_rule["properties"]["cidr"])


def test_names_columns_and_subresources() -> None:
    expected = {
        SovereigntyProfile: ("sovereigntyprofiles", "Cluster", ["sp"]),
        SovereignNamespace: ("sovereignnamespaces", "Cluster", ["sns"]),
        ResidentVolume: ("residentvolumes", "Namespaced", ["rv"]),
    }
    for resource, (plural, scope, short_names) in expected.items():
        crd = _crd(resource)
        assert crd["metadata"]["name"] == f"{plural}.{API_GROUP}"
        assert crd["spec"]["scope"] == scope
        names = crd["spec"]["names"]
        assert names["plural"] == plural
        assert names["kind"] == resource.__name__
        assert names["singular"] == resource.__name__.lower()
        assert names["shortNames"] == short_names
        assert names["categories"] == ["souverain"]
        version = _version(resource)
        assert version["name"] == API_VERSION
        assert version["served"] is True
        assert version["storage"] is True
        assert version["subresources"] == {"status": {}}
        columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
        assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
        assert version["additionalPrinterColumns"][-1] == {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
            "description": "Time since the object was created.",
        }
        assert any(column.get("priority") == 1 for column in columns.values())

    sns = {c["name"]: c for c in _version(SovereignNamespace)["additionalPrinterColumns"]}
    assert sns["Profile"]["jsonPath"] == ".spec.profileName"
    assert sns["Compliant"]["type"] == "integer"
    assert "priority" not in sns["Non-Compliant"]
    assert sns["Layers"]["priority"] == 1


def test_rendered_yaml_is_the_crd() -> None:
    for resource in RESOURCES:
        assert _crd(resource) == custom_resource_definition(resource)


# -- the generator refuses what it cannot bound or translate -----------------------


class Unbounded(BaseModel):
    """A model that forgets its bounds."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    """A name."""
    tags: list[str] = Field(default_factory=list)
    """Tags."""
    extra: dict[str, str] = Field(default_factory=dict)
    """Extra."""
    count: int = 0


class HoldsUnbounded(BaseModel):
    spec: Unbounded


def test_generator_refuses_unbounded_and_undescribed_fields() -> None:
    with pytest.raises(SchemaError) as refused:
        model_schema(HoldsUnbounded, "spec")
    message = str(refused.value)
    assert ".spec.name: string without maxLength or enum" in message
    assert ".spec.tags: list without maxItems" in message
    assert ".spec.tags: list without x-kubernetes-list-type" in message
    assert ".spec.tags[]: string without maxLength or enum" in message
    assert ".spec.extra: map without maxProperties" in message
    assert ".spec.count: no description" in message


class Union(BaseModel):
    """A union the schema cannot express."""

    value: int | str = Field(description="Either.")


class HoldsUnion(BaseModel):
    spec: Union


class UniqueSet(BaseModel):
    """A Python set, which pydantic renders with uniqueItems."""

    values: set[str] = Field(default_factory=set, description="Values.", max_length=3)


class HoldsSet(BaseModel):
    spec: UniqueSet


PatternedKey = Annotated[str, Field(pattern="^a+$")]


class KeyedMap(BaseModel):
    """A map whose keys are constrained but not checked by CEL."""

    labels: dict[PatternedKey, str] = Field(
        default_factory=dict, description="Labels.", max_length=3
    )


class HoldsKeyedMap(BaseModel):
    spec: KeyedMap


@pytest.mark.parametrize(
    ("holder", "says"),
    [
        pytest.param(HoldsUnion, "unions other than Optional", id="union"),
        pytest.param(HoldsSet, "uniqueItems", id="python-set"),
        pytest.param(HoldsKeyedMap, "constrained keys", id="map-keys-without-cel"),
    ],
)
def test_generator_refuses_what_has_no_structural_equivalent(
    holder: type[BaseModel], says: str
) -> None:
    with pytest.raises(SchemaError, match=says):
        model_schema(holder, "spec")


def test_names_that_become_label_values_are_bounded_to_63() -> None:
    """A profile's name labels its namespaces, a namespace's names its children, and a
    resident volume's labels its claim: each is refused above 63 characters."""
    for resource in (SovereigntyProfile, SovereignNamespace, ResidentVolume):
        metadata = _version(resource)["schema"]["openAPIV3Schema"]["properties"]["metadata"]
        assert metadata["properties"]["name"]["maxLength"] == 63, resource.__name__
