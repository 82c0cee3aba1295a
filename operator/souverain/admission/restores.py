"""The CEL that checks where a claim restores its data from: claims, StatefulSet claim
templates and generic ephemeral volumes share it (:mod:`souverain.admission.snapshots`,
:mod:`souverain.admission.storage`).

A claim restores from a snapshot when ``spec.dataSource`` or ``spec.dataSourceRef``
names apiGroup ``snapshot.storage.k8s.io`` and kind ``VolumeSnapshot``, spelled exactly
so: the API server and the CSI provisioner compare both case-sensitively. The snapshot
must be in the claim's own namespace (``dataSourceRef.namespace`` absent or equal),
where the snapshot policy holds every VolumeSnapshot to the profile's classes. A source
that looks like a snapshot but is spelled otherwise (another case, a kind of the same
group such as VolumeSnapshotContent) is refused too: no provisioner restores it as a
snapshot, and a populator could read it as anything.
"""

from __future__ import annotations

from typing import Final

from souverain.admission.policy import cel_string

SNAPSHOT_GROUP: Final = "snapshot.storage.k8s.io"
SNAPSHOT_KIND: Final = "VolumeSnapshot"

_LOOKALIKE: Final = (
    " is not a VolumeSnapshot as the API names one: a claim restores from a snapshot only"
    f" through apiGroup {SNAPSHOT_GROUP} and kind {SNAPSHOT_KIND}, spelled so"
)
_OTHER_NAMESPACE: Final = (
    " names a VolumeSnapshot of another namespace: a claim may restore only from a"
    " snapshot of its own namespace, whose class its profile allows; remove the namespace"
)


def _group(ref: str) -> str:
    """The reference's apiGroup, '' for the core group: the API writes a missing one as
    null in claims (the field has no omitempty)."""
    group = f"{ref}.?apiGroup.orValue('')"
    return f"({group} == null ? '' : {group})"


def _is_snapshot(ref: str) -> str:
    return (
        f"{_group(ref)} == {cel_string(SNAPSHOT_GROUP)}"
        f" && {ref}.kind == {cel_string(SNAPSHOT_KIND)}"
    )


def _looks_like_snapshot(ref: str) -> str:
    return (
        f"({_group(ref)}.lowerAscii().startsWith({cel_string(SNAPSHOT_GROUP)})"
        f" || {ref}.kind.lowerAscii().startsWith({cel_string(SNAPSHOT_KIND.lower())}))"
        f" && !({_is_snapshot(ref)})"
    )


def restore_refusal(spec: str, path: str) -> str:
    """CEL: why the claim spec ``spec`` may not restore from what it names, or ''.
    ``path`` is a CEL string expression, the field path of ``spec`` for people, ending
    with a dot (or empty)."""
    clauses = []
    for field in ("dataSource", "dataSourceRef"):
        ref = f"{spec}.{field}"
        clauses.append(
            f"{spec}.?{field}.hasValue() && {_looks_like_snapshot(ref)}"
            f" ? {path} + {cel_string(field + ' names kind ')} + {ref}.kind"
            f" + ' of apiGroup ' + {_group(ref)} + {cel_string(_LOOKALIKE)}"
        )
    ref = f"{spec}.dataSourceRef"
    clauses.append(
        f"{spec}.?dataSourceRef.hasValue() && {_is_snapshot(ref)}"
        f" && {ref}.?namespace.orValue('') != '' && {ref}.namespace != request.namespace"
        f" ? {path} + 'dataSourceRef.namespace ' + {ref}.namespace + {cel_string(_OTHER_NAMESPACE)}"
    )
    return "(" + " : ".join(clauses) + " : '')"
