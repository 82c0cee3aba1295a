"""Image registries of a SovereigntyProfile: where tenants' code may come from."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from souverain.api.markers import Rule, set_list, validated
from souverain.api.resource import SpecModel

_HOST_PART = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_PATH_PART = "[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*"
REGISTRY_PATTERN = (
    f"^(({_HOST_PART}([.]{_HOST_PART})+|localhost)(:[0-9]{{1,5}})?|{_HOST_PART}:[0-9]{{1,5}})"
    f"(/{_PATH_PART})*$"
)
# A host that image references can name (it has a dot or a port, or is localhost), in
# lower case, an optional port, and optional path segments of the reference grammar.
Registry = Annotated[str, Field(min_length=1, max_length=255, pattern=REGISTRY_PATTERN)]


class Images(SpecModel):
    """Where the images of tenants' containers may come from."""

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "!has(self.allowedRegistries) || !self.allowedRegistries.exists(r,"
                " r == 'index.docker.io' || r.startsWith('index.docker.io/'))",
                "write docker.io rather than index.docker.io: image references are"
                " compared after index.docker.io becomes docker.io",
                field_path=".allowedRegistries",
            )
        )
    )

    allowed_registries: list[Registry] = Field(
        default_factory=list, max_length=64, json_schema_extra=set_list()
    )
    """Registries pods may pull from, each a host in lower case with an optional port and
    an optional path prefix, such as registry.fr.example, registry.fr.example:5000 or
    registry.fr.example/team-a. References are read as the container runtime reads them:
    a name without a registry is on docker.io (nginx is docker.io/library/nginx), tags
    and digests do not count, hosts compare in lower case. A prefix matches whole path
    segments; a host without a port matches only references without a port, so list
    each port used. Empty or absent: images are not restricted (any registry)."""
