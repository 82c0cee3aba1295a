"""The violation history on the real control plane: a pod's stay on a node that lost its
qualification is recorded with its start and its end; the records survive an operator
restart and a failover between two replicas; a tenant can neither read nor change them;
``souverain report --verify`` passes on the intact chain and fails, naming the record,
on one an admin edited or cut; ``--since`` shows the intervals and clean periods, and the
HTML draws them as an inline SVG without script.

The tests of this module build on each other, in order: one tenant, one history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.cli import HISTORY_BROKEN
from souverain.history.chain import History
from souverain.report.schema import Report
from tests.support.cluster import Cluster, settle_deletions, wait_for
from tests.support.operator import Operator
from tests.support.placement import NodeLabel, native_placement_holds
from tests.support.tenancy import GROUP, VERSION, Tenancy

RUN = uuid.uuid4().hex[:6]
TENANT = f"history-{RUN}"
OWNER = f"owner-{RUN}"
HOME = "souverain-system"
MAP = f"souverain-history-{TENANT}"
LEASE_NAMESPACE, LEASE = "souverain-history-ha", "souverain"


class Setting:
    """The module's tenant, its pod's node, and the operator of the moment."""

    def __init__(self, cluster: Cluster, api: Any, folder: Path) -> None:
        self.cluster, self.api, self.folder = cluster, api, folder
        self.core = client.CoreV1Api(api)
        self.tenancy = Tenancy(api)
        self.operator = Operator(cluster, folder / "single")
        self.operator.log_dir.mkdir()
        self.node = ""

    def history(self) -> History:
        try:
            found = self.core.read_namespaced_config_map(MAP, HOME)
        except ApiException as error:
            if error.status == 404:
                return History()
            raise
        return History.from_data(found.data)

    def events(self) -> list[tuple[str, str | None]]:
        return [(r["event"], r.get("object")) for r in self.history().records()]

    def wait_event(self, event: tuple[str, str | None], after: int = 0) -> History:
        def found() -> History | None:
            history = self.history()
            later = [(r["event"], r.get("object")) for r in history.records()][after:]
            return history if event in later else None

        return wait_for(found, f"a {event} record in the history of {TENANT}", timeout=90)

    def anchor(self) -> dict[str, Any]:
        return dict(self.tenancy.status("sovereignnamespaces", TENANT).get("history") or {})

    def anchored(self) -> dict[str, Any]:
        """The anchor, once it names the head (the status is written after the records)."""
        return wait_for(
            lambda: (a := self.anchor()).get("head") == self.history().head and a,
            "the anchor to reach the head",
        )


def report(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "souverain", "report", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def setting(
    cluster: Cluster, souverain_crds: None, api: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setting]:
    made = Setting(cluster, api, tmp_path_factory.mktemp("history"))
    made.operator.start()
    made.tenancy.profile(TENANT, enforcement={"mode": "Enforce"})
    made.tenancy.namespace(TENANT, TENANT, owners=[{"kind": "User", "name": OWNER}])
    try:
        yield made
    finally:
        made.tenancy.delete("sovereignnamespaces", TENANT)
        made.tenancy.delete("sovereigntyprofiles", TENANT)
        settle_deletions(cluster)
        made.operator.stop()


def test_a_violation_is_recorded_with_its_start_and_its_end(setting: Setting) -> None:
    setting.tenancy.wait(TENANT)
    native_placement_holds(setting.core, TENANT)
    pod = setting.tenancy.run_pod(TENANT)
    setting.node = pod.spec.node_name
    setting.wait_event(("genesis", None))
    violation = ("start", "Pod/app")
    labels = NodeLabel(setting.core)
    try:
        labels.remove(setting.node)
        started = setting.wait_event(violation)
    finally:
        labels.restore()
    ended = setting.wait_event(("end", "Pod/app"))
    assert ended.lines[: len(started.lines)] == started.lines
    record = next(r for r in ended.records() if r["event"] == "start")
    assert record["kind"] == "PodOnUnqualifiedNode"
    assert setting.node in record["message"]
    anchor = setting.anchored()
    assert anchor["records"] == setting.history().count
    assert anchor["configMap"] == f"{HOME}/{MAP}"


def test_the_history_survives_a_restart(setting: Setting) -> None:
    before = setting.history()
    setting.operator.stop()
    setting.operator.start()
    after = setting.wait_event(("observer", None), after=len(before.lines))
    assert after.lines[: len(before.lines)] == before.lines
    setting.anchored()
    result = report(setting.cluster, "--verify", "--namespace", TENANT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{TENANT}: intact, {after.count} record(s)")


def test_the_history_survives_a_failover(setting: Setting) -> None:
    setting.operator.stop()
    try:
        setting.core.create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
    except ApiException as error:
        if error.status != 409:
            raise
    replicas = [
        Operator(
            setting.cluster,
            setting.folder / name,
            lease=f"{LEASE_NAMESPACE}/{LEASE}",
            identity=name,
            extra_env={"SOUVERAIN_ADMISSION_LAYERS": "native", "SOUVERAIN_LEASE_SECONDS": "4"},
        )
        for name in ("replica-a", "replica-b")
    ]
    for replica in replicas:
        replica.log_dir.mkdir()
    first, second = replicas
    labels = NodeLabel(setting.core)
    try:
        count = len(setting.history().lines)
        first.start()
        setting.wait_event(("observer", None), after=count)
        second.start()
        labels.remove(setting.node)
        during = setting.wait_event(("start", "Pod/app"), after=count)
        first.kill()  # a crash: the Lease expires, the standby takes over
        labels.restore()
        after = setting.wait_event(("end", "Pod/app"), after=len(during.lines))
    finally:
        labels.restore()
        for replica in replicas:
            replica.stop()
    assert after.lines[: len(during.lines)] == during.lines
    observers = [r.get("observer") for r in after.records() if r["event"] == "observer"]
    assert observers[-2:] == ["replica-a", "replica-b"]
    setting.operator.start()
    setting.wait_event(("observer", None), after=len(after.lines))
    setting.anchored()
    result = report(setting.cluster, "--verify", "--namespace", TENANT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_tenant_can_neither_read_nor_change_the_history(setting: Setting) -> None:
    owner = client.CoreV1Api(setting.cluster.api(impersonate=OWNER))
    objects = client.CustomObjectsApi(setting.cluster.api(impersonate=OWNER))
    attempts = {
        "read": lambda: owner.read_namespaced_config_map(MAP, HOME),
        "replace": lambda: owner.patch_namespaced_config_map(MAP, HOME, {"data": {"x": "y"}}),
        "delete": lambda: owner.delete_namespaced_config_map(MAP, HOME),
        "anchor": lambda: objects.patch_cluster_custom_object_status(
            GROUP, VERSION, "sovereignnamespaces", TENANT, {"status": {"history": None}}
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ApiException) as refused:
            attempt()
        assert refused.value.status == 403, what
    # The owner does have the rights of its own namespace: the refusals are about the history.
    assert owner.list_namespaced_pod(TENANT).items


def test_since_shows_the_intervals_and_the_clean_periods(setting: Setting, tmp_path: Path) -> None:
    setting.anchored()
    result = report(setting.cluster, "--namespace", TENANT, "--since", "2020-01-01")
    assert result.returncode == 0, result.stderr
    part = Report.model_validate(json.loads(result.stdout)).namespaces[0]
    history = part.history
    assert history is not None
    assert history.chain == "intact"
    pods = [i for i in history.violations if i.object == "Pod/app"]
    assert len(pods) == 2
    assert all(i.end is not None and i.end >= i.start for i in pods)
    assert history.clean
    assert any(s.startswith("no violation between") for s in history.statements)
    assert history.statements[0].startswith("the history begins at")
    page = tmp_path / "report.html"
    html_run = report(setting.cluster, "--format", "html", "--since", "2020-01-01", "-o", str(page))
    assert html_run.returncode == 0, html_run.stderr
    html = page.read_text()
    assert '<svg class="timeline"' in html
    assert "<script" not in html.lower()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def _replace_records(setting: Setting, lines: list[str]) -> None:
    found = setting.core.read_namespaced_config_map(MAP, HOME)
    found.data["records.jsonl"] = "".join(f"{line}\n" for line in lines)
    setting.core.replace_namespaced_config_map(MAP, HOME, found)


def test_verify_fails_on_a_record_an_admin_edited_or_deleted(setting: Setting) -> None:
    setting.operator.stop()  # nothing observes meanwhile: the edits stay as made
    intact = list(setting.history().lines)
    try:
        edited = json.loads(intact[1])
        edited["message"] = "nothing to see here"
        _replace_records(setting, [intact[0], json.dumps(edited), *intact[2:]])
        result = report(setting.cluster, "--verify")
        assert result.returncode == HISTORY_BROKEN, result.stdout + result.stderr
        assert f"{TENANT}: BROKEN at record 1: record 1 was edited" in result.stdout

        _replace_records(setting, [intact[0], *intact[2:]])
        result = report(setting.cluster, "--verify", "--namespace", TENANT)
        assert result.returncode == HISTORY_BROKEN
        assert "BROKEN at record 1: record 1 is missing" in result.stdout

        _replace_records(setting, intact[:-1])
        result = report(setting.cluster, "--verify", "--namespace", TENANT)
        assert result.returncode == HISTORY_BROKEN
        assert f"are missing: the anchor counts {len(intact)}" in result.stdout

        _replace_records(setting, intact)
        result = report(setting.cluster, "--verify", "--namespace", TENANT)
        assert result.returncode == 0, result.stdout
    finally:
        _replace_records(setting, intact)
        setting.operator.start()


def test_the_operator_keeps_a_tampered_record_and_says_so(setting: Setting) -> None:
    setting.operator.stop()
    intact = list(setting.history().lines)
    edited = json.loads(intact[1])
    edited["message"] = "nothing to see here"
    _replace_records(setting, [intact[0], json.dumps(edited), *intact[2:]])
    setting.operator.start()
    after = setting.wait_event(("broken", None), after=len(intact))
    assert after.lines[1] == json.dumps(edited)
    broken = next(r for r in after.records() if r["event"] == "broken")
    assert "record 1 was edited" in broken["message"]
    result = report(setting.cluster, "--verify", "--namespace", TENANT)
    assert result.returncode == HISTORY_BROKEN
    assert "record 1 was edited" in result.stdout
    assert "record 1 was edited" in setting.operator.log()


def test_records_cut_while_the_operator_runs_are_found_at_its_next_write(
    setting: Setting,
) -> None:
    # The operator keeps the ConfigMap it wrote last and appends to it without reading
    # it again: a change made behind its back must refuse that write, not be overwritten.
    setting.anchored()
    intact = list(setting.history().lines)
    # The record cut is one no ``broken`` record notes: the anchor is all that names it.
    assert json.loads(intact[-1])["event"] != "broken", intact[-1]
    _replace_records(setting, intact[:-1])
    labels = NodeLabel(setting.core)
    try:
        labels.remove(setting.node)
        after = setting.wait_event(("start", "Pod/app"), after=len(intact) - 1)
    finally:
        labels.restore()
    assert list(after.lines[: len(intact) - 1]) == intact[:-1]
    added = after.records()[len(intact) - 1 :]
    broken = [r for r in added if r["event"] == "broken"]
    assert broken, added
    assert f"the anchor counts {len(intact)}" in broken[0]["message"]
    setting.wait_event(("end", "Pod/app"), after=len(after.lines))
    setting.anchored()
