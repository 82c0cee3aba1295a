"""Kubernetes schema markers for pydantic fields and models.

The generator (:mod:`souverain.crdgen`) copies them into the CRD unchanged: CEL
rules become ``x-kubernetes-validations`` and list types become
``x-kubernetes-list-type``. They play the part of controller-gen's markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic.config import JsonDict, JsonValue

JsonSchemaExtra = JsonDict


@dataclass(frozen=True)
class Rule:
    """A CEL validation rule the API server evaluates on every write.

    ``field_path`` (relative to where the rule sits, such as ``.values``) makes
    the error name the offending field rather than the object holding the rule.
    A rule that mentions ``oldSelf`` is a transition rule: it runs on updates only.
    """

    rule: str
    message: str
    field_path: str | None = None
    reason: Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired"] | None = None

    def to_schema(self) -> JsonDict:
        rendered: JsonDict = {"rule": self.rule, "message": self.message}
        if self.field_path:
            rendered["fieldPath"] = self.field_path
        if self.reason:
            rendered["reason"] = self.reason
        return rendered


def merged(*extras: JsonSchemaExtra) -> JsonSchemaExtra:
    """Several markers on one field or model."""
    result: JsonSchemaExtra = {}
    for extra in extras:
        for key, value in extra.items():
            if key == "x-kubernetes-validations" and isinstance(value, list):
                rules = result.setdefault(key, [])
                assert isinstance(rules, list)
                rules.extend(value)
            else:
                result[key] = value
    return result


def validated(*rules: Rule) -> JsonSchemaExtra:
    """CEL rules for a field or a model."""
    rendered: list[JsonValue] = [rule.to_schema() for rule in rules]
    return {"x-kubernetes-validations": rendered}


def immutable(message: str) -> JsonSchemaExtra:
    """The field cannot change once the object exists."""
    return validated(Rule("self == oldSelf", message))


def atomic_list() -> JsonSchemaExtra:
    """The list is replaced as a whole by server-side apply (the Kubernetes default)."""
    return {"x-kubernetes-list-type": "atomic"}


def set_list() -> JsonSchemaExtra:
    """A list of unique scalars, merged item by item by server-side apply."""
    return {"x-kubernetes-list-type": "set"}


def map_list(*keys: str) -> JsonSchemaExtra:
    """A list of objects identified by ``keys``, merged item by item by server-side apply."""
    names: list[JsonValue] = list(keys)
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": names}


def default_object() -> JsonSchemaExtra:
    """The object defaults to ``{}`` so that the defaults of its fields apply when it is omitted."""
    return {"default": {}}
