"""Names: which label and annotation keys are the operator's own."""

from __future__ import annotations

import pytest

from souverain.api.names import is_reserved


@pytest.mark.parametrize(
    ("key", "reserved"),
    [
        ("souverain.io/profile", True),
        ("audit.souverain.io/evidence", True),
        ("souverain.io", False),
        ("notsouverain.io/x", False),
        ("example.com/souverain.io", False),
        ("app", False),
    ],
)
def test_reserved_keys_are_the_operators(key: str, reserved: bool) -> None:
    assert is_reserved(key) is reserved
