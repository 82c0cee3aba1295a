"""SovereigntyProfile: what "sovereign" means for the namespaces bound to it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from souverain.api.conditions import READY, Condition
from souverain.api.egress import CanonicalCIDR, ProfileEgress
from souverain.api.images import Images
from souverain.api.markers import Rule, atomic_list, default_object, map_list, set_list, validated
from souverain.api.names import (
    DNS_LABEL_PATTERN,
    DNSSubdomain,
    LabelValue,
    QualifiedName,
    TopologyValue,
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

NodeOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
TolerationOperator = Literal["Equal", "Exists"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
EnforcementMode = Literal["Enforce", "Audit"]
PodSecurityLevel = Literal["baseline", "restricted"]
VolumeType = Literal[
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "iscsi",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
]
"""Pod volume sources that write to storage souverain cannot see: refused unless allowed."""

NFS_SERVER_PATTERN = "^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$"
# A host name, an IPv4 address or an IPv6 address, in lower case as pods are compared.
NFSServer = Annotated[str, Field(min_length=1, max_length=253, pattern=NFS_SERVER_PATTERN)]


class NodeRequirement(SpecModel):
    """A label a node must carry, or must not carry, to qualify (a node selector requirement).

    Every requirement must hold; prefer label keys under node-restriction.kubernetes.io/,
    which kubelets cannot set on their own node.
    """

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "self.operator in ['In', 'NotIn']"
                " ? (has(self.values) && size(self.values) > 0)"
                " : (!has(self.values) || size(self.values) == 0)",
                "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
                field_path=".values",
            )
        )
    )

    key: QualifiedName
    """Node label key, such as node-restriction.kubernetes.io/french-sovereign."""
    operator: NodeOperator
    """How the label relates to values: In, NotIn, Exists or DoesNotExist."""
    values: list[LabelValue] = Field(
        default_factory=list, max_length=32, json_schema_extra=atomic_list()
    )
    """Label values for In and NotIn; empty for Exists and DoesNotExist."""


class Toleration(SpecModel):
    """A toleration added to every pod of a bound namespace, to reach dedicated sovereign nodes."""

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "has(self.key) || self.operator == 'Exists'",
                "a toleration without key must use operator Exists",
                field_path=".operator",
            ),
            Rule(
                "self.operator != 'Exists' || !has(self.value) || self.value == ''",
                "value must be empty when operator is Exists",
                field_path=".value",
            ),
            Rule(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds applies only to effect NoExecute",
                field_path=".tolerationSeconds",
            ),
        )
    )

    key: QualifiedName | None = None
    """Taint key to tolerate; empty with operator Exists tolerates every taint."""
    operator: TolerationOperator = "Equal"
    """Equal matches key and value; Exists matches the key alone."""
    value: LabelValue | None = None
    """Taint value, for operator Equal."""
    effect: TaintEffect | None = None
    """Taint effect to tolerate; empty tolerates every effect."""
    toleration_seconds: int | None = Field(default=None, ge=0)
    """How long a pod stays on a node after a NoExecute taint appears; empty is forever."""


class Topology(SpecModel):
    """Where persistent volumes may sit, from the topology labels of the bound volume."""

    regions: list[TopologyValue] = Field(
        default_factory=list, max_length=32, json_schema_extra=set_list()
    )
    """Allowed values of topology.kubernetes.io/region; empty does not restrict the region."""
    zones: list[TopologyValue] = Field(
        default_factory=list, max_length=64, json_schema_extra=set_list()
    )
    """Allowed values of topology.kubernetes.io/zone; empty does not restrict the zone."""


class VolumeSources(SpecModel):
    """Pod volumes other than claims that write to storage known to be resident.

    Pods of bound namespaces may always use persistentVolumeClaim and ephemeral volumes
    (whose classes are checked), configMap, secret, downwardAPI, projected, emptyDir and
    image volumes. Every other volume source is refused unless it is listed here.
    """

    nfs_servers: list[NFSServer] = Field(
        default_factory=list, max_length=32, json_schema_extra=set_list()
    )
    """NFS servers whose exports are resident, as pods write them in nfs.server (a host
    name or an IP address, compared in lower case; write each form pods use)."""
    csi_drivers: list[DNSSubdomain] = Field(
        default_factory=list, max_length=32, json_schema_extra=set_list()
    )
    """CSI drivers whose inline csi volumes are resident."""
    types: list[VolumeType] = Field(
        default_factory=list, max_length=32, json_schema_extra=set_list()
    )
    """Volume sources allowed whatever they point to, such as cephfs where every Ceph
    cluster the nodes reach is resident; nfs or csi here allow every server or driver.
    hostPath writes to the node's own disk and can read the node's files."""


class Storage(SpecModel):
    """Where tenants' persistent data may live."""

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "!has(self.defaultClass)"
                " || (has(self.allowedClasses) && self.defaultClass in self.allowedClasses)",
                "defaultClass must be one of allowedClasses",
                field_path=".defaultClass",
            )
        )
    )

    allowed_classes: list[DNSSubdomain] = Field(
        default_factory=list, max_length=32, json_schema_extra=set_list()
    )
    """Storage classes tenants may use; claims for any other class are refused,
    and so is every claim when the list is empty."""
    default_class: DNSSubdomain | None = None
    """Class given to claims and resident volumes that name none; one of allowedClasses."""
    topology: Topology = Field(default_factory=Topology)
    """Regions and zones bound volumes must sit in."""
    allowed_volume_sources: VolumeSources = Field(default_factory=VolumeSources)
    """Pod volumes beyond claims that are resident: NFS servers, inline CSI drivers and
    other volume types; all others are refused."""
    allowed_snapshot_classes: list[DNSSubdomain] = Field(
        default_factory=list, max_length=32, json_schema_extra=set_list()
    )
    """VolumeSnapshotClasses tenants may use: a VolumeSnapshot must name one of them, and
    every VolumeSnapshot is refused when the list is empty. List only classes whose
    driver keeps snapshots inside the topology."""


