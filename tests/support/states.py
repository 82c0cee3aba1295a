"""The two states every guarantee is tried in, the operator up and the operator stopped,
and the small checks the modules that try them share."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.support.operator import Operator

OPERATOR_STATES = ("operator-up", "operator-stopped")
"""The params of a module's ``state`` fixture."""


def operator_in(state: str, operator: Operator) -> Iterator[str]:
    """The body of a module's ``state`` fixture: stops the operator for the tests of the
    "operator-stopped" state, and starts it again after them."""
    if state == "operator-stopped":
        operator.stop()
    yield state
    if state == "operator-stopped":
        operator.start()


def namespace_gone(core: Any, namespace: str) -> bool:
    """Whether the Namespace is deleted (not only being deleted)."""
    try:
        core.read_namespace(namespace)
    except ApiException as error:
        return error.status == 404
    return False


RBAC_REFUSAL = re.compile(r'User "[^"]*" cannot ')
"""How the authorizer words a 403: a grant the API server has not seen yet."""


def refused_now(call: Callable[[], Any]) -> bool:
    """Whether ``call`` (a dry run, usually) is refused by admission (403): to wait until
    the API server has loaded a new policy binding, which it does a moment after it is
    written. A 403 of the authorizer (the caller's grant is not in force yet either) is
    not admission's: it does not count. Other errors are raised."""
    try:
        call()
    except ApiException as error:
        if error.status == 403:
            return not RBAC_REFUSAL.search(str(error.body))
        raise
    return False


def refused_by(call: Callable[[], Any], binding: str) -> bool:
    """Whether ``call`` (a dry run) is refused by the policy binding named ``binding``:
    to wait until that binding is in force, and not take a refusal from another check
    (another policy, another admission plugin) for it. Other errors are raised."""
    try:
        call()
    except ApiException as error:
        if error.status == 403:
            return f"binding '{binding}'" in str(error.body)
        raise
    return False
