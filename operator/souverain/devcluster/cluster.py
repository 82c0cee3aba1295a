"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-scheduler,
kube-controller-manager, and kwok keeping fake nodes Ready and their pods Running.

Every process is started in its own session so that it outlives the command that
started it; their pids, ports and paths are kept in ``state.json`` so that
``down`` can stop them from another process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

from souverain.devcluster import pki
from souverain.devcluster.binaries import CONTROL_PLANE, MissingPrerequisiteError, bin_dir, require
from souverain.devcluster.nodes import KWOK_ANNOTATION, NodeSpec, default_nodes

DEFAULT_STATE_DIR = Path(".souverain") / "dev-cluster"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"

# MutatingAdmissionPolicy is GA and served (admissionregistration.k8s.io/v1) by
# default since Kubernetes 1.36, so the pinned release needs no feature gate for
# it; older releases would need MutatingAdmissionPolicy=true and the v1beta1 API.
FEATURE_GATES: tuple[str, ...] = ()


class DevClusterError(RuntimeError):
    """The local control plane could not start or stop; the message says why."""


@dataclass
class ProcessRecord:
    """A started component: its pid and its log file."""

    name: str
    pid: int
    log: str


@dataclass
class State:
    """What ``up`` leaves behind for ``status`` and ``down``."""

    kubeconfig: str
    apiserver_url: str
    ports: dict[str, int]
    processes: list[ProcessRecord] = field(default_factory=list)
    started_at: float = 0.0

    @classmethod
    def load(cls, path: Path) -> State:
        data = json.loads(path.read_text())
        data["processes"] = [ProcessRecord(**p) for p in data["processes"]]
        return cls(**data)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


