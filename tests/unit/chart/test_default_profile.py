"""The profile the chart ships by default is the French-sovereign example, its egress
allow-list a part of the example's."""

from __future__ import annotations

import yaml

from tests.support.repository import REPO


def test_the_charts_default_profile_is_the_example() -> None:
    values = yaml.safe_load((REPO / "helm" / "souverain" / "values.yaml").read_text())
    example = yaml.safe_load(
        (REPO / "examples" / "sovereigntyprofile-french-sovereign.yaml").read_text()
    )
    assert values["defaultProfile"]["name"] == example["metadata"]["name"]
    spec = values["defaultProfile"]["spec"]
    for field in (
        "nodeRequirements",
        "tolerations",
        "storage",
        "exposure",
        "podSecurity",
        "enforcement",
    ):
        assert spec[field] == example["spec"][field], field
    chart_cidrs = {c["cidr"] for c in spec["egress"]["cidrs"]}
    assert chart_cidrs <= {c["cidr"] for c in example["spec"]["egress"]["cidrs"]}
