"""The escapes the operator tries in a bound namespace, as its owners would, to see each
layer that protects it refuse (see :mod:`souverain.reconcile.enforcement`).

Each probe is refused by exactly one layer, which its answer names:

- the pinning layer (the MutatingAdmissionPolicy, or the webhook where it pins): a
  plain pod comes back pinned to the current profile's node requirements;
- the webhook, where it is a layer: a pod naming a node that does not exist;
- the pod checks (``souverain-placement``, or ``souverain-storage-pod-volumes`` where
  native placement is off): a pod with a volume the profile does not allow (or, where
  it allows every volume, a pod naming its node or an image from elsewhere);
- the egress floor: a NetworkPolicy that allows egress everywhere (unless the profile
  itself allows everywhere);
- the protection of the operator's objects: deleting the deny-all NetworkPolicy;
- Pod Security: a pod sharing the host's process namespace.

Probe pods are otherwise admitted by every profile and by Pod Security ``restricted``,
so that what a probe changes is the only thing a layer can refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from souverain import API_GROUP
from souverain.admission import egress_floor, placement, protection, storage
from souverain.admission.policy import PROBE_USER, binding_name
from souverain.admission.review import PIN_WEBHOOK
from souverain.api import SovereigntyProfileSpec
from souverain.reconcile.egress import DENY_ALL
from souverain.reconcile.placement import LAYER_MUTATING_POLICY, LAYER_WEBHOOK

PROBE_NAME: Final = "souverain-probe"
"""The name of every probe object, and of the RoleBinding that lets the probe act."""
PROBE_VOLUME_DRIVER: Final = "probe.souverain.io"
"""An inline CSI driver no profile is expected to allow."""
NOWHERE: Final = "souverain-probe-nowhere"
"""A node name that no node has: it qualifies for no profile."""
PROBE_IMAGE: Final = "registry.k8s.io/pause:3.10"
PIN_WEBHOOK_NAME: Final = f"{PIN_WEBHOOK}.placement.{API_GROUP}"

Expect = Literal["refused", "pinned"]


@dataclass(frozen=True)
class Probe:
    """One escape, sent as a dry run, and the layer that must answer it."""

    layer: str
    """The layer's name as the status says it: a binding, a webhook, Pod Security."""
    route: str
    """The escape, for people."""
    method: Literal["POST", "DELETE"]
    kind: str
    name: str
    namespace: str
    body: dict[str, Any] | None = None
    expect: Expect = "refused"
    answered_by: str = ""
    """Text the refusal (or, in Audit mode, a warning) names: the binding, webhook or
    admission plugin that answered."""
    echoes_generation: bool = False
    """The layer reads the profile: its refusal names the generation it judged with."""


def probe_pod(namespace: str, spec: SovereigntyProfileSpec, **extra: Any) -> dict[str, Any]:
    """A pod that every profile's checks and the Pod Security level ``restricted`` admit:
    what a probe changes in it is then the only thing a layer can refuse."""
    registries = spec.images.allowed_registries
    image = f"{registries[0]}/souverain-probe:1" if registries else PROBE_IMAGE
    container = {
        "name": "probe",
        "image": image,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        **extra,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": PROBE_NAME, "namespace": namespace},
        "spec": pod_spec,
    }


def _pod_probe(
    namespace: str, spec: SovereigntyProfileSpec, layer: str, route: str, **extra: Any
) -> Probe:
    return Probe(
        layer=layer,
        route=route,
        method="POST",
        kind="Pod",
        name=PROBE_NAME,
        namespace=namespace,
        body=probe_pod(namespace, spec, **extra),
        answered_by=layer,
    )


