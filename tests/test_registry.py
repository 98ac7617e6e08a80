"""The method registry and output contracts, without a database."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.formats import ContractError, Keypoints2D, Keypoints3D, PersonBoxes, Tracks
from pose_pipeline.registry import MethodCall, Provenance, Registry, UnknownMethodError, run_methods


def make_tracks(n=4):
    return Tracks(
        frame=np.arange(n),
        track_id=np.zeros(n, dtype=int),
        boxes=np.tile([10.0, 20.0, 30.0, 60.0], (n, 1)),
        confidence=np.full(n, 0.9),
    )


@pytest.fixture
def registry():
    registry = Registry("tracking", output=Tracks)

    @registry.register("constant", version="1.0", params={"n": 4})
    def constant(n):
        """Returns one box per frame for the first n frames."""
        return lambda video_length: make_tracks(min(n, video_length))

    @registry.register("broken", version="0.1")
    def broken():
        def run(video_length):
            tracks = make_tracks(3)
            tracks.boxes[1, 2] = -5  # negative width
            return tracks

        return run

    return registry


def test_run_merges_params_and_validates(registry):
    run = run_methods(lambda method: method(10), MethodCall(registry, "constant", {"n": 6}), n_frames=10)
    assert len(run.result.frame) == 6 and run.result.n_tracks == 1
    [provenance] = run.provenance
    assert provenance == Provenance("tracking", "constant", "1.0", {"n": 6}, ())
    assert provenance.as_dict() == {"stage": "tracking", "method": "constant", "version": "1.0", "params": {"n": 6},
                                    "model_files": []}  # fmt: skip
    assert run.seconds >= 0


def test_unknown_method_and_parameter_are_refused_by_name(registry):
    with pytest.raises(UnknownMethodError, match="no tracking method named 'nope'; registered: broken, constant"):
        run_methods(lambda method: method(3), MethodCall(registry, "nope"))
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['m'\]"):
        run_methods(lambda method: method(3), MethodCall(registry, "constant", {"m": 1}))


def test_broken_output_is_refused_before_insert(registry):
    with pytest.raises(ContractError, match="'broken' broke its output contract: box widths and heights"):
        run_methods(lambda method: method(3), MethodCall(registry, "broken"))


def test_frames_outside_the_video_are_refused(registry):
    with pytest.raises(ContractError, match="frame index outside the video"):
        run_methods(lambda method: method(10), MethodCall(registry, "constant"), n_frames=2)


def test_a_result_of_the_wrong_type_is_refused(registry):
    with pytest.raises(ContractError, match="returned list, not Tracks"):
        run_methods(lambda method: [], MethodCall(registry, "constant"))


def test_model_files_loaded_while_building_are_recorded(tmp_path):
    """Every file a build notes (require_weights, open_session, a resolver) is in the provenance, with sha256."""
    from pose_pipeline.video.probe import file_sha256
    from pose_pipeline.weights import note_model_file

    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    registry = Registry("tracking", output=Tracks)

    @registry.register("loads", version="2.1", params={"path": ""})
    def loads(path):
        note_model_file(path)
        note_model_file(path, name="the-model")  # the same file noted twice is one entry, named
        return lambda: make_tracks(1)

    run = run_methods(lambda method: method(), MethodCall(registry, "loads", {"path": str(model)}))
    assert run.provenance[0].model_files == (
        {"path": str(model.resolve()), "sha256": file_sha256(model), "name": "the-model"},
    )
    note_model_file(model)  # outside a run: nothing records, nothing fails


def test_lookup_rows_come_from_the_registry(registry):
    rows = {row["method_name"]: row for row in registry.lookup_rows()}
    assert rows["constant"]["default_params"] == '{"n": 4}'
    assert rows["constant"]["description"] == "Returns one box per frame for the first n frames."
    assert rows["broken"]["output_contract"] == "Tracks"


def test_registering_another_function_under_a_taken_name_fails(registry):
    with pytest.raises(ValueError, match="already registered"):
        registry.register("constant", version="2")(lambda n: None)


def test_contracts():
    PersonBoxes(np.array([[1, 2, 3, 4], [np.nan] * 4], dtype=float)).validate(n_frames=2)
    with pytest.raises(ContractError, match="partly NaN"):
        PersonBoxes(np.array([[1, 2, np.nan, 4]], dtype=float)).validate()
    keypoints = np.zeros((5, 17, 3))
    Keypoints2D(keypoints, "COCO-17").validate(n_frames=5)
    with pytest.raises(ContractError, match="covers 5 frames, the video has 6"):
        Keypoints2D(keypoints, "COCO-17").validate(n_frames=6)
    with pytest.raises(ContractError, match="axis 1 must have size 17"):
        Keypoints2D(np.zeros((5, 16, 3)), "COCO-17").validate()
    with pytest.raises(KeyError, match="unknown joint set 'nope'"):
        Keypoints2D(keypoints, "nope").validate()
    bad_confidence = keypoints.copy()
    bad_confidence[0, 0, 2] = 2
    with pytest.raises(ContractError, match="confidence outside"):
        Keypoints2D(bad_confidence, "COCO-17").validate()
    with pytest.raises(ContractError, match="metres"):
        Keypoints3D(np.full((2, 17, 3), 1500.0), "COCO-17").validate()
    duplicate = make_tracks(2)
    duplicate.frame[:] = 0
    with pytest.raises(ContractError, match="two boxes in one frame"):
        duplicate.validate()


def test_tracks_by_frame():
    tracks = Tracks(np.array([3, 1, 3]), np.array([7, 2, 5]), np.arange(12.0).reshape(3, 4) + 1, np.ones(3))
    grouped = tracks.by_frame()
    assert sorted(grouped) == [1, 3]
    np.testing.assert_array_equal(grouped[3][1], [7, 5])
    np.testing.assert_array_equal(grouped[3][0], tracks.boxes[[0, 2]])
    assert Tracks(np.empty(0, int), np.empty(0, int), np.empty((0, 4)), np.empty(0)).by_frame() == {}


def test_the_module_docstring_example_runs():
    import doctest

    from pose_pipeline import registry as module

    failed, attempted = doctest.testmod(module)
    assert attempted >= 5 and failed == 0
