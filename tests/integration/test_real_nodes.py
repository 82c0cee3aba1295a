"""The operator as users run it: the image built from the Dockerfile, on real kubelets and
containerd, installed with ``helm install`` and its default values.

A control plane of its own with two real nodes, ``real-fr-1`` (French-sovereign) and
``real-us-1`` (not), beside the kwok nodes, which are tainted so that what is scheduled
lands on a node that runs it. The tests go in the order a platform team goes: install,
a tenant, the refusals, an upgrade, a failover, the uninstall. Durations are printed for
the benchmarks' notes, never asserted.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.devcluster import hostnet
from souverain.devcluster.cluster import DevCluster
from souverain.devcluster.realnodes import RealNodesError
from tests.support.cluster import Cluster, wait_for
from tests.support.helm import CHART, NAMESPACE, helm
from tests.support.placement import bind, native_placement_holds
from tests.support.real_nodes import (
    busybox_pod,
    image_archives,
    phase_of,
    skip_unless_real_nodes_run_here,
)
from tests.support.tenancy import SOVEREIGN, Tenancy

pytestmark = [pytest.mark.real_nodes, pytest.mark.timeout(900)]

FRENCH, ABROAD = "real-fr-1", "real-us-1"
RELEASE = "souverain"
TENANT = "alice"
PROFILE = "french-sovereign"
"""The profile the chart ships and applies by default."""


@pytest.fixture(scope="module")
def archives() -> list[Path]:
    skip_unless_real_nodes_run_here()
    return image_archives()


def _processes_under(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(folder) in argv:
                found.append(f"{entry.name}: {argv[:120]}")
    return found


def test_down_removes_containers_network_and_rules_it_made(
    archives: list[Path], tmp_path: Path
) -> None:
    before = hostnet.snapshot()
    dev = DevCluster(tmp_path / "cluster", real_nodes=2, images=archives)
    try:
        dev.up()
        cluster = Cluster(dev.kubeconfig, "local")
        core = client.CoreV1Api(cluster.api())
        serve = "mkdir -p /tmp/www && echo souverain > /tmp/www/index.html"
        core.create_namespaced_pod(
            "default",
            busybox_pod("web", f"{serve} && exec httpd -f -p 8080 -h /tmp/www", nodeName=FRENCH),
        )
        core.create_namespaced_pod(
            "default", busybox_pod("client", "exec sleep 3600", nodeName=ABROAD)
        )
        core.create_namespaced_service(
            "default",
            {
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
            },
        )
        for name in ("web", "client"):
            wait_for(lambda n=name: phase_of(core, "default", n) == "Running", f"{name} to run")
        # From one node's pod to the other's, through the Service's address (kube-proxy).
        address = core.read_namespaced_service("web", "default").spec.cluster_ip
        # busybox's nc, not its wget: the static wget of Debian's busybox crashes in a
        # container with no /etc (glibc's resolver).
        request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {address} 80"
        fetch = ["exec", "client", "--", "sh", "-c", request]
        wait_for(
            lambda: cluster.kubectl(*fetch, check=False).stdout.strip().endswith("souverain"),
            "the Service to answer across nodes",
        )
        during = hostnet.snapshot()
        assert during != before, "real nodes should have made a bridge and rules"
        assert any("default/web" in rule for rule in during["iptables"])
    finally:
        dev.down()
    after = hostnet.snapshot()
    assert after == before
    assert _processes_under(tmp_path) == []
    mounts = Path("/proc/self/mounts").read_text()
    assert str(tmp_path) not in mounts


# -- the chart, installed with its defaults -----------------------------------------


@pytest.fixture(scope="module")
def installed(archives: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    dev = DevCluster(tmp_path_factory.mktemp("real-nodes"), real_nodes=2, images=archives)
    try:
        started = time.monotonic()
        dev.up()
        print(f"\ncluster with 2 real nodes up in {time.monotonic() - started:.1f} s")
        cluster = Cluster(dev.kubeconfig, "local")
        started = time.monotonic()
        helm(
            "install", RELEASE, str(CHART), "-n", NAMESPACE, "--create-namespace",
            "--wait", "--timeout", "5m", kubeconfig=dev.kubeconfig,
        )  # fmt: skip
        print(f"helm install --wait took {time.monotonic() - started:.1f} s")
        yield cluster
    finally:
        dev.down()


def _operator_pods(core: Any) -> list[Any]:
    return [
        pod
        for pod in core.list_namespaced_pod(NAMESPACE).items
        if pod.metadata.deletion_timestamp is None
        and (pod.metadata.labels or {}).get("app.kubernetes.io/instance") == RELEASE
    ]


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _holder(cluster: Cluster) -> str:
    lease = client.CoordinationV1Api(cluster.api()).read_namespaced_lease(RELEASE, NAMESPACE)
    return str(lease.spec.holder_identity or "")


def test_helm_install_with_defaults_runs_two_ready_operator_pods_on_real_nodes(
    installed: Cluster,
) -> None:
    core = client.CoreV1Api(installed.api())
    pods = _operator_pods(core)
    assert len(pods) == 2
    assert all(_ready(pod) for pod in pods)
    assert {pod.spec.node_name for pod in pods} <= {FRENCH, ABROAD}
    for pod in pods:
        # Probes answered: Ready, and never restarted by a failed liveness check.
        assert pod.status.container_statuses[0].restart_count == 0
        [container] = pod.spec.containers
        assert container.readiness_probe is not None
        assert container.liveness_probe is not None
        assert pod.status.container_statuses[0].image.startswith("ghcr.io/souverain/souverain:")
    # The securityContext as the runtime enforces it: uid 10001, a read-only root.
    name = pods[0].metadata.name
    identity = installed.kubectl("exec", "-n", NAMESPACE, name, "--", "id", "-u").stdout
    assert identity.strip() == "10001"
    write = installed.kubectl(
        "exec", "-n", NAMESPACE, name, "--", "python", "-c", "open('/written', 'w')", check=False
    )
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    logs = installed.kubectl("logs", "-n", NAMESPACE, name).stdout
    assert "Traceback" not in logs


def test_a_second_cluster_with_real_nodes_is_refused_while_these_run(
    installed: Cluster, archives: list[Path], tmp_path: Path
) -> None:
    second = DevCluster(tmp_path / "second", real_nodes=1, images=archives)
    with pytest.raises(RealNodesError, match="real nodes already run on this machine"):
        second.up()
    assert second.state() is None, "nothing should have started"
    assert client.CoreV1Api(installed.api()).read_node(FRENCH).status.conditions


def test_the_webhook_is_reached_through_its_service(installed: Cluster) -> None:
    api = installed.api()
    admission = client.AdmissionregistrationV1Api(api)
    webhooks = admission.read_mutating_webhook_configuration("souverain-placement").webhooks
    service = webhooks[0].client_config.service
    assert service is not None
    assert service.namespace == NAMESPACE
    assert webhooks[0].client_config.ca_bundle
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        NAMESPACE, label_selector=f"kubernetes.io/service-name={service.name}"
    )
    addresses = {a for s in slices.items for e in s.endpoints or [] for a in e.addresses}
    pods = {pod.status.pod_ip for pod in _operator_pods(client.CoreV1Api(api))}
    assert addresses == pods


@pytest.fixture(scope="module")
def tenant(installed: Cluster) -> str:
    """A SovereignNamespace of the shipped profile, owned by alice, Ready."""
    tenancy = Tenancy(installed.api())
    name = "acme"
    tenancy.namespace(name, PROFILE, owners=[{"kind": "User", "name": TENANT}])
    tenancy.wait(name)
    native_placement_holds(client.CoreV1Api(installed.api()), name, node=ABROAD)
    return name


def test_a_tenant_pod_lands_on_the_real_french_node_and_runs(
    installed: Cluster, tenant: str
) -> None:
    core = client.CoreV1Api(installed.api(impersonate=TENANT))
    core.create_namespaced_pod(tenant, busybox_pod("hello", "echo bonjour; exec sleep 3600"))
    admin = client.CoreV1Api(installed.api())
    wait_for(lambda: phase_of(admin, tenant, "hello") == "Running", "the tenant pod to run")
    pod = admin.read_namespaced_pod("hello", tenant)
    assert pod.spec.node_name == FRENCH
    terms = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert any(
        e.key == SOVEREIGN for t in terms.node_selector_terms for e in t.match_expressions or []
    )
    wait_for(
        lambda: "bonjour" in installed.kubectl("logs", "-n", tenant, "hello").stdout,
        "the pod's output through the kubelet",
    )


def _refused(call: Any) -> None:
    with pytest.raises(ApiException) as refusal:
        call()
    assert refusal.value.status in (400, 403, 422), refusal.value


def test_a_pod_bound_to_the_real_non_sovereign_node_is_refused(
    installed: Cluster, tenant: str
) -> None:
    core = client.CoreV1Api(installed.api(impersonate=TENANT))
    _refused(
        lambda: core.create_namespaced_pod(
            tenant, busybox_pod("abroad", "sleep 1", nodeName=ABROAD), dry_run="All"
        )
    )
    # Bound afterwards, as a scheduler does: the binding is refused too.
    admin = client.CoreV1Api(installed.api())
    admin.create_namespaced_pod(
        tenant, busybox_pod("unscheduled", "sleep 1", schedulerName="no-such-scheduler")
    )
    _refused(lambda: bind(admin, tenant, "unscheduled", ABROAD))
    assert admin.read_namespaced_pod("unscheduled", tenant).spec.node_name is None


def test_where_admission_is_bypassed_the_kubelet_refuses_a_pinned_pod_abroad(
    installed: Cluster,
) -> None:
    # A namespace no profile binds: no webhook or policy looks at it. The pod carries the
    # pinning souverain gives (the French-sovereign node requirement) and names the
    # non-sovereign node itself, skipping the scheduler: only the kubelet is left.
    core = client.CoreV1Api(installed.api())
    namespace = f"unbound-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    wait_for(lambda: core.read_namespaced_service_account("default", namespace), "default SA")
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}]}
                ]
            }
        }
    }
    core.create_namespaced_pod(
        namespace, busybox_pod("pinned", "sleep 3600", nodeName=ABROAD, affinity=affinity)
    )
    wait_for(lambda: phase_of(core, namespace, "pinned") == "Failed", "the kubelet to refuse it")
    pod = core.read_namespaced_pod("pinned", namespace)
    assert pod.status.reason == "NodeAffinity"
    assert not pod.status.container_statuses or not any(
        s.state.running for s in pod.status.container_statuses
    )


def _escape_refused(cluster: Cluster, namespace: str) -> bool:
    core = client.CoreV1Api(cluster.api(impersonate=TENANT))
    try:
        core.create_namespaced_pod(
            namespace, busybox_pod("probe", "sleep 1", nodeName=ABROAD), dry_run="All"
        )
    except ApiException as error:
        return error.status in (400, 403, 422)
    return False


def test_helm_upgrade_rolls_the_pods_and_enforcement_holds_throughout(
    installed: Cluster, tenant: str
) -> None:
    core = client.CoreV1Api(installed.api())
    before = {pod.metadata.name for pod in _operator_pods(core)}
    failures: list[BaseException] = []

    def upgrade_release(*args: str) -> None:
        try:
            helm(*args, kubeconfig=installed.kubeconfig)
        except BaseException as error:  # told below, in the test's own thread
            failures.append(error)

    upgrade = threading.Thread(
        target=upgrade_release,
        args=(
            "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values",
            "--set", "operator.logFormat=plain", "--wait", "--timeout", "5m",
        ),
    )  # fmt: skip
    upgrade.start()
    # While helm waits on the rollout, a tenant tries to escape, again and again.
    probes = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert _escape_refused(installed, tenant), "a pod abroad was admitted during the upgrade"
        probes += 1
        pods = _operator_pods(core)
        rolled = not before & {p.metadata.name for p in pods}
        if not upgrade.is_alive() and rolled and len(pods) == 2 and all(map(_ready, pods)):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the Deployment did not roll to two new Ready pods")
    upgrade.join()
    assert failures == []
    print(f"\nescapes refused at each of {probes} probes during the rollout")
    logs = installed.kubectl("logs", "-n", NAMESPACE, _operator_pods(core)[0].metadata.name).stdout
    assert not logs.lstrip().startswith("{"), "logFormat=plain should print plain lines"
    assert _escape_refused(installed, tenant)


def test_deleting_the_active_pod_hands_over_to_the_other(installed: Cluster, tenant: str) -> None:
    core = client.CoreV1Api(installed.api())
    wait_for(
        lambda: _holder(installed) in {p.metadata.name for p in _operator_pods(core)}, "a holder"
    )
    active = _holder(installed)
    started = time.monotonic()
    installed.kubectl("delete", "pod", "-n", NAMESPACE, active, "--wait=false")
    wait_for(
        lambda: _holder(installed) not in ("", active),
        "the standby to take the Lease",
        timeout=120,
        interval=0.1,
    )
    taken = time.monotonic() - started
    name = f"after-{uuid.uuid4().hex[:6]}"
    tenancy = Tenancy(installed.api())
    tenancy.namespace(name, PROFILE)
    wait_for(
        lambda: tenancy.condition_is_true(name), f"{name} to be Ready", timeout=120, interval=0.1
    )
    ready = time.monotonic() - started
    print(f"\nLease taken {taken:.2f} s after kubectl delete pod; a SovereignNamespace made "
          f"then was Ready {ready:.2f} s after it")  # fmt: skip
    assert _escape_refused(installed, tenant)


def test_helm_uninstall_leaves_the_crds_the_tenants_and_the_native_floor_and_nothing_else(
    installed: Cluster, tenant: str
) -> None:
    api = installed.api()
    helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", kubeconfig=installed.kubeconfig)
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    assert {"sovereignnamespaces.souverain.io", "sovereigntyprofiles.souverain.io"} <= {
        c.metadata.name for c in crds
    }
    selector = {"label_selector": f"app.kubernetes.io/instance={RELEASE}"}
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    rbac, policy = client.RbacAuthorizationV1Api(api), client.PolicyV1Api(api)
    listed = {
        "Deployment": apps.list_namespaced_deployment(NAMESPACE, **selector),
        "Service": core.list_namespaced_service(NAMESPACE, **selector),
        "ServiceAccount": core.list_namespaced_service_account(NAMESPACE, **selector),
        "ConfigMap": core.list_namespaced_config_map(NAMESPACE, **selector),
        "ClusterRole": rbac.list_cluster_role(**selector),
        "ClusterRoleBinding": rbac.list_cluster_role_binding(**selector),
        "PodDisruptionBudget": policy.list_namespaced_pod_disruption_budget(NAMESPACE, **selector),
    }
    left = [
        f"{kind} {item.metadata.name}" for kind, found in listed.items() for item in found.items
    ]
    assert left == []
    wait_for(lambda: not _operator_pods(client.CoreV1Api(api)), "the operator pods to go")
    # The webhook configurations the operator made go with the release's ClusterRole, which
    # owns them: none is left calling a Service that is gone.
    admission = client.AdmissionregistrationV1Api(api)

    def webhooks_gone() -> bool:
        names = [
            w.metadata.name
            for w in admission.list_mutating_webhook_configuration().items
            + admission.list_validating_webhook_configuration().items
        ]
        return "souverain-placement" not in names

    wait_for(webhooks_gone, "the garbage collector to delete the webhook configurations")
    # The tenant's own objects stay: its SovereignNamespace and its Namespace; and so does
    # the native floor: its pods are still pinned, and still cannot go abroad.
    assert Tenancy(api).status("sovereignnamespaces", tenant) is not None
    assert client.CoreV1Api(api).read_namespace(tenant).status.phase == "Active"
    assert _escape_refused(installed, tenant)
    pinned = client.CoreV1Api(installed.api(impersonate=TENANT)).create_namespaced_pod(
        tenant, busybox_pod("after-uninstall", "sleep 1"), dry_run="All"
    )
    terms = pinned.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert any(
        e.key == SOVEREIGN for t in terms.node_selector_terms for e in t.match_expressions or []
    )
