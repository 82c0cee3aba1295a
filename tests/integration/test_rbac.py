"""The chart's ClusterRole is enough for the operator, and no more than it uses.

The chart's ServiceAccount, ClusterRole and ClusterRoleBinding are installed into a
control plane of this module's own, whose API server writes an audit log of every
request that ServiceAccount makes. The operator runs with a token of that ServiceAccount
through real scenarios (a profile shipped by the chart, tenants Ready, drift repaired,
pods pinned and evicted, resident volumes claimed and released, both deletion policies,
the profile deleted). Then the audit log must show no refused request, and every verb
the role grants must have been used — or be listed in :data:`NOT_EXERCISED` with the
reason no scenario here can reach it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from souverain.devcluster.cluster import DevCluster
from tests.support.cluster import Cluster, wait_for
from tests.support.helm import helm, render
from tests.support.operator import Operator
from tests.support.repository import REPO

NAMESPACE = "souverain-system"
ACCOUNT = "souverain"
USERNAME = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
PROFILE = "french-sovereign"
LEASE = "souverain"
SOVEREIGN_LABEL = "node-restriction.kubernetes.io/french-sovereign"

Permission = tuple[str, str, str]
"""(API group, resource[/subresource], verb)."""

NOT_EXERCISED: dict[Permission, str] = {
    ("cilium.io", "ciliumnetworkpolicies", verb): (
        "Cilium's CRDs are not served here: the operator only calls them where they are"
    )
    for verb in ("list", "patch", "create", "update", "delete")
} | {
    ("rbac.authorization.k8s.io", "rolebindings", "update"): (
        "replacing a RoleBinding is only needed when server-side apply cannot restore it;"
        " its subjects are an atomic list that a forced apply always restores"
    ),
    ("rbac.authorization.k8s.io", "clusterroles", "bind"): (
        "an authorization check, not a request: checked below with a SubjectAccessReview"
        " and by the owners' RoleBinding being applied"
    ),
}
PROBE_USER = "souverain:probe"
"""Requests the operator makes as the probe user are authorized as that user (its own
ClusterRole): what the operator uses of its own role there is ``impersonate``."""


class AuditedCluster(DevCluster):
    """The local control plane, with an audit log of the operator's requests."""

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.log"

    def _apiserver_args(self, ports: dict[str, int], files: dict[str, Path]) -> list[str]:
        policy = self.state_dir / "audit-policy.yaml"
        policy.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "audit.k8s.io/v1",
                    "kind": "Policy",
                    "omitStages": ["RequestReceived"],
                    "rules": [
                        {"level": "Metadata", "users": [USERNAME]},
                        {"level": "None"},
                    ],
                }
            )
        )
        return [
            *super()._apiserver_args(ports, files),
            f"--audit-policy-file={policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-mode=blocking",
        ]


@dataclass
class Run:
    """What the scenarios left behind: the audit log and the operator's logs."""

    audit: list[dict[str, Any]]
    logs: str
    role: dict[str, Any]
    can_bind: dict[str, bool]


def role_permissions(role: dict[str, Any]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used_permissions(audit: list[dict[str, Any]]) -> set[Permission]:
    used = set()
    for event in audit:
        ref = event.get("objectRef")
        if (event.get("impersonatedUser") or {}).get("username") == PROBE_USER:
            used.add(("", "users", "impersonate"))
            continue
        if not ref or not ref.get("resource"):
            continue  # discovery and other non-resource URLs, which every user may read
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        used.add((ref.get("apiGroup", ""), resource, event["verb"]))
        if event["verb"] == "patch" and event.get("responseStatus", {}).get("code") == 201:
            # A server-side apply that creates the object is authorized as a create too.
            used.add((ref.get("apiGroup", ""), resource, "create"))
    return used


def _sa_kubeconfig(cluster: Cluster, folder: Path) -> Path:
    token = cluster.kubectl(
        "create", "token", ACCOUNT, "-n", NAMESPACE, "--duration=2h"
    ).stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    [entry] = admin["clusters"]
    kubeconfig = folder / "operator.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": entry["cluster"]}],
                "users": [{"name": ACCOUNT, "user": {"token": token}}],
                "contexts": [{"name": ACCOUNT, "context": {"cluster": "local", "user": ACCOUNT}}],
                "current-context": ACCOUNT,
            }
        )
    )
    return kubeconfig


def _apply(cluster: Cluster, folder: Path, *objects: dict[str, Any]) -> None:
    manifest = folder / f"objects-{time.monotonic_ns()}.yaml"
    manifest.write_text(yaml.safe_dump_all(list(objects)))
    cluster.kubectl("apply", "-f", str(manifest))


