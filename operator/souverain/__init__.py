"""souverain: sovereign tenancy for shared Kubernetes clusters."""

__version__ = "0.1.0"

API_GROUP = "souverain.io"
API_VERSION = "v1alpha1"
