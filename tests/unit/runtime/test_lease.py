"""Leader election on a Lease held in memory, with the API server's optimistic
concurrency (a write with an old resourceVersion is refused with 409) and a clock the
test moves."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from souverain.runtime.lease import LeaseElector, Timings


class Leases:
    """The part of KubeApi the elector uses, for one Lease."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.failing = False

    def _check(self) -> None:
        if self.failing:
            raise OSError("the API server does not answer")

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self._check()
        return copy.deepcopy(self.lease)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if self.lease is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        self.version += 1
        self.lease = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.version)}}
        return copy.deepcopy(self.lease)

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._check()
        assert self.lease is not None
        if obj["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        self.version += 1
        self.lease = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.version)}}
        return copy.deepcopy(self.lease)

    @property
    def holder(self) -> str | None:
        return None if self.lease is None else self.lease["spec"].get("holderIdentity")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TIMINGS = Timings(duration=10, renew_deadline=7, renew_every=2, retry=1)


def elector(leases: Leases, clock: Clock, identity: str) -> LeaseElector:
    return LeaseElector(
        leases,  # type: ignore[arg-type]
        "souverain-system",
        "souverain",
        identity,
        TIMINGS,
        clock=clock,
        wall=lambda: datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_the_first_replica_creates_the_lease_and_the_second_waits() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    assert a.try_acquire()
    assert leases.holder == "a"
    assert leases.lease is not None
    assert leases.lease["spec"]["leaseDurationSeconds"] == 10
    assert leases.lease["spec"]["leaseTransitions"] == 0
    assert not b.try_acquire()
    clock.now += 9  # a has not renewed, but its lease has not run out yet
    assert not b.try_acquire()
    assert a.try_acquire()  # a renews
    clock.now += 9
    assert not b.try_acquire()  # b counts from when it saw the renewal


def test_a_standby_takes_over_a_lease_not_renewed_for_its_duration() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    assert a.try_acquire()
    assert not b.try_acquire()  # b sees a's lease for the first time now
    clock.now += 10.5
    assert b.try_acquire()
    assert leases.holder == "b"
    assert leases.lease is not None
    assert leases.lease["spec"]["leaseTransitions"] == 1
    assert not a.try_acquire()  # a, back, sees b's fresh lease
    assert not a.holding


def test_a_released_lease_is_taken_at_once() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    assert a.try_acquire()
    assert not b.try_acquire()
    a.release()
    assert leases.holder == ""
    assert b.try_acquire()
    assert leases.holder == "b"


def test_release_leaves_a_lease_another_replica_took() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    assert a.try_acquire()
    assert not b.try_acquire()
    clock.now += 11
    assert b.try_acquire()
    a.release()  # a still believes it holds it
    assert leases.holder == "b"


def test_two_replicas_racing_for_a_free_lease_end_with_one_holder() -> None:
    leases, clock = Leases(), Clock()
    a, b = elector(leases, clock, "a"), elector(leases, clock, "b")
    assert a.try_acquire()
    a.release()
    # Both read the released lease; a writes first, so b's write carries an old version.
    read = leases.get("Lease", "souverain")
    assert a.try_acquire()
    original = leases.get
    leases.get = lambda *args, **kwargs: copy.deepcopy(read)  # type: ignore[method-assign]
    assert not b.try_acquire()
    leases.get = original  # type: ignore[method-assign]
    assert leases.holder == "a"


def test_the_holder_steps_down_when_it_cannot_renew_within_the_deadline() -> None:
    import threading

    leases, clock = Leases(), Clock()
    a = elector(leases, clock, "a")
    assert a.try_acquire()
    leases.failing = True
    stop = threading.Event()

    class Waits:
        """``stop.wait`` that moves the clock instead of sleeping."""

        def __call__(self, seconds: float) -> bool:
            clock.now += seconds
            return False

    stop.wait = Waits()  # type: ignore[method-assign]
    assert a.keep(stop) is False
    assert not a.holding
    assert clock.now - 1000.0 <= TIMINGS.renew_deadline + TIMINGS.renew_every


@pytest.mark.parametrize(
    ("duration", "deadline", "every"), [(10, 10, 2), (10, 7, 0), (5, 7, 2), (10, 2, 3)]
)
def test_timings_must_leave_room_to_renew_before_the_lease_runs_out(
    duration: float, deadline: float, every: float
) -> None:
    with pytest.raises(ValueError, match="renew period < renew deadline < lease duration"):
        Timings(duration=duration, renew_deadline=deadline, renew_every=every)


def test_scaled_timings_follow_the_lease_duration() -> None:
    assert Timings.scaled(10) == Timings(duration=10, renew_deadline=7, renew_every=2, retry=0.5)
    assert Timings.scaled(4).retry == pytest.approx(0.2)
