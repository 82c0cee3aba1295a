"""Real nodes beside the kwok ones: a kubelet and a containerd per node, one kube-proxy,
on this machine, registered with the local control plane.

``up --real-nodes N`` starts them once the control plane serves. Each node stands for a
machine of ``nodes.yaml``'s ``realNodes`` list and carries its jurisdiction labels; the
``node-restriction.kubernetes.io/`` label, which a kubelet may not set on itself, is set
by the harness as an administrator would. Images come from archives loaded into every
node's containerd (no registry is reached), the sandbox (pause) image among them.

``down`` stops the kubelets and kube-proxy, removes every container, stops containerd
and its shims, unmounts what the nodes mounted, and puts the machine's network back as
it was (:mod:`souverain.devcluster.hostnet`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from souverain.devcluster import hostnet
from souverain.devcluster.binaries import require
from souverain.devcluster.nodefiles import (
    PAUSE_IMAGE,
    RUN_ROOT,
    NodePaths,
    bridge_name,
    containerd_command,
    kube_proxy_args,
    kubelet_args,
    run_dir,
    write_client_kubeconfig,
    write_node_files,
)
from souverain.devcluster.nodes import SOVEREIGN_LABEL
from souverain.devcluster.state import State, free_port, pid_alive

if TYPE_CHECKING:
    from souverain.devcluster.cluster import DevCluster

NODE_BINARIES = ("kubelet", "kube-proxy")
REAL_NODE_LABEL = "souverain.io/real-node"


OWNER_FILE = RUN_ROOT / "real-nodes-from"
"""Which state dir the real nodes of this machine run from: one cluster at a time has
them, since they share the machine's network and kube-proxy owns its KUBE-* chains."""


def running_elsewhere(state_dir: Path) -> Path | None:
    """The state dir of another cluster whose real nodes still run here, if any."""
    try:
        other = Path(OWNER_FILE.read_text().strip())
    except OSError:
        return None
    if other == state_dir or not (other / "state.json").exists():
        return None
    try:
        processes = State.load(other / "state.json").processes
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return other if any(pid_alive(p.pid) for p in processes) else None


class RealNodesError(RuntimeError):
    """This machine cannot run real nodes; the message names what is missing, one line."""


@dataclass(frozen=True)
class RealNodeSpec:
    """A real node and the machine it stands for."""

    name: str
    region: str
    zone: str
    sovereign: bool

    def self_labels(self) -> dict[str, str]:
        """The labels its kubelet registers it with (those a kubelet may set itself)."""
        return {
            "topology.kubernetes.io/region": self.region,
            "topology.kubernetes.io/zone": self.zone,
            "node.kubernetes.io/instance-type": "real.local",
            "type": "real",
            REAL_NODE_LABEL: "true",
        }


def real_node_specs(count: int) -> list[RealNodeSpec]:
    """The first ``count`` real nodes of ``nodes.yaml`` (they alternate: French-sovereign,
    then not)."""
    document = yaml.safe_load(resources.files(__package__).joinpath("nodes.yaml").read_text())
    declared = [
        RealNodeSpec(
            name=str(node["name"]),
            region=str(node["region"]),
            zone=str(node["zone"]),
            sovereign=bool(node["sovereign"]),
        )
        for node in document.get("realNodes", [])
    ]
    if count > len(declared):
        raise RealNodesError(
            f"nodes.yaml declares {len(declared)} real nodes; {count} were asked for"
        )
    return declared[:count]


