"""The images a namespace's pods run and the registries they come from, for the report
and for ``souverain plan``, read by :mod:`souverain.outcomes.images` (not by the
admission policy's CEL): pods created before the profile changed, in Audit mode or by
a cluster administrator show here even though admission let them through."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from souverain.api import SovereigntyProfileSpec
from souverain.outcomes.images import ANY_REGISTRY, allows, read
from souverain.report.schema import ImageEntry, NamespaceReport, Violation

OUTSIDE: Final = "ImageOutsideRegistries"


def pod_images(pod: Mapping[str, Any]) -> list[str]:
    """Every image reference of a pod: its containers, init and ephemeral containers, and
    image volumes, in that order, each once."""
    spec = pod.get("spec") or {}
    found = [
        str(container.get("image") or "")
        for kind in ("containers", "initContainers", "ephemeralContainers")
        for container in spec.get(kind) or []
    ]
    found += [
        str((volume.get("image") or {}).get("reference") or "")
        for volume in spec.get("volumes") or []
        if "image" in volume
    ]
    return list(dict.fromkeys(found))


def _allowed(entries: list[str], image: str) -> bool:
    if not entries:
        return True
    read_image = read(image)
    return read_image is not None and allows(entries, read_image)


def _running(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        pod for pod in pods if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def allowed_registries(spec: SovereigntyProfileSpec | None) -> str:
    """The profile's registries for people: ``any registry`` when it lists none."""
    entries = list(spec.images.allowed_registries) if spec else []
    return ", ".join(entries) or ANY_REGISTRY


def add_images(
    report: NamespaceReport,
    pods: Iterable[Mapping[str, Any]],
    profile: str,
    spec: SovereigntyProfileSpec | None,
    now: datetime,
) -> None:
    """Fills the namespace's images and registries, and adds an ImageOutsideRegistries
    violation for each pod that runs an image from outside the profile's registries."""
    entries = list(spec.images.allowed_registries) if spec else []
    report.allowed_registries = entries
    by_image: dict[str, ImageEntry] = {}
    for pod in _running(pods):
        name = str(pod["metadata"]["name"])
        outside = []
        for image in pod_images(pod):
            entry = by_image.get(image)
            if entry is None:
                found = read(image)
                entry = ImageEntry(
                    image=image,
                    registry=found.registry if found else None,
                    repository=found.repository if found else None,
                    allowed=None if spec is None else _allowed(entries, image),
                )
                by_image[image] = entry
            entry.pods.append(name)
            if entry.allowed is False:
                outside.append(image)
        if outside:
            report.violations.append(
                Violation(
                    kind=OUTSIDE,
                    object=f"Pod/{name}",
                    message=f"runs {', '.join(outside)}, outside the registries SovereigntyProfile"
                    f" {profile} allows: {allowed_registries(spec)}",
                    seen_at=now,
                )
            )
    report.images = [by_image[image] for image in sorted(by_image)]
    report.registries = sorted({e.registry for e in report.images if e.registry})


def pods_outside(namespaces: Iterable[NamespaceReport]) -> int:
    """The pods that run an image from outside their profile's registries."""
    return sum(1 for n in namespaces for v in n.violations if v.kind == OUTSIDE)


def refused_images(pods: Iterable[Mapping[str, Any]], spec: SovereigntyProfileSpec) -> list[str]:
    """The pods whose images ``spec`` would refuse, as ``pod: image is repository``."""
    entries = list(spec.images.allowed_registries)
    found = []
    for pod in _running(pods):
        for image in pod_images(pod):
            if _allowed(entries, image):
                continue
            read_image = read(image)
            where = read_image.repository if read_image else "not a reference souverain reads"
            found.append(f"{pod['metadata']['name']}: {image} is {where}")
    return found