def _get(cluster: Cluster, *args: str) -> dict[str, Any] | None:
    result = cluster.kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _tenant(name: str, policy: str) -> dict[str, Any]:
    tenant = yaml.safe_load((REPO / "examples" / "sovereignnamespace-tenant.yaml").read_text())
    tenant["metadata"]["name"] = name
    tenant["spec"]["deletionPolicy"] = policy
    return tenant


def _wait_ready(cluster: Cluster, kind: str, name: str, namespace: str | None = None) -> None:
    where = ["-n", namespace] if namespace else []
    result = cluster.kubectl(
        "wait", "--for=condition=Ready", f"{kind}/{name}", *where, "--timeout=90s", check=False
    )
    assert result.returncode == 0, f"{kind}/{name} not Ready: {result.stderr}"


def _scenarios(cluster: Cluster, folder: Path) -> str:
    """Runs the operator as the chart's ServiceAccount through everything it does;
    returns its logs."""
    objects = render("defaultProfile.spec.enforcement.evictNonCompliant=true", namespace=NAMESPACE)
    shipped = folder / "profiles"
    shipped.mkdir()
    for name, text in next(o for o in objects if o["metadata"]["name"].endswith("-profiles"))[
        "data"
    ].items():
        (shipped / name).write_text(text)
    kubeconfig = _sa_kubeconfig(cluster, folder)
    logs = []

    # Native admission only: the operator removes any webhook configuration of its own.
    first = Operator(
        cluster,
        folder,
        kubeconfig=kubeconfig,
        username=USERNAME,
        extra_env={
            "SOUVERAIN_PROFILES_DIR": str(shipped),
            "SOUVERAIN_LEASE": f"{NAMESPACE}/{LEASE}",
            "SOUVERAIN_ADMISSION_LAYERS": "native",
        },
    )
    first.start()
    try:
        # The chart's profile, applied by the operator itself once it holds the Lease.
        wait_for(lambda: _get(cluster, "sovereigntyprofile", PROFILE), "the shipped profile")
        _wait_ready(cluster, "sovereigntyprofile", PROFILE)
        lease = wait_for(
            lambda: (_get(cluster, "lease", LEASE, "-n", NAMESPACE) or {}).get("spec"),
            "the replica's Lease",
        )
        assert lease["holderIdentity"]
    finally:
        first.stop()
        logs.append(first.log())

    # With its webhooks (which the Operator fixture serves on loopback) as well, owned by
    # the chart's ClusterRole as the chart sets it.
    second = Operator(
        cluster,
        folder,
        kubeconfig=kubeconfig,
        username=USERNAME,
        extra_env={
            "SOUVERAIN_PROFILES_DIR": str(shipped),
            "SOUVERAIN_LEASE": f"{NAMESPACE}/{LEASE}",
            "SOUVERAIN_WEBHOOK_OWNER": ACCOUNT,
        },
    )
    second.starts = first.starts
    second.start()
    try:
        _run_tenants(cluster, folder)
    finally:
        second.stop()
        logs.append(second.log())
    return "\n".join(logs)