class Exposure(SpecModel):
    """How tenants may expose their Services outside the cluster; by default they may not.

    A Service of type LoadBalancer or NodePort, or with externalIPs, is refused in bound
    namespaces unless the field that allows it is true here. externalIPs also let a
    tenant take over traffic to any address (CVE-2020-8554).
    """

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "!has(self.loadBalancerIPRanges) || size(self.loadBalancerIPRanges) == 0"
                " || self.loadBalancer",
                "loadBalancerIPRanges apply only when loadBalancer is true",
                field_path=".loadBalancerIPRanges",
            )
        )
    )

    load_balancer: bool = False
    """Whether tenants may create Services of type LoadBalancer. Unless nodePort is true
    too, such a Service must set allocateLoadBalancerNodePorts to false, since node ports
    expose it on every node."""
    load_balancer_ip_ranges: list[CanonicalCIDR] = Field(
        default_factory=list,
        max_length=32,
        alias="loadBalancerIPRanges",
        json_schema_extra=set_list(),
    )
    """Addresses a LoadBalancer Service may ask for in spec.loadBalancerIP, and that the
    report expects in its status; empty: whatever address the load balancer gives."""
    node_port: bool = False
    """Whether tenants may create Services of type NodePort, reachable on every node."""
    external_ips: bool = Field(default=False, alias="externalIPs")
    """Whether tenants may set spec.externalIPs, which makes nodes take traffic for those
    addresses, whoever owns them (CVE-2020-8554)."""


class PodSecurity(SpecModel):
    """The Pod Security Standard the API server holds pods of bound namespaces to.

    The operator sets it as the namespace's pod-security.kubernetes.io/enforce and warn
    labels, which tenants cannot change; the API server's PodSecurity admission refuses
    pods that break it, with the operator stopped too.
    """

    level: PodSecurityLevel = "baseline"
    """baseline refuses the known privilege escalations (privileged containers, host
    namespaces, hostPath volumes, host ports, added capabilities); restricted also
    requires pods to run as non-root with every capability dropped and a seccomp profile."""
    version: str = Field(
        default="latest",
        max_length=16,
        pattern=r"^(latest|v1\.[0-9]{1,3})$",
    )
    """The version of the standard (v1.NN, or latest): the checks of that Kubernetes
    release, whatever the API server's own version."""


class Enforcement(SpecModel):
    """What happens to objects that break the profile."""

    mode: EnforcementMode = "Enforce"
    """Enforce refuses and repairs; Audit only reports, in status, events and metrics."""
    evict_non_compliant: bool = False
    """Whether pods found on nodes that no longer qualify are evicted (in Enforce mode)."""


