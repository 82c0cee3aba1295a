"""What every souverain admission policy shares: who passes, how bindings are named and
labelled, and how a Python string becomes a CEL literal."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Final

from souverain import API_GROUP, API_VERSION
from souverain.labels import MANAGED_BY, MANAGED_BY_VALUE, PART_OF, PROFILE

if TYPE_CHECKING:
    from souverain.api import SovereigntyProfileSpec

CLUSTER_ADMINS: Final = "system:masters"
"""The group whose requests pass: it bypasses authorization anyway."""

PROBE_USER: Final = "souverain:probe"
"""Who the operator impersonates to see its policies refuse (see
:mod:`souverain.reconcile.enforcement`): a namespace owner to every policy, whose
refusals also name the generation of the profile the API server judged with."""

_GENERATION_ECHO: Final = (
    f"(request.userInfo.username == {json.dumps(PROBE_USER)}"
    " ? ' [SovereigntyProfile ' + params.metadata.name + ' generation '"
    " + string(params.metadata.generation) + ']' : '')"
)

_MAX_NAME_LENGTH: Final = 253
_MAX_LABEL_VALUE_LENGTH: Final = 63
_HASH_LENGTH: Final = 10


def cel_string(value: str) -> str:
    """A CEL string literal; JSON's escapes are all valid in CEL."""
    return json.dumps(value, ensure_ascii=False)


def cel_strings(values: tuple[str, ...] | list[str]) -> str:
    """A CEL list of string literals."""
    return "[" + ", ".join(cel_string(value) for value in values) + "]"


def policy_labels() -> dict[str, str]:
    """The labels of every cluster-wide admission object the operator keeps."""
    return {MANAGED_BY: MANAGED_BY_VALUE, PART_OF: MANAGED_BY_VALUE}


def trusted_conditions(operator_username: str) -> list[dict[str, str]]:
    """Match conditions that let the operator's own requests and those of cluster
    administrators through."""
    return [
        {
            "name": "not-the-operator",
            "expression": f"request.userInfo.username != {cel_string(operator_username)}",
        },
        {
            "name": "not-a-cluster-admin",
            "expression": (
                "!has(request.userInfo.groups)"
                f" || !({cel_string(CLUSTER_ADMINS)} in request.userInfo.groups)"
            ),
        },
    ]


def binding_name(policy: str, profile: str) -> str:
    """``<policy>-<profile>``: readable, unique per policy and profile, and a valid object
    name for any profile name (long ones are cut and end with a hash)."""
    name = f"{policy}-{profile}"
    if len(name) <= _MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(profile.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: _MAX_NAME_LENGTH - _HASH_LENGTH - 1].rstrip('.-')}-{digest}"


def check_profile_name(profile: str) -> None:
    """Refuses a profile name that cannot be the value of the namespaces' profile label."""
    if len(profile) > _MAX_LABEL_VALUE_LENGTH:
        raise ValueError(
            f"SovereigntyProfile {profile!r} cannot be bound to namespaces: the "
            f"{PROFILE} label value holds at most {_MAX_LABEL_VALUE_LENGTH} characters"
        )


def validation_actions(enforced: bool) -> list[str]:
    """Refuse in Enforce mode; warn and audit in Audit mode."""
    return ["Deny"] if enforced else ["Warn", "Audit"]


def resource_rule(
    group: str, resources: list[str], operations: list[str], version: str = "v1"
) -> dict[str, Any]:
    """A rule of ``matchConstraints``: the resources of one group and version, and the
    operations on them. A listed version (not "*") lets the API server type-check CEL."""
    return {
        "apiGroups": [group],
        "apiVersions": [version],
        "operations": operations,
        "resources": resources,
    }


def label_exists(key: str) -> dict[str, Any]:
    """A label selector that matches objects carrying the label ``key``."""
    return {"matchExpressions": [{"key": key, "operator": "Exists"}]}


def echoing_generation(validation: dict[str, str]) -> dict[str, str]:
    """``validation`` with a message that, for the probe identity (:data:`PROBE_USER`)
    only, ends with the name and generation of the profile the API server judged with.
    A message is evaluated only for a request the validation refuses, so the requests
    it admits cost nothing more."""
    message = validation.get("messageExpression") or cel_string(validation.get("message", ""))
    if message.endswith(_GENERATION_ECHO):
        return validation
    return {**validation, "messageExpression": f"({message}) + {_GENERATION_ECHO}"}


