"""The bad input souverain is tested against, and the answer each one must get.

Every entry point answers malformed input with a 4xx or a one-line ``souverain: ...``
error, never a 500, a traceback or a hang. Each row names the entry point, the input,
the HTTP status or exit code, and a fragment the answer must contain. Webhook rows are
posted to a real :class:`~souverain.placement.server.WebhookServer`; their reviews are
the well-formed ones of :data:`WELL_FORMED` with one field broken, in the namespace
``tenant`` that is bound to an enforced profile, so that the decision would read the
broken field. CLI rows run ``souverain`` with a file, with no cluster, against a cluster
without the CRDs, or against an API server that does not answer.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Literal

BOUND = "tenant"
"""A namespace bound to the enforced profile ``fr`` (see the webhook server tests)."""
UNBOUND = "elsewhere"
QUALIFIED_NODE = "fr-1"
OTHER_NODE = "us-1"


@dataclass(frozen=True)
class WebhookRequest:
    """One HTTP request to the webhook server."""

    body: bytes
    path: str = "/pin"
    method: str = "POST"
    content_type: str | None = "application/json"
    chunked: bool = False
    """Sent without a Content-Length, so that its size is found while it is read."""


Cluster = Literal["none", "without-crds", "unreachable"]


@dataclass(frozen=True)
class Command:
    """One ``souverain`` command; ``{file}`` in ``args`` is a file holding ``file`` (no
    file at all when it is None)."""

    args: tuple[str, ...]
    file: str | bytes | None = None
    cluster: Cluster = "none"
    """``none``: run with no kubeconfig (the row must not need one)."""


@dataclass(frozen=True)
class Malformed:
    """A bad input and the answer it must get; ``{file}`` and ``{server}`` in ``says``
    stand for the command's file and the cluster's address."""

    entry: Literal["webhook", "souverain plan", "souverain report"]
    name: str
    given: WebhookRequest | Command
    answer: int
    """HTTP status of a webhook row, exit code of a command."""
    says: str
    """A fragment the answer (the response text or the stderr line) must contain."""


def pod_review(namespace: str = BOUND) -> dict[str, Any]:
    """A well-formed review of a pod's creation, as the API server sends it."""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {
                    "containers": [{"name": "web", "image": "nginx"}],
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {"key": "zone", "operator": "In", "values": ["a"]}
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                },
            },
        },
    }


def binding_review(node: str = QUALIFIED_NODE, namespace: str = BOUND) -> dict[str, Any]:
    """A well-formed review of a ``pods/binding`` to ``node``."""
    review = pod_review(namespace)
    review["request"]["subResource"] = "binding"
    review["request"]["object"] = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "web", "namespace": namespace},
        "target": {"kind": "Node", "name": node},
    }
    return review


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@dataclass(frozen=True)
class WellFormed:
    """A review the server must answer with 200 and this decision."""

    name: str
    path: str
    review: dict[str, Any]
    allowed: bool
    patched: bool = False


_ANNOTATION = "x" * (7 * 1024 * 1024)
"""An annotation of 7 MiB: a review larger than aiohttp's default limit of 1 MiB."""

WELL_FORMED = [
    WellFormed("pod in an unbound namespace", "/pin", pod_review(UNBOUND), allowed=True),
    WellFormed("pod in a bound namespace", "/pin", pod_review(), allowed=True, patched=True),
    WellFormed("binding to a qualified node", "/binding", binding_review(), allowed=True),
    WellFormed("binding to another node", "/binding", binding_review(OTHER_NODE), allowed=False),
    WellFormed(
        "binding in an unbound namespace",
        "/binding",
        binding_review(OTHER_NODE, UNBOUND),
        allowed=True,
    ),
    WellFormed(
        "pod of 7 MiB",
        "/pin",
        {
            **pod_review(UNBOUND),
            "request": {
                **pod_review(UNBOUND)["request"],
                "object": {"metadata": {"annotations": {"big": _ANNOTATION}}, "spec": {}},
            },
        },
        allowed=True,
    ),
]


