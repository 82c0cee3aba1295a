"""Stopping, starting, restarting, pausing and resuming one component of a running local
control plane, to rehearse what production does to an operator: an API server restart,
an etcd restart, a scheduler away, an API server that stops answering.

Each command works from any process: the pid and command line of every component are in
``state.json``. A stopped component keeps its record with pid 0, so that ``start`` can
start it again with the same command line, ports and data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Final

from souverain.devcluster.cluster import DevCluster, DevClusterError
from souverain.devcluster.state import ProcessRecord, State, pid_alive, pid_paused
from souverain.devcluster.stopping import STOP_SECONDS, stop_process

COMPONENTS: Final = (
    "etcd",
    "kube-apiserver",
    "kube-scheduler",
    "kube-controller-manager",
    "kwok",
)


def health_url(name: str, state: State) -> str:
    """Where a component says it is healthy (the API server: ready)."""
    ports = state.ports
    return {
        "etcd": f"http://127.0.0.1:{ports['etcd']}/health",
        "kube-apiserver": f"{state.apiserver_url}/readyz",
        "kube-scheduler": f"https://127.0.0.1:{ports['scheduler']}/healthz",
        "kube-controller-manager": f"https://127.0.0.1:{ports['controller-manager']}/healthz",
        "kwok": f"http://127.0.0.1:{ports['kwok']}/healthz",
    }[name]


class Components:
    """The components of the local control plane in ``cluster.state_dir``."""

    def __init__(self, cluster: DevCluster) -> None:
        self.cluster = cluster

    def _state(self) -> State:
        state = self.cluster.state()
        if state is None:
            raise DevClusterError(
                f"no local control plane runs from {self.cluster.state_dir}; "
                "start one with 'souverain dev-cluster up'"
            )
        return state

    def _record(self, state: State, name: str) -> ProcessRecord:
        if name not in COMPONENTS:
            raise DevClusterError(f"no component {name!r}; choose one of {', '.join(COMPONENTS)}")
        for record in state.processes:
            if record.name == name:
                return record
        raise DevClusterError(f"{name} was never started from {self.cluster.state_dir}")

    def state_of(self, name: str) -> str:
        """``running``, ``paused`` or ``stopped``."""
        record = self._record(self._state(), name)
        if pid_paused(record.pid):
            return "paused"
        return "running" if pid_alive(record.pid) else "stopped"

    def stop(self, name: str, timeout: float = STOP_SECONDS) -> bool:
        """Stops the component with SIGTERM (SIGKILL after ``timeout``); False when it was
        not running. A paused component is resumed first, so that it can exit."""
        state = self._state()
        record = self._record(state, name)
        stopped = stop_process(record.pid, timeout, self.cluster._reap)
        self.cluster._children.pop(name, None)
        record.pid = 0
        state.save(self.cluster.state_file)
        return stopped

    def start(self, name: str, timeout: float = 60.0) -> bool:
        """Starts a stopped component again with its command line, and waits until it is
        healthy; False when it was already running."""
        state = self._state()
        record = self._record(state, name)
        if pid_alive(record.pid):
            return False
        if not record.argv:
            raise DevClusterError(
                f"{name} was started by an older souverain that did not record its command "
                "line; run 'souverain dev-cluster down' and 'up' again"
            )
        with open(record.log, "ab") as log:
            log.write(f"\n--- started again by souverain dev-cluster at {time.ctime()}\n".encode())
            log.flush()
            child = subprocess.Popen(
                record.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cluster.state_dir,
            )
        self.cluster._children[name] = child
        record.pid = child.pid
        state.save(self.cluster.state_file)
        self.cluster._wait_http(
            health_url(name, state),
            name,
            time.monotonic() + timeout,
            tls=name != "etcd" and name != "kwok",
        )
        return True

    def restart(self, name: str, timeout: float = 60.0) -> None:
        """Stops the component and starts it again, waiting until it is healthy."""
        self.stop(name)
        self.start(name, timeout)

    def pause(self, name: str) -> None:
        """Freezes the component with SIGSTOP: its connections stay open and nothing
        answers on them, as with a hung API server or a watch that never sends."""
        record = self._record(self._state(), name)
        if not pid_alive(record.pid):
            raise DevClusterError(f"{name} is not running")
        os.killpg(record.pid, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        """Lets a paused component run on (SIGCONT)."""
        record = self._record(self._state(), name)
        if not pid_alive(record.pid):
            raise DevClusterError(f"{name} is not running")
        os.killpg(record.pid, signal.SIGCONT)


def status_of(cluster: DevCluster) -> dict[str, Any]:
    """Which components run, where the kubeconfig is, and the API server's readiness."""
    state = cluster.state()
    if state is None:
        return {"running": False, "stateDir": str(cluster.state_dir)}
    components = {p.name: pid_alive(p.pid) for p in state.processes}
    paused = [p.name for p in state.processes if pid_paused(p.pid)]
    ready = False
    try:
        with urllib.request.urlopen(
            f"{state.apiserver_url}/readyz", context=cluster._ssl_context(), timeout=2
        ) as response:
            ready = response.status == 200
    except (urllib.error.URLError, OSError):
        ready = False
    return {
        "running": all(components.values()) and not paused,
        "ready": ready,
        "stateDir": str(cluster.state_dir),
        "kubeconfig": state.kubeconfig,
        "server": state.apiserver_url,
        "components": components,
        "paused": paused,
        "realNodes": list(state.real.get("nodes", [])),
    }


__all__ = ["COMPONENTS", "Components", "health_url", "status_of"]