def _run_tenants(cluster: Cluster, folder: Path) -> None:
    # A tenant that is kept on deletion, and one that is deleted with its namespace.
    _apply(cluster, folder, _tenant("rbac-retain", "Retain"), _tenant("rbac-delete", "Delete"))
    for name in ("rbac-retain", "rbac-delete"):
        _wait_ready(cluster, "sovereignnamespace", name)
    wait_for(
        lambda: _get(cluster, "serviceaccount", "default", "-n", "rbac-retain"),
        "the tenant's default ServiceAccount",
    )

    # Drift: a deleted policy comes back; a widened deny-all policy is replaced.
    cluster.kubectl("delete", "networkpolicy", "souverain-deny-egress", "-n", "rbac-retain")
    wait_for(
        lambda: _get(cluster, "networkpolicy", "souverain-deny-egress", "-n", "rbac-retain"),
        "the deleted egress floor policy to come back",
    )
    cluster.kubectl(
        "patch",
        "networkpolicy",
        "souverain-deny-egress",
        "-n",
        "rbac-retain",
        "--type=merge",
        "-p",
        '{"spec": {"egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}}',
    )
    wait_for(
        lambda: (
            not (_get(cluster, "networkpolicy", "souverain-deny-egress", "-n", "rbac-retain") or {})
            .get("spec", {})
            .get("egress")
        ),
        "the widened deny-all policy to be put back",
    )
    cluster.kubectl(
        "label",
        "rolebinding",
        "souverain-owners",
        "-n",
        "rbac-retain",
        "app.kubernetes.io/managed-by-",
    )
    wait_for(
        lambda: (
            (_get(cluster, "rolebinding", "souverain-owners", "-n", "rbac-retain") or {})
            .get("metadata", {})
            .get("labels", {})
            .get("app.kubernetes.io/managed-by")
            == "souverain"
        ),
        "the owners' RoleBinding to get its labels back",
    )

    # Placement: a pod is pinned to a sovereign node, and evicted when that node stops
    # qualifying (the profile asks for eviction).
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": "rbac-retain"},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
    }
    _apply(cluster, folder, pod)

    def scheduled() -> str | None:
        found = _get(cluster, "pod", "app", "-n", "rbac-retain") or {}
        node: str | None = found.get("spec", {}).get("nodeName")
        return node if found.get("status", {}).get("phase") == "Running" else None

    node = wait_for(scheduled, "the tenant's pod to run")
    labels = (_get(cluster, "node", node) or {})["metadata"]["labels"]
    assert labels.get(SOVEREIGN_LABEL) == "true", f"pod placed on {node}: {labels}"
    cluster.kubectl("label", "node", node, f"{SOVEREIGN_LABEL}-")
    try:
        wait_for(
            lambda: _get(cluster, "pod", "app", "-n", "rbac-retain") is None,
            f"the pod on {node} to be evicted",
            timeout=90,
        )
    finally:
        cluster.kubectl("label", "node", node, f"{SOVEREIGN_LABEL}=true", "--overwrite")

    # Residency: a class the profile allows, a French volume to bind, claims released
    # with each reclaim policy.
    _apply(
        cluster,
        folder,
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "sovereign-ssd"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "rbac-french"},
            "spec": {
                "capacity": {"storage": "20Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "sovereign-ssd",
                "persistentVolumeReclaimPolicy": "Retain",
                "local": {"path": "/mnt/rbac"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": ["sov-fr-1"],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
        },
    )
    volume = yaml.safe_load((REPO / "examples" / "residentvolume.yaml").read_text())
    volume["metadata"]["namespace"] = "rbac-retain"
    released = {**volume, "metadata": {"name": "scratch", "namespace": "rbac-retain"}}
    released["spec"] = {**volume["spec"], "size": "1Gi", "reclaim": "Delete"}
    _apply(cluster, folder, volume, released)
    wait_for(
        lambda: _get(cluster, "pvc", "ledger-data", "-n", "rbac-retain"),
        "the resident volume's claim",
    )
    consumer = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ledger", "namespace": "rbac-retain"},
        "spec": {
            "containers": [{"name": "db", "image": "registry.example/db:1"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "ledger-data"}}],
        },
    }
    _apply(cluster, folder, consumer)

    def bound() -> str | None:
        body = _get(cluster, "residentvolume", "ledger-data", "-n", "rbac-retain") or {}
        name: str | None = body.get("status", {}).get("volumeName")
        return name

    try:
        assert wait_for(bound, "the resident volume to be bound") == "rbac-french"
    except AssertionError as error:
        seen = cluster.kubectl("get", "rv,pvc,pv", "-A", "-o", "yaml", check=False).stdout
        raise AssertionError(f"{error}\n{seen}") from None
    wait_for(
        lambda: _get(cluster, "pvc", "scratch", "-n", "rbac-retain"), "the second volume's claim"
    )
    cluster.kubectl("delete", "residentvolume", "ledger-data", "scratch", "-n", "rbac-retain")
    wait_for(
        lambda: _get(cluster, "pvc", "scratch", "-n", "rbac-retain") is None,
        "the claim of the volume reclaimed with Delete to go",
    )
    kept = _get(cluster, "pvc", "ledger-data", "-n", "rbac-retain")
    assert kept is not None, "reclaim Retain keeps the claim"

    # Deletion with both policies, then the profile, which takes its bindings with it.
    cluster.kubectl("delete", "sovereignnamespace", "rbac-retain", "rbac-delete", "--wait")
    retained = _get(cluster, "namespace", "rbac-retain")
    assert retained is not None
    assert retained["metadata"]["labels"].get("souverain.io/retained") == "true"
    assert _get(cluster, "networkpolicy", "souverain-deny-egress", "-n", "rbac-retain") is None
    wait_for(
        lambda: (
            (_get(cluster, "namespace", "rbac-delete") or {"status": {"phase": "Gone"}})["status"][
                "phase"
            ]
            in ("Terminating", "Gone")
        ),
        "the namespace of the Delete tenant to go",
    )
    cluster.kubectl("delete", "sovereigntyprofile", PROFILE, "--wait", "--timeout=60s")
    bindings = cluster.kubectl(
        "get", "validatingadmissionpolicybindings", "-o", "name"
    ).stdout.split()
    assert not [b for b in bindings if PROFILE in b], bindings


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("rbac")
    local = AuditedCluster(folder / "cluster")
    try:
        local.up()
        cluster = Cluster(local.kubeconfig, "local")
        cluster.kubectl("create", "namespace", NAMESPACE)
        chart = REPO / "helm" / "souverain"
        access = helm(
            "template",
            "souverain",
            str(chart),
            "-n",
            NAMESPACE,
            "--kube-version",
            "1.37.2",
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        )
        crds = [o for o in render() if o["kind"] == "CustomResourceDefinition"]
        (folder / "access.yaml").write_text(access)
        (folder / "crds.yaml").write_text(yaml.safe_dump_all(crds))
        cluster.kubectl("apply", "--server-side", "-f", str(folder / "crds.yaml"))
        cluster.kubectl("wait", "--for=condition=Established", "-f", str(folder / "crds.yaml"))
        cluster.kubectl("apply", "-f", str(folder / "access.yaml"))
        documents = [d for d in yaml.safe_load_all(access) if d]
        cluster_role = next(d for d in documents if d["kind"] == "ClusterRole")
        election = next(d for d in documents if d["metadata"]["name"].endswith("-leader-election"))
        history = next(d for d in documents if d["metadata"]["name"].endswith("-history"))
        role = {"rules": [*cluster_role["rules"], *election["rules"], *history["rules"]]}
        can_bind = {
            name: cluster.kubectl(
                "auth", "can-i", "bind", f"clusterroles/{name}", f"--as={USERNAME}", check=False
            ).stdout.strip()
            == "yes"
            for name in ("admin", "cluster-admin", "edit")
        }
        logs = _scenarios(cluster, folder)
        audit = [json.loads(line) for line in local.audit_log.read_text().splitlines() if line]
        yield Run(audit=audit, logs=logs, role=role, can_bind=can_bind)
    finally:
        if local.audit_log.exists():  # kept for a look after a failure
            (folder / "audit.log").write_bytes(local.audit_log.read_bytes())
        local.down()


