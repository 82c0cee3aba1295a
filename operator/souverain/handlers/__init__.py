"""The kopf handlers of the operator. Importing this package registers them."""

from souverain.handlers import lifecycle

__all__ = ["lifecycle"]
