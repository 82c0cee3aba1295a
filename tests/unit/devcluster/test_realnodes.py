"""The files and command lines of real nodes, and the real nodes nodes.yaml declares."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from souverain.devcluster import hostnet
from souverain.devcluster.configuration import apiserver_args
from souverain.devcluster.nodefiles import (
    HOST_ADDRESS,
    PAUSE_IMAGE,
    NodePaths,
    bridge_name,
    cni_conflist,
    containerd_command,
    containerd_config,
    kubelet_args,
    kubelet_config,
    pod_subnet,
    run_dir,
)
from souverain.devcluster.realnodes import RealNodesError, RealNodeSpec, real_node_specs


def test_real_nodes_alternate_french_sovereign_and_not() -> None:
    specs = real_node_specs(4)
    assert [s.sovereign for s in specs] == [True, False, True, False]
    assert len({s.name for s in specs}) == 4
    assert {s.region for s in specs if s.sovereign} == {"fr-paris"}
    with pytest.raises(RealNodesError, match="declares 4 real nodes; 5 were asked for"):
        real_node_specs(5)


def test_a_kubelet_labels_itself_only_with_what_node_restriction_lets_it() -> None:
    labels = RealNodeSpec("n", "fr-paris", "fr-paris-1", sovereign=True).self_labels()
    assert labels["topology.kubernetes.io/zone"] == "fr-paris-1"
    assert not [key for key in labels if key.startswith("node-restriction.kubernetes.io/")]


def test_containerd_runs_crun_leaves_the_oom_score_and_keeps_to_its_folder(
    tmp_path: Path,
) -> None:
    paths = NodePaths(tmp_path / "node", tmp_path / "run")
    config = tomllib.loads(containerd_config(paths))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == PAUSE_IMAGE
    assert cri["netns_mounts_under_state_dir"] is True
    runtime = cri["containerd"]["runtimes"][cri["containerd"]["default_runtime_name"]]
    assert runtime["options"]["BinaryName"] == "/usr/bin/crun"
    for path in (config["root"], cri["cni"]["conf_dir"]):
        assert Path(path).is_relative_to(paths.root)
    for path in (config["state"], config["grpc"]["address"], paths.kubelet_dir):
        assert Path(path).is_relative_to(paths.run)
    # Sockets live there: their paths must stay under the kernel's 108 bytes.
    long_state_dir = Path("/" + "x" * 200)
    socket = run_dir(long_state_dir, "real-fr-1") / "kubelet" / "pod-resources" / "1234567890"
    assert len(str(socket)) < 108
    argv = containerd_command(paths, "/usr/bin/containerd")
    assert argv[:4] == ["unshare", "--mount", "--propagation", "slave"]
    assert "umount /sys/fs/cgroup/unified" in argv[-2]


def test_each_node_has_its_own_bridge_and_subnet_and_no_masquerading(tmp_path: Path) -> None:
    first, second = (
        cni_conflist(NodePaths(tmp_path / str(i), tmp_path / f"run{i}"), i) for i in (0, 1)
    )
    assert first["plugins"][0]["bridge"] != second["plugins"][0]["bridge"]
    assert first["plugins"][0]["bridge"] == bridge_name(0)
    assert first["plugins"][0]["ipMasq"] is False
    subnets = [c["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] for c in (first, second)]
    assert subnets == [pod_subnet(0), pod_subnet(1)]
    assert "portmap" not in json.dumps(first)


def test_the_kubelet_config_suits_cgroup_v1_machines_and_asks_the_api_server(
    tmp_path: Path,
) -> None:
    paths = NodePaths(tmp_path / "node", tmp_path / "run")
    config = kubelet_config(paths, port=1, healthz_port=2, ca_file=tmp_path / "ca.crt")
    assert config["failCgroupV1"] is False
    assert config["cgroupsPerQOS"] is False
    assert config["enforceNodeAllocatable"] == []
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["authentication"]["anonymous"] == {"enabled": False}
    assert config["address"] == HOST_ADDRESS
    argv = kubelet_args(paths, "real-fr-1", {"a": "1"})
    assert f"--node-ip={HOST_ADDRESS}" in argv
    assert "--hostname-override=real-fr-1" in argv


def test_the_api_server_is_reachable_from_pods_only_with_real_nodes(tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("ca", "serving-cert", "serving-key", "sa-pub")}
    files |= {"sa-key": tmp_path / "sa", "admin-cert": tmp_path / "a", "admin-key": tmp_path / "k"}
    ports = {"etcd": 1, "apiserver": 2}
    plain = apiserver_args(ports, files, ())
    real = apiserver_args(ports, files, (), real_nodes=True)
    assert "--bind-address=127.0.0.1" in plain
    assert "--authorization-mode=RBAC" in plain
    assert f"--advertise-address={HOST_ADDRESS}" in real
    assert "--authorization-mode=Node,RBAC" in real
    assert "--enable-admission-plugins=NodeRestriction" in real
    assert "--kubelet-preferred-address-types=InternalIP" in real


def test_preflight_names_each_missing_capability_in_one_line() -> None:
    for problem in hostnet.preflight():
        assert "\n" not in problem
        assert problem