def _pod_checks(
    namespace: str, profile: str, spec: SovereigntyProfileSpec, native: bool, webhook: bool
) -> Probe | None:
    policy = placement.VALIDATING_POLICY_NAME if native else storage.POD_VOLUMES
    layer = binding_name(policy, profile)
    sources = spec.storage.allowed_volume_sources
    if "csi" not in sources.types and PROBE_VOLUME_DRIVER not in sources.csi_drivers:
        volume = {"name": "probe", "csi": {"driver": PROBE_VOLUME_DRIVER}}
        route = "a pod with an inline CSI volume of a driver the profile does not allow"
        probe = _pod_probe(namespace, spec, layer, route, volumes=[volume])
    elif native and not webhook:
        route = "a pod that names its node, skipping the scheduler"
        probe = _pod_probe(namespace, spec, layer, route, nodeName=NOWHERE)
    else:
        # Every volume is allowed and the webhook refuses named nodes first: only the
        # image check is left to refuse, where the profile restricts registries.
        if not spec.images.allowed_registries:
            return None
        route = "a pod whose image comes from a registry the profile does not allow"
        probe = _pod_probe(namespace, spec, layer, route)
        body = probe.body or {}
        body["spec"]["containers"][0]["image"] = "souverain-probe.invalid/probe:1"
    return Probe(**{**probe.__dict__, "echoes_generation": True})


def _allows_everywhere(spec: SovereigntyProfileSpec) -> bool:
    return any(
        rule.cidr in ("0.0.0.0/0", "::/0") and not rule.ports and not rule.except_
        for rule in spec.egress.cidrs
    )


def plan_probes(
    namespace: str,
    profile: str,
    spec: SovereigntyProfileSpec,
    layers: Sequence[str],
    *,
    native: bool,
) -> list[Probe]:
    """The probes of one namespace bound to ``profile``, given its placement ``layers``
    (see :func:`souverain.reconcile.placement.placement_layers`) and whether the native
    placement policies are on."""
    enforced = spec.enforcement.mode == "Enforce"
    webhook = LAYER_WEBHOOK in layers and enforced
    probes: list[Probe] = []
    if enforced and (LAYER_MUTATING_POLICY in layers or webhook):
        probes.append(
            Probe(
                layer=(
                    binding_name(placement.MUTATING_POLICY_NAME, profile)
                    if LAYER_MUTATING_POLICY in layers
                    else PIN_WEBHOOK_NAME
                ),
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
            _pod_probe(
                namespace,
                spec,
                PIN_WEBHOOK_NAME,
                "a pod that names a node outside the profile",
                nodeName=NOWHERE,
            )
        )
    checks = _pod_checks(namespace, profile, spec, native, webhook)
    if checks is not None:
        probes.append(checks)
    if not _allows_everywhere(spec):
        floor = egress_floor.egress_floor_binding_name(profile)
        probes.append(
            Probe(
                layer=floor,
                route="a NetworkPolicy that allows egress to every destination",
                method="POST",
                kind="NetworkPolicy",
                name=PROBE_NAME,
                namespace=namespace,
                body={
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": PROBE_NAME, "namespace": namespace},
                    "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
                },
                answered_by=floor,
                echoes_generation=True,
            )
        )
    managed = binding_name(protection.MANAGED_OBJECTS, profile)
    probes.append(
        Probe(
            layer=managed,
            route=f"deleting the operator's NetworkPolicy {DENY_ALL}",
            method="DELETE",
            kind="NetworkPolicy",
            name=DENY_ALL,
            namespace=namespace,
            answered_by=managed,
        )
    )
    probes.append(
        Probe(
            layer="PodSecurity",
            route="a pod that shares the host's process namespace",
            method="POST",
            kind="Pod",
            name=PROBE_NAME,
            namespace=namespace,
            body=probe_pod(namespace, spec, hostPID=True),
            answered_by='violates PodSecurity "',
        )
    )
    return probes


PROBE_ROLE_BINDING: Final = PROBE_NAME


def probe_binding(namespace: str) -> dict[str, Any]:
    """The RoleBinding that gives :data:`PROBE_USER` what owners hold in ``namespace``."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": PROBE_ROLE_BINDING, "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "admin",
        },
        "subjects": [{"kind": "User", "name": PROBE_USER, "apiGroup": "rbac.authorization.k8s.io"}],
    }
