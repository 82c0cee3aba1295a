"""The escapes probed in a bound namespace: one per layer, each refused by that layer only."""

from __future__ import annotations

from typing import Any

import pytest

from souverain.api import SovereigntyProfileSpec
from souverain.reconcile.placement import (
    LAYER_MUTATING_POLICY,
    LAYER_VALIDATING_POLICY,
    LAYER_WEBHOOK,
)
from souverain.reconcile.probe_objects import probe_pod
from souverain.reconcile.probes import NOWHERE, PIN_WEBHOOK_NAME, plan_probes

pytestmark = pytest.mark.unit

SOVEREIGN = {"key": "node-restriction.kubernetes.io/french-sovereign", "operator": "Exists"}


def profile(**spec: Any) -> SovereigntyProfileSpec:
    return SovereigntyProfileSpec.model_validate({"nodeRequirements": [SOVEREIGN], **spec})


NATIVE = [LAYER_MUTATING_POLICY, LAYER_VALIDATING_POLICY]
BOTH = [*NATIVE, LAYER_WEBHOOK]


def layers_of(probes: list[Any]) -> list[str]:
    return [p.layer for p in probes]


def test_every_layer_of_an_enforced_profile_is_probed() -> None:
    probes = plan_probes("acme", "fr", profile(), BOTH, native=True)
    assert layers_of(probes) == [
        "souverain-placement-pinning-fr",
        PIN_WEBHOOK_NAME,
        "souverain-placement-fr",
        "souverain-egress-floor-fr",
        "souverain-managed-objects-fr",
        "souverain-namespace-labels-fr",
        "souverain-storage-claims-fr",
        "souverain-storage-statefulsets-fr",
        "souverain-storage-workloads-fr",
        "souverain-storage-cronjobs-fr",
        "souverain-exposure-services-fr",
        "PodSecurity",
    ]
    assert probes[0].expect == "pinned"
    assert all(p.expect == "refused" for p in probes[1:])
    assert probes[1].body is not None
    assert probes[1].body["spec"]["nodeName"] == NOWHERE
    # The pod checks are probed with a volume, which the webhook lets through.
    assert probes[2].body is not None
    assert "csi" in probes[2].body["spec"]["volumes"][0]
    assert probes[4].method == "DELETE"
    assert probes[4].name == "souverain-deny-egress"
    assert probes[2].echoes_generation
    assert probes[3].echoes_generation


def test_without_the_native_layer_the_webhook_pins_and_the_volumes_policy_refuses() -> None:
    probes = plan_probes("acme", "fr", profile(), [LAYER_WEBHOOK], native=False)
    assert layers_of(probes)[:3] == [
        PIN_WEBHOOK_NAME,
        PIN_WEBHOOK_NAME,
        "souverain-storage-pod-volumes-fr",
    ]


def test_audit_mode_probes_nothing_it_would_not_refuse_or_warn_about() -> None:
    audit = profile(enforcement={"mode": "Audit"})
    probes = plan_probes("acme", "fr", audit, [LAYER_VALIDATING_POLICY, LAYER_WEBHOOK], native=True)
    assert layers_of(probes)[:3] == [
        "souverain-placement-fr",
        "souverain-egress-floor-fr",
        "souverain-managed-objects-fr",
    ]
    assert "souverain-placement-pinning-fr" not in layers_of(probes)
    assert PIN_WEBHOOK_NAME not in layers_of(probes)


def test_a_profile_that_allows_everything_has_no_escape_to_probe_there() -> None:
    open_profile = profile(
        egress={"cidrs": [{"cidr": "0.0.0.0/0"}]},
        storage={"allowedVolumeSources": {"types": ["csi"]}},
    )
    probes = plan_probes("acme", "fr", open_profile, BOTH, native=True)
    assert "souverain-egress-floor-fr" not in layers_of(probes)
    assert "souverain-placement-fr" not in layers_of(probes)
    # Without the webhook, a pod naming its node is what the pod checks refuse.
    native_only = plan_probes("acme", "fr", open_profile, NATIVE, native=True)
    checks = next(p for p in native_only if p.layer == "souverain-placement-fr")
    assert checks.body is not None
    assert checks.body["spec"]["nodeName"] == NOWHERE


def test_probe_pods_come_from_an_allowed_registry_and_meet_restricted() -> None:
    pod = probe_pod("acme", profile(images={"allowedRegistries": ["registry.fr.example/team"]}))
    container = pod["spec"]["containers"][0]
    assert container["image"].startswith("registry.fr.example/team/")
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_images_snapshots_and_restores_are_probed_where_the_profile_restricts_them() -> None:
    restricted = profile(
        images={"allowedRegistries": ["registry.fr.example"]},
        storage={"allowedClasses": ["fr-ssd"]},
    )
    probes = plan_probes("acme", "fr", restricted, BOTH, native=True, snapshots=True)
    layers = layers_of(probes)
    for layer in (
        "souverain-images-workloads-fr",
        "souverain-images-cronjobs-fr",
        "souverain-images-pod-templates-fr",
        "souverain-snapshots-fr",
        "souverain-snapshot-restores-fr",
        "souverain-snapshot-restore-templates-fr",
    ):
        assert layer in layers
    restores = next(p for p in probes if p.layer == "souverain-snapshot-restores-fr")
    assert restores.body is not None
    assert restores.body["spec"]["storageClassName"] == "fr-ssd"
    # Without snapshots served, and without images restricted, nothing of theirs is probed.
    plain = layers_of(plan_probes("acme", "fr", profile(), BOTH, native=True))
    assert not [layer for layer in plain if "images" in layer or "snapshot" in layer]
