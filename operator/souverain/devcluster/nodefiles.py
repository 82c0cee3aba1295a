"""The files a real node of the local control plane starts with: containerd's
configuration, the kubelet's configuration and credentials, the CNI network, and
kube-proxy's command line.

Every path lives under the node's own folder in the state directory, so that several
real nodes run side by side on one machine and ``dev-cluster down`` removes them with
the rest of the state.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from souverain.devcluster import pki

HOST_ADDRESS = "172.27.0.1"
"""The machine's address for real nodes and their pods: added to ``lo`` while real nodes
run. A kubelet refuses a loopback node IP, and a pod cannot reach the host's 127.0.0.1;
this address is neither, and stays on this machine. The kubelets serve on it, the API
server is advertised on it (the ``kubernetes`` Service's endpoint), and pods reach both."""

POD_CIDR = "172.28.0.0/16"
"""Pod addresses of the real nodes: 172.28.<index>.0/24 for each (kwok's fake pods take
10.244.0.0/16)."""

BRIDGE_PREFIX = "souv"
"""The real nodes' pods are attached to a Linux bridge per node, ``souv0``, ``souv1``...
(made by the CNI bridge plugin; the host routes between them)."""


def bridge_name(index: int) -> str:
    """The bridge of the real node at ``index`` (0-based)."""
    return f"{BRIDGE_PREFIX}{index}"


PAUSE_IMAGE = "localhost/souverain/pause:1"
"""The sandbox image containerd runs for every pod; loaded from an archive, never pulled."""

CNI_BIN_DIR = Path("/usr/lib/cni")
"""Where Debian's containernetworking-plugins puts the bridge, host-local and loopback
plugins."""


RUN_ROOT = Path("/run/souverain")
"""Where real nodes' sockets go, with the kubelet's root dir, which holds sockets too: a
socket's path must stay under 108 bytes, which a state dir under a test's temporary
folder does not."""


def run_dir(state_dir: Path, node: str) -> Path:
    """The short folder of a node's sockets, named after the state dir it belongs to."""
    digest = hashlib.sha256(str(state_dir.absolute()).encode()).hexdigest()[:10]
    return RUN_ROOT / digest / node


@dataclass(frozen=True)
class NodePaths:
    """Where one real node keeps its files: under ``root`` (its folder in the state dir),
    and its sockets under ``run`` (see :data:`RUN_ROOT`)."""

    root: Path
    run: Path

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def kubelet_dir(self) -> Path:
        """The kubelet's root dir, which holds sockets too (pod-resources, plugins)."""
        return self.run / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        return self.root / "cni" / "ipam"


def pod_subnet(index: int) -> str:
    """The /24 of pod addresses of the real node at ``index`` (0-based)."""
    return f"172.28.{index + 1}.0/24"


def containerd_config(paths: NodePaths) -> str:
    """containerd's configuration: its own root, state and socket; crun as the runtime
    (Debian's runc fails to start containers on these machines); the OOM score left
    alone (no CAP_SYS_RESOURCE); the CNI network of this node; network namespaces kept
    under its own state folder."""

    def quote(value: object) -> str:
        return json.dumps(str(value))

    return "\n".join(
        [
            "version = 2",
            f"root = {quote(paths.root / 'containerd')}",
            f"state = {quote(paths.run / 'state')}",
            "[grpc]",
            f"  address = {quote(paths.containerd_socket)}",
            "[ttrpc]",
            f"  address = {quote(str(paths.containerd_socket) + '.ttrpc')}",
            "[debug]",
            '  level = "warn"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f"  path = {quote(paths.root / 'opt')}",
            '[plugins."io.containerd.grpc.v1.cri"]',
            f"  sandbox_image = {quote(PAUSE_IMAGE)}",
            "  restrict_oom_score_adj = true",
            "  enable_selinux = false",
            "  netns_mounts_under_state_dir = true",
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            '  [plugins."io.containerd.grpc.v1.cri".containerd]',
            '    default_runtime_name = "crun"',
            '    snapshotter = "overlayfs"',
            '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]',
            '      runtime_type = "io.containerd.runc.v2"',
            '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]',
            '        BinaryName = "/usr/bin/crun"',
            "        SystemdCgroup = false",
            '  [plugins."io.containerd.grpc.v1.cri".cni]',
            f"    bin_dir = {quote(CNI_BIN_DIR)}",
            f"    conf_dir = {quote(paths.cni_conf_dir)}",
            "",
        ]
    )


def cni_conflist(paths: NodePaths, index: int) -> dict[str, Any]:
    """The pod network of one node: a veth on the node's bridge with an address of the
    node's /24, the bridge as gateway. No masquerading and no host ports, so that the
    plugins add no iptables rule of their own."""
    return {
        "cniVersion": "1.0.0",
        "name": "souverain",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge_name(index),
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_subnet(index)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.cni_data_dir),
                },
            },
            {"type": "loopback"},
        ],
    }


