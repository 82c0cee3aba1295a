"""Image registries in the API server: tenants run only code from the registries their
profile allows.

Static ValidatingAdmissionPolicies read the profile handed to them as their parameter
and check every image reference a pod can run: ``containers``, ``initContainers`` and
``ephemeralContainers`` images and ``image`` volumes (``volumes[].image.reference``).

- :data:`PODS` checks Pods on CREATE and UPDATE (container images are mutable) and the
  ``pods/ephemeralcontainers`` subresource that ``kubectl debug`` writes;
- :data:`WORKLOADS`, :data:`CRONJOBS` and :data:`POD_TEMPLATES` check the pod templates
  of Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, ReplicationControllers,
  CronJobs and core PodTemplates, so that a workload is refused when it is written.

A reference is read as the container runtime reads it (distribution's
``ParseNormalizedNamed``): the digest (``@...``) and then the tag (a ``:`` after the last
``/``) are dropped; the first path segment is the registry when it holds a ``.`` or a
``:``, is ``localhost`` or has upper case, and the name is on ``docker.io`` otherwise;
``index.docker.io`` is ``docker.io``, where a one-segment name is under ``library/``;
the registry is compared in lower case. The repository ``registry/path`` is allowed when
it equals an entry of ``images.allowedRegistries`` or starts with the entry and a ``/``:
a prefix matches whole segments, and a host without a port only references without one.

A reference outside the grammar (a scheme, spaces, upper case in the path, an empty
image, an IPv6 registry) is refused, as is a bare ``algorithm:hex`` such as
``sha256:<64 hex>``: the runtime reads that as the ID of an image already on the node,
which could have come from any registry. Messages name the field, such as
``spec.initContainers[0].image``, and the allowed registries. An empty list lets every
image through, so the bindings exist for every profile and an edit of the list takes
effect at once. Updates are checked only when they change an image; the operator and
``system:masters`` pass. The independent evaluator is :mod:`souverain.outcomes.images`.
"""

from __future__ import annotations

from typing import Any, Final

from souverain.admission.policy import (
    WRITES,
    cel_string,
    namespace_bindings,
    profile_policy,
    refusals_validation,
    resource_rule,
    written_conditions,
)
from souverain.api import SovereigntyProfileSpec

PODS: Final = "souverain-images-pods"
WORKLOADS: Final = "souverain-images-workloads"
CRONJOBS: Final = "souverain-images-cronjobs"
POD_TEMPLATES: Final = "souverain-images-pod-templates"
POLICY_NAMES: Final = (PODS, WORKLOADS, CRONJOBS, POD_TEMPLATES)

_DOMAIN_PART = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE_GRAMMAR: Final = (
    f"^(?:{_DOMAIN_PART}(?:[.]{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
    f"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@{_DIGEST})?$"
)
"""distribution/reference's grammar, without IPv6 registries."""
IMAGE_ID: Final = "^[^/@]*:[0-9a-fA-F]{32,}$"
"""A name without registry and a long hexadecimal tag: what the runtime may take for an
image ID (``sha256:...``)."""

_NAME: Final = "^(?:[^@/]*/)*[^@/:]*"
"""The reference without its tag and digest."""
_REGISTRY_SEGMENT: Final = "^(?:[^/]*[.:A-Z][^/]*|localhost)/"

_ALLOWED: Final = "params.spec.?images.?allowedRegistries.orValue([])"
_ALLOWS: Final = (
    "' allowed by SovereigntyProfile ' + params.metadata.name + ', which allows images from '"
    " + variables.allowed.join(', ')"
)


def _references(spec: str, path: str) -> str:
    """CEL: ``{field, image}`` for every image reference of the pod spec ``spec`` (an
    optional), whose fields are named under ``path``."""
    containers = [
        f"{spec}.?{kind}.orValue([]).transformList(i, c, {{'field': "
        f"{cel_string(f'{path}.{kind}[')} + string(i) + '].image',"
        " 'image': string(c.?image.orValue(''))})"
        for kind in ("containers", "initContainers", "ephemeralContainers")
    ]
    volumes = (
        f"{spec}.?volumes.orValue([]).transformList(i, v, has(v.image), {{'field': "
        f"{cel_string(f'{path}.volumes[')} + string(i) + '].image.reference',"
        " 'image': string(v.image.?reference.orValue(''))})"
    )
    return " + ".join([*containers, volumes])


def _images(spec: str) -> str:
    """CEL: the list of image strings of ``spec``, to tell whether an update changes one."""
    return (
        " + ".join(
            f"{spec}.?{kind}.orValue([]).map(c, c.?image.orValue(''))"
            for kind in ("containers", "initContainers", "ephemeralContainers")
        )
        + f" + {spec}.?volumes.orValue([]).filter(v, has(v.image))"
        ".map(v, v.image.?reference.orValue(''))"
    )


