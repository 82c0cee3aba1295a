"""Which registry an image comes from, read apart from the admission policy's CEL.

The report lists each namespace's images with this module, and the property test asks
it, for many generated references, whether the API server's answer is the right one;
it is written independently of :mod:`souverain.admission.images` so that each checks
the other. The reading is the container runtime's (distribution's
``ParseNormalizedNamed``), taken apart step by step rather than by one expression:

1. the digest follows the first ``@``, the tag the last ``:`` of what is left when no
   ``/`` follows it;
2. the first ``/``-separated segment names the registry when it has a dot or a colon,
   is ``localhost`` or has upper case; otherwise the image is on Docker Hub;
3. the registry is lower-cased, ``index.docker.io`` becomes ``docker.io``, and a Docker
   Hub name of one segment is under ``library``.

An allowed entry is a registry and path segments; a repository matches when its
registry is the entry's (port included) and its segments begin with the entry's.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
LEGACY_DOCKER_HUB = "index.docker.io"
ANY_REGISTRY = "any registry"

_ALPHANUMERIC = set(string.ascii_lowercase + string.digits)
_HEX = set(string.hexdigits)
_TAG_FIRST = set(string.ascii_letters + string.digits + "_")
_TAG_REST = _TAG_FIRST | {".", "-"}
_ALGORITHM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*\Z")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\Z")


@dataclass(frozen=True)
class Image:
    """A reference as the runtime reads it."""

    registry: str
    """Host and port, in lower case."""
    path: tuple[str, ...]
    """The repository's path segments."""

    @property
    def repository(self) -> str:
        return "/".join((self.registry, *self.path))


def _path_segment(segment: str) -> bool:
    """alpha-numeric, then separators (one '.', one or two '_', any '-') and alpha-numerics."""
    if not segment or segment[0] not in _ALPHANUMERIC or segment[-1] not in _ALPHANUMERIC:
        return False
    run = ""
    for char in segment:
        if char in _ALPHANUMERIC:
            if run and run not in (".", "_", "__") and set(run) != {"-"}:
                return False
            run = ""
        elif char in "._-":
            run += char
        else:
            return False
    return True


def _registry(text: str) -> bool:
    host, colon, port = text.partition(":")
    if colon and not (port and port.isdigit() and port.isascii()):
        return False
    return all(_HOST_LABEL.match(label) for label in host.split("."))


def _tag(tag: str) -> bool:
    return 0 < len(tag) <= 128 and tag[0] in _TAG_FIRST and set(tag[1:]) <= _TAG_REST


def _digest(digest: str) -> bool:
    algorithm, colon, encoded = digest.partition(":")
    return (
        bool(colon and _ALGORITHM.match(algorithm)) and len(encoded) >= 32 and set(encoded) <= _HEX
    )


def read(reference: str) -> Image | None:
    """The registry and repository ``reference`` names, or None when it cannot be read
    (outside the reference grammar, or a bare ``name:<hex>`` the runtime may take for
    the ID of an image already on the node)."""
    name, at, digest = reference.partition("@")
    if at and not _digest(digest):
        return None
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _tag(tag):
            return None
    segments = name.split("/")
    first = segments[0]
    if len(segments) > 1 and (
        "." in first or ":" in first or first == "localhost" or first.lower() != first
    ):
        if not _registry(first):
            return None
        registry, path = first.lower(), segments[1:]
    else:
        registry, path = DOCKER_HUB, segments
        if (
            len(segments) == 1
            and not at
            and tag is not None
            and len(tag) >= 32
            and set(tag) <= _HEX
        ):
            return None
    if not all(_path_segment(segment) for segment in path):
        return None
    if registry == LEGACY_DOCKER_HUB:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    return Image(registry, tuple(path))


def allows(entries: Iterable[str], image: Image) -> bool:
    """Whether one of the allowed ``entries`` covers the image's repository."""
    for entry in entries:
        registry, *prefix = entry.split("/")
        if registry == image.registry and list(image.path[: len(prefix)]) == prefix:
            return True
    return False


def decide(entries: list[str], reference: str) -> bool:
    """Whether a pod of a profile allowing ``entries`` may use ``reference`` (an empty
    list allows every image, even one that cannot be read)."""
    if not entries:
        return True
    image = read(reference)
    return image is not None and allows(entries, image)