class SovereigntyProfileSpec(SpecModel):
    """What sovereign means: qualifying nodes, the egress floor, resident storage."""

    node_requirements: list[NodeRequirement] = Field(
        min_length=1, max_length=16, json_schema_extra=atomic_list()
    )
    """Requirements a node must all meet to run pods of bound namespaces."""
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=16, json_schema_extra=atomic_list()
    )
    """Tolerations added to pods of bound namespaces, for tainted sovereign node pools."""
    egress: ProfileEgress = Field(default_factory=ProfileEgress, json_schema_extra=default_object())
    """Destinations pods of bound namespaces may reach; all other egress is denied."""
    storage: Storage = Field(default_factory=Storage)
    """Storage classes and topology allowed for persistent data."""
    images: Images = Field(default_factory=Images)
    """Registries the images of pods and workload templates may come from."""
    exposure: Exposure = Field(default_factory=Exposure, json_schema_extra=default_object())
    """Whether Services of bound namespaces may be reached from outside the cluster."""
    pod_security: PodSecurity = Field(
        default_factory=PodSecurity, json_schema_extra=default_object()
    )
    """The Pod Security Standard pods of bound namespaces are held to (baseline by default)."""
    enforcement: Enforcement = Field(
        default_factory=Enforcement, json_schema_extra=default_object()
    )
    """Whether violations are refused or only reported, and whether pods are evicted."""


class SovereigntyProfileStatus(StatusModel):
    """What the operator observed about the profile."""

    conditions: list[Condition] = Field(
        default_factory=list, max_length=16, json_schema_extra=map_list("type")
    )
    """Ready, Valid and Enforced."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this status was computed from."""
    enforced_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation every namespace bound to the profile was last seen enforced
    with: from then on, the API server judges their requests by this generation."""
    qualified_nodes: int | None = Field(default=None, ge=0)
    """Nodes that meet the node requirements now."""
    namespaces: int | None = Field(default=None, ge=0)
    """SovereignNamespaces bound to this profile."""


class SovereigntyProfile(CustomResource):
    """What "sovereign" means for the namespaces bound to the profile: the nodes their pods
    may run on, where their traffic may go, and where their data may live. Cluster-scoped,
    written by platform admins."""

    definition: ClassVar[Definition] = Definition(
        plural="sovereigntyprofiles",
        scope="Cluster",
        short_names=("sp",),
        printer_columns=(
            condition_column("Ready", READY),
            PrinterColumn(
                "Mode", "string", ".spec.enforcement.mode", "Enforce refuses, Audit reports."
            ),
            PrinterColumn("Nodes", "integer", ".status.qualifiedNodes", "Nodes that qualify now."),
            PrinterColumn(
                "Enforced",
                "integer",
                ".status.enforcedGeneration",
                "The generation the API server was seen enforcing.",
                priority=1,
            ),
            PrinterColumn(
                "Namespaces", "integer", ".status.namespaces", "SovereignNamespaces bound to it."
            ),
            PrinterColumn(
                "PodSecurity",
                "string",
                ".spec.podSecurity.level",
                "The Pod Security Standard bound namespaces enforce.",
                priority=1,
            ),
            PrinterColumn(
                "Evict",
                "boolean",
                ".spec.enforcement.evictNonCompliant",
                "Whether non-compliant pods are evicted.",
                priority=1,
            ),
            condition_reason_column(READY),
            AGE_COLUMN,
        ),
        # The name becomes the value of the souverain.io/profile label on namespaces,
        # and label values hold at most 63 characters.
        name_max_length=63,
        name_rules=(
            Rule(
                f"self.metadata.name.matches('{DNS_LABEL_PATTERN}')",
                "metadata.name must be at most 63 lower-case alphanumerics and '-', starting"
                " and ending alphanumeric: it is used as a label value on bound namespaces",
                field_path=".metadata.name",
            ),
        ),
    )

    kind: str = "SovereigntyProfile"
    spec: SovereigntyProfileSpec
    """The profile's requirements."""
    status: SovereigntyProfileStatus = Field(default_factory=SovereigntyProfileStatus)
    """What the operator observed."""
