"""Snapshots stay resident, in the API server: tenants cannot copy their data to a
snapshot class their profile does not govern, nor restore from a snapshot it does not.

Static ValidatingAdmissionPolicies read the profile handed to them as their parameter:

- :data:`SNAPSHOTS` refuses VolumeSnapshots (``snapshot.storage.k8s.io/v1``, the
  version the CRDs of external-snapshotter v8 serve; another served version would be
  matched as equivalent) that name no
  ``spec.volumeSnapshotClassName`` (the snapshot controller would give them the
  cluster's default class, which could keep them anywhere) or a class not in
  ``storage.allowedSnapshotClasses``, and those that bind a pre-provisioned
  VolumeSnapshotContent through ``spec.source.volumeSnapshotContentName``: its data
  could come from anywhere, so only the operator and cluster administrators may;
- :data:`RESTORES` refuses PersistentVolumeClaims whose ``dataSource`` or
  ``dataSourceRef`` names a VolumeSnapshot of another namespace, or something spelled
  like a snapshot that is not one (:mod:`souverain.admission.restores`);
- :data:`RESTORE_TEMPLATES` applies the same rule to the ``volumeClaimTemplates`` of
  StatefulSets. Generic ephemeral volumes, in pods and in the pod templates of every
  workload kind, are checked by the storage policies' volume check
  (:mod:`souverain.admission.storage`), with the same CEL.

CEL cannot look up the class of the snapshot a claim restores from. The class guarantee
comes from :data:`SNAPSHOTS`: every snapshot made in a bound namespace names an allowed
class, and a claim may restore only from a snapshot of its own namespace. Snapshots
that predate the profile (or a change of its classes) are not refused after the fact:
``souverain report`` lists each one with its class and raises SnapshotClassNotAllowed,
and ``souverain plan`` names those a new or changed profile would not allow. The
restored volume itself is a claim like any other, held to the allowed storage classes.

One binding per profile and policy selects the namespaces labelled with the profile;
it refuses in Enforce mode and warns and audits in Audit mode. Requests of the
operator and of ``system:masters`` are not checked (nor, for claims, those of the
volume controllers), and updates only when they change what is checked, so that the
snapshot controller's finalizers never block a deletion. An empty
``allowedSnapshotClasses`` refuses every VolumeSnapshot.
"""

from __future__ import annotations

from typing import Any, Final

from souverain.admission.policy import (
    WRITES,
    cel_string,
    namespace_bindings,
    profile_policy,
    refusals_validation,
    resource_rule,
    written_conditions,
)
from souverain.admission.restores import SNAPSHOT_GROUP, restore_refusal
from souverain.admission.storage import VOLUME_CONTROLLERS
from souverain.api import SovereigntyProfileSpec

SNAPSHOTS: Final = "souverain-snapshots"
RESTORES: Final = "souverain-snapshot-restores"
RESTORE_TEMPLATES: Final = "souverain-snapshot-restore-templates"
POLICY_NAMES: Final = (SNAPSHOTS, RESTORES, RESTORE_TEMPLATES)

_ALLOWS: Final = (
    "' allowed by SovereigntyProfile ' + params.metadata.name + ', which allows '"
    " + (size(variables.allowed) == 0 ? 'no snapshot class'"
    " : 'only ' + variables.allowed.join(', '))"
)
_NO_CLASS: Final = (
    "a VolumeSnapshot without spec.volumeSnapshotClassName gets the cluster's default"
    " snapshot class, which could keep it anywhere: name one of the classes"
)
_PRE_PROVISIONED: Final = (
    " binds a pre-provisioned VolumeSnapshotContent, whose data could come from anywhere;"
    " only the operator and cluster administrators may: take the snapshot of a claim"
    " with spec.source.persistentVolumeClaimName"
)
_REFUSALS_VALIDATION: Final = refusals_validation(
    "a claim restores from a snapshot its namespace's profile does not govern"
)