def bound_match(
    rules: list[dict[str, Any]], object_selector: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A policy's ``matchConstraints``: ``rules`` (and ``object_selector``) in namespaces
    bound to a profile, those carrying the label :data:`souverain.labels.PROFILE`.

    The API server matches a policy's own constraints before anything else of it: a
    policy that cannot be configured (its ``paramKind`` unresolved, as for half a minute
    after every API-server restart, or its CRD missing) refuses every request it matches,
    before any binding's selector is read. Matching only bound namespaces keeps that
    refusal, and any other, away from kube-system, unbound namespaces and the operator's
    own namespace. Every resource a souverain policy matches is namespaced but
    Namespaces, whose policy selects them by their own labels instead (see
    :mod:`souverain.admission.protection`): for a Namespace the API server reads the
    namespace selector on the object as written, so removing the label would unselect it.
    """
    constraints: dict[str, Any] = {
        "resourceRules": rules,
        "matchPolicy": "Equivalent",
        "namespaceSelector": label_exists(PROFILE),
    }
    if object_selector is not None:
        constraints["objectSelector"] = object_selector
    return constraints


def validating_admission_policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy of the operator's that fails closed; one that reads a
    profile names its generation to the probe identity when it refuses."""
    if "paramKind" in spec:
        spec = {**spec, "validations": [echoing_generation(v) for v in spec["validations"]]}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": policy_labels()},
        "spec": {"failurePolicy": "Fail", **spec},
    }


def binding_stubs(policies: tuple[str, ...], profile: str) -> list[dict[str, Any]]:
    """The kinds and names of a profile's bindings of ``policies``: enough to delete them."""
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": binding_name(policy, profile)},
        }
        for policy in policies
    ]


def profile_binding(
    policy: str,
    profile: str,
    enforced: bool,
    match_resources: dict[str, Any],
    *,
    param: bool = True,
) -> dict[str, Any]:
    """The binding of ``policy`` for ``profile``: the profile as its parameter (when
    ``param``), the resources it selects, and actions that follow the enforcement mode.
    A missing profile makes the policy refuse rather than let requests through."""
    check_profile_name(profile)
    spec: dict[str, Any] = {"policyName": policy}
    if param:
        spec["paramRef"] = {"name": profile, "parameterNotFoundAction": "Deny"}
    spec["matchResources"] = match_resources
    spec["validationActions"] = validation_actions(enforced)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": binding_name(policy, profile),
            "labels": {**policy_labels(), PROFILE: profile},
        },
        "spec": spec,
    }


WRITES: Final = ["CREATE", "UPDATE"]
"""The operations that write an object, for ``resource_rule``."""


def refusals_validation(message: str, allowed: str | None = None) -> dict[str, str]:
    """A validation that holds when the CEL list ``variables.refusals`` is empty (or when
    ``allowed`` holds), and says its first refusal and how many more there are."""
    empty = "size(variables.refusals) == 0"
    return {
        "expression": f"{allowed} || {empty}" if allowed else empty,
        "message": message,
        "messageExpression": (
            "variables.refusals[0] + (size(variables.refusals) > 1"
            " ? ' (and ' + string(size(variables.refusals) - 1) + ' more)' : '')"
        ),
        "reason": "Forbidden",
    }