def test_the_operator_is_never_refused(run: Run) -> None:
    """The probes, sent as the probe user, are refused by design (their escapes) and
    until the probe's grant is in force: they are not the operator's own requests."""
    refused = [
        f"{e['verb']} {e.get('objectRef')} -> {e['responseStatus'].get('code')}"
        for e in run.audit
        if e.get("responseStatus", {}).get("code") == 403
        and (e.get("impersonatedUser") or {}).get("username") != PROBE_USER
    ]
    assert refused == []
    # A 403 status, not the digits inside a port number or an address.
    assert not re.search(r"(?<![\w.:])403(?![\w.])", run.logs), run.logs
    assert "forbidden" not in run.logs.lower()


def test_the_audit_log_is_the_operators() -> None:
    # The check below relies on the audit policy recording this user's requests only.
    assert used_permissions(
        [
            {"verb": "get", "objectRef": {"resource": "pods", "subresource": "log"}},
            {"verb": "get", "requestURI": "/apis"},
            {"verb": "create", "objectRef": {"resource": "x", "apiGroup": "g.io"}},
            {"verb": "patch", "objectRef": {"resource": "y"}, "responseStatus": {"code": 201}},
            {"verb": "patch", "objectRef": {"resource": "z"}, "responseStatus": {"code": 200}},
        ]
    ) == {
        ("", "pods/log", "get"),
        ("g.io", "x", "create"),
        ("", "y", "patch"),
        ("", "y", "create"),
        ("", "z", "patch"),
    }


def test_the_role_grants_only_what_the_operator_uses(run: Run) -> None:
    granted = role_permissions(run.role)
    used = used_permissions(run.audit)
    assert used - granted == set(), "used without being granted (they were refused)"
    unused = {p for p in granted - used if p not in NOT_EXERCISED}
    assert unused == set(), "granted but never used: remove them or say why in NOT_EXERCISED"
    stale = {p for p in NOT_EXERCISED if p not in granted or p in used}
    assert stale == set(), "NOT_EXERCISED lists permissions that are used or not granted"


def test_binding_admin_is_the_only_escalation(run: Run) -> None:
    """The owners' RoleBinding grants ``admin``: the role may bind that one ClusterRole."""
    assert run.can_bind == {"admin": True, "cluster-admin": False, "edit": False}
    created = [
        e
        for e in run.audit
        if e["verb"] == "patch"
        and (e.get("objectRef") or {}).get("resource") == "rolebindings"
        and e["responseStatus"].get("code") in (200, 201)
    ]
    assert created, "the owners' RoleBinding was applied under the role"
