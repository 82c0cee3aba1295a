"""The Helm chart: lint, schema, rendered objects, and its life cycle on a real control plane.

The life-cycle tests install, upgrade and uninstall the chart's CRDs, so they run on a
control plane of their own rather than on the session's, whose CRDs other tests use.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from souverain.devcluster.cluster import DevCluster
from souverain.reconcile.probe_objects import probe_role
from tests.support.cluster import Cluster, wait_for
from tests.support.helm import CHART, KUBE_VERSION, NAMESPACE, helm, render
from tests.support.repository import REPO

CRD_NAMES = {
    "sovereigntyprofiles.souverain.io",
    "sovereignnamespaces.souverain.io",
    "residentvolumes.souverain.io",
}


PROBE = "souverain-probe"


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"{len(matches)} {kind} {name or ''} in {kinds(objects)}"
    return matches[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


# -- lint, schema and rendering: no cluster --------------------------------------------


def test_chart_lints_strict() -> None:
    out = helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in out


def test_every_value_is_documented_with_a_comment_above_it() -> None:
    """Each value has a comment right above it, or sits inside a documented object value
    (``resources``, ``securityContext``, the default profile's ``spec``)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    ancestors: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")):
            continue
        indent = len(line) - len(line.lstrip())
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        documented = lines[number - 1].strip().startswith("#") or any(d for _, d in ancestors)
        if not stripped.endswith(":") and not documented:
            undocumented.append(f"line {number + 1}: {stripped}")
        ancestors.append((indent, documented))
    assert undocumented == []


def test_schema_matches_the_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], value: Any, path: str) -> list[str]:
        missing = []
        if node.get("type") == "object" and isinstance(value, dict) and "properties" in node:
            for key, child in value.items():
                if key not in node["properties"]:
                    missing.append(f"{path}.{key}")
                else:
                    missing += walk(node["properties"][key], child, f"{path}.{key}")
        return missing

    assert walk(schema, values, "") == []


@pytest.mark.parametrize(
    ("value", "says"),
    [
        pytest.param("replicaCount=0", "replicaCount", id="no-replicas"),
        pytest.param("replicas=2", "additional properties 'replicas'", id="unknown-value"),
        pytest.param("webhook.port=0", "port", id="webhook-port"),
        pytest.param("webhook.nativePolicies=maybe", "nativePolicies", id="layers"),
        pytest.param("image.pullPolicy=Sometimes", "pullPolicy", id="pull-policy"),
        pytest.param("image.digest=latest", "digest", id="digest"),
        pytest.param("operator.logFormat=xml", "logFormat", id="log-format"),
        pytest.param("podAntiAffinity=maybe", "podAntiAffinity", id="anti-affinity"),
        pytest.param("metrics.port=70000", "port", id="port-range"),
        pytest.param("defaultProfile.name=French_Sovereign", "name", id="profile-name"),
        pytest.param("networkPolicy.apiServerCIDRs={not-a-cidr}", "apiServerCIDRs", id="cidr"),
        pytest.param("resources.limits.memory=lots", "memory", id="quantity"),
        pytest.param("webhook.certManager.issuerRef.kind=Secret", "kind", id="issuer-kind"),
    ],
)
def test_schema_refuses_bad_values(value: str, says: str) -> None:
    out = helm(
        "template", "s", str(CHART), "--kube-version", KUBE_VERSION, "--set", value, check=False
    )
    assert "values don't meet the specifications of the schema" in out, out
    assert says in out


def test_schema_refuses_a_string_where_a_boolean_belongs() -> None:
    out = helm(
        "template",
        "s",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set-string",
        "crds.keep=yes",
        check=False,
    )
    assert "/crds/keep" in out


