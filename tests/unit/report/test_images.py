"""Images and registries in the report and the plan, built from a cluster state without
a cluster."""

from __future__ import annotations

from typing import Any

from souverain.report.build import build_report
from souverain.report.html import render
from souverain.report.images import pod_images
from souverain.report.plan import describe, plan
from tests.support.cluster_state import pod, state
from tests.support.profiles import SOVEREIGN


def running(name: str, *images: str, **spec: Any) -> dict[str, Any]:
    made = pod(name, "sov")
    made["spec"]["containers"] = [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]
    made["spec"].update(spec)
    return made


def profiles(*registries: str) -> dict[str, Any]:
    return {
        "fr": {
            "metadata": {"name": "fr"},
            "spec": {
                "nodeRequirements": [{"key": SOVEREIGN, "operator": "Exists"}],
                "images": {"allowedRegistries": list(registries)},
            },
        }
    }


def test_pod_images_cover_every_place_a_pod_takes_one() -> None:
    made = running(
        "a",
        "registry.fr.example/app:1",
        initContainers=[{"name": "i", "image": "busybox"}],
        ephemeralContainers=[{"name": "e", "image": "busybox"}],
        volumes=[{"name": "d", "image": {"reference": "registry.fr.example/data"}}, {"name": "x"}],
    )
    assert pod_images(made) == ["registry.fr.example/app:1", "busybox", "registry.fr.example/data"]


def test_each_namespace_lists_its_images_and_registries() -> None:
    pods = [running("a", "nginx:1.27", "registry.fr.example/app:1"), running("b", "nginx:1.27")]
    part = build_report(state(pods={"acme": pods}, profiles=profiles())).namespaces[0]
    assert [(i.image, i.registry, i.allowed, i.pods) for i in part.images] == [
        ("nginx:1.27", "docker.io", True, ["a", "b"]),
        ("registry.fr.example/app:1", "registry.fr.example", True, ["a"]),
    ]
    assert part.images[0].repository == "docker.io/library/nginx"
    assert part.registries == ["docker.io", "registry.fr.example"]
    assert part.allowed_registries == []
    assert part.violations == []


def test_a_pod_running_an_image_outside_the_registries_is_a_violation() -> None:
    pods = [
        running("a", "nginx:1.27", "registry.fr.example/app:1"),
        running("b", "registry.fr.example/app:1"),
        running("done", "nginx"),
        running("odd", "HTTPS://x"),
    ]
    pods[2]["status"]["phase"] = "Succeeded"
    report = build_report(state(pods={"acme": pods}, profiles=profiles("registry.fr.example")))
    part = report.namespaces[0]
    outside = [v for v in part.violations if v.kind == "ImageOutsideRegistries"]
    assert [v.object for v in outside] == ["Pod/a", "Pod/odd"]
    assert "nginx:1.27" in outside[0].message
    assert "registry.fr.example" in outside[0].message
    assert report.summary.pods_with_images_outside_registries == 2
    odd = next(i for i in part.images if i.image == "HTTPS://x")
    assert (odd.registry, odd.allowed) == (None, False)
    page = render(report)
    assert "Pods running images from outside the registries" in page
    assert "not a reference souverain reads" in page


def test_the_report_says_any_registry_when_the_profile_lists_none() -> None:
    page = render(build_report(state(pods={"acme": [running("a", "nginx")]})))
    assert "Allowed registries: any registry." in page


def test_plan_lists_the_pods_whose_images_a_narrower_profile_would_refuse() -> None:
    current = state(pods={"acme": [running("a", "nginx"), running("b", "registry.fr.example/x")]})
    narrower = {
        "apiVersion": "souverain.io/v1alpha1",
        "kind": "SovereigntyProfile",
        "metadata": {"name": "fr"},
        "spec": {
            "nodeRequirements": [{"key": SOVEREIGN, "operator": "Exists"}],
            "images": {"allowedRegistries": ["registry.fr.example"]},
        },
    }
    result = plan(narrower, current)
    assert result.namespaces[0].refused_images == ["a: nginx is docker.io/library/nginx"]
    assert result.breaks_something
    text = describe(result)
    assert "allowed registries: registry.fr.example" in text
    assert "pods whose images would be refused:" in text
    narrower["spec"]["images"] = {}
    unrestricted = plan(narrower, current)
    assert not unrestricted.breaks_something
    assert "allowed registries: any registry" in describe(unrestricted)
