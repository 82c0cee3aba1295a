"""Reading the API server's answers to the probes: what shows a layer in force."""

from __future__ import annotations

from typing import Any

import pytest

from souverain.api import SovereigntyProfileSpec
from souverain.reconcile.enforcement import Answer, Enforcement, judge, judge_all
from souverain.reconcile.placement import LAYER_MUTATING_POLICY, LAYER_VALIDATING_POLICY
from souverain.reconcile.probes import plan_probes

pytestmark = pytest.mark.unit

SOVEREIGN = {"key": "node-restriction.kubernetes.io/french-sovereign", "operator": "Exists"}
PROFILE = SovereigntyProfileSpec.model_validate(
    {
        "nodeRequirements": [SOVEREIGN],
        "tolerations": [{"key": "sovereign", "operator": "Exists", "effect": "NoSchedule"}],
    }
)
PROBES = plan_probes(
    "acme", "fr", PROFILE, [LAYER_MUTATING_POLICY, LAYER_VALIDATING_POLICY], native=True
)
BY_LAYER = {probe.layer: probe for probe in PROBES}
PINNING = BY_LAYER["souverain-placement-pinning-fr"]
CHECKS = BY_LAYER["souverain-placement-fr"]
FLOOR = BY_LAYER["souverain-egress-floor-fr"]


def refused_by(binding: str, policy: str, generation: int | None = 4) -> Answer:
    echo = f" [SovereigntyProfile fr generation {generation}]" if generation else ""
    return Answer(
        status=403,
        message=f"admission webhook denied: ValidatingAdmissionPolicy '{policy}' with binding"
        f" '{binding}' denied request: spec.volumes[0] probe: refused{echo}",
    )


def pinned_pod(**spec: Any) -> dict[str, Any]:
    return {
        "spec": {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [SOVEREIGN]}]
                    }
                }
            },
            "tolerations": [{"key": "sovereign", "operator": "Exists", "effect": "NoSchedule"}],
            **spec,
        }
    }


def test_a_refusal_by_the_layer_shows_it_in_force_with_the_generation_it_names() -> None:
    verdict = judge(CHECKS, refused_by("souverain-placement-fr", "souverain-placement"), PROFILE)
    assert verdict.in_force
    assert verdict.generation == 4


def test_an_admitted_escape_or_a_refusal_by_another_check_does_not() -> None:
    admitted = judge(FLOOR, Answer(status=201), PROFILE)
    assert not admitted.in_force
    assert "was admitted" in admitted.why
    other = judge(CHECKS, Answer(status=403, message='violates PodSecurity "restricted"'), PROFILE)
    assert not other.in_force
    assert "another check" in other.why
    assert admitted.settled
    assert other.settled


def test_the_probe_grant_and_the_service_account_are_not_answers_yet() -> None:
    grant = Answer(status=403, message='pods is forbidden: User "souverain:probe" cannot create')
    account = Answer(status=403, message="error looking up service account acme/default: not found")
    for answer in (grant, account):
        verdict = judge(CHECKS, answer, PROFILE)
        assert not verdict.in_force
        assert not verdict.settled


def test_in_audit_mode_a_warning_naming_the_binding_counts() -> None:
    warned = Answer(
        status=201,
        warnings=(
            "Validation failed for ValidatingAdmissionPolicy 'souverain-egress-floor' with"
            " binding 'souverain-egress-floor-fr': egress[0] has no destination"
            " [SovereigntyProfile fr generation 2]",
        ),
    )
    verdict = judge(FLOOR, warned, PROFILE)
    assert verdict.in_force
    assert verdict.generation == 2


def test_pinning_is_read_from_the_pod_that_comes_back() -> None:
    assert judge(PINNING, Answer(status=201, body=pinned_pod()), PROFILE).in_force
    unpinned = judge(PINNING, Answer(status=201, body={"spec": {}}), PROFILE)
    assert not unpinned.in_force
    assert "without required node affinity" in unpinned.why
    no_toleration = judge(PINNING, Answer(status=201, body=pinned_pod(tolerations=[])), PROFILE)
    assert not no_toleration.in_force
    assert "toleration" in no_toleration.why
    refused = judge(PINNING, Answer(status=403, message="denied"), PROFILE)
    assert not refused.in_force


def test_an_older_profile_generation_is_not_in_force_yet() -> None:
    def answers(placement_generation: int) -> list[Answer]:
        found = []
        for probe in PROBES:
            if probe.expect == "pinned":
                found.append(Answer(status=201, body=pinned_pod()))
            elif probe.layer == "souverain-placement-fr":
                found.append(refused_by(probe.layer, "p", generation=placement_generation))
            elif probe.echoes_generation:
                found.append(refused_by(probe.layer, "p", generation=4))
            else:
                found.append(Answer(status=403, message=f"'{probe.answered_by}' denied"))
        return found

    found = judge_all(PROBES, answers(3), PROFILE).at_generation(4)
    assert not found.in_force
    assert [v.probe.layer for v in found.failing] == ["souverain-placement-fr"]
    assert "generation 3, not 4" in found.failing[0].why
    condition = found.condition(7, "fr")
    assert condition.status == "False"
    assert condition.reason == "ProbeUnanswered"
    assert "souverain-placement-fr" in condition.message
    found = judge_all(PROBES, answers(4), PROFILE).at_generation(4)
    assert found.in_force
    assert found.profile_generation() == 4
    condition = found.condition(7, "fr")
    assert condition.status == "True"
    assert condition.reason == "EscapesRefused"
    assert condition.observed_generation == 7


def test_a_layer_that_admits_its_escape_is_named_as_not_in_force() -> None:
    found = Enforcement([judge(FLOOR, Answer(status=201), PROFILE)])
    condition = found.condition(1, "fr")
    assert condition.reason == "LayerNotInForce"
    assert "souverain-egress-floor-fr: a NetworkPolicy" in condition.message


def test_a_request_the_owners_role_does_not_allow_leaves_nothing_to_refuse() -> None:
    forbidden = Answer(
        status=403,
        message='volumesnapshots is forbidden: User "souverain:probe" cannot create resource',
    )
    pinned = Answer(status=201, body=pinned_pod())
    # Before any answer got past the authorizer, the grant may not be in force yet.
    early = judge_all([CHECKS, PINNING], [forbidden, pinned], PROFILE)
    assert not early.verdicts[0].settled
    # After one did, the role does not allow it: the route is closed by RBAC.
    late = judge_all([PINNING, CHECKS], [pinned, forbidden], PROFILE)
    assert late.in_force
    assert "role does not allow" in late.verdicts[1].why


def test_a_refusal_too_long_to_name_the_generation_counts_once_another_names_it() -> None:
    """Past 5 KiB the API server says a policy's fixed message, without the generation;
    every binding reads the profile from the same informer."""
    fixed = Answer(status=403, message="binding 'souverain-egress-floor-fr' denied request")
    alone = judge_all([FLOOR], [fixed], PROFILE).at_generation(4)
    assert not alone.in_force
    assert "no generation, not 4" in alone.failing[0].why
    named = refused_by("souverain-placement-fr", "souverain-placement", generation=4)
    both = judge_all([FLOOR, CHECKS], [fixed, named], PROFILE).at_generation(4)
    assert both.in_force
    older = refused_by("souverain-placement-fr", "souverain-placement", generation=3)
    stale = judge_all([FLOOR, CHECKS], [fixed, older], PROFILE).at_generation(4)
    assert [v.probe.layer for v in stale.failing] == [FLOOR.layer, CHECKS.layer]
