"""What the operator made stays as it made it, in the API server.

NetworkPolicies are additive: the egress floor is undone by deleting or weakening the
operator's deny-all policy, not only by adding a wide one. Three static
ValidatingAdmissionPolicies keep the operator's objects in bound namespaces as the
operator wrote them, with the operator stopped too:

- :data:`MANAGED_OBJECTS` refuses UPDATE and DELETE of the NetworkPolicies, the owners'
  RoleBinding and the CiliumNetworkPolicy the operator keeps for a SovereignNamespace
  (those labelled ``souverain.io/sovereign-namespace``), and CREATE of an object carrying
  that label, which would make the operator take it for its own;
- :data:`RESIDENT_CLAIMS` refuses DELETE of the claims the operator made for
  ResidentVolumes, and UPDATEs that change their ``souverain.io/`` labels or owner
  references, which tie them to their ResidentVolume (resizes and the annotations of
  the volume controllers stay possible);
- :data:`NAMESPACE_LABELS` refuses changes to the ``souverain.io/`` labels of a bound
  Namespace, which every other policy selects namespaces by, and to its
  ``pod-security.kubernetes.io/`` labels, which set the Pod Security level the API
  server holds its pods to.

Requests of the operator, of cluster administrators (``system:masters``) and of the
controllers that delete a namespace's content and collect garbage pass, and so do
deletions in a namespace that is being deleted: namespace deletion, garbage collection
and the operator's own Retain clean-up are never blocked. One binding per profile and
policy selects the profile's namespaces; it refuses in Enforce mode and warns and audits
in Audit mode.
"""

from __future__ import annotations

from typing import Any, Final

from souverain.admission.policy import (
    binding_stubs,
    bound_match,
    cel_string,
    cel_strings,
    label_exists,
    profile_binding,
    resource_rule,
    trusted_conditions,
    validating_admission_policy,
)
from souverain.api import SovereigntyProfileSpec
from souverain.api.names import RESERVED_DOMAIN
from souverain.labels import POD_SECURITY_PREFIX, PROFILE, RESIDENT_VOLUME, SOVEREIGN_NAMESPACE

MANAGED_OBJECTS: Final = "souverain-managed-objects"
RESIDENT_CLAIMS: Final = "souverain-resident-claims"
NAMESPACE_LABELS: Final = "souverain-namespace-labels"
POLICY_NAMES: Final = (MANAGED_OBJECTS, RESIDENT_CLAIMS, NAMESPACE_LABELS)

CLUSTER_CONTROLLERS: Final = (
    # The controller-manager under one identity, or one service account per controller.
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:namespace-controller",
    "system:serviceaccount:kube-system:generic-garbage-collector",
)
"""Controllers that delete a namespace's content and collect garbage: they pass."""

_RESERVED_PREFIX: Final = f"{RESERVED_DOMAIN}/"

_TERMINATING: Final = "has(namespaceObject.metadata.deletionTimestamp)"
_WHO_MAY: Final = "only the operator ({operator}) and cluster administrators may"


def _reserved_labels_kept(
    new: str, old: str, prefixes: tuple[str, ...] = (_RESERVED_PREFIX,)
) -> str:
    """CEL: the labels of ``new`` under ``prefixes`` are those of ``old``, with the same
    values."""
    new_labels = f"{new}.metadata.?labels.orValue({{}})"
    old_labels = f"{old}.metadata.?labels.orValue({{}})"
    kept = " || ".join(f"k.startsWith({cel_string(prefix)})" for prefix in prefixes)
    return (
        f"{old_labels}.all(k, !({kept})"
        f" || (k in {new_labels} && {new_labels}[k] == {old_labels}[k]))"
        f" && {new_labels}.all(k, !({kept}) || k in {old_labels})"
    )


def _who_may(operator_username: str) -> str:
    return cel_string(_WHO_MAY.format(operator=operator_username))


def _conditions(operator_username: str) -> list[dict[str, str]]:
    return [
        *trusted_conditions(operator_username),
        {
            "name": "not-a-cluster-controller",
            "expression": f"!(request.userInfo.username in {cel_strings(CLUSTER_CONTROLLERS)})",
        },
    ]


def _managed_objects(operator_username: str) -> dict[str, Any]:
    operations = ["CREATE", "UPDATE", "DELETE"]
    who = _who_may(operator_username)
    label = cel_string(SOVEREIGN_NAMESPACE)
    return {
        # Matches when the object before or after the request carries the label.
        "matchConstraints": bound_match(
            [
                resource_rule("networking.k8s.io", ["networkpolicies"], operations),
                resource_rule("rbac.authorization.k8s.io", ["rolebindings"], operations),
                resource_rule("cilium.io", ["ciliumnetworkpolicies"], operations, "v2"),
            ],
            label_exists(SOVEREIGN_NAMESPACE),
        ),
        "variables": [
            {
                "name": "kept",
                "expression": "request.operation == 'CREATE' ? object : oldObject",
            },
            {
                "name": "owner",
                "expression": f"variables.kept.metadata.?labels[{label}].orValue('')",
            },
        ],
        "validations": [
            {
                "expression": f"request.operation == 'DELETE' && {_TERMINATING}",
                "messageExpression": (
                    "request.operation == 'CREATE'"
                    f" ? 'metadata.labels ' + {label} + ' marks the objects souverain keeps"
                    " for a SovereignNamespace; ' + " + who + " + ' set it: remove the label'"
                    " : request.kind.kind + ' ' + request.name + ' is kept by souverain for"
                    " SovereignNamespace ' + variables.owner + '; ' + " + who + " + ' '"
                    " + (request.operation == 'DELETE' ? 'delete' : 'change') + ' it: change"
                    " SovereignNamespace ' + variables.owner + ' or its SovereigntyProfile"
                    " instead'"
                ),
                "reason": "Forbidden",
            }
        ],
    }


