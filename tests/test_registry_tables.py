"""The registry mechanism against a real database: Lookup rows from the registry, make() dispatching through it,
outputs validated before insert."""

import numpy as np
import pytest

import pose_pipeline
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


def test_two_parameter_sets_of_one_method_run_side_by_side(toy):
    """Requests are keyed by their merged parameters; each result records its own parameters and version."""
    toy.ToyInput.insert1({"input_id": 1, "n_frames": 3})
    toy.ToyMethod.insert1({"input_id": 1, "method_name": "diagonal", "params": {"step": 2.0}})
    toy.ToyMethod.insert1({"input_id": 1, "method_name": "diagonal"})  # the defaults: step 1.0
    toy.ToyMethod.insert1({"input_id": 1, "method_name": "diagonal", "params": {"step": 1.0}}, skip_duplicates=True)
    assert len(toy.ToyMethod()) == 2  # the defaults given explicitly are the same parameter set
    toy.ToyTracks.populate()
    rows = {row["provenance"]["methods"][0]["params"]["step"]: row for row in toy.ToyTracks.to_dicts()}
    assert sorted(rows) == [1.0, 2.0]
    np.testing.assert_array_equal(rows[2.0]["boxes"][:, 0], [0, 2, 4])
    for step, row in rows.items():
        [method] = row["provenance"]["methods"]
        assert method == {"stage": "toy_tracking", "method": "diagonal", "version": "1.0", "params": {"step": step},
                          "model_files": []}  # fmt: skip
        assert row["provenance"]["pose_pipeline"] == pose_pipeline.__version__
    key = toy.ToyMethod.request_key({"input_id": 1, "method_name": "diagonal", "params": {"step": 2.0}})
    assert (toy.ToyTracks & key).fetch1("n_tracks") == 1
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['stride'\]"):
        toy.ToyMethod.insert1({"input_id": 1, "method_name": "diagonal", "params": {"stride": 2}})
    with pytest.raises(ValueError, match="does not match the request's merged parameters"):
        toy.ToyMethod.insert1({"input_id": 1, "method_name": "diagonal", "toy_params_hash": "0" * 32})


def test_lookup_rows_follow_a_changed_registration(toy, caplog):
    """A new version or default in code updates the Lookup row on the next activation (logged); a result made
    before keeps the version and parameters it records, and the old request keeps its key."""
    from dataclasses import replace

    from pose_pipeline.schema import sync_lookup

    toy.ToyInput.insert1({"input_id": 2, "n_frames": 2})
    toy.ToyMethod.insert1({"input_id": 2, "method_name": "diagonal"})
    toy.ToyTracks.populate()
    old_spec = toy.TOY.get("diagonal")
    toy.TOY._methods["diagonal"] = replace(old_spec, version="1.1", params={"step": 5.0})
    try:
        with caplog.at_level("WARNING"):
            sync_lookup(toy.ToyMethodLookup)
        row = (toy.ToyMethodLookup & {"method_name": "diagonal"}).fetch1()
        assert row["version"] == "1.1" and row["default_params"] == '{"step": 5.0}'
        assert "'diagonal' follows the code: version '1.0' -> '1.1'" in caplog.text
        made = (toy.ToyTracks & {"input_id": 2}).fetch1("provenance")["methods"][0]
        assert made["version"] == "1.0" and made["params"] == {"step": 1.0}
        toy.ToyMethod.insert1({"input_id": 2, "method_name": "diagonal"})  # the new defaults: a new request
        assert sorted(r["step"] for r in (toy.ToyMethod & {"input_id": 2}).to_arrays("params")) == [1.0, 5.0]
    finally:
        toy.TOY._methods["diagonal"] = old_spec
        sync_lookup(toy.ToyMethodLookup)
