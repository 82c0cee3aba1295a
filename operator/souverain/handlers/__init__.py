"""The kopf handlers of souverain's own kinds, and the work the active replica does on
the informers' changes. Importing this package registers the kopf handlers."""

from souverain.handlers import bootstrap, drift, lifecycle, namespace, profile, volume

__all__ = ["bootstrap", "drift", "lifecycle", "namespace", "profile", "volume"]
