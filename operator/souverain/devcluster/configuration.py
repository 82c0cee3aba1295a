"""The files and flags the components of the local control plane start with: the
certificates, the kubeconfigs, and the command lines of etcd, the API server and kwok."""

from __future__ import annotations

import base64
from importlib import resources
from pathlib import Path

import yaml

from souverain.devcluster import pki
from souverain.devcluster.nodefiles import HOST_ADDRESS
from souverain.devcluster.nodes import KWOK_ANNOTATION

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"

# MutatingAdmissionPolicy is GA and served (admissionregistration.k8s.io/v1) by
# default since Kubernetes 1.36, so the pinned release needs no feature gate for
# it; older releases would need MutatingAdmissionPolicy=true and the v1beta1 API.
FEATURE_GATES: tuple[str, ...] = ()


def write_pki(folder: Path) -> dict[str, Path]:
    """The CA, the API server's serving pair, the admin's client pair and the key pair of
    service-account tokens, written in ``folder``; returns the files the flags name."""
    ca = pki.make_ca()
    ca_cert, _ = pki.write_pair(ca, folder, "ca")
    serving = pki.issue(
        ca,
        "kube-apiserver",
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ip_addresses=("127.0.0.1", SERVICE_IP, HOST_ADDRESS),
        server=True,
    )
    serving_cert, serving_key = pki.write_pair(serving, folder, "apiserver")
    admin = pki.issue(ca, "souverain-admin", organization="system:masters", client=True)
    admin_cert, admin_key = pki.write_pair(admin, folder, "admin")
    sa_key = folder / "sa.key"
    sa_key.touch(mode=0o600)
    sa_key.write_bytes(pki.make_service_account_key())
    sa_pub = folder / "sa.pub"
    sa_pub.write_bytes(pki.public_key_pem(sa_key.read_bytes()))
    return {
        "ca": ca_cert,
        "serving-cert": serving_cert,
        "serving-key": serving_key,
        "sa-key": sa_key,
        "sa-pub": sa_pub,
        "admin-cert": admin_cert,
        "admin-key": admin_key,
    }


def write_kubeconfig(path: Path, server: str, pki_folder: Path) -> None:
    """The admin's kubeconfig for ``server``, with the certificates of ``pki_folder``."""

    def b64(name: str) -> str:
        return base64.b64encode((pki_folder / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "souverain-dev",
                "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")},
            }
        ],
        "users": [
            {
                "name": "souverain-admin",
                "user": {
                    "client-certificate-data": b64("admin.crt"),
                    "client-key-data": b64("admin.key"),
                },
            }
        ],
        "contexts": [
            {
                "name": "souverain-dev",
                "context": {"cluster": "souverain-dev", "user": "souverain-admin"},
            }
        ],
        "current-context": "souverain-dev",
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def write_scheduler_kubeconfig(path: Path, admin_kubeconfig: Path, pki_folder: Path) -> None:
    """A kubeconfig like the admin's, as the user system:kube-scheduler."""
    ca = pki.KeyPair(
        (pki_folder / "ca.crt").read_bytes(),
        (pki_folder / "ca.key").read_bytes(),
    )
    scheduler = pki.issue(ca, "system:kube-scheduler", client=True)
    config = yaml.safe_load(admin_kubeconfig.read_text())
    config["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(scheduler.cert_pem).decode(),
        "client-key-data": base64.b64encode(scheduler.key_pem).decode(),
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def etcd_args(ports: dict[str, int], data_dir: Path) -> list[str]:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    return [
        "--name=souverain-dev",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=souverain-dev={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_args(
    ports: dict[str, int],
    files: dict[str, Path],
    admission_plugins: tuple[str, ...],
    real_nodes: bool = False,
) -> list[str]:
    """The API server's flags. With real nodes, it also listens on the host address that
    pods reach, is advertised there (the ``kubernetes`` Service's endpoint), reaches the
    kubelets there with the admin's client certificate, and authorizes kubelets as nodes
    (Node authorizer, NodeRestriction)."""
    args = [
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        *(
            [
                "--bind-address=0.0.0.0",
                f"--advertise-address={HOST_ADDRESS}",
                "--endpoint-reconciler-type=lease",
                "--authorization-mode=Node,RBAC",
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={files['admin-cert']}",
                f"--kubelet-client-key={files['admin-key']}",
            ]
            if real_nodes
            else [
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                "--authorization-mode=RBAC",
            ]
        ),
        f"--secure-port={ports['apiserver']}",
        f"--tls-cert-file={files['serving-cert']}",
        f"--tls-private-key-file={files['serving-key']}",
        f"--client-ca-file={files['ca']}",
        f"--service-account-key-file={files['sa-pub']}",
        f"--service-account-signing-key-file={files['sa-key']}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--profiling=false",
        # On SIGTERM, end open watches within 2 s rather than wait for each to time out
        # (up to a minute): a restart (`dev-cluster restart kube-apiserver`) takes seconds.
        "--shutdown-watch-termination-grace-period=2s",
    ]
    if FEATURE_GATES:
        args.append(f"--feature-gates={','.join(FEATURE_GATES)}")
    plugins = (*admission_plugins, *(("NodeRestriction",) if real_nodes else ()))
    if plugins:
        args.append(f"--enable-admission-plugins={','.join(plugins)}")
    return args


def kwok_args(ports: dict[str, int], kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        f"--server-address=127.0.0.1:{ports['kwok']}",
        "--node-lease-duration-seconds=40",
        "--cidr=10.244.0.0/16",
        "--node-ip=10.0.0.1",
        f"--config={resources.files(__package__).joinpath('kwok-stages.yaml')}",
    ]
