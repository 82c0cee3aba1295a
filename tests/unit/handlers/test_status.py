"""The status writer: no-op writes are skipped, and an object deleted meanwhile is not
an error."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from souverain.handlers.status import write_status


class FakeApi:
    """Records status patches, or refuses them with ``status``."""

    def __init__(self, status: int | None = None) -> None:
        self.status = status
        self.patches: list[tuple[Any, ...]] = []

    def patch_status(self, *args: Any, resource_version: str | None = None) -> None:
        if self.status is not None:
            raise ApiException(status=self.status, reason="refused")
        self.patches.append((*args, resource_version))


BODY: dict[str, Any] = {
    "kind": "SovereignNamespace",
    "metadata": {"name": "tenant", "resourceVersion": "41"},
    "status": {"observedGeneration": 1},
}


def test_a_change_is_written_and_an_unchanged_status_is_not() -> None:
    api = FakeApi()
    assert write_status(api, BODY, {"observedGeneration": 2})  # type: ignore[arg-type]
    assert not write_status(api, BODY, {"observedGeneration": 1})  # type: ignore[arg-type]
    assert write_status(api, BODY, {"observedGeneration": 3}, over_version=True)  # type: ignore[arg-type]
    # Over the version read: another writer's change is not put back.
    assert api.patches == [
        ("SovereignNamespace", "tenant", {"observedGeneration": 2}, None, None),
        ("SovereignNamespace", "tenant", {"observedGeneration": 3}, None, "41"),
    ]


def test_an_object_deleted_meanwhile_is_not_an_error() -> None:
    assert not write_status(FakeApi(404), BODY, {"observedGeneration": 2})  # type: ignore[arg-type]


def test_other_refusals_are_raised() -> None:
    """409 included: the object changed since it was read; the caller reads it again."""
    with pytest.raises(ApiException):
        write_status(FakeApi(409), BODY, {"observedGeneration": 2})  # type: ignore[arg-type]
