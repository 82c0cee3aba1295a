from __future__ import annotations

from souverain.devcluster.nodes import KWOK_ANNOTATION, SOVEREIGN_LABEL, default_nodes


def test_default_nodes_are_three_sovereign_over_two_zones_and_two_elsewhere() -> None:
    nodes = default_nodes()
    sovereign = [n for n in nodes if n.sovereign]
    others = [n for n in nodes if not n.sovereign]
    assert len(sovereign) == 3
    assert len(others) == 2
    assert len({n.region for n in sovereign}) == 1
    assert len({n.zone for n in sovereign}) == 2
    assert {n.region for n in others}.isdisjoint({n.region for n in sovereign})


def test_node_manifest_has_topology_and_qualification_labels() -> None:
    for node in default_nodes():
        manifest = node.manifest()
        labels = manifest["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == node.name
        assert labels["topology.kubernetes.io/region"] == node.region
        assert labels["topology.kubernetes.io/zone"] == node.zone
        assert (labels.get(SOVEREIGN_LABEL) == "true") is node.sovereign
        assert manifest["metadata"]["annotations"][KWOK_ANNOTATION] == "fake"
        assert manifest["status"]["capacity"]["pods"] == "110"