def kubelet_config(
    paths: NodePaths, *, port: int, healthz_port: int, ca_file: Path
) -> dict[str, Any]:
    """The kubelet's configuration for these machines: cgroup v1 allowed, cgroupfs with no
    QoS hierarchy or allocatable enforcement, clients authenticated by the cluster's CA
    or a token, and asked of the API server (webhook authorization)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": HOST_ADDRESS,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "makeIPTablesUtilChains": False,
        "podLogsDir": str(paths.root / "pod-logs"),
        "volumePluginDir": str(paths.root / "volume-plugins"),
        "staticPodPath": "",
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
    }


def write_client_kubeconfig(
    path: Path, server: str, ca_file: Path, user: str, group: str | None
) -> None:
    """A kubeconfig for ``user`` (and ``group``), with a client certificate from the CA
    beside ``ca_file``: a node's kubelet (system:node:NAME in system:nodes), kube-proxy."""
    folder = ca_file.parent
    ca = pki.KeyPair((folder / "ca.crt").read_bytes(), (folder / "ca.key").read_bytes())
    pair = pki.issue(ca, user, organization=group, client=True)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "souverain-dev",
                "cluster": {"server": server, "certificate-authority-data": b64(ca.cert_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(pair.cert_pem),
                    "client-key-data": b64(pair.key_pem),
                },
            }
        ],
        "contexts": [{"name": "default", "context": {"cluster": "souverain-dev", "user": user}}],
        "current-context": "default",
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def write_node_files(
    paths: NodePaths, index: int, *, server: str, ca_file: Path, name: str, ports: dict[str, int]
) -> None:
    """Every file the node's containerd and kubelet read."""
    for folder in (paths.kubelet_dir, paths.cni_conf_dir, paths.containerd_socket.parent):
        folder.mkdir(parents=True, exist_ok=True)
    paths.containerd_config.write_text(containerd_config(paths))
    (paths.cni_conf_dir / "10-souverain.conflist").write_text(
        json.dumps(cni_conflist(paths, index), indent=2)
    )
    paths.kubelet_config.write_text(
        yaml.safe_dump(
            kubelet_config(
                paths, port=ports["kubelet"], healthz_port=ports["healthz"], ca_file=ca_file
            ),
            sort_keys=False,
        )
    )
    write_client_kubeconfig(
        paths.kubeconfig, server, ca_file, f"system:node:{name}", "system:nodes"
    )


def kubelet_args(paths: NodePaths, name: str, labels: dict[str, str]) -> list[str]:
    """The kubelet's command line: the labels a kubelet may set on itself (the
    ``node-restriction.kubernetes.io/`` ones it may not; the harness sets those)."""
    return [
        f"--config={paths.kubelet_config}",
        f"--kubeconfig={paths.kubeconfig}",
        f"--root-dir={paths.kubelet_dir}",
        f"--cert-dir={paths.root / 'pki'}",
        f"--hostname-override={name}",
        f"--node-ip={HOST_ADDRESS}",
        f"--node-labels={','.join(f'{k}={v}' for k, v in sorted(labels.items()))}",
        "--v=1",
    ]


def containerd_command(paths: NodePaths, containerd: str) -> list[str]:
    """containerd in a mount namespace of its own, where the cgroup v2 hierarchy of these
    hybrid machines is unmounted (crun refuses hybrid cgroups). Mounts of the host under
    the node's folder (the kubelet's volumes) still reach it: the folder is a shared
    mount and containerd's namespace its slave. The host's own mounts are left as they are."""
    script = (
        "umount /sys/fs/cgroup/unified 2>/dev/null || true; "
        f'exec "$0" --config {json.dumps(str(paths.containerd_config))}'
    )
    return ["unshare", "--mount", "--propagation", "slave", "sh", "-c", script, containerd]


def kube_proxy_args(kubeconfig: Path, node: str, ports: dict[str, int]) -> list[str]:
    """One kube-proxy for every real node (they share the machine's network), iptables
    mode, leaving the conntrack limits and localhost NodePorts alone."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={POD_CIDR}",
        f"--bind-address={HOST_ADDRESS}",
        f"--healthz-bind-address=127.0.0.1:{ports['kube-proxy-healthz']}",
        f"--metrics-bind-address=127.0.0.1:{ports['kube-proxy-metrics']}",
        "--conntrack-max-per-core=0",
        "--iptables-localhost-nodeports=false",
        f"--nodeport-addresses={HOST_ADDRESS}/32",
    ]
