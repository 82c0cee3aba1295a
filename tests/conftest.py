"""Options and markers shared by every test.

Tests under ``tests/unit`` are marked ``unit`` and need no cluster; tests under
``tests/integration`` are marked ``integration`` and run on the local control
plane unless ``--cluster=kind`` or ``--kubeconfig=PATH`` says otherwise
(``--kubeconfig`` is pytest-kind's option: with ``--cluster=local`` it names an
existing cluster to use instead of starting one).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("souverain")
    group.addoption(
        "--cluster",
        choices=("local", "kind"),
        default="local",
        help="where integration tests run: the local control plane (default) or a kind cluster",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    on_kind = config.getoption("--cluster") == "kind"
    for item in items:
        path = Path(str(item.fspath))
        if path.is_relative_to(tests / "unit"):
            item.add_marker(pytest.mark.unit)
        elif path.is_relative_to(tests / "integration"):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("kind") and not on_kind:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs a kind cluster with real kubelets: run --cluster=kind"
                )
            )