_REPOSITORY: Final = (
    "(r.host == 'index.docker.io' ? 'docker.io' : r.host) + '/'"
    " + ((r.host == 'docker.io' || r.host == 'index.docker.io') && !r.path.contains('/')"
    " ? 'library/' + r.path : r.path)"
)

_REFUSAL: Final = (
    f"!r.image.matches({cel_string(REFERENCE_GRAMMAR)})"
    " ? r.field + ' ' + (r.image == '' ? 'is empty' : '\"' + r.image + '\"'"
    " + ' is not an image reference souverain can read')"
    f" + '; write registry/path[:tag][@digest] with a registry' + {_ALLOWS}"
    f" : r.image.matches({cel_string(IMAGE_ID)})"
    " ? r.field + ' \"' + r.image + '\" reads as the ID of an image already on the node,"
    " which could come from any registry; name the image by registry and path, with a"
    f" registry' + {_ALLOWS}"
    " : !variables.allowed.exists(e, r.repository == e || r.repository.startsWith(e + '/'))"
    " ? r.field + ' ' + r.image + ' is ' + r.repository + ', which is not from a registry'"
    f" + {_ALLOWS}"
    " : ''"
)
"""CEL: why the reference ``r`` is refused, or ''."""


def _variables(spec: str, path: str) -> list[dict[str, str]]:
    staged = (
        ("allowed", _ALLOWED),
        ("references", _references(spec, path)),
        (
            "named",
            "variables.references.map(r, {'field': string(r.field), 'image': string(r.image),"
            f" 'name': string(r.image.find({cel_string(_NAME)}))}})",
        ),
        (
            "located",
            "variables.named.map(r, {'field': string(r.field), 'image': string(r.image),"
            f" 'host': string(r.name.matches({cel_string(_REGISTRY_SEGMENT)})"
            " ? r.name.substring(0, r.name.indexOf('/')).lowerAscii() : 'docker.io'),"
            f" 'path': string(r.name.matches({cel_string(_REGISTRY_SEGMENT)})"
            " ? r.name.substring(r.name.indexOf('/') + 1) : r.name)})",
        ),
        (
            "repositories",
            "variables.located.map(r, {'field': string(r.field), 'image': string(r.image),"
            f" 'repository': string({_REPOSITORY})}})",
        ),
        (
            "refusals",
            f"variables.repositories.map(r, {_REFUSAL}).filter(refusal, refusal != '')",
        ),
    )
    return [{"name": name, "expression": expression} for name, expression in staged]


_VALIDATION: Final = refusals_validation(
    "an image is not from a registry its namespace's profile allows",
    "size(variables.allowed) == 0",
)

_SPECS: Final[dict[str, dict[str, Any]]] = {
    PODS: {
        "rules": [resource_rule("", ["pods", "pods/ephemeralcontainers"], WRITES)],
        "spec": "object.?spec",
        "old": "oldObject.?spec",
        "path": "spec",
    },
    WORKLOADS: {
        "rules": [
            resource_rule(
                "apps", ["deployments", "replicasets", "statefulsets", "daemonsets"], WRITES
            ),
            resource_rule("batch", ["jobs"], WRITES),
            resource_rule("", ["replicationcontrollers"], WRITES),
        ],
        "spec": "object.spec.?template.?spec",
        "old": "oldObject.spec.?template.?spec",
        "path": "spec.template.spec",
    },
    CRONJOBS: {
        "rules": [resource_rule("batch", ["cronjobs"], WRITES)],
        "spec": "object.spec.jobTemplate.spec.template.?spec",
        "old": "oldObject.spec.jobTemplate.spec.template.?spec",
        "path": "spec.jobTemplate.spec.template.spec",
    },
    POD_TEMPLATES: {
        "rules": [resource_rule("", ["podtemplates"], WRITES)],
        "spec": "object.?template.?spec",
        "old": "oldObject.?template.?spec",
        "path": "template.spec",
    },
}


def images_policies(operator_username: str) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicies that keep tenants' images on allowed registries.
    Requests from ``operator_username`` and from ``system:masters`` pass; the policies do
    nothing until bindings from :func:`images_bindings` hand them a profile."""
    return [
        profile_policy(
            name,
            spec["rules"],
            written_conditions(
                operator_username,
                "images-written",
                f"{_images(spec['spec'])} != {_images(spec['old'])}",
            ),
            _variables(spec["spec"], spec["path"]),
            [_VALIDATION],
        )
        for name, spec in _SPECS.items()
    ]


def images_bindings(
    profile_name: str, spec: SovereigntyProfileSpec | None, *, pods: bool = True
) -> list[dict[str, Any]]:
    """The bindings of the image policies for one profile, whatever its list (an empty
    one allows every image); with ``spec`` None, only their kinds and names. Without
    ``pods``, :data:`PODS` is left out: the placement policy makes its checks
    (``placement.validating_policy``)."""
    if spec is None:
        return namespace_bindings(POLICY_NAMES, profile_name, None)
    policies = tuple(p for p in POLICY_NAMES if pods or p != PODS)
    return namespace_bindings(policies, profile_name, spec)
