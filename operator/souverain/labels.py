"""Labels and annotations the operator puts on the objects it manages.

Keys under ``souverain.io/`` are the operator's; tenants cannot set them through a
SovereignNamespace, and the admission policies keep tenants from editing them.
"""

from __future__ import annotations

from typing import Final

from souverain import API_GROUP

PROFILE: Final = f"{API_GROUP}/profile"
"""On a Namespace: the SovereigntyProfile it is bound to. Admission policies select on it."""

SOVEREIGN_NAMESPACE: Final = f"{API_GROUP}/sovereign-namespace"
"""On every object the operator manages for a SovereignNamespace: that object's name."""

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "souverain"

PART_OF: Final = "app.kubernetes.io/part-of"

RESIDENT_VOLUME: Final = f"{API_GROUP}/resident-volume"
"""On a PersistentVolumeClaim: the ResidentVolume it was made for (kept when retained)."""

RETAINED: Final = f"{API_GROUP}/retained"
"""On an object left in place when its owner was deleted with a Retain policy."""

POD_SECURITY_PREFIX: Final = "pod-security.kubernetes.io/"
"""The labels the API server's PodSecurity admission reads on a Namespace."""

POD_SECURITY_ENFORCE: Final = f"{POD_SECURITY_PREFIX}enforce"
POD_SECURITY_ENFORCE_VERSION: Final = f"{POD_SECURITY_PREFIX}enforce-version"
POD_SECURITY_WARN: Final = f"{POD_SECURITY_PREFIX}warn"
POD_SECURITY_WARN_VERSION: Final = f"{POD_SECURITY_PREFIX}warn-version"


def pod_security_labels(level: str, version: str) -> dict[str, str]:
    """The Namespace labels that make the API server enforce ``level`` of the Pod Security
    Standards at ``version``, and warn about workloads whose pods it would refuse."""
    return {
        POD_SECURITY_ENFORCE: level,
        POD_SECURITY_ENFORCE_VERSION: version,
        POD_SECURITY_WARN: level,
        POD_SECURITY_WARN_VERSION: version,
    }


def managed_labels(sovereign_namespace: str) -> dict[str, str]:
    """The labels every object managed for ``sovereign_namespace`` carries."""
    return {
        MANAGED_BY: MANAGED_BY_VALUE,
        SOVEREIGN_NAMESPACE: sovereign_namespace,
    }
