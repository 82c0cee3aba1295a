"""The informers list again after every watch (here every 2 s): a pod announced once is
not announced again, and a pod deleted while the operator was not watching is
forgotten. The operator is frozen (SIGSTOP) for longer than a watch lasts, so that the
API server ends its watches while it cannot read them."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from souverain.api import conditions as c
from tests.support.cluster import Cluster, settle_deletions, wait_for
from tests.support.operator import Operator
from tests.support.placement import events_of, native_placement_holds, running
from tests.support.tenancy import Tenancy

WATCH_SECONDS = 2


@pytest.fixture(scope="module")
def relisting(
    cluster: Cluster, souverain_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """The operator, its watches lasting ``WATCH_SECONDS``."""
    made = Operator(
        cluster,
        tmp_path_factory.mktemp("relisting"),
        extra_env={
            "SOUVERAIN_WATCH_SECONDS": str(WATCH_SECONDS),
            "SOUVERAIN_ADMISSION_LAYERS": "native",
        },
    )
    made.start()
    try:
        yield made
    finally:
        settle_deletions(cluster)
        made.stop()


def pod_lists(operator: Operator) -> int:
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
        text = response.read().decode()
    found = re.search(r'^souverain_informer_lists_total\{kind="Pod"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def relisted(operator: Operator, times: int) -> None:
    """Waits until the pod informer has listed ``times`` more times."""
    start = pod_lists(operator)
    wait_for(lambda: pod_lists(operator) >= start + times, f"{times} more lists of pods")


def pinned_events(core: Any, namespace: str, pod: str) -> int:
    return sum(1 for e in events_of(core, namespace, c.POD_PINNED) if e.involved_object.name == pod)


def test_a_relist_announces_nothing_twice_and_forgets_what_went_meanwhile(
    relisting: Operator, api: Any, core: Any
) -> None:
    tenancy = Tenancy(api)
    name = f"relist-{uuid.uuid4().hex[:6]}"
    tenancy.profile(name)
    tenancy.namespace(name, name)
    try:
        tenancy.wait(name)
        native_placement_holds(core, name)
        tenancy.run_pod(name, "first")
        wait_for(lambda: pinned_events(core, name, "first"), "first's PodPinned Event")
        wait_for(
            lambda: tenancy.status("sovereignnamespaces", name).get("compliantPods") == 1,
            "one compliant pod in status",
        )
        relisted(relisting, 2)
        assert pinned_events(core, name, "first") == 1

        assert relisting.pid is not None
        os.kill(relisting.pid, signal.SIGSTOP)
        try:
            core.delete_namespaced_pod("first", name, grace_period_seconds=0)
            wait_for(
                lambda: not core.list_namespaced_pod(name).items,
                "first to be gone",
            )
            tenancy.run_pod(name, "second")
            # Past the end of the watches the operator held when it froze.
            time.sleep(WATCH_SECONDS + 1)
        finally:
            os.kill(relisting.pid, signal.SIGCONT)

        wait_for(lambda: pinned_events(core, name, "second"), "second's PodPinned Event")
        relisted(relisting, 2)
        status = tenancy.status("sovereignnamespaces", name)
        assert (status.get("compliantPods"), status.get("nonCompliantPods")) == (1, 0)
        assert running(core, name, "second")
        assert pinned_events(core, name, "first") == 1
        assert pinned_events(core, name, "second") == 1
    finally:
        tenancy.delete("sovereignnamespaces", name)
        tenancy.delete("sovereigntyprofiles", name)
