"""Kubernetes names, label keys and label values as constrained strings.

The patterns avoid backslashes (``[.]`` rather than ``\\.``) so that they read the
same in Python, in the OpenAPI schema and inside CEL string literals.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from souverain import API_GROUP
from souverain.api.markers import Rule, validated

DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# An optional DNS-subdomain prefix and a slash, then a name of at most 63 characters.
QUALIFIED_NAME_PATTERN = (
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# A DNS name, optionally starting with a "*." wildcard that matches one or more labels.
FQDN_PATTERN = (
    "^([*][.])?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?[.])*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
)

MAX_PREFIX_LENGTH = 253
MAX_QUALIFIED_NAME_LENGTH = MAX_PREFIX_LENGTH + 1 + 63

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server sets on every Namespace to its name, whatever else is asked."""

RESERVED_DOMAIN = API_GROUP
"""Label and annotation keys prefixed with this domain, or a subdomain of it, are the operator's."""


def qualified_name_cel(variable: str) -> str:
    """A CEL expression that holds when ``variable`` is a valid label or annotation key."""
    return (
        f"{variable}.matches('{QUALIFIED_NAME_PATTERN}')"
        f" && {variable}.indexOf('/') <= {MAX_PREFIX_LENGTH}"
    )


def unreserved_cel(variable: str) -> str:
    """A CEL expression that holds when the key ``variable`` is not the operator's."""
    return (
        f"!{variable}.startsWith('{RESERVED_DOMAIN}/')"
        f" && !{variable}.contains('.{RESERVED_DOMAIN}/')"
    )


def _short_prefix(key: str) -> str:
    prefix, slash, _ = key.rpartition("/")
    if slash and len(prefix) > MAX_PREFIX_LENGTH:
        raise ValueError(f"the prefix of a key must be at most {MAX_PREFIX_LENGTH} characters")
    return key


def is_reserved(key: str) -> bool:
    """Whether a label or annotation key belongs to the operator."""
    prefix, slash, _ = key.rpartition("/")
    return bool(slash) and (prefix == RESERVED_DOMAIN or prefix.endswith("." + RESERVED_DOMAIN))


DNSLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
"""A DNS label (RFC 1123): the name of a namespace."""

DNSSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
"""A DNS subdomain (RFC 1123): the name of most cluster objects."""

QualifiedName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_QUALIFIED_NAME_LENGTH,
        pattern=QUALIFIED_NAME_PATTERN,
        json_schema_extra=validated(
            Rule(
                f"self.indexOf('/') <= {MAX_PREFIX_LENGTH}",
                f"the prefix of a key must be at most {MAX_PREFIX_LENGTH} characters",
            )
        ),
    ),
    AfterValidator(_short_prefix),
]
"""A label or annotation key: an optional DNS-subdomain prefix and ``/``, then a name."""

LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]
"""A label value: at most 63 alphanumerics, ``-``, ``_`` or ``.``, starting and ending
alphanumeric; may be empty."""

TopologyValue = Annotated[str, Field(min_length=1, max_length=63, pattern=LABEL_VALUE_PATTERN)]
"""A non-empty label value, such as a region or a zone."""

AnnotationValue = Annotated[str, Field(max_length=4096)]
"""An annotation value; 32 of them at most fit within the 256 KiB the API server allows
for all of an object's annotations."""

FQDN = Annotated[str, Field(min_length=1, max_length=253, pattern=FQDN_PATTERN)]
"""A fully qualified domain name, possibly with a leading ``*.`` wildcard."""
