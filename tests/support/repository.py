"""The repository the tests run from, for those that read its files."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root: ``crds/``, ``examples/``, ``helm/``, ``tools/``."""
