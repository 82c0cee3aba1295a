"""The kopf handlers of the operator. Importing this package registers them."""

from souverain.handlers import (
    bootstrap,
    indices,
    lifecycle,
    namespace,
    placement,
    profile,
    volume,
)

__all__ = ["bootstrap", "indices", "lifecycle", "namespace", "placement", "profile", "volume"]
