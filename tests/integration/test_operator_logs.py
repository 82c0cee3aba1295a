"""The operator's logs never carry secrets: no private key, certificate or bearer token,
even after it generated its webhook certificates and handled tenants."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.support.operator import Operator
from tests.support.tenancy import Tenancy

SECRETS = re.compile(
    r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----|Bearer [A-Za-z0-9._-]{20,}|eyJhbGciOi"
)


def test_logs_hold_no_key_certificate_or_token(api: Any, operator: Operator) -> None:
    tenancy = Tenancy(api)
    name = f"logs-{uuid.uuid4().hex[:6]}"
    tenancy.profile(name)
    tenancy.namespace(name, name)
    try:
        tenancy.wait(name)
        tenancy.run_pod(name)
        log = operator.log()
        assert "Handler" in log, "the operator logged nothing of its work"
        leaked = SECRETS.findall(log)
        assert not leaked, f"the operator's log holds secrets: {leaked[:3]}"
    finally:
        tenancy.delete("sovereignnamespaces", name)
        tenancy.delete("sovereigntyprofiles", name)
