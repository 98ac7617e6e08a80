"""Choosing the subject of interest from tracklets, without a database."""

import numpy as np
import pytest

from pose_pipeline.formats import Tracks
from pose_pipeline.tracking.subject import (
    Split,
    apply_splits,
    auto_subject,
    fill_gaps,
    iou,
    number_splits,
    subject_boxes,
)


def tracks_from(rows):
    """rows: (frame, track_id, x, y, w, h, confidence)."""
    rows = np.asarray(rows, dtype=float).reshape(-1, 7)
    return Tracks(rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2:6], rows[:, 6])


def test_union_of_chosen_tracks_with_nan_where_absent():
    tracks = tracks_from([(0, 1, 0, 0, 10, 10, 0.9), (1, 1, 1, 0, 10, 10, 0.9), (3, 2, 3, 0, 10, 10, 0.8),
                          (1, 5, 50, 50, 10, 10, 0.99)])  # fmt: skip
    boxes, confidence = subject_boxes(tracks, 5, keep_tracks=[1, 2])
    np.testing.assert_array_equal(boxes.present, [True, True, False, True, False])
    np.testing.assert_array_equal(boxes.boxes[3], [3, 0, 10, 10])
    assert np.isnan(boxes.boxes[2]).all() and np.isnan(confidence[4])
    assert confidence[1] == pytest.approx(0.9)  # track 5 was not chosen, despite its higher score


def test_overlap_goes_to_the_box_continuing_the_subject():
    tracks = tracks_from([(0, 1, 0, 0, 10, 10, 0.5), (1, 1, 1, 0, 10, 10, 0.5), (1, 2, 40, 0, 10, 10, 0.9)])
    boxes, _ = subject_boxes(tracks, 2, keep_tracks=[1, 2])
    np.testing.assert_array_equal(boxes.boxes[1], [1, 0, 10, 10])  # continuity beats the higher confidence


def test_overlap_without_history_goes_to_the_higher_confidence():
    tracks = tracks_from([(0, 1, 0, 0, 10, 10, 0.5), (0, 2, 40, 0, 10, 10, 0.9)])
    boxes, confidence = subject_boxes(tracks, 1, keep_tracks=[1, 2])
    np.testing.assert_array_equal(boxes.boxes[0], [40, 0, 10, 10])
    assert confidence[0] == pytest.approx(0.9)


def test_short_gaps_are_interpolated_long_ones_stay_missing():
    boxes = np.full((10, 4), np.nan)
    boxes[0], boxes[3], boxes[9] = [0, 0, 10, 10], [30, 0, 10, 10], [90, 0, 10, 10]
    fill_gaps(boxes, max_gap=2)
    np.testing.assert_allclose(boxes[1:3, 0], [10, 20])
    assert np.isnan(boxes[4:9]).all()  # a gap of 5 > 2


def test_split_gives_a_new_id_from_the_swap_on():
    tracks = tracks_from([(f, 1, f, 0, 10, 10, 1) for f in range(6)])
    split = apply_splits(tracks, [Split(track_id=1, frame=4, new_id=9)])
    np.testing.assert_array_equal(split.track_id, [1, 1, 1, 1, 9, 9])
    with pytest.raises(ValueError, match="id 1 is in use"):
        apply_splits(tracks, [Split(1, 2, 1)])
    with pytest.raises(ValueError, match="no boxes from frame 10 on"):
        apply_splits(tracks, [Split(1, 10, 3)])


def test_auto_subject_rule():
    one = tracks_from([(f, 3, 0, 0, 10, 10, 1) for f in range(80)] + [(5, 7, 50, 0, 10, 10, 1)])
    assert auto_subject(one, 100) == 3  # the flicker track 7 (1 frame) is ignored
    short = tracks_from([(f, 3, 0, 0, 10, 10, 1) for f in range(30)])
    assert auto_subject(short, 100) is None  # one person, but only 30 % of the video
    two = tracks_from([(f, t, 0, 0, 10, 10, 1) for f in range(80) for t in (1, 2)])
    assert auto_subject(two, 100) is None
    assert auto_subject(tracks_from([]), 100) is None


def test_iou():
    np.testing.assert_allclose(iou(np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 1, 1]]), np.array([0, 0, 10, 10])),
                               [1.0, 50 / 150, 0.0])  # fmt: skip


def test_number_splits_gives_next_free_ids():
    tracks = tracks_from([(0, 4, 0, 0, 1, 1, 1)])
    assert number_splits(tracks, [(4, 3, -1), (4, 5, -1), (2, 1, 20)]) == [
        Split(4, 3, 5),
        Split(4, 5, 6),
        Split(2, 1, 20),
    ]
