"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-scheduler,
kube-controller-manager, and kwok keeping fake nodes Ready and their pods Running; the
API server serves the snapshot API (:mod:`souverain.devcluster.snapshotapi`).

Every process is started in its own session so that it outlives the command that
started it; their pids, ports and paths are kept in ``state.json`` so that
``down`` can stop them from another process.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, cast

from souverain.devcluster.binaries import CONTROL_PLANE, MissingPrerequisiteError, bin_dir, require
from souverain.devcluster.configuration import (
    FEATURE_GATES,
    SERVICE_CIDR,
    apiserver_args,
    etcd_args,
    kwok_args,
    write_kubeconfig,
    write_pki,
    write_scheduler_kubeconfig,
)
from souverain.devcluster.nodes import NodeSpec, default_nodes
from souverain.devcluster.realnodes import (
    RealNodes,
    default_image_archives,
    node_manifest_taint,
    real_node_specs,
)
from souverain.devcluster.snapshotapi import install_snapshot_api, snapshot_crd_files
from souverain.devcluster.state import (
    ProcessRecord,
    State,
    free_port,
    pid_alive,
    tail_of,
)
from souverain.devcluster.stopping import stop_in_order

DEFAULT_STATE_DIR = Path(".souverain") / "dev-cluster"


class DevClusterError(RuntimeError):
    """The local control plane could not start or stop; the message says why."""


class DevCluster:
    """A local control plane whose files live in ``state_dir``."""

    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        *,
        binaries: Path | None = None,
        admission_plugins: tuple[str, ...] = (),
        nodes: list[NodeSpec] | None = None,
        real_nodes: int = 0,
        images: list[Path] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.binaries = binaries or bin_dir()
        self.admission_plugins = admission_plugins
        self.nodes = default_nodes() if nodes is None else nodes
        self.real_nodes = (
            RealNodes(self, real_node_specs(real_nodes), images or default_image_archives())
            if real_nodes
            else None
        )
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
        snapshot_crd_files(self.binaries)
        if self.real_nodes is not None:
            self.real_nodes.check()  # before anything starts: one line naming what is missing
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
        pki_folder = self.state_dir / "pki"
        files = write_pki(pki_folder)
        write_kubeconfig(self.kubeconfig, state.apiserver_url, pki_folder)
        scheduler_kubeconfig = self.state_dir / "scheduler.kubeconfig"
        write_scheduler_kubeconfig(scheduler_kubeconfig, self.kubeconfig, pki_folder)
        started = time.monotonic()
        deadline = started + timeout

        def mark(phase: str) -> None:
            self.timings[phase] = time.monotonic() - started

        try:
            self._start(
                state, "etcd", [str(paths["etcd"]), *etcd_args(ports, self.state_dir / "etcd")]
            )
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
            self._start(state, "kwok", [str(paths["kwok"]), *kwok_args(ports, self.kubeconfig)])
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
            with self.api_client() as api:
                late = install_snapshot_api(api, self.binaries, deadline)
            if late:
                raise DevClusterError(f"the API server did not establish {', '.join(late)}")
            mark("snapshotApiEstablished")
            self._create_nodes()
            self._wait_cluster_ready(deadline)
            mark("nodesReady")
            if self.real_nodes is not None:
                self.real_nodes.start(state, deadline)
                mark("realNodesReady")
        except BaseException:
            self._stop_everything(state)
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
        state.processes.append(
            ProcessRecord(name=name, pid=child.pid, log=str(log_path), argv=list(argv))
        )
        state.save(self.state_file)

    def _check_alive(self) -> None:
        """Raises a clear error when a started component has exited."""
        for name, child in self._children.items():
            if child.poll() is not None:
                self._explain_exit(name, child)

    def _explain_exit(self, name: str, child: subprocess.Popen[bytes]) -> None:
        log = self.state_dir / "logs" / f"{name}.log"
        tail = tail_of(log)
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

    def _apiserver_args(self, ports: dict[str, int], files: dict[str, Path]) -> list[str]:
        """The API server's flags, in a method so that a subclass can add its own (an
        audit log, for one)."""
        return apiserver_args(ports, files, self.admission_plugins, self.real_nodes is not None)

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
                manifest = node.manifest()
                if self.real_nodes is not None:
                    manifest["spec"]["taints"] = [node_manifest_taint()]
                core.create_node(cast(Any, manifest))

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
            stopped = self._stop_everything(state, timeout)
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        return stopped

    def _stop_everything(self, state: State, timeout: float = 20.0) -> list[str]:
        """The real nodes first (their teardown needs containerd up), then the rest."""
        stopped: list[str] = []
        if state.real:
            stopped = RealNodes(self, [], []).teardown(state)
        return stopped + self._stop_processes(state.processes, timeout)

    def _stop_processes(self, processes: list[ProcessRecord], timeout: float = 20.0) -> list[str]:
        """Stops the processes one at a time, the last started first, etcd last
        (:mod:`souverain.devcluster.stopping`); names those that were running."""
        return stop_in_order(processes, timeout, self._reap)

    def _reap(self, pid: int) -> None:
        child = next((c for c in self._children.values() if c.pid == pid), None)
        if child is not None:
            child.poll()

    # -- status ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Which components run, where the kubeconfig is, and the API server's readiness."""
        from souverain.devcluster.components import status_of

        return status_of(self)


__all__ = ["DevCluster", "DevClusterError", "MissingPrerequisiteError", "free_port"]
