"""SovereignNamespace: one tenant namespace bound to a profile."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field

from souverain.api.conditions import READY, Condition
from souverain.api.egress import EgressRules
from souverain.api.markers import (
    JsonSchemaExtra,
    Rule,
    atomic_list,
    immutable,
    map_list,
    merged,
    set_list,
    validated,
)
from souverain.api.names import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    NAMESPACE_NAME_LABEL,
    RESERVED_DOMAIN,
    AnnotationValue,
    DNSLabel,
    LabelValue,
    QualifiedName,
    qualified_name_cel,
    unreserved_cel,
)
from souverain.api.resource import (
    AGE_COLUMN,
    CustomResource,
    Definition,
    PrinterColumn,
    SpecModel,
    StatusModel,
    condition_column,
    condition_reason_column,
)
from souverain.labels import POD_SECURITY_PREFIX

OwnerKind = Literal["User", "Group", "ServiceAccount"]
DeletionPolicy = Literal["Retain", "Delete"]


def _keys_rules(what: str) -> JsonSchemaExtra:
    return validated(
        Rule(
            f"self.all(k, {qualified_name_cel('k')})",
            f"{what} keys must be qualified names: an optional DNS subdomain prefix and '/',"
            " then at most 63 alphanumerics, '-', '_' or '.'",
        ),
        Rule(
            f"self.all(k, {unreserved_cel('k')})",
            f"{what} keys under {RESERVED_DOMAIN}/ are reserved for the operator",
        ),
    )


NAME_LABEL_RULE = Rule(
    f"!('{NAMESPACE_NAME_LABEL}' in self)",
    f"the label {NAMESPACE_NAME_LABEL} is set by the API server to the namespace's name"
    " and cannot be asked for",
)


POD_SECURITY_LABELS_RULE = Rule(
    f"self.all(k, !k.startsWith('{POD_SECURITY_PREFIX}'))",
    f"label keys under {POD_SECURITY_PREFIX} are set from the profile's spec.podSecurity",
)


def _without_name_label(labels: dict[str, str]) -> dict[str, str]:
    if NAMESPACE_NAME_LABEL in labels:
        raise ValueError(NAME_LABEL_RULE.message)
    if any(key.startswith(POD_SECURITY_PREFIX) for key in labels):
        raise ValueError(POD_SECURITY_LABELS_RULE.message)
    return labels


NamespaceLabels = Annotated[
    dict[QualifiedName, LabelValue],
    Field(
        max_length=64,
        json_schema_extra=merged(
            _keys_rules("label"), validated(NAME_LABEL_RULE, POD_SECURITY_LABELS_RULE)
        ),
    ),
    AfterValidator(_without_name_label),
]
"""Labels a SovereignNamespace asks for on its Namespace."""


class Owner(SpecModel):
    """A subject given admin rights in the namespace (an RBAC subject)."""

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "self.kind == 'ServiceAccount' ? has(self.namespace) : !has(self.namespace)",
                "namespace is required for a ServiceAccount and must be omitted for a User"
                " or a Group",
                field_path=".namespace",
            ),
            Rule(
                f"self.kind != 'ServiceAccount' || self.name.matches('{DNS_SUBDOMAIN_PATTERN}')",
                "the name of a ServiceAccount must be a DNS subdomain",
                field_path=".name",
            ),
        )
    )

    kind: OwnerKind
    """User, Group or ServiceAccount."""
    name: str = Field(min_length=1, max_length=253)
    """Name of the user, group or service account, as the authenticator reports it."""
    namespace: DNSLabel | None = None
    """Namespace of the service account; only for kind ServiceAccount."""


class SovereignNamespaceSpec(SpecModel):
    """The tenant namespace: its profile, its owners, what it adds within the profile."""

    profile_name: DNSLabel = Field(
        json_schema_extra=immutable(
            "profileName cannot change once set; create another SovereignNamespace instead"
        )
    )
    """Name of the SovereigntyProfile the namespace is bound to; cannot change."""
    owners: list[Owner] = Field(
        default_factory=list, max_length=32, json_schema_extra=atomic_list()
    )
    """Subjects given admin rights in the namespace."""
    egress: EgressRules = Field(default_factory=EgressRules)
    """Destinations added for this namespace; each must lie inside the profile's allow-list."""
    labels: NamespaceLabels = Field(default_factory=dict)
    """Labels put on the Namespace; keys under souverain.io/ are the operator's."""
    annotations: dict[QualifiedName, AnnotationValue] = Field(
        default_factory=dict, max_length=32, json_schema_extra=_keys_rules("annotation")
    )
    """Annotations put on the Namespace; keys under souverain.io/ are the operator's."""
    deletion_policy: DeletionPolicy = "Retain"
    """Retain keeps the Namespace and its data when this object is deleted; Delete removes it."""