_SPECS: Final[dict[str, dict[str, Any]]] = {
    SNAPSHOTS: {
        "rules": [resource_rule(SNAPSHOT_GROUP, ["volumesnapshots"], WRITES)],
        "changed": "object.spec.?volumeSnapshotClassName.orValue('')"
        " != oldObject.spec.?volumeSnapshotClassName.orValue('')"
        " || object.spec.source != oldObject.spec.source",
        "variables": (
            ("allowed", "params.spec.?storage.?allowedSnapshotClasses.orValue([])"),
            ("snapshotClass", "object.spec.?volumeSnapshotClassName.orValue('')"),
        ),
        "validations": [
            {
                "expression": "object.spec.source.?volumeSnapshotContentName.orValue('') == ''",
                "messageExpression": "'spec.source.volumeSnapshotContentName '"
                f" + object.spec.source.volumeSnapshotContentName + {cel_string(_PRE_PROVISIONED)}",
                "reason": "Forbidden",
            },
            {
                "expression": "variables.snapshotClass != ''"
                " && variables.snapshotClass in variables.allowed",
                "message": "this snapshot's class is not allowed by its namespace's profile",
                "messageExpression": (
                    f"variables.snapshotClass == '' ? {cel_string(_NO_CLASS)}"
                    " + ' allowed by SovereigntyProfile ' + params.metadata.name"
                    " + (size(variables.allowed) == 0 ? ' (it allows none)'"
                    " : ' (' + variables.allowed.join(', ') + ')')"
                    " : 'spec.volumeSnapshotClassName ' + variables.snapshotClass"
                    f" + ' is not' + {_ALLOWS}"
                ),
                "reason": "Forbidden",
            },
        ],
    },
    RESTORES: {
        # dataSource and dataSourceRef cannot change once the claim exists.
        "rules": [resource_rule("", ["persistentvolumeclaims"], ["CREATE"])],
        "changed": None,
        "trusted": VOLUME_CONTROLLERS,
        "variables": (
            (
                "refusals",
                f"[{restore_refusal('object.spec', cel_string('spec.'))}].filter(r, r != '')",
            ),
        ),
        "validations": [_REFUSALS_VALIDATION],
    },
    RESTORE_TEMPLATES: {
        "rules": [resource_rule("apps", ["statefulsets"], WRITES)],
        "changed": "object.spec.?volumeClaimTemplates.orValue([])"
        " != oldObject.spec.?volumeClaimTemplates.orValue([])",
        "variables": (
            (
                "refusals",
                "object.spec.?volumeClaimTemplates.orValue([]).transformList(i, t,"
                " has(t.spec) ? "
                + restore_refusal(
                    "t.spec",
                    "'spec.volumeClaimTemplates[' + string(i) + '] '"
                    " + t.?metadata.?name.orValue('') + ': spec.'",
                )
                + " : '').filter(r, r != '')",
            ),
        ),
        "validations": [_REFUSALS_VALIDATION],
    },
}


def snapshot_policies(operator_username: str) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicies that keep tenants' snapshots resident. Requests
    from ``operator_username`` and ``system:masters`` pass; the policies do nothing until
    bindings from :func:`snapshot_bindings` hand them a profile. On a cluster that does
    not serve the snapshot API, the VolumeSnapshot policy matches nothing."""
    return [
        profile_policy(
            name,
            spec["rules"],
            written_conditions(
                operator_username, "snapshot-written", spec["changed"], spec.get("trusted", ())
            ),
            [
                {"name": variable, "expression": expression}
                for variable, expression in spec["variables"]
            ],
            spec["validations"],
        )
        for name, spec in _SPECS.items()
    ]


def snapshot_bindings(
    profile_name: str, spec: SovereigntyProfileSpec | None
) -> list[dict[str, Any]]:
    """The bindings of the snapshot policies for one profile; with ``spec`` None, only
    their kinds and names (enough to delete them)."""
    return namespace_bindings(POLICY_NAMES, profile_name, spec)
