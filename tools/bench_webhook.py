"""What souverain's placement webhook costs a review, against the webhook floor.

No API server is needed. Two servers run as processes of their own, on loopback:

  floor       tools/bare_webhook.py: the same TLS and aiohttp stack, answering every
              review with one constant patch, in a process that does nothing else;
  souverain   souverain's WebhookServer, with a placement state that knows one
              namespace bound to an enforced profile, in a process that does nothing
              else.

With ``--operator``, a third: ``souverain run --admission-layers=webhook`` against a
local control plane, its webhook port posted to directly, to show what sharing the
process with kopf, the informers and the rest of the operator costs: once idle, and
once while kopf reconciles a stream of SovereignNamespace changes, against souverain's
server alone measured in the same stream (the same competition for the machine's
cores, without sharing a process).

Two reviews are posted, as the API server sends them: a pod CREATE (a Deployment's pod,
with managedFields, owner references, two containers, the service account token volume
and the tolerations the DefaultTolerationSeconds plugin adds) to ``/pin``, which
souverain pins, and a ``pods/binding`` to a qualified node to ``/binding`` (the floor
gets it on ``/pin``: it answers every body alike). Clients hold one TLS keep-alive
connection each; 1 client gives p50 and p99 per review, 16 concurrent clients give the
throughput and the CPU time the server's event-loop thread spends per review (the
steadiest figure on a machine that runs other work). Rounds interleave the servers.
Each figure is printed with its ratio to the floor. Then the in-process cost of each
step of the decision (decode, malformation, review, encode) per call, which splits
souverain's code from the server stack.

    python tools/bench_webhook.py [--rounds 3] [--requests 2000] [--operator]
                                  [--before CHECKOUT] [--profile]

``--before`` adds souverain's server from another checkout, to measure a change in the
same conditions; ``--profile`` prints where souverain's server spends its time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from souverain.admission.review import malformation, review
from souverain.certificates import serving_certificate
from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster, free_port
from souverain.devcluster.nodes import SOVEREIGN_LABEL
from souverain.metrics import Metrics
from souverain.placement.server import WebhookServer
from souverain.placement.state import PlacementState
from souverain.runtime.snapshot import Snapshot
from souverain.settings import WebhookOptions

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "bench-sovereign"
PROFILE = "bench"
NODE = "sov-fr-1"
KINDS = ("pod", "binding")
CHURN, CHURNING = "bench-churn", 10
"""The SovereignNamespaces whose changes keep kopf busy, and how many there are."""
CHANGE_SECONDS = 0.05
PATHS = {"pod": "/pin", "binding": "/binding"}

# -- the reviews --------------------------------------------------------------------


def _managed_fields() -> list[dict[str, Any]]:
    container = {
        "f:env": {
            ".": {},
            'k:{"name":"LOG_LEVEL"}': {".": {}, "f:name": {}, "f:value": {}},
            'k:{"name":"POD_NAME"}': {
                ".": {},
                "f:name": {},
                "f:valueFrom": {".": {}, "f:fieldRef": {}},
            },
        },
        "f:image": {},
        "f:imagePullPolicy": {},
        "f:name": {},
        "f:ports": {
            ".": {},
            'k:{"containerPort":8080,"protocol":"TCP"}': {
                ".": {},
                "f:containerPort": {},
                "f:name": {},
                "f:protocol": {},
            },
        },
        "f:resources": {".": {}, "f:limits": {".": {}, "f:memory": {}}, "f:requests": {}},
        "f:terminationMessagePath": {},
        "f:terminationMessagePolicy": {},
        "f:volumeMounts": {
            ".": {},
            'k:{"mountPath":"/cache"}': {".": {}, "f:mountPath": {}, "f:name": {}},
        },
    }
    return [
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-11-04T09:12:31Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {
                    "f:generateName": {},
                    "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                    "f:ownerReferences": {
                        ".": {},
                        'k:{"uid":"3b1f2c1e-5d1a-4f7e-9c55-2d4c1b7a9e10"}': {},
                    },
                },
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"web"}': container,
                        'k:{"name":"metrics"}': container,
                    },
                    "f:dnsPolicy": {},
                    "f:enableServiceLinks": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {},
                    "f:volumes": {
                        ".": {},
                        'k:{"name":"cache"}': {".": {}, "f:emptyDir": {}, "f:name": {}},
                    },
                },
            },
        }
    ]


def _container(name: str, image: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {
                "name": "POD_NAME",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
            },
        ],
        "resources": {
            "limits": {"memory": "256Mi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "volumeMounts": [
            {"name": "cache", "mountPath": "/cache"},
            {
                "name": "kube-api-access-7xk2p",
                "readOnly": True,
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            },
        ],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def pod_review(namespace: str = NAMESPACE) -> dict[str, Any]:
    """The review of a Deployment's pod CREATE, by the ReplicaSet controller, after the
    API server's own mutating plugins (ServiceAccount, DefaultTolerationSeconds)."""
    not_ready = "node.kubernetes.io/not-ready"
    return {
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "6c0d0e0a-2b7e-4b8f-8d62-7e1f0f3c9a41",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "",
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": "a4f1c3d2-7b9e-4c1a-9f0e-3d2b1c4a5e6f",
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            },
            "object": {
                "kind": "Pod",
                "apiVersion": "v1",
                "metadata": {
                    "generateName": "web-6d8f9c7b5d-",
                    "namespace": namespace,
                    "creationTimestamp": None,
                    "labels": {"app": "web", "pod-template-hash": "6d8f9c7b5d"},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": "web-6d8f9c7b5d",
                            "uid": "3b1f2c1e-5d1a-4f7e-9c55-2d4c1b7a9e10",
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                    "managedFields": _managed_fields(),
                },
                "spec": {
                    "volumes": [
                        {"name": "cache", "emptyDir": {}},
                        {
                            "name": "kube-api-access-7xk2p",
                            "projected": {
                                "sources": [
                                    {
                                        "serviceAccountToken": {
                                            "expirationSeconds": 3607,
                                            "path": "token",
                                        }
                                    },
                                    {
                                        "configMap": {
                                            "name": "kube-root-ca.crt",
                                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                        }
                                    },
                                    {
                                        "downwardAPI": {
                                            "items": [
                                                {
                                                    "path": "namespace",
                                                    "fieldRef": {
                                                        "apiVersion": "v1",
                                                        "fieldPath": "metadata.namespace",
                                                    },
                                                }
                                            ]
                                        }
                                    },
                                ],
                                "defaultMode": 420,
                            },
                        },
                    ],
                    "containers": [
                        _container("web", "registry.example/web:2.4.1", 8080),
                        _container("metrics", "registry.example/exporter:0.9", 9100),
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "serviceAccountName": "default",
                    "serviceAccount": "default",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                    "tolerations": [
                        {
                            "key": not_ready,
                            "operator": "Exists",
                            "effect": "NoExecute",
                            "tolerationSeconds": 300,
                        },
                        {
                            "key": "node.kubernetes.io/unreachable",
                            "operator": "Exists",
                            "effect": "NoExecute",
                            "tolerationSeconds": 300,
                        },
                    ],
                    "priority": 0,
                    "enableServiceLinks": True,
                    "preemptionPolicy": "PreemptLowerPriority",
                },
                "status": {},
            },
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def binding_review(namespace: str = NAMESPACE) -> dict[str, Any]:
    """The review of a ``pods/binding`` to a qualified node by someone other than the
    scheduler (the binding webhook lets the scheduler's own through unasked)."""
    return {
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "0f6b2d4e-8c1a-4e3b-a7d9-5c2e1b0a3f48",
            "kind": {"group": "", "version": "v1", "kind": "Binding"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "subResource": "binding",
            "requestKind": {"group": "", "version": "v1", "kind": "Binding"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "requestSubResource": "binding",
            "name": "web-6d8f9c7b5d-x2k8q",
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {
                "username": f"system:serviceaccount:{namespace}:placer",
                "uid": "c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f",
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
            },
            "object": {
                "kind": "Binding",
                "apiVersion": "v1",
                "metadata": {
                    "name": "web-6d8f9c7b5d-x2k8q",
                    "namespace": namespace,
                    "uid": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                    "creationTimestamp": None,
                },
                "target": {"kind": "Node", "name": NODE},
            },
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


REVIEWS: dict[str, bytes] = {
    "pod": json.dumps(pod_review()).encode(),
    "binding": json.dumps(binding_review()).encode(),
}

# -- souverain's server, alone ------------------------------------------------------


class Listed:
    """A source of informers that lists fixed objects and watches nothing."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects

    def list_with_version(
        self, kind: str, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        return self.objects.get(kind, []), "1"


def placement_state() -> PlacementState:
    """A listed placement state: ``bench-sovereign`` bound to the enforced profile
    ``bench`` (the node requirement of tools/bench_placement.py), node ``sov-fr-1`` that
    qualifies and ``std-us-1`` that does not."""
    requirement = {"key": SOVEREIGN_LABEL, "operator": "In", "values": ["true"]}
    source = Listed(
        {
            "SovereigntyProfile": [
                {
                    "metadata": {"name": PROFILE, "resourceVersion": "1"},
                    "spec": {"nodeRequirements": [requirement]},
                }
            ],
            "Namespace": [
                {"metadata": {"name": NAMESPACE, "labels": {"souverain.io/profile": PROFILE}}}
            ],
            "Node": [
                {"metadata": {"name": NODE, "labels": {SOVEREIGN_LABEL: "true"}}},
                {"metadata": {"name": "std-us-1", "labels": {}}},
            ],
        }
    )
    snapshot = Snapshot.of(source)  # type: ignore[arg-type]
    state = PlacementState(
        snapshot, WebhookOptions(), mutating_policies=False, active=threading.Event()
    )
    state.subscribe()
    for informer in (snapshot.profiles, snapshot.namespaces, snapshot.nodes, snapshot.pods):
        informer.relist()
    assert state.synced
    assert state.placement_of(NAMESPACE) is not None
    return state


async def serve(listen: str, cert_dir: Path, profile: Path | None) -> None:
    """Serves until SIGTERM; with ``profile``, writes cProfile's statistics of the
    event loop's thread there when it ends."""
    served = serving_certificate(cert_dir, (listen.rpartition(":")[0],))
    options = WebhookOptions(listen=listen, url=f"https://{listen}", layers=("webhook",))
    server = WebhookServer(placement_state(), options, served, Metrics())
    await server.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    print("listening", flush=True)
    await stopping.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    await server.stop()


# -- clients ------------------------------------------------------------------------


class Connection:
    """One TLS keep-alive connection posting reviews, with the least client work."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.port = port
        self.pending = b""

    def request(self, kind: str, path: str) -> bytes:
        body = REVIEWS[kind]
        head = (
            f"POST {path}?timeout=5s HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "User-Agent: kube-apiserver-admission\r\nAccept: application/json, */*\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def post(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._recv()
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(rest) < length:
            rest += self._recv()
        self.pending = rest[length:]
        return int(head[9:12]), rest[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def check(server: str, kind: str, status: int, body: bytes) -> None:
    response = json.loads(body)["response"] if status == 200 else {}
    expected = (
        "patch" in response if kind == "pod" or server == "floor" else "patch" not in response
    )
    if status != 200 or not response.get("allowed") or not expected:
        raise SystemExit(f"{server} answered a {kind} review with {status} {body[:300]!r}")


def run_clients(
    target: Target, kind: str, clients: int, per_client: int
) -> tuple[list[float], float]:
    """Latencies (s) of every review, and the wall time of the whole batch."""
    context = ssl.create_default_context(cafile=str(target.ca))
    path = "/pin" if target.name == "floor" else PATHS[kind]
    connections = [Connection(target.port, context) for _ in range(clients)]
    latencies: list[float] = []
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)

    def client(connection: Connection) -> None:
        request = connection.request(kind, path)
        check(target.name, kind, *connection.post(request))  # the handshake is done, too
        mine = []
        start_line.wait()
        for _ in range(per_client):
            began = time.perf_counter()
            status, _ = connection.post(request)
            mine.append(time.perf_counter() - began)
            if status != 200:
                raise SystemExit(f"{target.name} answered {status}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    for connection in connections:
        connection.close()
    return latencies, wall


# -- the servers --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A webhook server to post reviews to, and the process it runs in."""

    name: str
    port: int
    ca: Path
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time of the process's main thread, where the server's event loop runs
        (the operator's kopf, informers and workers have threads of their own)."""
        stat = Path(f"/proc/{self.pid}/task/{self.pid}/schedstat").read_text()
        return int(stat.split()[0]) / 1e9


class ServerProcess:
    """A webhook server in a process of its own, ready once it prints ``listening``."""

    def __init__(
        self, name: str, command: list[str], port: int, ca: Path, env: dict[str, str] | None = None
    ) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "listening":
            self.process.kill()
            raise SystemExit(f"the {name} server did not start")
        self.target = Target(name, port, ca, self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def floor_server(scratch: Path) -> ServerProcess:
    port = free_port()
    folder = scratch / "floor"
    command = [sys.executable, str(REPO / "tools" / "bare_webhook.py")]
    command += ["--listen", f"127.0.0.1:{port}", "--cert-dir", str(folder)]
    return ServerProcess("floor", command, port, folder / "ca.crt")


def souverain_server(
    scratch: Path, profile: Path | None = None, checkout: Path | None = None
) -> ServerProcess:
    """souverain's server, from this checkout or (named ``before``) from another."""
    name = "souverain" if checkout is None else "before"
    port = free_port()
    folder = scratch / name
    command = [sys.executable, __file__, "--serve", f"127.0.0.1:{port}", str(folder)]
    command += ["--profile-to", str(profile)] if profile else []
    env = None
    if checkout is not None:
        env = {**os.environ, "PYTHONPATH": f"{checkout / 'operator'}{os.pathsep}{checkout}"}
    return ServerProcess(name, command, port, folder / "ca.crt", env)


# -- the in-process cost --------------------------------------------------------------


def decision_cost(number: int = 200, repeat: int = 50) -> dict[str, dict[str, float]]:
    """Seconds per call of each step the server takes with a body besides HTTP, by
    review: decode, check, look up and decide, encode (the best of many short runs,
    which the rest of the machine disturbs least); orjson's too when it is installed."""
    state = placement_state()
    codecs: list[tuple[str, Callable[[bytes], Any], Callable[[Any], bytes]]] = [
        ("json", json.loads, lambda answer: json.dumps(answer).encode())
    ]
    with contextlib.suppress(ImportError):
        import orjson

        codecs.append(("orjson", orjson.loads, orjson.dumps))
    found: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        body, webhook = REVIEWS[kind], PATHS[kind].strip("/")
        decoded = json.loads(body)
        answer, _ = review(webhook, decoded, state.placement_of(NAMESPACE), ready=True)

        def decide(decoded: Any = decoded, webhook: str = webhook) -> Any:
            placement = state.placement_of(decoded["request"]["namespace"])
            return review(webhook, decoded, placement, ready=True)

        steps: dict[str, Callable[[], Any]] = {}
        for name, loads, _ in codecs:
            steps[f"{name} decode"] = lambda loads=loads, body=body: loads(body)
        steps["malformation"] = lambda webhook=webhook, decoded=decoded: malformation(
            webhook, decoded
        )
        steps["placement_of + review"] = decide
        for name, _, dumps in codecs:
            steps[f"{name} encode"] = lambda dumps=dumps, answer=answer: dumps(answer)
        found[kind] = {
            step: min(timeit.repeat(call, number=number, repeat=repeat)) / number
            for step, call in steps.items()
        }
    return found


# -- the report ---------------------------------------------------------------------


@dataclass
class Figures:
    """What one server did with one review, over every round."""

    one: list[float] = field(default_factory=list)
    """Latencies (s) at 1 client."""
    many: list[float] = field(default_factory=list)
    """Latencies (s) at 16 clients."""
    batches: list[tuple[int, float, float]] = field(default_factory=list)
    """Reviews, wall time and server CPU time of each batch at 16 clients."""

    @property
    def rate(self) -> float:
        return sum(n for n, _, _ in self.batches) / sum(w for _, w, _ in self.batches)

    @property
    def cpu(self) -> float:
        """Server CPU seconds per review at 16 clients."""
        return sum(c for _, _, c in self.batches) / sum(n for n, _, _ in self.batches)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(figures: dict[tuple[str, str], Figures], servers: list[str], baseline: str) -> None:
    print(
        f"{'':19} {'p50 1c':>8} {'p99 1c':>8} {'p50 16c':>8} {'reviews/s 16c':>14}"
        f" {'CPU/review':>10}   {'p50 x':>6} {'p99 x':>6} {'rate x':>6} {'CPU x':>6}"
    )
    for kind in KINDS:
        base = figures[(baseline, kind)]
        for server in servers:
            found = figures[(server, kind)]
            p50, p99 = statistics.median(found.one), percentile(found.one, 0.99)
            print(
                f"{kind + ' ' + server:19} {p50 * 1e6:6.0f}µs {p99 * 1e6:6.0f}µs"
                f" {statistics.median(found.many) * 1e6:6.0f}µs {found.rate:14.0f}"
                f" {found.cpu * 1e6:8.0f}µs  "
                f" {p50 / statistics.median(base.one):5.2f}x"
                f" {p99 / percentile(base.one, 0.99):5.2f}x"
                f" {found.rate / base.rate:5.2f}x {found.cpu / base.cpu:5.2f}x"
            )


def measure(
    targets: list[Target], rounds: int, requests: int, per_client: int
) -> dict[tuple[str, str], Figures]:
    figures = {(t.name, kind): Figures() for t in targets for kind in KINDS}
    for round_number in range(rounds):
        for kind in KINDS:
            for target in targets:
                found = figures[(target.name, kind)]
                run_clients(target, kind, 1, 200)  # warm-up, not counted
                found.one.extend(run_clients(target, kind, 1, requests)[0])
                cpu = target.cpu_seconds()
                many, wall = run_clients(target, kind, 16, per_client)
                found.batches.append((len(many), wall, target.cpu_seconds() - cpu))
                found.many.extend(many)
        print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    return figures


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--requests", type=int, default=2000, help="reviews per round, 1 client")
    options.add_argument("--per-client", type=int, default=250, help="reviews per client at 16")
    options.add_argument("--operator", action="store_true", help="also souverain run's webhook")
    options.add_argument(
        "--profile",
        action="store_true",
        help="profile souverain's server (cProfile) and print where its time goes",
    )
    options.add_argument(
        "--before",
        type=Path,
        metavar="CHECKOUT",
        help="also souverain's server from another checkout (a worktree of main), as 'before'",
    )
    options.add_argument(
        "--serve", nargs=2, metavar=("HOST:PORT", "CERT_DIR"), help=argparse.SUPPRESS
    )
    options.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve[0], Path(args.serve[1]), args.profile_to))
        return

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        profile = scratch / "souverain.prof" if args.profile else None
        started: list[ServerProcess] = []
        operator = Operator(scratch) if args.operator else None
        try:
            started.append(floor_server(scratch))
            if args.before is not None:
                started.append(souverain_server(scratch, checkout=args.before.resolve()))
            started.append(souverain_server(scratch, profile))
            targets = [server.target for server in started]
            if operator is not None:
                targets.append(operator.start())
            figures = measure(targets, args.rounds, args.requests, args.per_client)
            print(
                f"{args.rounds} rounds; per round and review, {args.requests} reviews at 1"
                f" client and {16 * args.per_client} at 16; pod review {len(REVIEWS['pod'])}"
                f" bytes, binding review {len(REVIEWS['binding'])} bytes. Ratios to the floor:"
            )
            report(figures, [t.name for t in targets], "floor")
            if operator is not None:
                alone = [t for t in targets if t.name in ("souverain", "operator")]
                with operator.busy() as busy:
                    figures = measure(alone, args.rounds, args.requests, args.per_client)
                print(
                    f"While kopf reconciles {busy.rate:.0f} SovereignNamespace changes a"
                    f" second (the operator's threads at {busy.cpu:.0%} of a core, reviews"
                    " included). Ratios to souverain's server alone:"
                )
                report(figures, [t.name for t in alone], "souverain")
        finally:
            for server in started:
                server.stop()
            if operator is not None:
                operator.stop()
        if profile is not None:
            print("Where souverain's server spends its time (cProfile, event loop thread):")
            stats = pstats.Stats(str(profile), stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(40)
    print("Each step in process, per call (the decision without the server):")
    for kind, steps in decision_cost().items():
        print(f"  {kind:8} " + ", ".join(f"{step} {t * 1e6:.1f}µs" for step, t in steps.items()))


# -- souverain run --------------------------------------------------------------------


class Operator:
    """``souverain run --admission-layers=webhook`` on a local control plane, with the
    profile and the SovereignNamespace of the reviews."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.cluster = DevCluster(scratch / "cluster")
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        self.ca = scratch / "webhook-certificates" / "ca.crt"

    def start(self) -> Target:
        self.cluster.up()
        self.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        self.kubectl("wait", "--for=condition=Established", "-f", str(REPO / "crds"))
        liveness = free_port()
        with open(self.scratch / "operator.log", "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "souverain",
                    "run",
                    f"--liveness=127.0.0.1:{liveness}",
                    f"--metrics=127.0.0.1:{free_port()}",
                    f"--webhook-listen=127.0.0.1:{self.port}",
                    f"--webhook-url=https://127.0.0.1:{self.port}",
                    f"--webhook-cert-dir={self.ca.parent}",
                    "--admission-layers=webhook",
                ],
                env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        objects = f"""
apiVersion: souverain.io/v1alpha1
kind: SovereigntyProfile
metadata: {{name: {PROFILE}}}
spec:
  nodeRequirements:
  - {{key: {SOVEREIGN_LABEL}, operator: In, values: ["true"]}}
---
apiVersion: souverain.io/v1alpha1
kind: SovereignNamespace
metadata: {{name: {NAMESPACE}}}
spec: {{profileName: {PROFILE}}}
"""
        for index in range(CHURNING):
            objects += f"""---
apiVersion: souverain.io/v1alpha1
kind: SovereignNamespace
metadata: {{name: {CHURN}-{index}}}
spec: {{profileName: {PROFILE}}}
"""
        self.kubectl("apply", "-f", "-", given=objects)
        deadline = time.monotonic() + 120
        while not self._pins():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the operator never pinned; see {self.scratch}/operator.log")
            time.sleep(0.2)
        target = Target("operator", self.port, self.ca, self.process.pid)
        # Measured once the operator has settled what it found at start.
        for _ in range(60):
            cpu = target.cpu_seconds()
            time.sleep(1)
            if target.cpu_seconds() - cpu < 0.02:
                break
        return target

    def kubectl(self, *args: str, given: str | None = None) -> None:
        subprocess.run(
            [str(bin_dir() / "kubectl"), *args],
            input=None if given is None else given.encode(),
            env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def _pins(self) -> bool:
        try:
            connection = Connection(self.port, ssl.create_default_context(cafile=str(self.ca)))
        except (OSError, ssl.SSLError):
            return False
        try:
            status, body = connection.post(connection.request("pod", "/pin"))
            return status == 200 and "patch" in json.loads(body)["response"]
        finally:
            connection.close()

    @contextlib.contextmanager
    def busy(self) -> Iterator[Busy]:
        """kopf kept busy while the block runs: the labels of the churning
        SovereignNamespaces change, one every :data:`CHANGE_SECONDS`, and each change is
        a reconciliation."""
        from kubernetes import client

        assert self.process is not None
        found = Busy()
        stop = threading.Event()
        pid = self.process.pid

        def process_cpu() -> float:
            tasks = Path(f"/proc/{pid}/task").iterdir()
            total = 0
            for task in tasks:
                with contextlib.suppress(OSError):  # a thread that ended meanwhile
                    total += int((task / "schedstat").read_text().split()[0])
            return total / 1e9

        def churn() -> None:
            with self.cluster.api_client() as api:
                objects = client.CustomObjectsApi(api)
                while not stop.wait(CHANGE_SECONDS):
                    objects.patch_cluster_custom_object(
                        "souverain.io",
                        "v1alpha1",
                        "sovereignnamespaces",
                        f"{CHURN}-{found.changes % CHURNING}",
                        {"spec": {"labels": {"bench/change": str(found.changes)}}},
                    )
                    found.changes += 1

        thread = threading.Thread(target=churn, daemon=True)
        began, cpu = time.perf_counter(), process_cpu()
        thread.start()
        try:
            yield found
        finally:
            stop.set()
            thread.join()
            seconds = time.perf_counter() - began
            found.rate = found.changes / seconds
            found.cpu = (process_cpu() - cpu) / seconds

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.cluster.down()


@dataclass
class Busy:
    """How busy :meth:`Operator.busy` kept kopf."""

    changes: int = 0
    rate: float = 0.0
    """Changes a second."""
    cpu: float = 0.0
    """The operator's CPU time a second, every thread's."""


if __name__ == "__main__":
    main()
