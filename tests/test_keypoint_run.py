"""The 2D stage's loop over a video, without a database or a model."""

import numpy as np

from pose_pipeline.keypoints.run import estimate_subject


class RecordingEstimator:
    """Returns each box's top-left corner as every joint, and records the batch sizes it was called with."""

    joint_set = "COCO-17"

    def __init__(self):
        self.batches = []

    def __call__(self, frames, boxes):
        self.batches.append(len(frames))
        return [np.tile([[b[0, 0], b[0, 1], 0.5]], (17, 1))[None] for b in boxes]


def test_frames_without_a_box_are_nan_and_batches_are_bounded():
    boxes = np.array([[i, 2 * i, 10, 10] for i in range(40)], dtype=float)
    boxes[[3, 17]] = np.nan
    estimator = RecordingEstimator()
    keypoints = estimate_subject((np.zeros((4, 4, 3), np.uint8) for _ in range(40)), boxes, estimator, batch_frames=8)
    assert keypoints.shape == (40, 17, 3)
    assert np.isnan(keypoints[[3, 17]]).all()
    np.testing.assert_array_equal(keypoints[5, 0], [5, 10, 0.5])
    assert max(estimator.batches) == 8 and sum(estimator.batches) == 38


def test_nobody_gives_all_nan_of_the_joint_set_size():
    estimator = RecordingEstimator()
    keypoints = estimate_subject(iter([np.zeros((4, 4, 3), np.uint8)] * 5), np.full((5, 4), np.nan), estimator)
    assert keypoints.shape == (5, 17, 3) and np.isnan(keypoints).all() and estimator.batches == []
