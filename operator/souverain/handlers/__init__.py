"""The kopf handlers of the operator. Importing this package registers them."""

from souverain.handlers import indices, lifecycle, namespace, placement, profile, volume

__all__ = ["indices", "lifecycle", "namespace", "placement", "profile", "volume"]
