"""What only a cluster with real kubelets can show."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cluster import wait_for


@pytest.mark.kind
def test_a_container_really_runs_and_logs(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "hello"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "hello", "image": "busybox:1.36", "command": ["echo", "bonjour"]}
                ],
            },
        },
    )
    wait_for(
        lambda: core.read_namespaced_pod("hello", namespace).status.phase == "Succeeded",
        "the pod to complete",
        timeout=180,
    )
    assert "bonjour" in core.read_namespaced_pod_log("hello", namespace)
