"""The registry mechanism against a real database: Lookup rows from the registry, make() dispatching through it,
outputs validated before insert."""

import numpy as np
import pytest

from pose_pipeline import schema

pytestmark = pytest.mark.all_backends  # declaring and filling the registry tables on each server


@pytest.fixture
def toy(db):
    from tests import registry_pipeline

    schema.activate_module(registry_pipeline)
    registry_pipeline.ToyInput.delete(prompt=False)
    yield registry_pipeline
    registry_pipeline.ToyInput.delete(prompt=False)


def test_lookup_rows_come_from_the_registry(toy):
    rows = {row["method_name"]: row for row in toy.ToyMethodLookup.to_dicts()}
    assert set(rows) == {"broken", "diagonal"}
    assert rows["diagonal"]["default_params"] == '{"step": 1.0}'
    assert rows["diagonal"]["description"] == "One box moving diagonally by ``step`` pixels per frame."


def test_make_dispatches_with_parameters_and_validates(toy):
    toy.ToyInput.insert1({"input_id": 1, "n_frames": 5})
    toy.ToyMethod.insert(
        [
            {"input_id": 1, "method_name": "diagonal", "params": {"step": 3.0}},
            {"input_id": 1, "method_name": "broken", "params": None},
        ]
    )
    result = toy.ToyTracks.populate(suppress_errors=True)
    assert result["success_count"] == 1
    boxes = (toy.ToyTracks & {"method_name": "diagonal"}).fetch1("boxes")
    np.testing.assert_array_equal(boxes[:, 0], [0, 3, 6, 9, 12])
    [(key, message)] = result["error_list"]
    assert key["method_name"] == "broken"
    assert "'broken' broke its output contract: box widths and heights must be positive" in message
    assert len(toy.ToyTracks & {"method_name": "broken"}) == 0
