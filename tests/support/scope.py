"""Scope through restarts: second by second after the API server (or etcd) restarted,
what souverain refuses outside the namespaces a profile binds (nothing, ever), and how
long a bound namespace refuses ordinary pods while it keeps refusing escapes.

:func:`rehearse_restart_scope` restarts the API server of a
:class:`~tests.support.chaos.Rehearsal` (and etcd right after, when asked) and then,
once a second for 40 s, dry-runs: an ordinary pod in kube-system and in an unbound
namespace, and an unbound Namespace, as a cluster administrator outside
``system:masters`` (whom every souverain policy would check); an ordinary pod in the
bound namespace ``steady`` as its owner, which must come back pinned or be refused; and
the owner's escapes (a pod naming a node outside the jurisdiction, a host-network pod, a
NetworkPolicy open to 0.0.0.0/0), which must be refused. The integration tests assert on
the :class:`Watch` it returns, ``tools/bench_chaos.py`` prints it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.chaos import STEADY, Rehearsal
from tests.support.cluster import wait_for
from tests.support.placement import pinned, pod

PLATFORM = "platform-admin"
"""Who makes the out-of-scope requests: cluster-admin through RBAC, not a member of
``system:masters``, so that a souverain policy matching them would check them."""
WATCH_SECONDS = 40.0
TIMEOUT = 5
WIDE_EGRESS = {
    "metadata": {"name": "wide"},
    "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]},
}


@dataclass(frozen=True)
class Attempt:
    """One request: when (seconds after the API server was ready), where, what, and the
    API server's answer when it was not a success."""

    at: float
    namespace: str
    what: str
    error: str = ""

    def __str__(self) -> str:
        return f"{self.at:5.1f} s {self.namespace}/{self.what}: {self.error or 'accepted'}"


@dataclass
class Watch:
    """What the requests after one restart met."""

    event: str
    out_of_scope: int = 0
    """Requests made outside the scope."""
    out_of_scope_refused: list[Attempt] = field(default_factory=list)
    """Out-of-scope requests refused by souverain (its policies and webhooks are named
    ``souverain-...`` and ``*.souverain.io``)."""
    out_of_scope_failed: list[Attempt] = field(default_factory=list)
    """Out-of-scope requests that failed for any other reason (the API server itself)."""
    escapes_accepted: list[Attempt] = field(default_factory=list)
    bound_refused: list[Attempt] = field(default_factory=list)
    """Ordinary pods the bound namespace refused."""
    unpinned: list[Attempt] = field(default_factory=list)
    """Ordinary pods the bound namespace accepted without pinning them."""
    pinned_again: float = 0.0
    """Seconds after the API server was ready until the last refusal of an ordinary pod
    in the bound namespace was over (0 when none was refused): how long the bound
    namespace refused ordinary pods after the restart."""

    def summary(self) -> str:
        return (
            f"{self.event}: {self.out_of_scope} requests out of scope,"
            f" {len(self.out_of_scope_refused)} refused by souverain,"
            f" {len(self.out_of_scope_failed)} failed otherwise;"
            f" ordinary pods of {STEADY} refused for {self.pinned_again:.1f} s"
            f" ({len(self.bound_refused)} refusals), {len(self.unpinned)} unpinned;"
            f" {len(self.escapes_accepted)} escapes accepted"
        )


def by_souverain(error: ApiException) -> bool:
    """Whether a refusal comes from one of souverain's admission objects."""
    return "souverain" in f"{error.body or ''} {error.reason or ''}"


def _message(error: ApiException) -> str:
    return f"{error.status} {str(error.body or error.reason)[:300]}"


