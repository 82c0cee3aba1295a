"""What the guarantees added to the profile cost pod creation, next to what souverain
cost it before them. Of them, image registries and the Pod Security level act on pod
CREATE; exposure acts on Services and snapshots on VolumeSnapshots and claims (their one
pod check, that an ephemeral volume restores only from a snapshot of its namespace, is a
clause of the storage policy that pods without ephemeral volumes skip), so neither adds
a policy to pod creation.

On one local control plane, the operator makes one sovereign namespace per set-up and is
stopped, so that only the API server works; then, as the cluster's administrator (whom
the policies let through), each set-up keeps only its share of the new admission
objects: the bindings of the new policies for its profile, and the namespace's
pod-security.kubernetes.io/ labels. Pods are created by 1 and by 16 concurrent creators,
in rounds that interleave:

  (a) a plain namespace, no policy;
  (c) souverain as before: placement, storage and the other policies, none of the new
      (the pod checks as one policy without the images' part);
  (p) (c) and the Pod Security level (baseline), which the API server's own PodSecurity
      admission enforces;
  (i) (c) and the image registry policies;
  (n) both: what a bound namespace has now.

Every set-up prints p50 and p99 at 1 creator and throughput at 16, as a ratio to (a)
and to (c): the ratio to (c) is what the new guarantees add.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_placement import (
    OperatorProcess,
    Server,
    TenantServer,
    create_pods,
    install_crds,
    percentile,
    server_version,
    sovereign_namespace,
    tenant_is_admin,
    wait,
)
from kubernetes import client

from souverain import labels
from souverain.admission import images, placement, storage
from souverain.admission.policy import (
    binding_name,
    merged_policy,
    profile_binding,
    profile_namespaces,
)
from souverain.devcluster.cluster import DevCluster, free_port
from souverain.devcluster.nodes import SOVEREIGN_LABEL
from souverain.settings import operator_username

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "souverain.io", "v1alpha1"
PLAIN = "bench-plain"
REGISTRY = "registry.example"
"""The registry of the benchmark's pods, which every profile allows."""

NEW_POLICIES: dict[str, tuple[str, ...]] = {
    # The pods' image checks are made by the placement policy (images.PODS is not bound
    # with native placement): a set-up without them binds WITHOUT_IMAGES instead.
    "images": tuple(p for p in images.POLICY_NAMES if p != images.PODS),
}
WITHOUT_IMAGES = "souverain-bench-pods-without-images"
"""The placement policy without the images' part: what souverain checked on a pod
before the image registries."""
SETUPS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    # column: (name, Pod Security labels kept, new policies kept)
    "c": ("(c) souverain before", False, ()),
    "p": ("(p) (c) + Pod Security", True, ()),
    "i": ("(i) (c) + image registries", False, ("images",)),
    "n": ("(n) souverain now", True, ("images",)),
}


def _profile(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereigntyProfile",
        "metadata": {"name": name},
        "spec": {
            "nodeRequirements": [{"key": SOVEREIGN_LABEL, "operator": "In", "values": ["true"]}],
            "images": {"allowedRegistries": [REGISTRY]},
        },
    }


def _strip(api: Any, column: str) -> None:
    """Deletes what set-up ``column`` does not keep of the new admission objects."""
    _, pod_security, kept = SETUPS[column]
    name = f"bench-{column}"
    registration = client.AdmissionregistrationV1Api(api)
    if "images" not in kept:
        registration.create_validating_admission_policy_binding(
            profile_binding(WITHOUT_IMAGES, name, True, profile_namespaces(name))
        )
        registration.delete_validating_admission_policy_binding(
            binding_name(placement.VALIDATING_POLICY_NAME, name)
        )
    for group, policies in NEW_POLICIES.items():
        if group in kept:
            continue
        for policy in policies:
            try:
                registration.delete_validating_admission_policy_binding(binding_name(policy, name))
            except client.ApiException as error:
                if error.status != 404:
                    raise
    if not pod_security:
        found = client.CoreV1Api(api).read_namespace(name).metadata.labels or {}
        drop = {key: None for key in found if key.startswith(labels.POD_SECURITY_PREFIX)}
        client.CoreV1Api(api).patch_namespace(name, {"metadata": {"labels": drop}})


def _without_images() -> dict[str, Any]:
    volumes = next(
        policy
        for policy in storage.storage_policies(operator_username())
        if policy["metadata"]["name"] == storage.POD_VOLUMES
    )
    return merged_policy(
        WITHOUT_IMAGES, {"placement": placement.placement_checks(), "volumes": volumes}
    )


def _bindings(server: Server, name: str) -> set[str]:
    found = server.request(
        "GET",
        "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
        f"?labelSelector={labels.PROFILE}%3D{name}",
    )
    return {item["metadata"]["name"] for item in json.loads(found.data)["items"]}


