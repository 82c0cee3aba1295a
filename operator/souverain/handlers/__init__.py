"""The kopf handlers of the operator. Importing this package registers them."""

from souverain.handlers import indices, lifecycle, namespace, profile, volume

__all__ = ["indices", "lifecycle", "namespace", "profile", "volume"]