class Prober:
    """The clients of the three identities; made again after each restart, as the
    connections of the old API server are gone."""

    def __init__(self, r: Rehearsal, unbound: str) -> None:
        self.r = r
        self.unbound = unbound
        self.platform = r.cluster.api(impersonate=PLATFORM)

    def close(self) -> None:
        self.platform.close()

    def reconnect(self) -> None:
        self.close()
        self.r.reconnect()
        self.platform = self.r.cluster.api(impersonate=PLATFORM)

    def out_of_scope(self) -> list[tuple[str, str, Callable[[], Any]]]:
        core = client.CoreV1Api(self.platform)
        namespace = {"metadata": {"name": f"unbound-{uuid.uuid4().hex[:6]}"}}
        attempts: list[tuple[str, str, Callable[[], Any]]] = [
            (
                where,
                "pod",
                lambda where=where: core.create_namespaced_pod(
                    where, pod("ordinary"), dry_run="All", _request_timeout=TIMEOUT
                ),
            )
            for where in ("kube-system", self.unbound)
        ]
        attempts.append(
            (
                "-",
                "namespace",
                lambda: core.create_namespace(namespace, dry_run="All", _request_timeout=TIMEOUT),
            )
        )
        return attempts

    def escapes(self) -> list[tuple[str, Callable[[], Any]]]:
        core = client.CoreV1Api(self.r.tenant)
        networking = client.NetworkingV1Api(self.r.tenant)

        def created(body: dict[str, Any]) -> Callable[[], Any]:
            return lambda: core.create_namespaced_pod(
                STEADY, body, dry_run="All", _request_timeout=TIMEOUT
            )

        return [
            ("pod on a node outside the profile", created(pod("escape", nodeName="std-us-1"))),
            ("host-network pod", created(pod("escape", hostNetwork=True))),
            (
                "NetworkPolicy to 0.0.0.0/0",
                lambda: networking.create_namespaced_network_policy(
                    STEADY, WIDE_EGRESS, dry_run="All", _request_timeout=TIMEOUT
                ),
            ),
        ]

    def ordinary(self) -> Any:
        return client.CoreV1Api(self.r.tenant).create_namespaced_pod(
            STEADY, pod("ordinary"), dry_run="All", _request_timeout=TIMEOUT
        )

    def tick(self, watch: Watch, at: float) -> bool:
        """One round of every request; whether the bound namespace pinned its pod."""
        for where, what, attempt in self.out_of_scope():
            watch.out_of_scope += 1
            try:
                attempt()
            except ApiException as error:
                failed = Attempt(at, where, what, _message(error))
                (
                    watch.out_of_scope_refused if by_souverain(error) else watch.out_of_scope_failed
                ).append(failed)
            except Exception as error:  # a connection refused, a timeout
                watch.out_of_scope_failed.append(Attempt(at, where, what, repr(error)[:300]))
        for what, attempt in self.escapes():
            try:
                attempt()
            except Exception:  # refused, or no answer: nothing was accepted
                continue
            watch.escapes_accepted.append(Attempt(at, STEADY, what))
        try:
            made = self.ordinary()
        except ApiException as error:
            watch.bound_refused.append(Attempt(at, STEADY, "ordinary pod", _message(error)))
            return False
        except Exception as error:  # no answer
            watch.bound_refused.append(Attempt(at, STEADY, "ordinary pod", repr(error)[:300]))
            return False
        if made.spec.affinity is None or not pinned(made):
            watch.unpinned.append(Attempt(at, STEADY, "ordinary pod", "not pinned"))
        return True


def grant_platform_admin(r: Rehearsal) -> None:
    """Makes :data:`PLATFORM` a cluster administrator through RBAC, once it is in force."""
    client.RbacAuthorizationV1Api(r.api).create_cluster_role_binding(
        {
            "metadata": {"name": PLATFORM},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": PLATFORM}
            ],
        }
    )
    with r.cluster.api(impersonate=PLATFORM) as platform:
        wait_for(
            lambda: client.CoreV1Api(platform).list_namespace(limit=1), "the platform's rights"
        )


def unbound_namespace(r: Rehearsal) -> str:
    """A namespace no profile binds, once it has its default ServiceAccount."""
    name = f"unbound-{uuid.uuid4().hex[:6]}"
    r.core.create_namespace({"metadata": {"name": name}})
    wait_for(lambda: r.core.read_namespaced_service_account("default", name), "default SA")
    return name


def rehearse_restart_scope(
    r: Rehearsal, unbound: str, *, etcd_too: bool = False, seconds: float = WATCH_SECONDS
) -> Watch:
    """Restarts the API server (then etcd, with ``etcd_too``) and watches the scope once
    a second for ``seconds`` from the moment the API server is ready again, and on until
    the bound namespace pins its ordinary pods (90 s more at most)."""
    event = "API server restart" + (", then etcd" if etcd_too else "")
    event += ", operator " + ("running" if r.operator.alive() else "stopped")
    watch = Watch(event)
    r.components.restart("kube-apiserver")
    if etcd_too:
        r.components.restart("etcd")
        wait_for(lambda: r.dev.status()["ready"], "the API server to be ready again")
    ready = time.monotonic()
    prober = Prober(r, unbound)
    prober.reconnect()
    try:
        tick, pinned_last = 0, False
        while (at := time.monotonic() - ready) < seconds or not pinned_last:
            if at > seconds + 90:
                raise AssertionError(
                    f"ordinary pods of {STEADY} still refused {at:.0f} s after the restart\n"
                    + refusals_listed(watch)
                )
            pinned_last = prober.tick(watch, round(at, 1))
            if not pinned_last:
                watch.pinned_again = round(time.monotonic() - ready, 1)
            tick += 1
            time.sleep(max(0.0, ready + tick - time.monotonic()))
    finally:
        prober.close()
    return watch


def refusals_listed(watch: Watch) -> str:
    """The failure message of a watch: its summary and every attempt that went wrong."""
    lines = [watch.summary()]
    for title, attempts in (
        ("refused by souverain out of scope", watch.out_of_scope_refused),
        ("failed out of scope", watch.out_of_scope_failed),
        ("escapes accepted", watch.escapes_accepted),
        ("unpinned", watch.unpinned),
    ):
        lines += [f"  {title}: {attempt}" for attempt in attempts]
    return "\n".join(lines)
