"""Where souverain's native pod admission spends: each policy that acts on a tenant's pod
CREATE, alone, against no policy and against all of them, and the pod checks as the one
policy souverain binds (v, c) against the three they were before (l, o, i; t), and
souverain's pod policies as they are (c) against the same without the namespace
selector of their own that keeps them out of unbound namespaces (u).

On one local control plane the operator makes one sovereign namespace per set-up and is
stopped, so that only the API server works. Each set-up then keeps, of the admission
objects that act on pods, only its share: the bindings it names for its profile, and
the namespace's pod-security.kubernetes.io/ labels or not. Pods are created as a tenant
by 1 and by 16 concurrent creators, in interleaved rounds; each set-up prints p50 at 1
creator, throughput at 16 and the API server's CPU per pod, as ratios to no policy (a)
and to the trivial MutatingAdmissionPolicy (e), the native floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_placement import (
    ADMISSION,
    FLOOR_LABEL,
    NATIVE_FLOOR,
    PINNED_AFFINITY,
    OperatorProcess,
    Server,
    TenantServer,
    create_admission,
    create_batch,
    create_pods,
    install_crds,
    native_floor,
    pinned_in,
    pod_body,
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
    profile_binding,
    profile_namespaces,
    validating_admission_policy,
)
from souverain.devcluster.cluster import DevCluster, free_port
from souverain.devcluster.nodes import SOVEREIGN_LABEL
from souverain.settings import operator_username

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "souverain.io", "v1alpha1"
PLAIN = "bench-plain"

PLACEMENT_ALONE = "souverain-bench-placement-alone"
"""Placement's checks as a policy of their own, as souverain had them before they were
merged with the pod checks of storage and images."""

UNSCOPED_PIN = "souverain-bench-pinning-unscoped"
UNSCOPED_PODS = "souverain-bench-placement-unscoped"
"""souverain's pinning and pod checks without their own namespace selector, as they were
before it: their bindings alone chose the namespaces."""

POD_POLICIES: dict[str, tuple[str, str]] = {
    # short name: (binding kind, policy)
    "pin": ("mutatingadmissionpolicybindings", placement.MUTATING_POLICY_NAME),
    "pods": ("validatingadmissionpolicybindings", placement.VALIDATING_POLICY_NAME),
    "placement": ("validatingadmissionpolicybindings", PLACEMENT_ALONE),
    "volumes": ("validatingadmissionpolicybindings", storage.POD_VOLUMES),
    "images": ("validatingadmissionpolicybindings", images.PODS),
    "pin-unscoped": ("mutatingadmissionpolicybindings", UNSCOPED_PIN),
    "pods-unscoped": ("validatingadmissionpolicybindings", UNSCOPED_PODS),
}
MADE_HERE = ("placement", "volumes", "images", "pin-unscoped", "pods-unscoped")
"""The bindings the operator does not make with native placement: the benchmark makes
them for the set-ups that keep them."""
SETUPS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    # column: (name, Pod Security labels kept, pod policies kept)
    "n": ("bound, no pod policy", False, ()),
    "s": ("Pod Security alone", True, ()),
    "m": ("pinning (MAP) alone", False, ("pin",)),
    "v": ("pod checks, one VAP, alone", False, ("pods",)),
    "l": ("placement checks (VAP) alone", False, ("placement",)),
    "o": ("pod volumes (VAP) alone", False, ("volumes",)),
    "i": ("images (VAP) alone", False, ("images",)),
    "p": ("pinning and pod checks", False, ("pin", "pods")),
    "t": ("the checks as 3 VAPs, pinning", True, ("pin", "placement", "volumes", "images")),
    "c": ("souverain now (all)", True, ("pin", "pods")),
    "u": ("(c) without own ns selectors", True, ("pin-unscoped", "pods-unscoped")),
}


PINNED_BEFORE = ("v", "l")
"""The set-ups whose pods come pinned: placement without pinning refuses others."""


def pinned_pod(name: str) -> bytes:
    return pod_body(name, PINNED_AFFINITY)


def _profile(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereigntyProfile",
        "metadata": {"name": name},
        "spec": {
            "nodeRequirements": [{"key": SOVEREIGN_LABEL, "operator": "In", "values": ["true"]}],
            "images": {"allowedRegistries": ["registry.example"]},
        },
    }


def _strip(admin: Server, api: Any, column: str) -> None:
    """Deletes what set-up ``column`` does not keep of the pods' admission objects, and
    makes the bindings it keeps that the operator does not make."""
    _, pod_security, kept = SETUPS[column]
    name = f"bench-{column}"
    for short, (kind, policy) in POD_POLICIES.items():
        if short in kept and short in MADE_HERE:
            create_admission(admin, _binding(kind, policy, name))
        elif short not in kept:
            found = admin.request("DELETE", f"{ADMISSION}/{kind}/{binding_name(policy, name)}")
            if found.status not in (200, 404):
                raise SystemExit(f"deleting {policy}'s binding: {found.data[:300]!r}")
    if not pod_security:
        core = client.CoreV1Api(api)
        found = core.read_namespace(name).metadata.labels or {}
        drop = {key: None for key in found if key.startswith(labels.POD_SECURITY_PREFIX)}
        core.patch_namespace(name, {"metadata": {"labels": drop}})


def _binding(kind: str, policy: str, profile: str) -> dict[str, Any]:
    """The binding of ``policy`` for ``profile``'s namespaces, as the operator makes it."""
    if kind == "mutatingadmissionpolicybindings":
        binding = placement.mutating_binding(profile)
        binding["metadata"]["name"] = binding_name(policy, profile)
        binding["spec"]["policyName"] = policy
        return binding
    return profile_binding(policy, profile, True, profile_namespaces(profile))