def _image_checked(server: Server, column: str) -> bool:
    """Whether set-up ``column`` refuses an image from another registry (a dry run)."""
    body = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe"},
            "spec": {"containers": [{"name": "app", "image": "elsewhere.example/app:1"}]},
        }
    ).encode()
    found = server.request("POST", f"/api/v1/namespaces/bench-{column}/pods?dryRun=All", body)
    return bool(found.status == 403)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--pods", type=int, default=150, help="pods per round, 1 creator")
    options.add_argument("--per-creator", type=int, default=30, help="pods per creator at 16")
    args = options.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        cluster = DevCluster(scratch / "cluster")
        state = cluster.up()
        try:
            install_crds(cluster.kubeconfig)
            admin = Server(state.apiserver_url, cluster.state_dir / "pki")
            server = TenantServer(state.apiserver_url, cluster.state_dir / "pki")
            with cluster.api_client() as api:
                tenant_is_admin(api)
                core = client.CoreV1Api(api)
                objects = client.CustomObjectsApi(api)
                core.create_namespace({"metadata": {"name": PLAIN}})
                client.AdmissionregistrationV1Api(api).create_validating_admission_policy(
                    _without_images()
                )
                operator = OperatorProcess(cluster.kubeconfig, scratch, "native", free_port())
                for column in SETUPS:
                    name = f"bench-{column}"
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereigntyprofiles", _profile(name)
                    )
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereignnamespaces", sovereign_namespace(name, name)
                    )
                for column in SETUPS:
                    name = f"bench-{column}"
                    wanted = {
                        binding_name(policy, name)
                        for policies in NEW_POLICIES.values()
                        for policy in policies
                    }
                    wait(
                        lambda name=name, wanted=wanted: (
                            wanted <= _bindings(admin, name)
                            and server.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default")
                        ),
                        f"namespace {name} and its admission objects",
                    )
                operator.stop()
                for column in SETUPS:
                    _strip(api, column)
                for column, (_, _, kept) in SETUPS.items():
                    # The API server drops a deleted binding a moment later.
                    wait(
                        lambda column=column, kept=kept: (
                            _image_checked(server, column) == ("images" in kept)
                        ),
                        f"set-up {column} to check images as it should",
                    )
                wait(
                    lambda: server.exists(f"/api/v1/namespaces/{PLAIN}/serviceaccounts/default"),
                    "the plain namespace",
                )
                columns = {"a": PLAIN, **{column: f"bench-{column}" for column in SETUPS}}
                results: dict[str, list[float]] = {column: [] for column in columns}
                walls: dict[str, list[tuple[int, float]]] = {column: [] for column in columns}
                for round_number in range(args.rounds):
                    for column, namespace in columns.items():
                        create_pods(server, namespace, 1, 20)  # warm-up, not counted
                        latencies, _ = create_pods(server, namespace, 1, args.pods)
                        results[column].extend(latencies)
                        latencies, wall = create_pods(server, namespace, 16, args.per_creator)
                        walls[column].append((len(latencies), wall))
                    print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
                report(server, args, results, walls)
        finally:
            cluster.down()


def report(
    server: Server,
    args: argparse.Namespace,
    results: dict[str, list[float]],
    walls: dict[str, list[tuple[int, float]]],
) -> None:
    names = {"a": "(a) no policy", **{column: s[0] for column, s in SETUPS.items()}}

    def figures(column: str) -> tuple[float, float, float]:
        rate = sum(n for n, _ in walls[column]) / sum(w for _, w in walls[column])
        return statistics.median(results[column]), percentile(results[column], 0.99), rate

    plain, before = figures("a"), figures("c")
    print(
        f"Pod CREATE as a tenant on Kubernetes {server_version(server)}, operator stopped, "
        f"{args.rounds} rounds, {args.pods} pods/round at 1 creator, "
        f"{16 * args.per_creator} at 16"
    )
    print(
        f"{'':32} {'p50 1c':>9} {'p99 1c':>9} {'pods/s 16c':>11}"
        f" {'p50 /a':>7} {'p99 /a':>7} {'rate /a':>8} {'p50 /c':>7} {'rate /c':>8}"
    )
    for column in names:
        p50, p99, rate = figures(column)
        print(
            f"{names[column]:32} {p50 * 1000:7.2f}ms {p99 * 1000:7.2f}ms {rate:11.0f}"
            f" {p50 / plain[0]:6.2f}x {p99 / plain[1]:6.2f}x {rate / plain[2]:7.2f}x"
            f" {p50 / before[0]:6.2f}x {rate / before[2]:7.2f}x"
        )


if __name__ == "__main__":
    main()
