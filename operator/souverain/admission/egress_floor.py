"""The egress floor in the API server: tenants cannot widen their profile's egress.

NetworkPolicies are additive, so a policy a tenant writes could allow what the operator's
floor denies. One static ValidatingAdmissionPolicy, :data:`POLICY_NAME`, refuses in the
namespaces bound to a profile every NetworkPolicy whose egress reaches past the
profile's allow-list; one binding per profile hands that profile to the policy as its
parameter and selects the profile's namespaces. The policy holds with the operator
stopped, and a profile edit takes effect without regenerating anything.

A rule is inside the floor when each of its destinations is:

- pods of the same namespace (a peer with only a podSelector);
- namespaces of the same profile (a namespaceSelector that requires
  ``souverain.io/profile`` to be the profile, in matchLabels or as an ``In`` expression
  listing only the profile), or the policy's own namespace (one that requires
  ``kubernetes.io/metadata.name`` to be its name); anything else can reach other
  namespaces;
- the cluster DNS as the operator's own policy reaches it (pods labelled
  ``k8s-app=kube-dns`` of ``kube-system``), on port 53 over UDP or TCP only, when the
  profile allows DNS;
- an ipBlock inside one of the profile's networks that also excludes the blocks the
  profile excludes, in a rule whose ports all lie within that network's ports when it
  lists some (a rule without ports, or with a named port, allows more).

A rule with no destination at all allows every destination. Egress rules of a policy
whose ``policyTypes`` leave out ``Egress`` are ignored by network plugins, and so here.
``except`` never makes a block that is too wide acceptable, and a block must fit inside
one network of the allow-list, not a union of several. Requests of the operator (its
username) and of cluster administrators (``system:masters``) are not checked, and
neither are updates that leave ``spec`` unchanged, so that metadata stays editable on
the tenants' own policies (the operator's are kept whole by
:mod:`souverain.admission.protection`).

A refusal names the first field to change and what the profile allows. The CEL is
evaluated within the API server's cost limit per expression: with a few networks in
the profile that is thousands of destinations per NetworkPolicy, and about a hundred
with the largest profile the CRD accepts; a NetworkPolicy too large to check is refused.
It uses two-variable comprehensions (``transformList``), which kube-apiserver accepts in
new expressions from Kubernetes 1.33.
"""

from __future__ import annotations

from typing import Any, Final

from souverain import API_GROUP, API_VERSION
from souverain.admission.policy import (
    binding_name,
    bound_match,
    echoing_generation,
    policy_labels,
    profile_binding,
    profile_namespaces,
    resource_rule,
    trusted_conditions,
)
from souverain.admission.policy import cel_string as _cel_string
from souverain.api import SovereigntyProfileSpec
from souverain.labels import PROFILE

POLICY_NAME: Final = "souverain-egress-floor"
"""Name of the ValidatingAdmissionPolicy; bindings are named after it and their profile."""


# Variables of the comprehensions below: `rule` an egress rule, `peer` one of its
# destinations, `allowed` a network of the profile, `port` a port of the rule and
# `allowedPort` one of the network's, `excluded` a block the profile excludes and
# `kept` one the tenant excludes; `i` and `j` index rules and destinations.


_RULE_PATH: Final = "'spec.egress[' + string(i) + ']'"
_PEER_PATH: Final = f"{_RULE_PATH} + '.to[' + string(j) + ']'"


def _profile_text(text: str) -> str:
    """CEL for ``text`` with ``{profile}`` standing for the profile's name."""
    before, _, after = text.partition("{profile}")
    return f"{_cel_string(before)} + variables.profile + {_cel_string(after)}"


_NAME_LABEL: Final = "kubernetes.io/metadata.name"


def _selector_pins(key: str, value: str, selector: str = "peer.namespaceSelector") -> str:
    """CEL: the peer's ``selector`` requires label ``key`` to be ``value`` (a CEL
    expression), whether it says so in matchLabels or in an In expression."""
    return (
        f"(has({selector}.matchLabels) && {_cel_string(key)}"
        f" in {selector}.matchLabels"
        f" && {selector}.matchLabels[{_cel_string(key)}] == {value})"
        f" || {selector}.?matchExpressions.orValue([]).exists(e,"
        f" e.key == {_cel_string(key)} && e.operator == 'In' && e.values.all(v, v == {value}))"
    )


# Namespaces of the profile, or the policy's own namespace by the name label the API
# server keeps on every namespace: any further requirement only selects fewer of them.
_PINNED: Final = (
    f"{_selector_pins(PROFILE, 'variables.profile')}"
    f" || {_selector_pins(_NAME_LABEL, 'request.namespace')}"
)