def _unscoped() -> list[dict[str, Any]]:
    """Copies of souverain's pinning and pod checks without their own namespace selector."""
    copies = []
    for name, policy in (
        (UNSCOPED_PIN, placement.mutating_policy()),
        (UNSCOPED_PODS, placement.validating_policy(operator_username())),
    ):
        del policy["spec"]["matchConstraints"]["namespaceSelector"]
        policy["metadata"] = {"name": name}
        copies.append(policy)
    return copies


def _placement_alone() -> dict[str, Any]:
    alone = placement.placement_checks()
    return validating_admission_policy(PLACEMENT_ALONE, alone["spec"])


def _kept(admin: Server, column: str) -> bool:
    """Whether the API server has exactly set-up ``column``'s bindings of pod policies."""
    name = f"bench-{column}"
    _, _, kept = SETUPS[column]
    return all(
        admin.exists(f"{ADMISSION}/{kind}/{binding_name(policy, name)}") == (short in kept)
        for short, (kind, policy) in POD_POLICIES.items()
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--pods", type=int, default=150, help="pods per round, 1 creator")
    options.add_argument("--per-creator", type=int, default=20, help="pods per creator at 16")
    options.add_argument("--settle", type=float, default=5, help="seconds for bindings to load")
    options.add_argument(
        "--setups", default="", help="the set-ups to measure, such as c,u (default: all)"
    )
    args = options.parse_args()
    chosen = [column for column in SETUPS if not args.setups or column in args.setups.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        cluster = DevCluster(scratch / "cluster")
        state = cluster.up()
        try:
            install_crds(cluster.kubeconfig)
            admin = Server(state.apiserver_url, cluster.state_dir / "pki")
            tenant = TenantServer(state.apiserver_url, cluster.state_dir / "pki")
            with cluster.api_client() as api:
                tenant_is_admin(api)
                core = client.CoreV1Api(api)
                objects = client.CustomObjectsApi(api)
                core.create_namespace({"metadata": {"name": PLAIN}})
                core.create_namespace(
                    {"metadata": {"name": NATIVE_FLOOR, "labels": {FLOOR_LABEL: "native"}}}
                )
                for manifest in [*native_floor(), _placement_alone(), *_unscoped()]:
                    create_admission(admin, manifest)
                operator = OperatorProcess(cluster.kubeconfig, scratch, "native", free_port())
                for column in chosen:
                    name = f"bench-{column}"
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereigntyprofiles", _profile(name)
                    )
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereignnamespaces", sovereign_namespace(name, name)
                    )
                for column in chosen:
                    name = f"bench-{column}"
                    wait(
                        lambda name=name: (
                            all(
                                admin.exists(f"{ADMISSION}/{kind}/{binding_name(policy, name)}")
                                for short, (kind, policy) in POD_POLICIES.items()
                                if short not in MADE_HERE
                            )
                            and admin.exists(f"/api/v1/namespaces/{name}/serviceaccounts/default")
                        ),
                        f"namespace {name} and its admission objects",
                    )
                operator.stop()
                for column in chosen:
                    _strip(admin, api, column)
                    wait(lambda column=column: _kept(admin, column), f"set-up {column}")
                for name in (PLAIN, NATIVE_FLOOR):
                    wait(
                        lambda name=name: admin.exists(
                            f"/api/v1/namespaces/{name}/serviceaccounts/default"
                        ),
                        f"namespace {name}",
                    )
                wait(lambda: pinned_in(tenant, NATIVE_FLOOR), "the native floor")
                # The API server loads a deleted binding's absence a moment later.
                for column in {"m", "u"} & set(chosen):
                    wait(
                        lambda column=column: pinned_in(tenant, f"bench-{column}"),
                        f"pinning in set-up {column}",
                    )
                time.sleep(args.settle)
                columns = {"a": PLAIN, "e": NATIVE_FLOOR, **{c: f"bench-{c}" for c in chosen}}
                results: dict[str, list[float]] = {column: [] for column in columns}
                walls: dict[str, list[tuple[int, float]]] = {column: [] for column in columns}
                cpu: dict[str, list[tuple[int, float]]] = {column: [] for column in columns}
                apiserver = {
                    record.name: record.pid
                    for record in state.processes
                    if record.name == "kube-apiserver"
                }
                for round_number in range(args.rounds):
                    for column, namespace in columns.items():
                        # Without pinning, pods come pinned already, as placement wants.
                        body = None if column not in PINNED_BEFORE else pinned_pod
                        create_pods(tenant, namespace, 1, 20, body)  # warm-up, not counted
                        one = create_batch(tenant, namespace, 1, args.pods, body, apiserver)
                        results[column].extend(one.latencies)
                        many = create_batch(
                            tenant, namespace, 16, args.per_creator, body, apiserver
                        )
                        walls[column].append((len(many.latencies), many.wall))
                        for batch in (one, many):
                            cpu[column].append((len(batch.latencies), batch.cpu["kube-apiserver"]))
                    print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
                names = {"a": "(a) no policy", "e": "(e) trivial MAP"}
                names.update({column: f"({column}) {SETUPS[column][0]}" for column in chosen})
                rates = {
                    column: sum(n for n, _ in walls[column]) / sum(w for _, w in walls[column])
                    for column in columns
                }
                p50s = {column: statistics.median(results[column]) for column in columns}
                cpus = {
                    column: sum(c for _, c in cpu[column]) / sum(n for n, _ in cpu[column])
                    for column in columns
                }
                print(
                    f"Pod CREATE as a tenant on Kubernetes {server_version(admin)}, operator "
                    f"stopped, {args.rounds} rounds, {args.pods} pods/round at 1 creator, "
                    f"{16 * args.per_creator} at 16"
                )
                print(
                    f"{'':34} {'p50 1c':>9} {'pods/s 16c':>10} {'apisrv CPU':>10}"
                    f" {'p50 /a':>7} {'rate /a':>8} {'CPU /a':>7}"
                    f" {'p50 /e':>7} {'rate /e':>8} {'CPU /e':>7}"
                )
                for column, name in names.items():
                    print(
                        f"{name:34} {p50s[column] * 1000:7.2f}ms {rates[column]:10.0f}"
                        f" {cpus[column] * 1000:8.2f}ms"
                        f" {p50s[column] / p50s['a']:6.2f}x {rates[column] / rates['a']:7.2f}x"
                        f" {cpus[column] / cpus['a']:6.2f}x"
                        f" {p50s[column] / p50s['e']:6.2f}x {rates[column] / rates['e']:7.2f}x"
                        f" {cpus[column] / cpus['e']:6.2f}x"
                    )
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