def test_default_objects() -> None:
    objects = render()
    assert kinds(objects) == [
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "ConfigMap",
        *["CustomResourceDefinition"] * 3,
        "Deployment",
        "PodDisruptionBudget",
        *["Role"] * 3,
        *["RoleBinding"] * 3,
        "Service",
        "Service",
        "ServiceAccount",
    ]
    dashboard = next(o for o in objects if o["metadata"]["name"].endswith("-dashboard"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(
        (REPO / "helm" / "souverain" / "dashboards" / "souverain.json").read_text()
    )
    assert json.loads(dashboard["data"]["souverain.json"]) == shipped
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Role"}
    certificate = roles["souverain-webhook-certificate"]
    assert certificate["rules"][0]["resourceNames"] == ["souverain-webhook-generated"]
    history = roles["souverain-history"]
    assert history["metadata"]["namespace"] == NAMESPACE
    assert history["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update"]}
    ]
    election = roles["souverain-leader-election"]
    assert election["metadata"]["namespace"] == NAMESPACE
    assert election["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["souverain"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    environment = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert environment["SOUVERAIN_WEBHOOK_SECRET"].endswith("/souverain-webhook-generated")
    crds = {o["metadata"]["name"]: o for o in objects if o["kind"] == "CustomResourceDefinition"}
    assert set(crds) == CRD_NAMES
    for crd in crds.values():
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    committed = {
        path.name: yaml.safe_load(path.read_text()) for path in (REPO / "crds").glob("*.yaml")
    }
    for plain in committed.values():
        assert crds[plain["metadata"]["name"]]["spec"] == plain["spec"]


def test_deployment_is_highly_available_and_hardened() -> None:
    objects = render()
    deployment = find(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/souverain/souverain:0.1.0"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector
    budget = find(objects, "PodDisruptionBudget")
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}
    for service in (o for o in objects if o["kind"] == "Service"):
        assert service["spec"]["selector"] == selector
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["command"] == ["souverain", "run"]
    assert env["SOUVERAIN_LEASE"] == f"{NAMESPACE}/souverain"
    assert env["SOUVERAIN_LEASE_SECONDS"] == "10"
    identity = next(e for e in container["env"] if e["name"] == "SOUVERAIN_IDENTITY")
    assert identity["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["SOUVERAIN_METRICS_ADDRESS"] == "0.0.0.0:9090"
    assert env["SOUVERAIN_LIVENESS"] == "0.0.0.0:8080"
    assert env["SOUVERAIN_WEBHOOK_SERVICE"] == f"{NAMESPACE}/souverain-webhook:443"
    assert env["SOUVERAIN_WEBHOOK_LISTEN"] == "0.0.0.0:9443"
    assert env["SOUVERAIN_WEBHOOK_CERT_DIR"] == "/tmp/webhook-tls"
    assert env["SOUVERAIN_ADMISSION_LAYERS"] == "native,webhook"
    assert env["SOUVERAIN_PROFILES_DIR"] == "/etc/souverain/profiles"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/etc/souverain/profiles": "profiles"}


def test_operator_username_is_the_service_account_the_pods_run_as() -> None:
    for values in ((), ("serviceAccount.name=guard",), ("fullnameOverride=sov",)):
        objects = render(*values, namespace="platform")
        account = find(objects, "ServiceAccount")
        deployment = find(objects, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        name = account["metadata"]["name"]
        assert env["SOUVERAIN_OPERATOR_USERNAME"] == f"system:serviceaccount:platform:{name}"
        binding = find(objects, "ClusterRoleBinding")
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": name, "namespace": "platform"}
        ]
        operator_role = [
            o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] != PROBE
        ]
        assert [binding["roleRef"]["name"]] == [o["metadata"]["name"] for o in operator_role]


def test_the_probe_role_is_what_the_operator_makes_where_it_is_missing() -> None:
    """The chart's ClusterRole of the probe user is the one the operator creates at
    start-up where an installation has none."""
    probe = find(render(), "ClusterRole", PROBE)
    assert probe["rules"] == probe_role()["rules"]


def test_one_replica_has_no_budget_and_still_holds_the_lease() -> None:
    objects = render("replicaCount=1")
    assert "PodDisruptionBudget" not in kinds(objects)
    [container] = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["souverain", "run"]
    assert "SOUVERAIN_LEASE" in {e["name"] for e in container["env"]}


def test_crds_can_be_left_out_or_not_kept() -> None:
    assert "CustomResourceDefinition" not in kinds(render("crds.enabled=false"))
    not_kept = [o for o in render("crds.keep=false") if o["kind"] == "CustomResourceDefinition"]
    assert len(not_kept) == 3
    assert all("annotations" not in o["metadata"] for o in not_kept)


def test_cert_manager_issues_the_webhook_certificate() -> None:
    objects = render("webhook.certManager.enabled=true")
    certificate = find(objects, "Certificate")
    issuer = find(objects, "Issuer")
    assert certificate["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]
    assert f"souverain-webhook.{NAMESPACE}.svc" in certificate["spec"]["dnsNames"]
    pod = find(objects, "Deployment")["spec"]["template"]["spec"]
    secrets = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    assert secrets == [certificate["spec"]["secretName"]]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["SOUVERAIN_WEBHOOK_CERT_DIR"] == "/etc/souverain/webhook-tls"

    named = render(
        "webhook.certManager.enabled=true",
        "webhook.certManager.issuerRef.kind=ClusterIssuer",
        "webhook.certManager.issuerRef.name=corporate-ca",
    )
    assert "Issuer" not in kinds(named)
    assert find(named, "Certificate")["spec"]["issuerRef"] == {
        "kind": "ClusterIssuer",
        "name": "corporate-ca",
    }
    no_webhook = render("webhook.enabled=false")
    assert "Certificate" not in kinds(no_webhook)
    [container] = find(no_webhook, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SOUVERAIN_ADMISSION_LAYERS"] == "native"
    assert "SOUVERAIN_WEBHOOK_SERVICE" not in env


def test_service_monitor_and_network_policy_are_optional() -> None:
    assert "ServiceMonitor" not in kinds(render())
    assert "NetworkPolicy" not in kinds(render())
    monitor = find(render("metrics.serviceMonitor.enabled=true"), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    policy = find(
        render("networkPolicy.enabled=true", "networkPolicy.apiServerCIDRs={192.0.2.10/32}"),
        "NetworkPolicy",
    )
    [to_api] = [rule for rule in policy["spec"]["egress"] if "to" in rule]
    assert to_api["to"] == [{"ipBlock": {"cidr": "192.0.2.10/32"}}]
    metrics_off = render("metrics.enabled=false")
    assert [o["metadata"]["name"] for o in metrics_off if o["kind"] == "Service"] == [
        "souverain-webhook"
    ]


def test_default_profile_follows_the_values() -> None:
    objects = render("defaultProfile.spec.enforcement.mode=Audit", "defaultProfile.name=fr-audit")
    config = find(objects, "ConfigMap", "souverain-profiles")
    [profile] = list(yaml.safe_load_all(config["data"]["fr-audit.yaml"]))
    assert profile["kind"] == "SovereigntyProfile"
    assert profile["metadata"]["name"] == "fr-audit"
    assert profile["spec"]["enforcement"]["mode"] == "Audit"
    checksums = {
        find(render(*v), "Deployment")["spec"]["template"]["metadata"]["annotations"][
            "checksum/profiles"
        ]
        for v in ((), ("defaultProfile.spec.enforcement.mode=Audit",))
    }
    assert len(checksums) == 2, "a changed profile must restart the pods, which apply it"
    assert "souverain-profiles" not in {
        o["metadata"]["name"] for o in render("defaultProfile.enabled=false")
    }


# -- on a control plane of their own ----------------------------------------------------


@pytest.fixture(scope="module")
def private_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A local control plane for this module only: its tests create and delete CRDs."""
    local = DevCluster(tmp_path_factory.mktemp("helm-cluster"))
    try:
        local.up()
        yield Cluster(local.kubeconfig, "local")
    finally:
        local.down()


def _dry_run(cluster: Cluster, objects: list[dict[str, Any]], tmp_path: Path) -> str:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    result = cluster.kubectl("apply", "--dry-run=server", "-f", str(manifest), check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "values",
    [
        pytest.param((), id="defaults"),
        pytest.param(("replicaCount=1",), id="one-replica"),
        pytest.param(("networkPolicy.enabled=true", "metrics.enabled=false"), id="netpol"),
        pytest.param(("webhook.enabled=false", "crds.keep=false"), id="no-webhook"),
        pytest.param(("podAntiAffinity=hard", "image.digest=sha256:" + "a" * 64), id="hard"),
    ],
)
def test_rendered_objects_are_valid_for_the_api_server(
    private_cluster: Cluster, values: tuple[str, ...], tmp_path: Path
) -> None:
    private_cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    objects = render(*values)
    out = _dry_run(private_cluster, objects, tmp_path)
    assert out.count("(server dry run)") == len(objects)


def test_default_profile_is_valid_for_its_crd(private_cluster: Cluster, tmp_path: Path) -> None:
    objects = render()
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    manifest = tmp_path / "crds.yaml"
    manifest.write_text(yaml.safe_dump_all(crds))
    private_cluster.kubectl("apply", "--server-side", "-f", str(manifest))
    private_cluster.kubectl("wait", "--for=condition=Established", "-f", str(manifest))
    data = find(objects, "ConfigMap", "souverain-profiles")["data"]
    profiles = [doc for text in data.values() for doc in yaml.safe_load_all(text)]
    assert [p["metadata"]["name"] for p in profiles] == ["french-sovereign"]
    out = _dry_run(private_cluster, profiles, tmp_path)
    assert "sovereigntyprofile.souverain.io/french-sovereign created (server dry run)" in out
    for crd in crds:
        private_cluster.kubectl("delete", "crd", crd["metadata"]["name"])


def _crd(cluster: Cluster, name: str) -> dict[str, Any] | None:
    result = cluster.kubectl("get", "crd", name, "-o", "json", check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def _available(cluster: Cluster) -> dict[str, Any] | None:
    out = cluster.kubectl("get", "deployment", "souverain", "-n", NAMESPACE, "-o", "json")
    deployment: dict[str, Any] = json.loads(out.stdout)
    status = deployment.get("status", {})
    return deployment if status.get("availableReplicas") == 2 else None


def test_install_upgrade_and_uninstall(private_cluster: Cluster, tmp_path: Path) -> None:
    kubeconfig = private_cluster.kubeconfig
    private_cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait")
    install = ["souverain", str(CHART), "-n", NAMESPACE, "--create-namespace"]
    helm("install", *install, "--wait", "--timeout", "180s", kubeconfig=kubeconfig)

    # The Deployment reports available pods, on kwok's fake nodes (which run no container).
    wait_for(lambda: _available(private_cluster), "2 available operator pods", timeout=120)
    pods = json.loads(
        private_cluster.kubectl(
            "get",
            "pods",
            "-n",
            NAMESPACE,
            "-l",
            "app.kubernetes.io/component=operator",
            "-o",
            "json",
        ).stdout
    )["items"]
    nodes = {pod["spec"]["nodeName"] for pod in pods if pod["status"].get("phase") == "Running"}
    assert len(nodes) == 2, "the anti-affinity spreads the two replicas over two nodes"
    for name in CRD_NAMES:
        crd = _crd(private_cluster, name)
        assert crd is not None
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"

    # An upgrade whose CRD changed reaches the CRD (a crds/ folder would not).
    changed = tmp_path / "souverain"
    shutil.copytree(CHART, changed)
    template = changed / "templates" / "crds" / "souverain.io_sovereignnamespaces.yaml"
    text = template.read_text()
    anchor = "  - additionalPrinterColumns:\n"
    assert anchor in text
    template.write_text(
        text.replace(
            anchor,
            anchor + "    - description: What deleting it does.\n"
            "      jsonPath: .spec.deletionPolicy\n"
            "      name: Deletion-Policy\n"
            "      priority: 1\n"
            "      type: string\n",
        )
    )
    helm("upgrade", "souverain", str(changed), "-n", NAMESPACE, "--wait", kubeconfig=kubeconfig)
    crd = _crd(private_cluster, "sovereignnamespaces.souverain.io")
    assert crd is not None
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert "Deletion-Policy" in columns

    # Uninstalling keeps the CRDs (crds.keep, the default), and with them every tenant.
    private_cluster.kubectl(
        "apply", "-f", str(REPO / "examples" / "sovereigntyprofile-french-sovereign.yaml")
    )
    helm("uninstall", "souverain", "-n", NAMESPACE, "--wait", kubeconfig=kubeconfig)
    assert all(_crd(private_cluster, name) is not None for name in CRD_NAMES)
    assert private_cluster.kubectl("get", "sovereigntyprofile", "french-sovereign").returncode == 0
    assert (
        private_cluster.kubectl("get", "deployment", "souverain", "-n", NAMESPACE, check=False)
        .stderr.strip()
        .endswith('"souverain" not found')
    )

    # Installed again without crds.keep, the release adopts the CRDs and removes them.
    helm(
        "install",
        *install,
        "--set",
        "crds.keep=false",
        "--wait",
        "--timeout",
        "180s",
        kubeconfig=kubeconfig,
    )
    crd = _crd(private_cluster, "sovereignnamespaces.souverain.io")
    assert crd is not None
    assert "Deletion-Policy" not in json.dumps(crd["spec"])
    # Helm decides what to keep from the release's manifest, not the live annotations.
    manifest = helm("get", "manifest", "souverain", "-n", NAMESPACE, kubeconfig=kubeconfig)
    assert "CustomResourceDefinition" in manifest
    assert "helm.sh/resource-policy" not in manifest
    helm("uninstall", "souverain", "-n", NAMESPACE, "--wait", kubeconfig=kubeconfig)
    wait_for(
        lambda: all(_crd(private_cluster, name) is None for name in CRD_NAMES),
        "the CRDs to be deleted with the release",
    )
