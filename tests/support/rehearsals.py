"""Each event of the chaos suite, as one function: it causes the event on a
:class:`~tests.support.chaos.Rehearsal`, asserts what must hold, and returns the seconds
the cluster took to converge after it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from kubernetes import client

from souverain import API_GROUP
from souverain.admission.placement import WEBHOOK_CONFIGURATION_NAME
from tests.support.chaos import OWNER, PROFILE, STEADY, WEBHOOK_KINDS, Rehearsal, since
from tests.support.cluster import wait_for
from tests.support.operator import TRACEBACK


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _changes_converge(r: Rehearsal, lists: dict[str, int]) -> Callable[[], None]:
    """Makes two changes at once: a new SovereignNamespace, and one of ``steady``'s
    NetworkPolicies deleted. The returned function waits until the operator made the
    first Ready and put the second back, and until every informer listed again."""
    name = _unique("after")
    r.tenancy.namespace(name, PROFILE, owners=[{"kind": "User", "name": OWNER}])
    policy = r.managed_policy(STEADY)
    uid = r.policy_uid(STEADY, policy)
    client.NetworkingV1Api(r.api).delete_namespaced_network_policy(policy, STEADY)

    def converged() -> None:
        r.tenancy.wait(name)
        wait_for(
            lambda: r.policy_uid(STEADY, policy) not in (None, uid),
            f"NetworkPolicy {STEADY}/{policy} to be put back",
        )
        wait_for(
            lambda: all(r.informer_lists().get(kind, 0) > count for kind, count in lists.items()),
            "every informer to list again",
        )
        r.unbind(name)

    return converged


def rehearse_api_server_restart(r: Rehearsal) -> float:
    """The API server stops and starts again: the operator reconnects without a restart
    of its own, every watch resumes, and changes made as soon as the API server is back
    (no change can be made through a stopped API server) converge."""
    pid, lists = r.operator.pid, r.informer_lists()
    r.components.stop("kube-apiserver")
    time.sleep(3)  # the operator's watches and requests fail meanwhile
    r.components.start("kube-apiserver")
    started = time.monotonic()
    _changes_converge(r, lists)()
    took = since(started)
    assert r.operator.alive(), "the operator stopped"
    assert r.operator.pid == pid, "the operator restarted"
    return took


def rehearse_etcd_restart(r: Rehearsal) -> float:
    """etcd stops and starts again: as for the API server, and no SovereignNamespace loses
    its status (its Ready condition did not even flip)."""
    pid, lists = r.operator.pid, r.informer_lists()
    names = [
        item["metadata"]["name"]
        for item in client.CustomObjectsApi(r.api).list_cluster_custom_object(
            "souverain.io", "v1alpha1", "sovereignnamespaces"
        )["items"]
    ]
    before = {name: r.sovereign_namespace(name)["status"] for name in names}
    r.components.stop("etcd")
    time.sleep(3)
    r.components.start("etcd")
    wait_for(lambda: r.dev.status()["ready"], "the API server to be ready again")
    started = time.monotonic()
    _changes_converge(r, lists)()
    took = since(started)
    assert r.operator.alive(), "the operator stopped"
    assert r.operator.pid == pid, "the operator restarted"
    for name, status in before.items():
        after = r.sovereign_namespace(name)["status"]
        assert after["observedGeneration"] == status["observedGeneration"], name
        ready_before = next(c for c in status["conditions"] if c["type"] == "Ready")
        ready_after = r.ready_condition(name)
        assert ready_after is not None, f"{name} lost its Ready condition"
        assert ready_after["status"] == "True", f"{name}: {ready_after}"
        assert ready_after["lastTransitionTime"] == ready_before["lastTransitionTime"], name
    return took


def rehearse_operator_killed_mid_reconcile(r: Rehearsal, tries: int = 8) -> float:
    """The operator is killed (SIGKILL) as soon as the Namespace of a new
    SovereignNamespace exists, before it is Ready. Started again, it makes exactly one of
    each child, the same as for ``steady``, and leaves one finalizer."""
    reference = r.children(STEADY)
    caught = None
    for _ in range(tries):
        name = _unique("killed")
        r.tenancy.namespace(name, PROFILE, owners=[{"kind": "User", "name": OWNER}])
        wait_for(
            lambda name=name: r.core.list_namespace(field_selector=f"metadata.name={name}").items,
            f"Namespace {name}",
            interval=0.01,
        )
        r.operator.kill()
        ready = r.ready_condition(name)
        if ready is None or ready["status"] != "True":
            caught = name
            break
        r.operator.start()  # it was Ready already: try again
        r.unbind(name)
    assert caught is not None, f"the operator was Ready before the kill in {tries} tries"
    started = time.monotonic()  # its start-up counts: the namespace waits for it
    r.operator.start()
    r.tenancy.wait(caught)
    took = since(started)
    assert r.children(caught) == reference
    finalizers = r.sovereign_namespace(caught)["metadata"].get("finalizers")
    assert finalizers == [f"{API_GROUP}/finalizer"], finalizers
    r.unbind(caught)
    return took


def rehearse_operator_killed_mid_deletion(r: Rehearsal) -> float:
    """The operator is killed as soon as it began deleting a SovereignNamespace (its
    Namespace is terminating). Started again, it finishes: no finalizer is left stuck."""
    name = r.bind(_unique("deleted"))
    r.tenancy.delete("sovereignnamespaces", name)
    wait_for(
        lambda: (
            any(
                n.metadata.deletion_timestamp
                for n in r.core.list_namespace(field_selector=f"metadata.name={name}").items
            )
            or not r.core.list_namespace(field_selector=f"metadata.name={name}").items
        ),
        f"Namespace {name} to be terminating",
        interval=0.01,
    )
    r.operator.kill()
    started = time.monotonic()
    r.operator.start()
    wait_for(lambda: r.gone("sovereignnamespaces", name), f"{name} to go", timeout=90)
    took = since(started)
    wait_for(
        lambda: not r.core.list_namespace(field_selector=f"metadata.name={name}").items,
        f"Namespace {name} to go",
        timeout=90,
    )
    return took


def rehearse_operator_down_during_api_server_restart(r: Rehearsal) -> float:
    """With the operator stopped, the API server restarts. kube-system and unbound
    namespaces create pods (nothing of souverain's blocks them); the bound namespace
    refuses escapes through the native policies alone."""
    free = _unique("free")
    r.core.create_namespace({"metadata": {"name": free}})
    wait_for(lambda: r.core.read_namespaced_service_account("default", free), "default SA")
    r.operator.stop()
    try:
        r.components.restart("kube-apiserver")
        started = time.monotonic()
        # Until the API server's REST mapper knows the souverain kinds again (it is reset
        # every 30 s), the policies whose parameters are SovereigntyProfiles refuse every
        # pod of a bound namespace: closed, not open; then they pin and refuse escapes.
        wait_for(
            lambda: r.escapes_refused(STEADY),
            "the native policies to pin pods and refuse escapes",
            timeout=90,
        )
        took = since(started)
        assert r.pod_created("kube-system")
        assert r.pod_created(free)
        assert r.escapes_refused(STEADY)
    finally:
        r.operator.start()
    r.core.delete_namespace(free)
    r.tenancy.wait(STEADY)
    return took


def rehearse_webhook_configurations_deleted(r: Rehearsal) -> float:
    """The webhook configurations are deleted by hand, or edited: the operator puts them
    back as they were. Then the gap is held open (the operator frozen with SIGSTOP while
    they are gone): pods are pinned and escapes refused by the native policies meanwhile."""
    before = r.webhook_configurations()
    assert set(before) == set(WEBHOOK_KINDS)
    r.delete_webhook_configurations()
    started = time.monotonic()
    wait_for(lambda: set(r.webhook_configurations()) == set(WEBHOOK_KINDS), "them back")
    took = since(started)
    # Edited rather than deleted: the binding webhook made to fail open, for no namespace.
    binding = before["ValidatingWebhookConfiguration"].webhooks[0].name
    client.AdmissionregistrationV1Api(r.api).patch_validating_webhook_configuration(
        WEBHOOK_CONFIGURATION_NAME,
        {
            "webhooks": [
                {
                    "name": binding,
                    "failurePolicy": "Ignore",
                    "namespaceSelector": {"matchLabels": {"nothing": "matches"}},
                }
            ]
        },
    )

    def restored() -> bool:
        [webhook] = r.webhook_configurations()["ValidatingWebhookConfiguration"].webhooks
        wanted = before["ValidatingWebhookConfiguration"].webhooks[0]
        return bool(
            webhook.failure_policy == wanted.failure_policy
            and webhook.namespace_selector == wanted.namespace_selector
        )

    wait_for(restored, "the edited binding webhook to be put back as it was")
    r.operator.pause()
    try:
        r.delete_webhook_configurations()
        assert r.webhook_configurations() == {}
        assert r.escapes_refused(STEADY)
    finally:
        r.operator.resume()
    wait_for(lambda: set(r.webhook_configurations()) == set(WEBHOOK_KINDS), "them back again")
    after = r.webhook_configurations()
    for kind in WEBHOOK_KINDS:
        assert [w.client_config for w in after[kind].webhooks] == [
            w.client_config for w in before[kind].webhooks
        ]
        assert [w.failure_policy for w in after[kind].webhooks] == [
            w.failure_policy for w in before[kind].webhooks
        ]
    return took


def rehearse_profile_deleted_while_in_use(r: Rehearsal) -> float:
    """A profile is deleted while a namespace uses it: it stays, nothing is unpinned or
    opened (operator up, then stopped), the statuses say why; it goes with the namespace."""
    profile = _unique("doomed")
    r.tenancy.profile(profile)
    name = r.bind(_unique("bound"), profile)
    r.tenancy.delete("sovereigntyprofiles", profile)
    started = time.monotonic()

    def reason(plural: str, obj: str, kind: str) -> str | None:
        conditions = r.tenancy.status(plural, obj).get("conditions", [])
        return next((c["reason"] for c in conditions if c["type"] == kind), None)

    wait_for(
        lambda: reason("sovereigntyprofiles", profile, "Ready") == "ProfileInUse",
        "the profile's status to say it is in use",
    )
    wait_for(
        lambda: reason("sovereignnamespaces", name, "NamespaceReady") == "ProfileDeleting",
        "the namespace's status to say its profile is being deleted",
    )
    took = since(started)
    assert not r.gone("sovereigntyprofiles", profile)
    assert r.escapes_refused(name)
    r.operator.stop()
    try:
        assert r.escapes_refused(name)
    finally:
        r.operator.start()
    assert r.escapes_refused(name)
    r.unbind(name)
    wait_for(lambda: r.gone("sovereigntyprofiles", profile), f"{profile} to go", timeout=90)
    return took


def rehearse_silent_api_server(r: Rehearsal, watch_seconds: int) -> float:
    """The API server is frozen (SIGSTOP: connections stay open, nothing answers) past the
    operator's watch timeouts. Its own timeouts fire, each failure is one log line, and
    once the API server answers again a change converges without a restart."""
    pid, offset = r.operator.pid, len(r.operator.log())
    r.components.pause("kube-apiserver")
    try:
        time.sleep(watch_seconds * 2 + 15)
    finally:
        r.components.resume("kube-apiserver")
    r.reconnect()
    started = time.monotonic()
    name = r.bind(_unique("after-silence"))
    took = since(started)
    log = r.operator.log()[offset:]
    assert "nothing came for" in log, log[-3000:]
    assert TRACEBACK not in log, log[-3000:]
    assert r.operator.alive(), "the operator stopped"
    assert r.operator.pid == pid, "the operator restarted"
    r.unbind(name)
    return took