def written_conditions(
    operator_username: str, name: str, changed: str | None, trusted: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """Match conditions that let the operator, cluster administrators and the ``trusted``
    users through, and updates that do not change what ``changed`` (CEL) compares."""
    conditions = trusted_conditions(operator_username)
    if trusted:
        conditions.append(
            {
                "name": "not-a-volume-controller",
                "expression": f"!(request.userInfo.username in {cel_strings(trusted)})",
            }
        )
    if changed:
        conditions.append(
            {"name": name, "expression": f"request.operation != 'UPDATE' || {changed}"}
        )
    return conditions


EXEMPT: Final = "exempt"
"""The variable of a profile policy that holds when the request is one the policy lets
through (see :func:`profile_policy`)."""


def exempt_variable(conditions: list[dict[str, str]]) -> dict[str, str]:
    """The variable :data:`EXEMPT`: true when any of ``conditions`` (match conditions:
    the policy applies when all hold) is false. Each keeps its name as a CEL comment."""
    lines = [f"// {c['name']}\n!({c['expression']})" for c in conditions]
    return {"name": EXEMPT, "expression": "\n|| ".join(lines) if lines else "false"}


def profile_policy(
    name: str,
    rules: list[dict[str, Any]],
    conditions: list[dict[str, str]],
    variables: list[dict[str, str]],
    validations: list[dict[str, str]],
) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy that reads the SovereigntyProfile its binding hands it,
    for the ``rules`` in namespaces bound to a profile.

    ``conditions`` are not the policy's ``matchConditions``: the API server evaluates
    those in an evaluation of their own, and each evaluation converts the profile (an
    unstructured object, through JSON) and the namespace to CEL again. They become the
    variable :data:`EXEMPT` instead, which every validation checks first; variables
    are evaluated lazily, so an exempt request still costs nothing more.
    """
    return validating_admission_policy(
        name,
        {
            "paramKind": {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "SovereigntyProfile"},
            "matchConstraints": bound_match(rules),
            "variables": [exempt_variable(conditions), *variables],
            "validations": [
                {**validation, "expression": f"variables.{EXEMPT} || ({validation['expression']})"}
                for validation in validations
            ],
        },
    )


def profile_namespaces(profile: str) -> dict[str, Any]:
    """A binding's ``matchResources``: the namespaces bound to ``profile``."""
    return {"namespaceSelector": {"matchLabels": {PROFILE: profile}}}


def namespace_bindings(
    policies: tuple[str, ...], profile: str, spec: SovereigntyProfileSpec | None
) -> list[dict[str, Any]]:
    """The bindings of ``policies`` for ``profile``, selecting its namespaces, with the
    profile as their parameter; with ``spec`` None, only their kinds and names (enough
    to delete them)."""
    if spec is None:
        return binding_stubs(policies, profile)
    enforced = spec.enforcement.mode == "Enforce"
    selected = profile_namespaces(profile)
    return [profile_binding(policy, profile, enforced, selected) for policy in policies]


def _applies(rules: list[dict[str, Any]]) -> str:
    """CEL: the request is one that ``rules`` (of ``matchConstraints``) select."""
    # The request has no subResource key when it names none.
    resource = (
        "request.resource.resource"
        " + request.?subResource.optMap(s, s == '' ? '' : '/' + s).orValue('')"
    )
    return " || ".join(
        f"(request.resource.group in {cel_strings(rule['apiGroups'])}"
        f" && request.operation in {cel_strings(rule['operations'])}"
        f" && {resource} in {cel_strings(rule['resources'])})"
        for rule in rules
    )


def _renamed(expression: str, names: dict[str, str]) -> str:
    if not names:
        return expression
    pattern = r"\bvariables\.(" + "|".join(map(re.escape, names)) + r")\b"
    return re.sub(pattern, lambda m: f"variables.{names[m[1]]}", expression)


def merged_policy(name: str, parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One ValidatingAdmissionPolicy that makes the checks of the policies ``parts``
    (prefix: policy) in one evaluation.

    Each policy evaluation costs the API server a conversion of the object, the profile
    and the namespace to CEL, so policies that match the same requests cost less as one.
    The policies must share their parameter kind, match by :func:`bound_match` alone
    and take no ``matchConditions`` (:func:`profile_policy` folds them into a variable).
    Each part's variables are renamed with its prefix (``exempt`` becomes
    ``<prefix>Exempt``), and each of its validations holds for requests outside that
    part's own rules.
    """
    rules: list[dict[str, Any]] = []
    variables: list[dict[str, str]] = []
    validations: list[dict[str, str]] = []
    kinds = {json.dumps(p["spec"].get("paramKind"), sort_keys=True) for p in parts.values()}
    if len(kinds) != 1:
        raise ValueError(f"policies of different parameter kinds cannot merge: {kinds}")
    for prefix, part in parts.items():
        spec = part["spec"]
        if spec.get("matchConditions"):
            raise ValueError(f"{part['metadata']['name']} has matchConditions")
        if {**spec["matchConstraints"], "resourceRules": []} != bound_match([]):
            raise ValueError(f"{part['metadata']['name']} is not matched by bound_match alone")
        own = spec["matchConstraints"]["resourceRules"]
        rules.extend(rule for rule in own if rule not in rules)
        names = {
            v["name"]: prefix + v["name"][0].upper() + v["name"][1:] for v in spec["variables"]
        }
        variables.extend(
            {"name": names[v["name"]], "expression": _renamed(v["expression"], names)}
            for v in spec["variables"]
        )
        for validation in spec["validations"]:
            renamed = {
                key: _renamed(value, names) if key in ("expression", "messageExpression") else value
                for key, value in validation.items()
            }
            renamed["expression"] = f"!({_applies(own)}) || ({renamed['expression']})"
            validations.append(renamed)
    first = next(iter(parts.values()))["spec"]
    return validating_admission_policy(
        name,
        {
            "paramKind": first["paramKind"],
            "matchConstraints": bound_match(rules),
            "variables": variables,
            "validations": validations,
        },
    )
