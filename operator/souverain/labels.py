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


def managed_labels(sovereign_namespace: str) -> dict[str, str]:
    """The labels every object managed for ``sovereign_namespace`` carries."""
    return {
        MANAGED_BY: MANAGED_BY_VALUE,
        SOVEREIGN_NAMESPACE: sovereign_namespace,
    }