def _resident_claims(operator_username: str) -> dict[str, Any]:
    who = _who_may(operator_username)
    label = cel_string(RESIDENT_VOLUME)
    kept = (
        f"({_reserved_labels_kept('object', 'oldObject')})"
        " && object.metadata.?ownerReferences.orValue([])"
        " == oldObject.metadata.?ownerReferences.orValue([])"
    )
    return {
        "matchConstraints": bound_match(
            [resource_rule("", ["persistentvolumeclaims"], ["UPDATE", "DELETE"])],
            label_exists(RESIDENT_VOLUME),
        ),
        "variables": [
            {"name": "owner", "expression": f"oldObject.metadata.?labels[{label}].orValue('')"},
        ],
        "validations": [
            {
                "expression": f"request.operation == 'DELETE' ? {_TERMINATING} : {kept}",
                "messageExpression": (
                    "'PersistentVolumeClaim ' + request.name + ' is kept by souverain for"
                    " ResidentVolume ' + variables.owner + '; ' + " + who + " + '"
                    " ' + (request.operation == 'DELETE' ? 'delete it' : 'change its"
                    " souverain.io/ labels or owner references') + ': change or delete"
                    " ResidentVolume ' + variables.owner + ' instead'"
                ),
                "reason": "Forbidden",
            }
        ],
    }


def _namespace_labels(operator_username: str) -> dict[str, Any]:
    who = _who_may(operator_username)
    return {
        # Not bound_match: for a Namespace the API server reads a namespace selector on
        # the object as written, so one that removes the label would not be matched. The
        # object selector matches the Namespace before or after the change; the policy
        # has no parameter, so nothing can fail to configure it.
        "matchConstraints": {
            "resourceRules": [resource_rule("", ["namespaces"], ["UPDATE"])],
            "matchPolicy": "Equivalent",
            "objectSelector": label_exists(PROFILE),
        },
        "validations": [
            {
                "expression": _reserved_labels_kept("object", "oldObject"),
                "messageExpression": (
                    "'metadata.labels under souverain.io/ of Namespace ' + request.name"
                    " + ' bind it to SovereigntyProfile '"
                    f" + oldObject.metadata.?labels[{cel_string(PROFILE)}].orValue('')"
                    " + '; ' + " + who + " + ' change them: change SovereignNamespace '"
                    " + request.name + ' instead'"
                ),
                "reason": "Forbidden",
            },
            {
                "expression": _reserved_labels_kept("object", "oldObject", (POD_SECURITY_PREFIX,)),
                "messageExpression": (
                    "'metadata.labels under pod-security.kubernetes.io/ of Namespace '"
                    " + request.name + ' hold the Pod Security level of SovereigntyProfile '"
                    f" + oldObject.metadata.?labels[{cel_string(PROFILE)}].orValue('')"
                    " + '; ' + " + who + " + ' change them: change spec.podSecurity of the"
                    " profile instead'"
                ),
                "reason": "Forbidden",
            },
        ],
    }


_BUILDERS: Final = {
    MANAGED_OBJECTS: _managed_objects,
    RESIDENT_CLAIMS: _resident_claims,
    NAMESPACE_LABELS: _namespace_labels,
}


def protection_policies(operator_username: str) -> list[dict[str, Any]]:
    """The three ValidatingAdmissionPolicies that keep the operator's objects as it made
    them. They do nothing until bindings from :func:`protection_bindings` select a
    profile's namespaces."""
    return [
        validating_admission_policy(
            name,
            {
                "matchConditions": _conditions(operator_username),
                **_BUILDERS[name](operator_username),
            },
        )
        for name in POLICY_NAMES
    ]


def protection_bindings(profile: str, spec: SovereigntyProfileSpec | None) -> list[dict[str, Any]]:
    """The bindings of the three policies for one profile; with ``spec`` None, only their
    kinds and names (enough to delete them)."""
    if spec is None:
        return binding_stubs(POLICY_NAMES, profile)
    selected = {"matchLabels": {PROFILE: profile}}
    enforced = spec.enforcement.mode == "Enforce"
    return [
        profile_binding(
            policy,
            profile,
            enforced,
            # A Namespace is matched on its own labels, the others on their namespace's.
            {"objectSelector": selected}
            if policy == NAMESPACE_LABELS
            else {"namespaceSelector": selected},
            param=False,
        )
        for policy in POLICY_NAMES
    ]
