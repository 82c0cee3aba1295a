"""The escapes the operator tries in a bound namespace, as its owners would, to see each
layer that protects it refuse (see :mod:`souverain.reconcile.enforcement`).

One probe per layer: each binding of the profile that an owner's request can reach,
the pinning layer (a plain pod must come back pinned to the current requirements), the
webhook where it is a layer, and Pod Security. Each probe breaks exactly one rule, that
of its layer, and is otherwise admitted by every profile and by Pod Security
``restricted`` (its image from an allowed registry, its volumes, classes and fields
allowed), so that the refusal can only be its layer's. A layer with nothing to refuse
under the profile (it allows every image, every volume, egress everywhere...) is not
probed. Not probed either: the protection of ResidentVolumes' claims (a namespace may
have none to try it on). The probe identity holds its own ClusterRole
(:data:`souverain.reconcile.probe_objects.PROBE_ROLE`), not the owners' ``admin``, so that
a policy guarding what a platform may grant its tenants beyond admin (snapshots, their
Namespace's labels) is probed too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from souverain import API_GROUP
from souverain.admission import (
    egress_floor,
    exposure,
    images,
    placement,
    protection,
    snapshots,
    storage,
)
from souverain.admission.policy import binding_name
from souverain.admission.review import PIN_WEBHOOK
from souverain.api import SovereigntyProfileSpec
from souverain.labels import PROFILE
from souverain.reconcile.egress import DENY_ALL
from souverain.reconcile.placement import LAYER_MUTATING_POLICY, LAYER_WEBHOOK
from souverain.reconcile.probe_objects import (
    MISSPELLED_SNAPSHOT,
    PROBE_NAME,
    Probe,
    claim_spec,
    cronjob,
    deployment,
    named,
    probe_pod,
    statefulset,
    template,
)

PROBE_VOLUME_DRIVER: Final = "probe.souverain.io"
"""An inline CSI driver no profile is expected to allow."""
NOWHERE: Final = "souverain-probe-nowhere"
"""A node name that no node has: it qualifies for no profile."""
FOREIGN_IMAGE: Final = "souverain-probe.invalid/probe:1"
"""An image from a registry no profile is expected to allow."""
FOREIGN_CLASS: Final = "souverain-probe-not-allowed"
PIN_WEBHOOK_NAME: Final = f"{PIN_WEBHOOK}.placement.{API_GROUP}"

# -- one probe per layer ------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """What the probes of one namespace depend on."""

    namespace: str
    profile: str
    spec: SovereigntyProfileSpec
    native: bool
    webhook: bool
    snapshots: bool

    def refused(
        self, policy: str, route: str, kind: str, body: dict[str, Any], *, echoes: bool = True
    ) -> Probe:
        layer = binding_name(policy, self.profile)
        return Probe(
            layer=layer,
            route=route,
            method="POST",
            kind=kind,
            name=PROBE_NAME,
            namespace=self.namespace,
            body=body,
            answered_by=layer,
            echoes_generation=echoes,
        )

    @property
    def csi_refused(self) -> bool:
        sources = self.spec.storage.allowed_volume_sources
        return "csi" not in sources.types and PROBE_VOLUME_DRIVER not in sources.csi_drivers

    @property
    def images_restricted(self) -> bool:
        return bool(self.spec.images.allowed_registries)

    @property
    def allowed_class(self) -> str | None:
        classes = self.spec.storage.allowed_classes
        return classes[0] if classes else None


_CSI_VOLUME: Final = {"name": "probe", "csi": {"driver": PROBE_VOLUME_DRIVER}}


def _pod_checks(s: Setting) -> Probe | None:
    policy = placement.VALIDATING_POLICY_NAME if s.native else storage.POD_VOLUMES
    if s.csi_refused:
        body = probe_pod(s.namespace, s.spec, volumes=[_CSI_VOLUME])
        return s.refused(policy, "a pod with an inline CSI volume", "Pod", body)
    if s.native and not s.webhook:
        body = probe_pod(s.namespace, s.spec, nodeName=NOWHERE)
        return s.refused(policy, "a pod that names its node", "Pod", body)
    return None


def _pod_images(s: Setting) -> Probe | None:
    if s.native or not s.images_restricted:
        return None  # the placement policy makes the pod checks of images
    body = probe_pod(s.namespace, s.spec)
    body["spec"]["containers"][0]["image"] = FOREIGN_IMAGE
    return s.refused(images.PODS, "a pod with an image from elsewhere", "Pod", body)


def _egress_floor(s: Setting) -> Probe | None:
    everywhere = any(
        rule.cidr in ("0.0.0.0/0", "::/0") and not rule.ports and not rule.except_
        for rule in s.spec.egress.cidrs
    )
    if everywhere:
        return None
    body = named(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        s.namespace,
        {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    )
    route = "a NetworkPolicy open to every destination"
    return s.refused(egress_floor.POLICY_NAME, route, "NetworkPolicy", body)


def _managed_objects(s: Setting) -> Probe | None:
    layer = binding_name(protection.MANAGED_OBJECTS, s.profile)
    return Probe(
        layer=layer,
        route=f"deleting the operator's NetworkPolicy {DENY_ALL}",
        method="DELETE",
        kind="NetworkPolicy",
        name=DENY_ALL,
        namespace=s.namespace,
        answered_by=layer,
    )


def _namespace_labels(s: Setting) -> Probe | None:
    layer = binding_name(protection.NAMESPACE_LABELS, s.profile)
    return Probe(
        layer=layer,
        route=f"removing the Namespace's {PROFILE} label",
        method="PATCH",
        kind="Namespace",
        name=s.namespace,
        namespace=s.namespace,
        body={"metadata": {"labels": {PROFILE: None}}},
        answered_by=layer,
    )


def _claims(s: Setting) -> Probe | None:
    if FOREIGN_CLASS in s.spec.storage.allowed_classes:
        return None
    body = named("v1", "PersistentVolumeClaim", s.namespace, claim_spec(FOREIGN_CLASS))
    return s.refused(
        storage.CLAIMS, "a claim of a class not allowed", "PersistentVolumeClaim", body
    )


def _statefulsets(s: Setting) -> Probe | None:
    if FOREIGN_CLASS in s.spec.storage.allowed_classes:
        return None
    body = statefulset(s.namespace, s.spec, claim_spec(FOREIGN_CLASS))
    return s.refused(
        storage.STATEFULSETS, "a StatefulSet claiming a class not allowed", "StatefulSet", body
    )


def _workload_volumes(s: Setting) -> Probe | None:
    if not s.csi_refused:
        return None
    body = deployment(s.namespace, template(s.spec, volumes=[_CSI_VOLUME]))
    return s.refused(
        storage.WORKLOADS, "a Deployment with an inline CSI volume", "Deployment", body
    )


def _cronjob_volumes(s: Setting) -> Probe | None:
    if not s.csi_refused:
        return None
    body = cronjob(s.namespace, template(s.spec, volumes=[_CSI_VOLUME]))
    return s.refused(storage.CRONJOBS, "a CronJob with an inline CSI volume", "CronJob", body)


def _foreign_template(s: Setting) -> dict[str, Any]:
    made = template(s.spec)
    made["spec"]["containers"][0]["image"] = FOREIGN_IMAGE
    return made


def _workload_images(s: Setting) -> Probe | None:
    if not s.images_restricted:
        return None
    body = deployment(s.namespace, _foreign_template(s))
    return s.refused(
        images.WORKLOADS, "a Deployment with an image from elsewhere", "Deployment", body
    )


def _cronjob_images(s: Setting) -> Probe | None:
    if not s.images_restricted:
        return None
    body = cronjob(s.namespace, _foreign_template(s))
    return s.refused(images.CRONJOBS, "a CronJob with an image from elsewhere", "CronJob", body)


def _pod_template_images(s: Setting) -> Probe | None:
    if not s.images_restricted:
        return None
    body = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": PROBE_NAME, "namespace": s.namespace},
        "template": _foreign_template(s),
    }
    return s.refused(
        images.POD_TEMPLATES, "a PodTemplate with an image from elsewhere", "PodTemplate", body
    )


def _services(s: Setting) -> Probe | None:
    allowed = s.spec.exposure
    service: dict[str, Any] = {"ports": [{"port": 80, "protocol": "TCP"}]}
    if not allowed.node_port:
        service["type"] = "NodePort"
    elif not allowed.load_balancer:
        service["type"] = "LoadBalancer"
    elif not allowed.external_ips:
        service["externalIPs"] = ["192.0.2.1"]
    else:
        return None
    body = named("v1", "Service", s.namespace, service)
    return s.refused(exposure.SERVICES, "a Service exposed outside the cluster", "Service", body)


def _snapshots(s: Setting) -> Probe | None:
    if not s.snapshots:
        return None
    body = named(
        "snapshot.storage.k8s.io/v1",
        "VolumeSnapshot",
        s.namespace,
        {"source": {"persistentVolumeClaimName": PROBE_NAME}},
    )
    return s.refused(
        snapshots.SNAPSHOTS,
        "a VolumeSnapshot of the cluster's default class",
        "VolumeSnapshot",
        body,
    )


def _restores(s: Setting) -> Probe | None:
    if s.allowed_class is None:
        return None
    claim = claim_spec(s.allowed_class, dataSourceRef=MISSPELLED_SNAPSHOT)
    body = named("v1", "PersistentVolumeClaim", s.namespace, claim)
    return s.refused(
        snapshots.RESTORES,
        "a claim restoring from what is not a snapshot",
        "PersistentVolumeClaim",
        body,
    )


def _restore_templates(s: Setting) -> Probe | None:
    if s.allowed_class is None:
        return None
    body = statefulset(
        s.namespace, s.spec, claim_spec(s.allowed_class, dataSourceRef=MISSPELLED_SNAPSHOT)
    )
    return s.refused(
        snapshots.RESTORE_TEMPLATES,
        "a StatefulSet restoring from what is not a snapshot",
        "StatefulSet",
        body,
    )


def _pod_security(s: Setting) -> Probe | None:
    return Probe(
        layer="PodSecurity",
        route="a pod that shares the host's process namespace",
        method="POST",
        kind="Pod",
        name=PROBE_NAME,
        namespace=s.namespace,
        body=probe_pod(s.namespace, s.spec, hostPID=True),
        answered_by='violates PodSecurity "',
    )


_BINDING_PROBES: Final[tuple[Callable[[Setting], Probe | None], ...]] = (
    _pod_checks,
    _pod_images,
    _egress_floor,
    _managed_objects,
    _namespace_labels,
    _claims,
    _statefulsets,
    _workload_volumes,
    _cronjob_volumes,
    _workload_images,
    _cronjob_images,
    _pod_template_images,
    _services,
    _snapshots,
    _restores,
    _restore_templates,
    _pod_security,
)


def plan_probes(
    namespace: str,
    profile: str,
    spec: SovereigntyProfileSpec,
    layers: Sequence[str],
    *,
    native: bool,
    snapshots: bool = False,
) -> list[Probe]:
    """The probes of one namespace bound to ``profile``, given its placement ``layers``
    (see :func:`souverain.reconcile.placement.placement_layers`), whether the native
    placement policies are on, and whether the cluster serves VolumeSnapshots."""
    enforced = spec.enforcement.mode == "Enforce"
    webhook = LAYER_WEBHOOK in layers and enforced
    setting = Setting(namespace, profile, spec, native, webhook, snapshots)
    probes: list[Probe] = []
    if enforced and (LAYER_MUTATING_POLICY in layers or webhook):
        pinning = (
            binding_name(placement.MUTATING_POLICY_NAME, profile)
            if LAYER_MUTATING_POLICY in layers
            else PIN_WEBHOOK_NAME
        )
        probes.append(
            Probe(
                layer=pinning,
                route="a plain pod, which must come back pinned",
                method="POST",
                kind="Pod",
                name=PROBE_NAME,
                namespace=namespace,
                body=probe_pod(namespace, spec),
                expect="pinned",
            )
        )
    if webhook:
        probes.append(
            Probe(
                layer=PIN_WEBHOOK_NAME,
                route="a pod that names a node outside the profile",
                method="POST",
                kind="Pod",
                name=PROBE_NAME,
                namespace=namespace,
                body=probe_pod(namespace, spec, nodeName=NOWHERE),
                answered_by=PIN_WEBHOOK_NAME,
            )
        )
    for build in _BINDING_PROBES:
        probe = build(setting)
        if probe is not None:
            probes.append(probe)
    return probes