def default_image_archives() -> list[Path]:
    """The archives ``make node-images`` and ``make image`` leave, when they exist."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    found = sorted((cache / "souverain" / "images").glob("*.tar"))
    operator = Path("build") / "images" / "souverain.tar"
    if operator.exists():
        found.append(operator.absolute())
    return found


def _ctr(socket: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", "--address", str(socket), "--namespace", "k8s.io", *argv],
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


class RealNodes:
    """The real nodes of one local control plane."""

    def __init__(self, cluster: DevCluster, specs: list[RealNodeSpec], images: list[Path]):
        self.cluster = cluster
        self.specs = specs
        self.images = images

    def paths(self, name: str) -> NodePaths:
        state_dir = self.cluster.state_dir
        return NodePaths(state_dir / "nodes" / name, run_dir(state_dir, name))

    # -- start ----------------------------------------------------------------

    def check(self) -> dict[str, Path]:
        """Raises :class:`RealNodesError` naming what this machine or this state
        lacks; returns the paths of the node binaries."""
        problems = hostnet.preflight()
        if problems:
            raise RealNodesError("; ".join(problems))
        missing = [str(p) for p in self.images if not p.exists()]
        if missing:
            raise RealNodesError(f"no image archive {', '.join(missing)}")
        if not self.images:
            raise RealNodesError(
                f"real nodes need the sandbox image {PAUSE_IMAGE}: build it with "
                "'make node-images', or pass --image ARCHIVE"
            )
        other = running_elsewhere(self.cluster.state_dir)
        if other is not None:
            raise RealNodesError(
                f"real nodes already run on this machine, from {other} (they share its "
                f"network and iptables); stop them with 'souverain dev-cluster down "
                f"--state-dir {other}'"
            )
        return require(NODE_BINARIES, self.cluster.binaries)

    def start(self, state: State, deadline: float) -> None:
        """Starts containerd and a kubelet per node and one kube-proxy, once :meth:`check`
        passed; returns once every real node is Ready and labelled."""
        binaries = require(NODE_BINARIES, self.cluster.binaries)
        # Images are imported per node; give them time beyond the control plane's.
        deadline = max(deadline, time.monotonic() + 120 + 60 * len(self.specs))
        containerd = shutil.which("containerd") or "containerd"
        OWNER_FILE.parent.mkdir(parents=True, exist_ok=True)
        OWNER_FILE.write_text(str(self.cluster.state_dir))
        state.real = {
            "nodes": [spec.name for spec in self.specs],
            "undo": hostnet.setup(),
            "kubeProxy": str(binaries["kube-proxy"]),
        }
        state.save(self.cluster.state_file)
        ca_file = self.cluster.state_dir / "pki" / "ca.crt"
        for index, spec in enumerate(self.specs):
            paths = self.paths(spec.name)
            hostnet.share(paths.root)
            hostnet.share(paths.run)
            ports = {"kubelet": free_port(), "healthz": free_port()}
            write_node_files(
                paths,
                index,
                server=state.apiserver_url,
                ca_file=ca_file,
                name=spec.name,
                ports=ports,
            )
            self.cluster._start(
                state, f"containerd-{spec.name}", containerd_command(paths, containerd)
            )
            self._wait_containerd(paths, deadline)
            if PAUSE_IMAGE not in self.load(paths, self.images):
                raise RealNodesError(
                    f"none of the image archives holds the sandbox image {PAUSE_IMAGE}; "
                    "build it with 'make node-images'"
                )
            self.cluster._start(
                state,
                f"kubelet-{spec.name}",
                [str(binaries["kubelet"]), *kubelet_args(paths, spec.name, spec.self_labels())],
            )
        proxy_kubeconfig = self.cluster.state_dir / "kube-proxy.kubeconfig"
        write_client_kubeconfig(
            proxy_kubeconfig, state.apiserver_url, ca_file, "system:kube-proxy", None
        )
        proxy_ports = {"kube-proxy-healthz": free_port(), "kube-proxy-metrics": free_port()}
        state.ports.update(proxy_ports)
        self.cluster._start(
            state,
            "kube-proxy",
            [
                str(binaries["kube-proxy"]),
                *kube_proxy_args(proxy_kubeconfig, self.specs[0].name, proxy_ports),
            ],
        )
        self._label_and_wait(deadline)

    def _wait_containerd(self, paths: NodePaths, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.cluster._check_alive()
            socket = paths.containerd_socket
            if socket.exists() and _ctr(socket, "version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RealNodesError(f"containerd of {paths.root.name} did not answer in time")

    def load(self, paths: NodePaths, archives: list[Path]) -> list[str]:
        """Imports image archives into a node's containerd; returns the names it now has."""
        for archive in archives:
            result = _ctr(paths.containerd_socket, "images", "import", str(archive), check=False)
            if result.returncode != 0:
                raise RealNodesError(
                    f"containerd of {paths.root.name} could not import {archive}: "
                    f"{(result.stderr.strip().splitlines() or ['no message'])[-1]}"
                )
        listed = _ctr(paths.containerd_socket, "images", "ls", "-q").stdout.split()
        return sorted(name for name in listed if not name.startswith("sha256:"))

    def _label_and_wait(self, deadline: float) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        wanted = {spec.name: spec for spec in self.specs}
        labelled: set[str] = set()
        with self.cluster.api_client() as api:
            core = client.CoreV1Api(api)
            while time.monotonic() < deadline:
                self.cluster._check_alive()
                ready = set()
                for name, spec in wanted.items():
                    try:
                        node = core.read_node(name)
                    except ApiException as error:
                        if error.status == 404:
                            continue
                        raise
                    if name not in labelled:
                        labels = {SOVEREIGN_LABEL: "true" if spec.sovereign else None}
                        core.patch_node(name, {"metadata": {"labels": labels}})
                        labelled.add(name)
                    conditions = (node.status.conditions or []) if node.status else []
                    if any(c.type == "Ready" and c.status == "True" for c in conditions):
                        ready.add(name)
                if ready == set(wanted) and labelled == set(wanted):
                    return
                time.sleep(0.5)
        logs = self.cluster.state_dir / "logs"
        raise RealNodesError(
            f"the real nodes did not become Ready in time; see the kubelet logs in {logs}"
        )

    # -- stop -----------------------------------------------------------------

    def teardown(self, state: State) -> list[str]:
        """Stops the nodes and removes what they left on the machine; names what it
        stopped. Works from the state alone, with the API server up or not."""
        names = [str(n) for n in state.real.get("nodes", [])]
        records = {record.name: record for record in state.processes}
        stopped: list[str] = []
        agents = [
            records[n] for n in ("kube-proxy", *(f"kubelet-{n}" for n in names)) if n in records
        ]
        stopped += self.cluster._stop_processes(agents, timeout=10.0)
        for name in names:
            socket = self.paths(name).containerd_socket
            record = records.get(f"containerd-{name}")
            if record is not None and pid_alive(record.pid) and socket.exists():
                self._remove_containers(socket)
        daemons = [records[f"containerd-{n}"] for n in names if f"containerd-{n}" in records]
        stopped += self.cluster._stop_processes(daemons, timeout=10.0)
        for record in agents + daemons:
            record.pid = 0
        for name in names:
            _kill_shims(self.paths(name).containerd_socket)
        for name in names:
            hostnet.unmount_under(self.paths(name).root)
            hostnet.unmount_under(self.paths(name).run)
            shutil.rmtree(self.paths(name).run, ignore_errors=True)
        if names:
            with contextlib.suppress(OSError):
                self.paths(names[0]).run.parent.rmdir()  # the state dir's folder, now empty
        undo = state.real.get("undo")
        proxy = state.real.get("kubeProxy")
        hostnet.teardown(
            undo if isinstance(undo, dict) else {},
            Path(str(proxy)) if proxy else None,
            [bridge_name(index) for index in range(len(names))],
        )
        with contextlib.suppress(OSError):
            if OWNER_FILE.read_text() == str(self.cluster.state_dir):
                OWNER_FILE.unlink()
        state.real = {}
        state.save(self.cluster.state_file)
        return stopped

    def _remove_containers(self, socket: Path) -> None:
        tasks = _ctr(socket, "tasks", "ls", "-q", check=False).stdout.split()
        for task in tasks:
            _ctr(socket, "tasks", "kill", "--all", "--signal", "SIGKILL", task, check=False)
        for task in tasks:
            _ctr(socket, "tasks", "delete", "--force", task, check=False)
        containers = _ctr(socket, "containers", "ls", "-q", check=False).stdout.split()
        if containers:
            _ctr(socket, "containers", "delete", *containers, check=False)


def _kill_shims(socket: Path) -> None:
    """Kills the containerd shims started for ``socket``'s containerd (shims outlive it)."""
    address = str(socket)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"containerd-shim" in argv[0] and address.encode() in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def node_manifest_taint() -> dict[str, Any]:
    """The taint kwok's fake nodes get when real nodes run, so that what is scheduled
    without a toleration (the chart's operator Pods, a tenant's pods) lands on a node that
    really runs it."""
    return {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
