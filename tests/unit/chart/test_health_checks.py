"""The Argo CD health checks of the three kinds, run by a Lua 5.1 interpreter (the Lua
of Argo CD's gopher-lua) on sample objects."""

from __future__ import annotations

import copy
from typing import Any

import lupa.lua51 as lupa  # Lua 5.1 from PyPI, a test dependency (pyproject.toml)
import pytest
import yaml

from tests.support.repository import REPO

HEALTH = REPO / "helm" / "souverain" / "health"
ARGOCD_CM = REPO / "examples" / "gitops" / "argocd" / "argocd-cm-health.yaml"
KINDS = {
    "SovereigntyProfile": "sovereigntyprofile.lua",
    "SovereignNamespace": "sovereignnamespace.lua",
    "ResidentVolume": "residentvolume.lua",
}


def health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) as Argo CD would show them for ``obj``."""
    lua = lupa.LuaRuntime(unpack_returned_tuples=False)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute((HEALTH / KINDS[kind]).read_text())
    return str(result["status"]), str(result["message"])


def sample(
    kind: str,
    ready: tuple[str, str, str] | None = None,
    generation: int = 2,
    observed: int | None = 2,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "souverain.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "acme-payments", "generation": generation},
        "spec": {},
    }
    if ready is not None or observed is not None:
        obj["status"] = {}
    if observed is not None:
        obj["status"]["observedGeneration"] = observed
    if ready is not None:
        status, reason, message = ready
        obj["status"]["conditions"] = [
            {"type": "NamespaceReady", "status": "True", "reason": "Other", "message": "x"},
            {"type": "Ready", "status": status, "reason": reason, "message": message},
        ]
    return obj


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_ready_is_healthy(kind: str) -> None:
    assert health(kind, sample(kind, ("True", "Reconciled", "All in place."))) == (
        "Healthy",
        "All in place.",
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_not_observed_yet_is_progressing(kind: str) -> None:
    assert health(kind, sample(kind, observed=None))[0] == "Progressing"
    behind = sample(kind, ("True", "Reconciled", "old news"), generation=3, observed=2)
    assert health(kind, behind) == (
        "Progressing",
        "Waiting for the operator to observe generation 3",
    )
    no_status = sample(kind)
    del no_status["status"]
    assert health(kind, no_status) == ("Progressing", "Waiting for the souverain operator")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_refusals_are_degraded_with_their_reason(kind: str) -> None:
    status, message = health(kind, sample(kind, ("False", "ProfileNotFound", "No profile.")))
    assert (status, message) == ("Degraded", "ProfileNotFound: No profile.")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_reconciling_unknown_and_deleting_are_progressing(kind: str) -> None:
    assert health(kind, sample(kind, ("False", "Reconciling", "Working.")))[0] == "Progressing"
    assert health(kind, sample(kind, ("Unknown", "Other", "Not known.")))[0] == "Progressing"
    deleting = sample(kind, ("True", "Reconciled", "x"))
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert health(kind, deleting) == ("Progressing", "Being deleted")


def test_a_volume_waiting_for_its_first_consumer_is_progressing() -> None:
    waiting = sample("ResidentVolume", ("False", "ClaimPending", "Waiting for a pod."))
    assert health("ResidentVolume", waiting) == (
        "Progressing",
        "ClaimPending: Waiting for a pod.",
    )
    outside = sample("ResidentVolume", ("False", "OutsideTopology", "Volume in us-east."))
    assert health("ResidentVolume", outside)[0] == "Degraded"
    pending_namespace = sample("SovereignNamespace", ("False", "ClaimPending", "x"))
    assert health("SovereignNamespace", pending_namespace)[0] == "Degraded"


def test_the_ready_condition_is_found_among_others() -> None:
    obj = sample("SovereignNamespace", ("True", "Reconciled", "ok"))
    obj["status"]["conditions"].reverse()
    many = copy.deepcopy(obj)
    many["status"]["conditions"] += [{"type": "Compliant", "status": "False", "reason": "X"}]
    assert health("SovereignNamespace", many)[0] == "Healthy"


def test_argocd_cm_example_carries_the_same_scripts() -> None:
    config = yaml.safe_load(ARGOCD_CM.read_text())
    keys = {f"resource.customizations.health.souverain.io_{kind}" for kind in KINDS}
    assert set(config["data"]) == keys
    for kind, file_name in KINDS.items():
        script = config["data"][f"resource.customizations.health.souverain.io_{kind}"]
        assert script == (HEALTH / file_name).read_text(), f"{ARGOCD_CM.name} is stale for {kind}"