class HistoryAnchor(StatusModel):
    """The head of the namespace's violation history, kept here where tenants cannot
    write, so that deleting the last records of the history is evident."""

    config_map: str = Field(max_length=317)
    """namespace/name of the ConfigMap holding the records."""
    records: int = Field(ge=0)
    """Records since the history began, dropped ones included."""
    head: str = Field(max_length=64, pattern="^[0-9a-f]{64}$")
    """sha256 of the last record."""
    base: str = Field(max_length=64, pattern="^[0-9a-f]{64}$")
    """sha256 of the base the retained records begin from (what was dropped)."""


class SovereignNamespaceStatus(StatusModel):
    """What the operator observed about the namespace."""

    conditions: list[Condition] = Field(
        default_factory=list, max_length=16, json_schema_extra=map_list("type")
    )
    """Ready, NamespaceReady, EgressRestricted, PlacementEnforced, Compliant and Enforced."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this status was computed from."""
    enforced_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the API server was last seen enforcing: each layer refused
    its escape, probed as an owner would try it, after this generation was applied."""
    enforced_profile_generation: int | None = Field(default=None, ge=0)
    """The generation of the SovereigntyProfile the API server judged those probes with."""
    compliant_pods: int | None = Field(default=None, ge=0)
    """Pods running on qualified nodes."""
    non_compliant_pods: int | None = Field(default=None, ge=0)
    """Pods running on nodes that do not qualify."""
    enforcement_layers: list[Annotated[str, Field(max_length=63)]] = Field(
        default_factory=list, max_length=16, json_schema_extra=set_list()
    )
    """Mechanisms enforcing the profile here, such as ValidatingAdmissionPolicy or NetworkPolicy."""
    unenforceable_egress: list[Annotated[str, Field(max_length=512)]] = Field(
        default_factory=list, max_length=128, json_schema_extra=atomic_list()
    )
    """Egress rules no mechanism of this cluster can enforce, such as FQDNs without Cilium."""
    history: HistoryAnchor | None = None
    """The anchor of the namespace's violation history (souverain report --verify)."""


class SovereignNamespace(CustomResource):
    """One tenant namespace bound to a SovereigntyProfile. The operator creates the Namespace of
    the same name and keeps in it everything that enforces the profile. Cluster-scoped; its
    name is the namespace's name."""

    definition: ClassVar[Definition] = Definition(
        plural="sovereignnamespaces",
        scope="Cluster",
        short_names=("sns",),
        printer_columns=(
            PrinterColumn("Profile", "string", ".spec.profileName", "The SovereigntyProfile."),
            condition_column("Ready", READY),
            PrinterColumn(
                "Compliant", "integer", ".status.compliantPods", "Pods on qualified nodes."
            ),
            PrinterColumn(
                "Non-Compliant",
                "integer",
                ".status.nonCompliantPods",
                "Pods on nodes that do not qualify.",
            ),
            PrinterColumn(
                "Enforced",
                "integer",
                ".status.enforcedGeneration",
                "The generation the API server was seen enforcing.",
                priority=1,
            ),
            PrinterColumn(
                "Layers",
                "string",
                ".status.enforcementLayers",
                "Mechanisms enforcing the profile.",
                priority=1,
            ),
            PrinterColumn(
                "Deletion",
                "string",
                ".spec.deletionPolicy",
                "What happens to the Namespace on deletion.",
                priority=1,
            ),
            condition_reason_column(READY),
            AGE_COLUMN,
        ),
        name_max_length=63,
        name_rules=(
            Rule(
                f"self.metadata.name.matches('{DNS_LABEL_PATTERN}')",
                "metadata.name must be a valid namespace name: lower-case alphanumerics"
                " and '-', starting and ending alphanumeric (a DNS label)",
                field_path=".metadata.name",
            ),
        ),
    )

    kind: str = "SovereignNamespace"
    spec: SovereignNamespaceSpec
    """The namespace's binding and additions."""
    status: SovereignNamespaceStatus = Field(default_factory=SovereignNamespaceStatus)
    """What the operator observed."""
