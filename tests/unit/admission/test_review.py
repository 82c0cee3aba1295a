"""What :func:`souverain.admission.review.malformation` finds in the bodies of the
webhook rows of :mod:`tests.support.malformed`, and that it finds nothing in the
well-formed reviews."""

from __future__ import annotations

import json

import pytest

from souverain.admission.review import malformation
from tests.support.malformed import WEBHOOK_ROWS, WELL_FORMED, Malformed, WebhookRequest, WellFormed

PREFIX = "not an AdmissionReview: "
REVIEW_ROWS = [row for row in WEBHOOK_ROWS if row.says.startswith(PREFIX) and row.answer == 400]


@pytest.mark.parametrize("row", WELL_FORMED, ids=[row.name for row in WELL_FORMED])
def test_a_well_formed_review_has_no_malformation(row: WellFormed) -> None:
    assert malformation(row.path.strip("/"), row.review) is None


@pytest.mark.parametrize("row", REVIEW_ROWS, ids=[row.name for row in REVIEW_ROWS])
def test_a_broken_field_is_named(row: Malformed) -> None:
    assert isinstance(row.given, WebhookRequest)
    found = malformation(row.given.path.strip("/"), json.loads(row.given.body))
    assert found is not None
    assert row.says.removeprefix(PREFIX) in found
    assert "\n" not in found
