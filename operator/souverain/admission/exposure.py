"""Exposure in the API server: tenants reach the outside of the cluster with a Service only
as far as their profile's ``spec.exposure`` allows, with the operator stopped too.

One static ValidatingAdmissionPolicy, :data:`SERVICES`, reads the profile handed to it as
its parameter and refuses, in the Services of bound namespaces:

- ``spec.type: LoadBalancer`` unless ``exposure.loadBalancer`` is true; and, when
  ``exposure.loadBalancerIPRanges`` is set, a ``spec.loadBalancerIP`` outside them;
- ``spec.type: NodePort`` unless ``exposure.nodePort`` is true, and a LoadBalancer that
  allocates node ports (``spec.allocateLoadBalancerNodePorts``, true unless set to
  false), which is a NodePort Service by another name;
- ``spec.externalIPs`` unless ``exposure.externalIPs`` is true: nodes then take traffic
  for those addresses, whoever owns them (CVE-2020-8554).

Updates are checked only when they change one of those fields, so that a Service made
before the profile was tightened can still be edited otherwise (the report lists it).
Host ports, the other way a pod is reached on a node's address, are refused by the
profile's Pod Security level (baseline and restricted allow none). One binding per
profile selects the namespaces labelled with it; it refuses in Enforce mode and warns
and audits in Audit mode. Requests of the operator and of ``system:masters`` pass.
"""

from __future__ import annotations

from typing import Any, Final

from souverain.admission.policy import (
    namespace_bindings,
    profile_policy,
    resource_rule,
    written_conditions,
)
from souverain.api import SovereigntyProfileSpec

SERVICES: Final = "souverain-exposure-services"
POLICY_NAMES: Final = (SERVICES,)

_EXPOSURE: Final = "params.spec.?exposure"
_FIELDS: Final = (
    "object.spec.?type.orValue('ClusterIP')",
    "object.spec.?externalIPs.orValue([])",
    "object.spec.?loadBalancerIP.orValue('')",
    "object.spec.?allocateLoadBalancerNodePorts.orValue(true)",
)
_CHANGED: Final = " || ".join(
    f"{field} != {field.replace('object.', 'oldObject.', 1)}" for field in _FIELDS
)
_PROFILE: Final = "' by SovereigntyProfile ' + params.metadata.name"


def _validation(expression: str, message: str) -> dict[str, str]:
    return {"expression": expression, "messageExpression": message, "reason": "Forbidden"}


_VALIDATIONS: Final = [
    _validation(
        "variables.type != 'LoadBalancer' || variables.loadBalancer",
        "'spec.type LoadBalancer exposes Service ' + object.metadata.name + ' outside the"
        " cluster, which is not allowed' + " + _PROFILE + " + ' (spec.exposure.loadBalancer"
        " of the profile): use type ClusterIP'",
    ),
    _validation(
        "variables.type != 'NodePort' || variables.nodePort",
        "'spec.type NodePort exposes Service ' + object.metadata.name + ' on every node,"
        " which is not allowed' + " + _PROFILE + " + ' (spec.exposure.nodePort of the"
        " profile): use type ClusterIP'",
    ),
    _validation(
        "variables.type != 'LoadBalancer' || variables.nodePort"
        " || !object.spec.?allocateLoadBalancerNodePorts.orValue(true)",
        "'spec.allocateLoadBalancerNodePorts of LoadBalancer Service ' + object.metadata.name"
        " + ' must be false: node ports expose it on every node, which is not allowed' + "
        + _PROFILE
        + " + ' (spec.exposure.nodePort of the profile)'",
    ),
    _validation(
        "size(variables.externalIPs) == 0 || variables.externalIPsAllowed",
        "'spec.externalIPs ' + variables.externalIPs.join(', ') + ' of Service '"
        " + object.metadata.name + ' make nodes take traffic for those addresses, which is not"
        " allowed' + " + _PROFILE + " + ' (spec.exposure.externalIPs of the profile)'",
    ),
    _validation(
        "variables.type != 'LoadBalancer' || size(variables.ranges) == 0"
        " || variables.loadBalancerIP == ''"
        " || (isIP(variables.loadBalancerIP) && variables.ranges.exists(r,"
        " cidr(r).containsIP(ip(variables.loadBalancerIP))))",
        "'spec.loadBalancerIP ' + variables.loadBalancerIP + ' of Service '"
        " + object.metadata.name + ' is outside the addresses allowed' + "
        + _PROFILE
        + " + ': ' + variables.ranges.join(', ') + ' (spec.exposure.loadBalancerIPRanges of"
        " the profile)'",
    ),
]


def exposure_policies(operator_username: str) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy that keeps tenants' Services inside the cluster as
    far as their profile says; it does nothing until bindings from
    :func:`exposure_bindings` hand it a profile."""
    return [
        profile_policy(
            SERVICES,
            [resource_rule("", ["services"], ["CREATE", "UPDATE"])],
            written_conditions(operator_username, "exposure-written", _CHANGED),
            [
                {"name": "type", "expression": _FIELDS[0]},
                {"name": "externalIPs", "expression": _FIELDS[1]},
                {"name": "loadBalancerIP", "expression": _FIELDS[2]},
                {
                    "name": "loadBalancer",
                    "expression": f"{_EXPOSURE}.?loadBalancer.orValue(false)",
                },
                {"name": "nodePort", "expression": f"{_EXPOSURE}.?nodePort.orValue(false)"},
                {
                    "name": "externalIPsAllowed",
                    "expression": f"{_EXPOSURE}.?externalIPs.orValue(false)",
                },
                {
                    "name": "ranges",
                    "expression": f"{_EXPOSURE}.?loadBalancerIPRanges.orValue([])",
                },
            ],
            _VALIDATIONS,
        )
    ]


def exposure_bindings(
    profile_name: str, spec: SovereigntyProfileSpec | None
) -> list[dict[str, Any]]:
    """The binding of the exposure policy for one profile; with ``spec`` None, only its
    kind and name (enough to delete it)."""
    return namespace_bindings(POLICY_NAMES, profile_name, spec)