def free_port() -> int:
    """A TCP port free on loopback at the time of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Whether a process with that pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class DevCluster:
    """A local control plane whose files live in ``state_dir``."""

    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        *,
        binaries: Path | None = None,
        admission_plugins: tuple[str, ...] = (),
        nodes: list[NodeSpec] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.binaries = binaries or bin_dir()
        self.admission_plugins = admission_plugins
        self.nodes = default_nodes() if nodes is None else nodes
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def state(self) -> State | None:
        """The recorded state, or None when no cluster was started here."""
        if not self.state_file.exists():
            return None
        return State.load(self.state_file)

    # -- start -------------------------------------------------------------

    def up(self, timeout: float = 90.0) -> State:
        """Starts every component, waits until the cluster serves and its nodes are Ready."""
        existing = self.state()
        if existing and any(pid_alive(p.pid) for p in existing.processes):
            raise DevClusterError(
                f"a local control plane already runs from {self.state_dir}; "
                "stop it with 'souverain dev-cluster down' first"
            )
        paths = require(CONTROL_PLANE, self.binaries)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        for sub in ("pki", "logs", "etcd"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)

        ports = {
            name: free_port()
            for name in (
                "etcd",
                "etcd-peer",
                "apiserver",
                "scheduler",
                "controller-manager",
                "kwok",
            )
        }
        state = State(
            kubeconfig=str(self.kubeconfig),
            apiserver_url=f"https://127.0.0.1:{ports['apiserver']}",
            ports=ports,
            started_at=time.time(),
        )
        files = self._write_pki()
        self._write_kubeconfig(state.apiserver_url)
        scheduler_kubeconfig = self._write_scheduler_kubeconfig()
        started = time.monotonic()
        deadline = started + timeout

        def mark(phase: str) -> None:
            self.timings[phase] = time.monotonic() - started

        try:
            self._start(state, "etcd", [str(paths["etcd"]), *self._etcd_args(ports)])
            self._wait_http(f"http://127.0.0.1:{ports['etcd']}/health", "etcd", deadline)
            self._start(
                state,
                "kube-apiserver",
                [str(paths["kube-apiserver"]), *self._apiserver_args(ports, files)],
            )
            self._wait_http(f"{state.apiserver_url}/readyz", "kube-apiserver", deadline, tls=True)
            mark("apiserverReady")
            common = [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                "--leader-elect=false",
            ]
            self._start(
                state,
                "kube-scheduler",
                [
                    str(paths["kube-scheduler"]),
                    # As system:kube-scheduler, as on a real cluster, where admission
                    # webhooks and policies can tell the scheduler's bindings apart.
                    f"--kubeconfig={scheduler_kubeconfig}",
                    *common[1:],
                    f"--secure-port={ports['scheduler']}",
                ],
            )
            self._start(
                state,
                "kube-controller-manager",
                [
                    str(paths["kube-controller-manager"]),
                    *common,
                    f"--secure-port={ports['controller-manager']}",
                    f"--service-account-private-key-file={files['sa-key']}",
                    f"--root-ca-file={files['ca']}",
                    "--use-service-account-credentials=true",
                    f"--service-cluster-ip-range={SERVICE_CIDR}",
                    "--cluster-name=souverain-dev",
                    *([f"--feature-gates={','.join(FEATURE_GATES)}"] if FEATURE_GATES else []),
                ],
            )
            self._start(state, "kwok", [str(paths["kwok"]), *self._kwok_args(ports)])
            self._wait_http(
                f"https://127.0.0.1:{ports['scheduler']}/healthz", "kube-scheduler", deadline, True
            )
            self._wait_http(
                f"https://127.0.0.1:{ports['controller-manager']}/healthz",
                "kube-controller-manager",
                deadline,
                True,
            )
            mark("componentsHealthy")
            self._create_nodes()
            self._wait_cluster_ready(deadline)
            mark("nodesReady")
        except BaseException:
            self._stop_processes(state.processes)
            raise
        return state

    def _start(self, state: State, name: str, argv: list[str]) -> None:
        log_path = self.state_dir / "logs" / f"{name}.log"
        with open(log_path, "wb") as log:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.state_dir,
            )
        self._children[name] = child
        state.processes.append(ProcessRecord(name=name, pid=child.pid, log=str(log_path)))
        state.save(self.state_file)

    def _check_alive(self) -> None:
        """Raises a clear error when a started component has exited."""
        for name, child in self._children.items():
            if child.poll() is not None:
                self._explain_exit(name, child)

    def _explain_exit(self, name: str, child: subprocess.Popen[bytes]) -> None:
        log = self.state_dir / "logs" / f"{name}.log"
        tail = _tail(log)
        if "address already in use" in tail:
            raise DevClusterError(
                f"{name} could not listen: a port it was given is already in use "
                f"(another program took it meanwhile). Run the command again. Log: {log}"
            )
        raise DevClusterError(
            f"{name} exited with code {child.returncode} during start-up:\n{tail}"
        )

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.state_dir / "pki" / "ca.crt"))
        context.load_cert_chain(
            str(self.state_dir / "pki" / "admin.crt"), str(self.state_dir / "pki" / "admin.key")
        )
        return context

    def _wait_http(self, url: str, name: str, deadline: float, tls: bool = False) -> None:
        context: ssl.SSLContext | None = None
        if tls:
            context = self._ssl_context()
            if "127.0.0.1:" in url and "/readyz" not in url:
                # Scheduler and controller-manager serve with their own self-signed certificate.
                context = ssl._create_unverified_context()
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.2)
        raise DevClusterError(f"{name} was not ready at {url} in time ({last})")

    # -- configuration -----------------------------------------------------

    def _write_pki(self) -> dict[str, Path]:
        folder = self.state_dir / "pki"
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
            ip_addresses=("127.0.0.1", SERVICE_IP),
            server=True,
        )
        serving_cert, serving_key = pki.write_pair(serving, folder, "apiserver")
        admin = pki.issue(ca, "souverain-admin", organization="system:masters", client=True)
        pki.write_pair(admin, folder, "admin")
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
        }

    def _write_kubeconfig(self, server: str) -> None:
        folder = self.state_dir / "pki"

        def b64(name: str) -> str:
            return base64.b64encode((folder / name).read_bytes()).decode()

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
        self.kubeconfig.touch(mode=0o600)
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))

    def _write_scheduler_kubeconfig(self) -> Path:
        """A kubeconfig like the admin's, as the user system:kube-scheduler."""
        ca = pki.KeyPair(
            (self.state_dir / "pki" / "ca.crt").read_bytes(),
            (self.state_dir / "pki" / "ca.key").read_bytes(),
        )
        scheduler = pki.issue(ca, "system:kube-scheduler", client=True)
        config = yaml.safe_load(self.kubeconfig.read_text())
        config["users"][0]["user"] = {
            "client-certificate-data": base64.b64encode(scheduler.cert_pem).decode(),
            "client-key-data": base64.b64encode(scheduler.key_pem).decode(),
        }
        path = self.state_dir / "scheduler.kubeconfig"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _etcd_args(self, ports: dict[str, int]) -> list[str]:
        client = f"http://127.0.0.1:{ports['etcd']}"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            "--name=souverain-dev",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=souverain-dev={peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_args(self, ports: dict[str, int], files: dict[str, Path]) -> list[str]:
        args = [
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={files['serving-cert']}",
            f"--tls-private-key-file={files['serving-key']}",
            f"--client-ca-file={files['ca']}",
            f"--service-account-key-file={files['sa-pub']}",
            f"--service-account-signing-key-file={files['sa-key']}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
        ]
        if FEATURE_GATES:
            args.append(f"--feature-gates={','.join(FEATURE_GATES)}")
        if self.admission_plugins:
            args.append(f"--enable-admission-plugins={','.join(self.admission_plugins)}")
        return args

    def _kwok_args(self, ports: dict[str, int]) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16",
            "--node-ip=10.0.0.1",
            f"--config={resources.files(__package__).joinpath('kwok-stages.yaml')}",
        ]

    # -- objects -----------------------------------------------------------

    def api_client(self) -> Any:
        """A kubernetes ``ApiClient`` logged in as the admin."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig), client_configuration=configuration
        )
        return client.ApiClient(configuration)

    def _create_nodes(self) -> None:
        from kubernetes import client

        with self.api_client() as api:
            core = client.CoreV1Api(api)
            for node in self.nodes:
                core.create_node(cast(Any, node.manifest()))

    def _wait_cluster_ready(self, deadline: float) -> None:
        """Waits for every node to be Ready and for the default ServiceAccount."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        wanted = {node.name for node in self.nodes}
        with self.api_client() as api:
            core = client.CoreV1Api(api)
            while time.monotonic() < deadline:
                self._check_alive()
                ready = {
                    node.metadata.name
                    for node in core.list_node().items
                    if node.metadata
                    and node.status
                    and any(
                        c.type == "Ready" and c.status == "True"
                        for c in (node.status.conditions or [])
                    )
                }
                try:
                    core.read_namespaced_service_account("default", "default")
                    has_account = True
                except ApiException:
                    has_account = False
                if wanted <= ready and has_account:
                    return
                time.sleep(0.3)
        raise DevClusterError(
            "the nodes did not become Ready in time; see the kwok log in "
            f"{self.state_dir / 'logs' / 'kwok.log'}"
        )

    # -- stop --------------------------------------------------------------

    def down(self, timeout: float = 20.0) -> list[str]:
        """Stops every recorded process (by pid), removes the state, and names what it stopped."""
        state = self.state()
        stopped: list[str] = []
        if state is not None:
            stopped = self._stop_processes(state.processes, timeout)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        return stopped

    def _stop_processes(self, processes: list[ProcessRecord], timeout: float = 20.0) -> list[str]:
        stopped = []
        for record in reversed(processes):
            if not pid_alive(record.pid):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGTERM)
            stopped.append(record.name)
        deadline = time.monotonic() + timeout
        for record in processes:
            while pid_alive(record.pid) and time.monotonic() < deadline:
                self._reap(record.pid)
                time.sleep(0.1)
            if pid_alive(record.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(record.pid, signal.SIGKILL)
            self._reap(record.pid)
        return stopped

    def _reap(self, pid: int) -> None:
        child = next((c for c in self._children.values() if c.pid == pid), None)
        if child is not None:
            child.poll()

    # -- status ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Which components run, where the kubeconfig is, and the API server's readiness."""
        state = self.state()
        if state is None:
            return {"running": False, "stateDir": str(self.state_dir)}
        components = {p.name: pid_alive(p.pid) for p in state.processes}
        ready = False
        try:
            with urllib.request.urlopen(
                f"{state.apiserver_url}/readyz", context=self._ssl_context(), timeout=2
            ) as response:
                ready = response.status == 200
        except (urllib.error.URLError, OSError):
            ready = False
        return {
            "running": all(components.values()),
            "ready": ready,
            "stateDir": str(self.state_dir),
            "kubeconfig": state.kubeconfig,
            "server": state.apiserver_url,
            "components": components,
        }


@contextlib.contextmanager
def running(state_dir: Path, **options: Any) -> Iterator[DevCluster]:
    """A started cluster that is always stopped on leaving the block."""
    cluster = DevCluster(state_dir, **options)
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()


__all__ = ["DevCluster", "DevClusterError", "MissingPrerequisiteError", "running"]