# The cluster DNS, as the operator's own policy reaches it, when the profile allows DNS:
# kube-dns pods of kube-system, on port 53 only.
_CLUSTER_DNS: Final = (
    "params.spec.?egress.?allowDNS.orValue(true)"
    f" && ({_selector_pins(_NAME_LABEL, _cel_string('kube-system'))})"
    " && has(peer.podSelector)"
    f" && ({_selector_pins('k8s-app', _cel_string('kube-dns'), 'peer.podSelector')})"
    " && has(rule.ports) && size(rule.ports) > 0 && rule.ports.all(port,"
    " has(port.port) && type(port.port) == int && port.port == 53"
    " && (!has(port.endPort) || port.endPort == 53)"
    " && (has(port.protocol) ? port.protocol : 'TCP') in ['UDP', 'TCP'])"
)

_CONTAINING: Final = "cidr(allowed.cidr).containsCIDR(peer.ipBlock.cidr)"
_EXCLUSION_LOST: Final = (
    "(cidr(peer.ipBlock.cidr).containsCIDR(excluded)"
    " || cidr(excluded).containsCIDR(peer.ipBlock.cidr))"
    " && !(has(peer.ipBlock.except)"
    " && peer.ipBlock.except.exists(kept, isCIDR(kept) && cidr(kept).containsCIDR(excluded)))"
)
_EXCLUSIONS_KEPT: Final = (
    f"!has(allowed.except) || !allowed.except.exists(excluded, {_EXCLUSION_LOST})"
)
_PORT_WITHIN: Final = (
    "has(port.port) && type(port.port) == int"
    " && allowed.ports.exists(allowedPort,"
    " allowedPort.protocol == (has(port.protocol) ? port.protocol : 'TCP')"
    " && allowedPort.port <= port.port"
    " && (has(port.endPort) ? port.endPort : port.port)"
    " <= (has(allowedPort.endPort) ? allowedPort.endPort : allowedPort.port))"
)
_PORTS_WITHIN: Final = (
    "!has(allowed.ports) || size(allowed.ports) == 0"
    " || (has(rule.ports) && size(rule.ports) > 0"
    f" && rule.ports.all(port, {_PORT_WITHIN}))"
)
_FITS: Final = f"{_CONTAINING} && ({_EXCLUSIONS_KEPT}) && ({_PORTS_WITHIN})"

_NETWORK_TEXT: Final = (
    "allowed.cidr"
    " + (has(allowed.except) && size(allowed.except) > 0"
    " ? ' except ' + allowed.except.join(', ') : '')"
    " + (has(allowed.ports) && size(allowed.ports) > 0"
    " ? ' on ' + allowed.ports.map(allowedPort, string(allowedPort.port)"
    " + (has(allowedPort.endPort) ? '-' + string(allowedPort.endPort) : '')"
    " + '/' + allowedPort.protocol).join(', ')"
    " : '')"
)

# What is wrong with the destination `peer` of the rule `rule`, or '' when it is inside
# the floor. The checks run in order of cost; the texts are built only for refusals.
_IP_BLOCK_REFUSAL: Final = (
    f"isCIDR(peer.ipBlock.cidr) && variables.allowed.exists(allowed, {_FITS}) ? ''"
    f" : !isCIDR(peer.ipBlock.cidr) || !variables.allowed.exists(allowed, {_CONTAINING})"
    f" ? {_PEER_PATH} + '.ipBlock.cidr ' + peer.ipBlock.cidr + ' is outside '"
    " + variables.allowList + '; use a block inside one of those networks'"
    f" : variables.allowed.exists(allowed, {_CONTAINING} && ({_PORTS_WITHIN}))"
    f" ? variables.allowed.filter(allowed, {_CONTAINING} && ({_PORTS_WITHIN}))"
    f".map(allowed, {_PEER_PATH} + '.ipBlock reaches '"
    f" + allowed.except.filter(excluded, {_EXCLUSION_LOST}).join(', ')"
    f" + {_profile_text(', which SovereigntyProfile {profile} excludes from ')}"
    " + allowed.cidr + '; list it in ipBlock.except or use a block outside it')[0]"
    f" : {_RULE_PATH} + '.ports'"
    " + (has(rule.ports) && size(rule.ports) > 0"
    " ? ' allows ports outside those' : ' is empty, which allows every port, beyond those')"
    f" + {_profile_text(' SovereigntyProfile {profile} allows to ')} + peer.ipBlock.cidr"
    f" + ' (' + variables.allowed.filter(allowed, {_CONTAINING}).map(allowed, {_NETWORK_TEXT})"
    ".join('; ') + '); list port numbers within them'"
)
_OTHER_NAMESPACES: Final = (
    ".namespaceSelector can select namespaces outside SovereigntyProfile {profile};"
    f" add to its matchLabels {PROFILE}: "
)
_PEER_REFUSAL: Final = (
    f"has(peer.ipBlock) ? ({_IP_BLOCK_REFUSAL})"
    f" : has(peer.namespaceSelector) && !({_PINNED}) && !({_CLUSTER_DNS})"
    f" ? {_PEER_PATH} + {_profile_text(_OTHER_NAMESPACES)} + variables.profile"
    " : ''"
)
_RULE_REFUSALS: Final = (
    "!has(rule.to) || size(rule.to) == 0"
    f" ? [{_RULE_PATH} + '.to is empty, which allows every destination;"
    " list destinations inside ' + variables.allowList]"
    f" : rule.to.transformList(j, peer, {_PEER_REFUSAL}).filter(refusal, refusal != '')"
)

