"""The method registry and output contracts, without a database."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.formats import ContractError, Keypoints2D, Keypoints3D, PersonBoxes, Tracks
from pose_pipeline.registry import Registry, UnknownMethodError


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
    def constant(video_length, n):
        """Returns one box per frame for the first n frames."""
        return make_tracks(min(n, video_length))

    @registry.register("broken", version="0.1")
    def broken(video_length):
        tracks = make_tracks(3)
        tracks.boxes[1, 2] = -5  # negative width
        return tracks

    return registry


def test_run_merges_params_and_validates(registry):
    tracks = registry.run("constant", video_length=10, params={"n": 6}, n_frames=10)
    assert len(tracks.frame) == 6 and tracks.n_tracks == 1


def test_unknown_method_and_parameter_are_refused_by_name(registry):
    with pytest.raises(UnknownMethodError, match="no tracking method named 'nope'; registered: broken, constant"):
        registry.run("nope")
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['m'\]"):
        registry.run("constant", video_length=3, params={"m": 1})


def test_broken_output_is_refused_before_insert(registry):
    with pytest.raises(ContractError, match="'broken' broke its output contract: box widths and heights"):
        registry.run("broken", video_length=3)


def test_frames_outside_the_video_are_refused(registry):
    with pytest.raises(ContractError, match="frame index outside the video"):
        registry.run("constant", video_length=10, n_frames=2)


def test_lookup_rows_come_from_the_registry(registry):
    rows = {row["method_name"]: row for row in registry.lookup_rows()}
    assert rows["constant"]["default_params"] == '{"n": 4}'
    assert rows["constant"]["description"] == "Returns one box per frame for the first n frames."
    assert rows["broken"]["output_contract"] == "Tracks"


def test_registering_another_function_under_a_taken_name_fails(registry):
    with pytest.raises(ValueError, match="already registered"):
        registry.register("constant", version="2")(lambda video_length, n: None)


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
