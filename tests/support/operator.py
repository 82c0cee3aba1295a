"""``souverain run`` as a child process of the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.support.cluster import Cluster, wait_for

TRACEBACK = "Traceback (most recent call last)"

STARTED: list[Operator] = []
"""Every operator the tests started, in order: their logs are checked for tracebacks
after each test module (``tests/integration/conftest.py``)."""


class Operator:
    """``souverain run`` as a child process, which tests can stop and start again."""

    def __init__(
        self,
        cluster: Cluster,
        log_dir: Path,
        kubeconfig: Path | None = None,
        username: str | None = None,
        extra_env: dict[str, str] | None = None,
        lease: str | None = None,
        identity: str | None = None,
    ) -> None:
        """``kubeconfig`` and ``username`` run it as another user than the cluster's
        admin (``SOUVERAIN_OPERATOR_USERNAME``, which the admission policies trust);
        ``lease`` (``namespace/name``) and ``identity`` make it one replica among several
        that elect the active one (``SOUVERAIN_LEASE``, ``SOUVERAIN_IDENTITY``);
        ``extra_env`` adds environment variables."""
        from souverain.devcluster.cluster import free_port

        self.cluster = cluster
        self.log_dir = log_dir
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.username = username
        self.lease = lease
        self.identity = identity
        self.extra_env = dict(extra_env or {})
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.webhook_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The process id of the running operator; None before start() and after stop()
        or kill()."""
        return self.process.pid if self.process is not None else None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        import sys
        import urllib.request

        self.starts += 1
        if self not in STARTED:
            STARTED.append(self)
        log = open(self.log_dir / f"operator-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "souverain",
                "run",
                f"--liveness=127.0.0.1:{self.liveness_port}",
                f"--metrics=127.0.0.1:{self.metrics_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Discovery refreshed often, so that tests adding an API see it picked up.
            env={
                **os.environ,
                "KUBECONFIG": str(self.kubeconfig),
                "SOUVERAIN_DISCOVERY_SECONDS": "2",
                # The API server calls the webhooks on loopback, trusting the CA the
                # operator made in the log folder (kept across restarts).
                "SOUVERAIN_WEBHOOK_LISTEN": f"127.0.0.1:{self.webhook_port}",
                "SOUVERAIN_WEBHOOK_URL": f"https://127.0.0.1:{self.webhook_port}",
                "SOUVERAIN_WEBHOOK_CERT_DIR": str(self.log_dir / "webhook-certificates"),
                **({"SOUVERAIN_OPERATOR_USERNAME": self.username} if self.username else {}),
                **({"SOUVERAIN_LEASE": self.lease} if self.lease is not None else {}),
                **({"SOUVERAIN_IDENTITY": self.identity} if self.identity is not None else {}),
                **self.extra_env,
            },
        )
        log.close()

        def healthy() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, self.log()
            try:
                url = f"http://127.0.0.1:{self.liveness_port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(healthy, "the operator to serve its liveness endpoint", timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process = None

    def kill(self) -> None:
        """Ends the process with SIGKILL, as a crash would: unlike stop(), it releases
        nothing, so its Lease stays held until it expires."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)
        self.process = None

    def pause(self) -> None:
        """Freezes the process (SIGSTOP): it holds its connections and answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return (self.log_dir / f"operator-{self.starts}.log").read_text(errors="replace")

    def tracebacks(self) -> list[str]:
        """Each traceback in the logs of every start of this operator, with the lines that
        led to it."""
        found = []
        for log in sorted(self.log_dir.glob("operator-*.log")):
            lines = log.read_text(errors="replace").splitlines()
            for number, line in enumerate(lines):
                if TRACEBACK in line:
                    found.append(
                        f"{log.name}:{number + 1}:\n" + "\n".join(lines[number : number + 30])
                    )
        return found
