"""Leader election through a ``coordination.k8s.io/v1`` Lease, as Kubernetes' own
controllers do it.

The replica named in ``spec.holderIdentity`` is the active one; ``kubectl get lease -n
<namespace>`` shows it. The holder renews the Lease every ``renew_every`` seconds. A
standby takes it over when the holder has not renewed it for ``duration`` seconds, as
measured on the standby's own clock from when it last saw the Lease change (clocks of
different machines are never compared), or at once when the holder released it on its
way out. A holder that cannot renew for ``renew_deadline`` seconds, shorter than
``duration``, stops acting before anyone else may start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import KubeApi

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timings:
    """Seconds of the election; ``renew_every`` < ``renew_deadline`` < ``duration``."""

    duration: float = 10.0
    renew_deadline: float = 7.0
    renew_every: float = 2.0
    retry: float = 1.0

    @classmethod
    def scaled(cls, duration: float) -> Timings:
        """Timings for a Lease of ``duration`` seconds: renewed every fifth of it, given up
        after 70 % of it unrenewed, tried by standbys every 0.5 s (or faster)."""
        return cls(
            duration=duration,
            renew_deadline=duration * 0.7,
            renew_every=duration * 0.2,
            retry=min(0.5, duration * 0.05),
        )

    def __post_init__(self) -> None:
        if not 0 < self.renew_every < self.renew_deadline < self.duration:
            raise ValueError(
                "lease timings need 0 < renew period < renew deadline < lease duration, not"
                f" {self.renew_every} < {self.renew_deadline} < {self.duration}"
            )


def micro_time(moment: datetime) -> str:
    """A Lease's MicroTime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Takes, keeps and gives back one Lease for one replica (``identity``)."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        identity: str,
        timings: Timings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings or Timings()
        self.clock = clock
        self.wall = wall
        self._seen: tuple[Any, ...] | None = None
        self._seen_at = 0.0
        self.holding = False

    def _lease(self, spec: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if base is not None:
            metadata["resourceVersion"] = base["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    def try_acquire(self) -> bool:
        """Takes or renews the Lease when it is free, expired or already ours; True when
        this replica holds it afterwards."""
        lease = self.api.get("Lease", self.name, self.namespace)
        now, stamp = self.clock(), micro_time(self.wall())
        if lease is None:
            created: dict[str, Any] = {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.timings.duration),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            }
            try:
                self.api.create(self._lease(created, None))
            except ApiException as error:
                if error.status == 409:  # another replica created it first
                    self.holding = False
                    return False
                raise
            self.holding = True
            return True
        spec: dict[str, Any] = dict(lease.get("spec") or {})
        holder = spec.get("holderIdentity") or ""
        # Any write (a renewal, a takeover) changes the resourceVersion.
        record = (lease["metadata"].get("resourceVersion"), holder)
        if record != self._seen:
            self._seen, self._seen_at = record, now
        duration = float(spec.get("leaseDurationSeconds") or self.timings.duration)
        ours = holder == self.identity
        if holder and not ours and now < self._seen_at + duration:
            self.holding = False
            return False
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.timings.duration),
            renewTime=stamp,
        )
        if not ours:
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            self.api.replace(self._lease(spec, lease))
        except ApiException as error:
            if error.status == 409:  # changed since read: someone else renewed or took it
                self.holding = False
                return False
            raise
        self.holding = True
        return True

    def campaign(self, stop: threading.Event) -> bool:
        """Waits until this replica holds the Lease (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            try:
                if self.try_acquire():
                    log.info("Holding Lease %s/%s as %s", self.namespace, self.name, self.identity)
                    return True
            except (ApiException, OSError) as error:
                log.warning("Cannot read Lease %s/%s: %s", self.namespace, self.name, error)
            stop.wait(self.timings.retry)
        return False

    def keep(self, stop: threading.Event) -> bool:
        """Renews the Lease until ``stop`` is set (True) or it is lost (False): taken by
        another replica, or not renewed within the deadline."""
        renewed = self.clock()
        while not stop.wait(self.timings.renew_every):
            try:
                if self.try_acquire():
                    renewed = self.clock()
                    continue
                log.error("Lease %s/%s was taken by another replica", self.namespace, self.name)
                return False
            except (ApiException, OSError) as error:
                log.warning("Cannot renew Lease %s/%s: %s", self.namespace, self.name, error)
            if self.clock() - renewed > self.timings.renew_deadline:
                log.error(
                    "Lease %s/%s not renewed for %.0f s; stepping down",
                    self.namespace,
                    self.name,
                    self.clock() - renewed,
                )
                self.holding = False
                return False
        return True

    def release(self) -> None:
        """Gives the Lease back, so that a standby takes over at its next try instead of
        waiting for the Lease to expire."""
        if not self.holding:
            return
        self.holding = False
        try:
            lease = self.api.get("Lease", self.name, self.namespace)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = dict(lease["spec"])
            spec.update(
                holderIdentity="", leaseDurationSeconds=1, renewTime=micro_time(self.wall())
            )
            self.api.replace(self._lease(spec, lease))
            log.info("Released Lease %s/%s", self.namespace, self.name)
        except (ApiException, OSError) as error:
            log.warning("Cannot release Lease %s/%s: %s", self.namespace, self.name, error)
