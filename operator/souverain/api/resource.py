"""What every kind shares: the model bases, object metadata, and how a kind is served
(names, scope, printer columns) — the parts of a CRD that are not its schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from souverain import API_GROUP, API_VERSION
from souverain.api.markers import Rule

GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
CATEGORY = "souverain"


class SpecModel(BaseModel):
    """Desired state written by people: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )


class StatusModel(BaseModel):
    """Observed state written by the operator: camelCase on the wire, unknown fields ignored
    so that a status written by a newer operator still reads."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )


class ObjectMeta(BaseModel):
    """The parts of ``metadata`` the operator reads; the rest is kept as is."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class PrinterColumn:
    """A column of ``kubectl get``; priority 1 shows only with ``-o wide``."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    json_path: str
    description: str
    priority: int = 0

    def to_schema(self) -> dict[str, Any]:
        column: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "jsonPath": self.json_path,
            "description": self.description,
        }
        if self.priority:
            column["priority"] = self.priority
        return column


def condition_column(name: str, condition_type: str, *, priority: int = 0) -> PrinterColumn:
    """The status of one condition, such as Ready."""
    return PrinterColumn(
        name=name,
        type="string",
        json_path=f'.status.conditions[?(@.type=="{condition_type}")].status',
        description=f"Status of the {condition_type} condition.",
        priority=priority,
    )


def condition_reason_column(condition_type: str, *, priority: int = 1) -> PrinterColumn:
    """Why one condition has its status."""
    return PrinterColumn(
        name="Reason",
        type="string",
        json_path=f'.status.conditions[?(@.type=="{condition_type}")].reason',
        description=f"Reason of the {condition_type} condition.",
        priority=priority,
    )


AGE_COLUMN = PrinterColumn(
    name="Age",
    type="date",
    json_path=".metadata.creationTimestamp",
    description="Time since the object was created.",
)


@dataclass(frozen=True)
class Definition:
    """How a kind is served: plural, scope, short names, columns, rules on its name."""

    plural: str
    scope: Literal["Cluster", "Namespaced"]
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...]
    name_max_length: int | None = None
    """A bound on ``metadata.name`` tighter than the API server's own."""
    name_rules: tuple[Rule, ...] = ()
    """CEL rules on ``self.metadata.name``, evaluated at the root of the object."""
    categories: tuple[str, ...] = (CATEGORY,)


class CustomResource(BaseModel):
    """A whole object of one of souverain's kinds, as the API server returns it."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )

    definition: ClassVar[Definition]

    @classmethod
    def resource(cls) -> tuple[str, str, str]:
        """``(group, version, plural)``, as kopf's handler decorators name the kind."""
        group, version = GROUP_VERSION.split("/")
        return group, version, cls.definition.plural

    api_version: str = GROUP_VERSION
    kind: str
    metadata: ObjectMeta