def _broken(review: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``review`` with the field at the dotted ``path`` set to ``value`` (removed when
    ``value`` is :data:`MISSING`); a number in the path indexes a list."""
    broken = copy.deepcopy(review)
    *parents, last = path.split(".")
    here: Any = broken
    for part in parents:
        here = here[int(part)] if isinstance(here, list) else here[part]
    key: Any = int(last) if isinstance(here, list) else last
    if value is MISSING:
        del here[key]
    else:
        here[key] = value
    return broken


MISSING = object()
REQUIRED = (
    "request.object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
)
TERM = f"{REQUIRED}.nodeSelectorTerms.0"
EXPRESSION = f"{TERM}.matchExpressions.0"
AT_TERM = f"{REQUIRED}.nodeSelectorTerms[0]"
AT_EXPRESSION = f"{AT_TERM}.matchExpressions[0]"


def _pin(name: str, path: str, value: object, says: str) -> Malformed:
    body = _json(_broken(pod_review(), path, value))
    return Malformed("webhook", name, WebhookRequest(body), 400, f"not an AdmissionReview: {says}")


def _binding(name: str, path: str, value: object, says: str) -> Malformed:
    body = _json(_broken(binding_review(), path, value))
    return Malformed(
        "webhook", name, WebhookRequest(body, "/binding"), 400, f"not an AdmissionReview: {says}"
    )


_NESTED = b"[" * 100_000 + b"]" * 100_000
_VALID = _json(pod_review())

WEBHOOK_ROWS = [
    Malformed("webhook", "not JSON", WebhookRequest(b"{not json"), 400, "not JSON"),
    Malformed("webhook", "empty body", WebhookRequest(b""), 400, "not JSON"),
    Malformed("webhook", "not UTF-8", WebhookRequest(b"\xff\xfe{}"), 400, "not JSON"),
    Malformed("webhook", "JSON nested 100000 deep", WebhookRequest(_NESTED), 400, "not JSON"),
    Malformed("webhook", "body a list", WebhookRequest(b"[]"), 400, "the body must be an object"),
    Malformed("webhook", "body null", WebhookRequest(b"null"), 400, "the body must be an object"),
    Malformed(
        "webhook", "body a string", WebhookRequest(b'"review"'), 400, "the body must be an object"
    ),
    _pin("kind a Pod", "kind", "Pod", "kind must be AdmissionReview"),
    _pin("apiVersion unknown", "apiVersion", "admission.k8s.io/v2", "apiVersion must be"),
    _pin("request missing", "request", MISSING, "request is missing"),
    _pin("request null", "request", None, "request must be an object (it is null)"),
    _pin("request a list", "request", [], "request must be an object (it is a list)"),
    _pin("request a string", "request", "pod", "request must be an object (it is a string)"),
    _pin("uid missing", "request.uid", MISSING, "request.uid is missing"),
    _pin("uid a number", "request.uid", 7, "request.uid must be a string (it is a number)"),
    _pin("namespace missing", "request.namespace", MISSING, "request.namespace is missing"),
    _pin("namespace a list", "request.namespace", ["a"], "request.namespace must be a string"),
    _pin("operation a number", "request.operation", 1, "request.operation must be a string"),
    _pin("operation unknown", "request.operation", "EXPLODE", "request.operation must be one of"),
    _pin("object missing", "request.object", MISSING, "request.object is missing"),
    _pin("object null", "request.object", None, "request.object must be an object"),
    _pin("object a list", "request.object", [], "request.object must be an object"),
    _pin("spec a list", "request.object.spec", [], "request.object.spec must be an object"),
    _pin("spec a string", "request.object.spec", "x", "request.object.spec must be an object"),
    _pin(
        "containers not a list",
        "request.object.spec.containers",
        {"name": "web"},
        "request.object.spec.containers must be a list",
    ),
    _pin(
        "nodeName a number",
        "request.object.spec.nodeName",
        3,
        "request.object.spec.nodeName must be a string",
    ),
    _pin(
        "hostNetwork a string",
        "request.object.spec.hostNetwork",
        "yes",
        "request.object.spec.hostNetwork must be a boolean",
    ),
    _pin(
        "tolerations an object",
        "request.object.spec.tolerations",
        {},
        "request.object.spec.tolerations must be a list",
    ),
    _pin(
        "toleration a string",
        "request.object.spec.tolerations.0",
        "dedicated",
        "request.object.spec.tolerations[0] must be an object",
    ),
    _pin(
        "affinity a list",
        "request.object.spec.affinity",
        [],
        "request.object.spec.affinity must be an object",
    ),
    _pin(
        "nodeAffinity a string",
        "request.object.spec.affinity.nodeAffinity",
        "fr",
        "request.object.spec.affinity.nodeAffinity must be an object",
    ),
    _pin("required a list", REQUIRED, [], f"{REQUIRED} must be an object"),
    _pin(
        "nodeSelectorTerms an object",
        f"{REQUIRED}.nodeSelectorTerms",
        {},
        f"{REQUIRED}.nodeSelectorTerms must be a list",
    ),
    _pin("term a string", TERM, "zone", f"{AT_TERM} must be an object"),
    _pin(
        "matchExpressions an object",
        f"{TERM}.matchExpressions",
        {},
        f"{AT_TERM}.matchExpressions must be a list",
    ),
    _pin(
        "matchFields a string", f"{TERM}.matchFields", "x", f"{AT_TERM}.matchFields must be a list"
    ),
    _pin("expression a list", EXPRESSION, [], f"{AT_EXPRESSION} must be an object"),
    _pin(
        "expression key a number", f"{EXPRESSION}.key", 1, f"{AT_EXPRESSION}.key must be a string"
    ),
    _pin(
        "expression operator a list",
        f"{EXPRESSION}.operator",
        [],
        f"{AT_EXPRESSION}.operator must be a string",
    ),
    _pin("values a string", f"{EXPRESSION}.values", "a", f"{AT_EXPRESSION}.values must be a list"),
    _pin(
        "a value an object",
        f"{EXPRESSION}.values.0",
        {},
        f"{AT_EXPRESSION}.values[0] must be a string",
    ),
    _binding("target missing", "request.object.target", MISSING, "request.object.target is"),
    _binding("target a list", "request.object.target", [], "request.object.target must be"),
    _binding("target a string", "request.object.target", "fr-1", "request.object.target must"),
    _binding(
        "target name a number",
        "request.object.target.name",
        1,
        "request.object.target.name must be a string",
    ),
    _binding(
        "target name missing",
        "request.object.target.name",
        MISSING,
        "request.object.target.name is missing",
    ),
    Malformed(
        "webhook",
        "content type text/plain",
        WebhookRequest(_VALID, content_type="text/plain"),
        415,
        "must be application/json, not text/plain",
    ),
    Malformed(
        "webhook",
        "no content type",
        WebhookRequest(_VALID, content_type=None),
        415,
        "must be application/json",
    ),
    Malformed("webhook", "GET", WebhookRequest(b"", method="GET"), 405, "GET is not allowed"),
    Malformed("webhook", "PUT", WebhookRequest(_VALID, method="PUT"), 405, "PUT is not allowed"),
    Malformed(
        "webhook",
        "unknown path",
        WebhookRequest(_VALID, "/validate"),
        404,
        "no webhook '/validate'",
    ),
    Malformed("webhook", "root path", WebhookRequest(_VALID, "/"), 404, "no webhook '/'"),
    Malformed(
        "webhook", "path below a webhook", WebhookRequest(_VALID, "/pin/x"), 404, "no webhook"
    ),
    Malformed(
        "webhook",
        "body of 9 MiB",
        WebhookRequest(b" " * (9 * 1024 * 1024) + _VALID),
        413,
        "the body is over 8388608 bytes",
    ),
    Malformed(
        "webhook",
        "chunked body of 9 MiB",
        WebhookRequest(b" " * (9 * 1024 * 1024) + _VALID, chunked=True),
        413,
        "the body is over 8388608 bytes",
    ),
]

PROFILE_YAML = """\
apiVersion: souverain.io/v1alpha1
kind: SovereigntyProfile
metadata: {name: fr}
spec:
  nodeRequirements:
  - {key: node-restriction.kubernetes.io/french-sovereign, operator: In, values: ["true"]}
"""
NAMESPACE_YAML = """\
apiVersion: souverain.io/v1alpha1
kind: SovereignNamespace
metadata: {name: tenant}
spec: {profileName: fr}
"""


def _plan(name: str, file: str | bytes | None, says: str, answer: int = 1) -> Malformed:
    return Malformed("souverain plan", name, Command(("plan", "-f", "{file}"), file), answer, says)


PLAN_ROWS = [
    _plan("file missing", None, "cannot read {file}: No such file or directory"),
    _plan("not YAML", "spec: [unclosed\n", "{file} is not YAML: expected ',' or ']'"),
    _plan("not text", b"\xff\xfekind: x\n", "{file} is not text: 'utf-8' codec can't decode"),
    _plan("empty file", "", "{file} holds no object to plan"),
    _plan("only comments", "# nothing\n---\n", "{file} holds no object to plan"),
    _plan("a list", "- kind: SovereigntyProfile\n", "document 1: must be a mapping, not list"),
    _plan("a scalar", "SovereigntyProfile\n", "document 1: must be a mapping, not str"),
    _plan(
        "wrong kind",
        NAMESPACE_YAML.replace("SovereignNamespace", "Namespace"),
        "kind: plan takes a SovereigntyProfile or a SovereignNamespace, not 'Namespace'",
    ),
    _plan("no kind", "metadata: {name: x}\n", "document 1: kind: plan takes a"),
    _plan(
        "wrong apiVersion",
        NAMESPACE_YAML.replace("v1alpha1", "v2"),
        "document 1: apiVersion: must be souverain.io/v1alpha1, not 'souverain.io/v2'",
    ),
    _plan(
        "namespace without spec.profileName",
        NAMESPACE_YAML.replace("{profileName: fr}", "{}"),
        "document 1: spec.profileName: Field required",
    ),
    _plan(
        "namespace without spec",
        NAMESPACE_YAML.replace("spec: {profileName: fr}\n", ""),
        "document 1: spec: Field required",
    ),
    _plan(
        "profile whose spec is a string",
        PROFILE_YAML.split("spec:")[0] + "spec: french\n",
        "document 1: spec: Input should be a valid dictionary",
    ),
    _plan(
        "profile whose nodeRequirements is a string",
        PROFILE_YAML.split("spec:")[0] + "spec: {nodeRequirements: sovereign}\n",
        "document 1: spec.nodeRequirements: Input should be a valid list",
    ),
    _plan(
        "profile with an unknown enforcement mode",
        PROFILE_YAML + "  enforcement: {mode: Sometimes}\n",
        "document 1: spec.enforcement.mode: Input should be 'Enforce' or 'Audit'",
    ),
    _plan(
        "no metadata.name",
        NAMESPACE_YAML.replace("metadata: {name: tenant}", "metadata: {}"),
        "document 1: metadata.name: Field required",
    ),
    _plan(
        "second document wrong",
        PROFILE_YAML + "---\n" + NAMESPACE_YAML.replace("{profileName: fr}", "{profileName: 7}"),
        "document 2: spec.profileName: Input should be a valid string",
    ),
    Malformed(
        "souverain plan",
        "no -f",
        Command(("plan",)),
        2,
        "the following arguments are required: -f/--file",
    ),
    Malformed(
        "souverain plan",
        "unknown format",
        Command(("plan", "-f", "{file}", "--format", "xml"), PROFILE_YAML),
        2,
        "invalid choice: 'xml'",
    ),
    Malformed(
        "souverain plan",
        "no kubeconfig",
        Command(("plan", "-f", "{file}"), PROFILE_YAML),
        1,
        "no cluster to read: Invalid kube-config file",
    ),
]

REPORT_ROWS = [
    Malformed("souverain report", "no kubeconfig", Command(("report",)), 1, "no cluster to read:"),
    Malformed(
        "souverain report",
        "unknown format",
        Command(("report", "--format", "pdf")),
        2,
        "invalid choice: 'pdf'",
    ),
]

CLUSTER_ROWS = [
    Malformed(
        "souverain report",
        "cluster without the CRDs",
        Command(("report",), cluster="without-crds"),
        1,
        "the souverain CRDs are not installed on {server}",
    ),
    Malformed(
        "souverain report",
        "one namespace of a cluster without the CRDs",
        Command(("report", "--namespace", "tenant"), cluster="without-crds"),
        1,
        "install them with kubectl apply -f crds/",
    ),
    Malformed(
        "souverain plan",
        "cluster without the CRDs",
        Command(("plan", "-f", "{file}"), PROFILE_YAML, cluster="without-crds"),
        1,
        "the souverain CRDs are not installed on {server}",
    ),
    Malformed(
        "souverain plan",
        "bad file, cluster without the CRDs",
        Command(("plan", "-f", "{file}"), "- a\n", cluster="without-crds"),
        1,
        "document 1: must be a mapping",
    ),
    Malformed(
        "souverain report",
        "API server not answering",
        Command(("report",), cluster="unreachable"),
        1,
        "cannot reach the API server {server}: Failed to establish a new connection",
    ),
    Malformed(
        "souverain plan",
        "API server not answering",
        Command(("plan", "-f", "{file}"), NAMESPACE_YAML, cluster="unreachable"),
        1,
        "cannot reach the API server {server}",
    ),
]
"""Rows that need a cluster: ``{server}`` is its address."""

CLI_ROWS = PLAN_ROWS + REPORT_ROWS
"""Rows that need no cluster."""

ROWS = WEBHOOK_ROWS + CLI_ROWS + CLUSTER_ROWS
"""Every bad input, in one list."""