_VARIABLES: Final = (
    ("profile", "params.metadata.name"),
    ("allowed", "params.spec.?egress.?cidrs.orValue([])"),
    # Egress rules count only in a policy of type Egress; the API server fills in
    # policyTypes before admission, so an update that adds the type is checked.
    (
        "egress",
        "'Egress' in object.spec.?policyTypes.orValue(['Egress'])"
        " ? object.spec.?egress.orValue([]) : []",
    ),
    (
        "allowList",
        _profile_text("the egress allow-list of SovereigntyProfile {profile} (allowed: ")
        + " + (size(variables.allowed) == 0 ? 'nothing'"
        f" : variables.allowed.map(allowed, {_NETWORK_TEXT}).join('; ')) + ')'",
    ),
    # One list of refusals per egress rule; all empty when the policy is inside the floor.
    ("refusals", f"variables.egress.transformList(i, rule, {_RULE_REFUSALS})"),
)

_VALIDATION: Final = {
    "expression": "variables.refusals.all(refused, size(refused) == 0)",
    "message": (
        "this NetworkPolicy allows egress outside the allow-list of its namespace's"
        " SovereigntyProfile"
    ),
    "messageExpression": (
        "variables.refusals.filter(refused, size(refused) > 0)[0][0]"
        " + (variables.refusals.map(refused, size(refused)).sum() > 1"
        " ? ' (and ' + string(variables.refusals.map(refused, size(refused)).sum() - 1)"
        " + ' more)' : '')"
    ),
    "reason": "Forbidden",
}


def egress_floor_policy(operator_username: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy that refuses NetworkPolicies widening a profile's egress.

    Requests from ``operator_username`` (the operator's own, such as
    ``system:serviceaccount:souverain-system:souverain``) pass, as do those of
    ``system:masters``. The policy does nothing until a binding from
    :func:`egress_floor_binding` hands it a profile.
    """
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "labels": policy_labels(),
        },
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "SovereigntyProfile"},
            # A listed version (not "*") lets the API server type-check the CEL;
            # Equivalent still matches NetworkPolicies written through other versions.
            "matchConstraints": bound_match(
                [resource_rule("networking.k8s.io", ["networkpolicies"], ["CREATE", "UPDATE"])]
            ),
            "matchConditions": [
                *trusted_conditions(operator_username),
                {
                    "name": "spec-written",
                    "expression": "request.operation != 'UPDATE' || object.spec != oldObject.spec",
                },
            ],
            "variables": [
                {"name": name, "expression": expression} for name, expression in _VARIABLES
            ],
            "validations": [echoing_generation(_VALIDATION)],
        },
    }


def egress_floor_binding_name(profile_name: str) -> str:
    """The name of the binding for ``profile_name``: readable, unique per profile, and a
    valid object name for any profile name (long ones are cut and end with a hash)."""
    return binding_name(POLICY_NAME, profile_name)


def egress_floor_binding(profile_name: str, spec: SovereigntyProfileSpec) -> dict[str, Any]:
    """The binding that applies the egress floor of the profile ``profile_name`` to the
    namespaces labelled with it: it refuses in Enforce mode, and warns and audits in Audit.

    The profile is the policy's parameter: when it is missing, the policy refuses every
    NetworkPolicy write in those namespaces rather than letting them through.
    """
    return profile_binding(
        POLICY_NAME,
        profile_name,
        spec.enforcement.mode == "Enforce",
        profile_namespaces(profile_name),
    )
