"""The shipped synthetic lifter: verified weights, accuracy on a test scene it never saw, speed on one core."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pose_pipeline.lifting.joints import coco_to_h36m_standard
from pose_pipeline.lifting.metrics import lifting_accuracy
from pose_pipeline.skeletons import H36M17
from pose_pipeline.stages import LIFTING
from pose_pipeline.synthetic import walking_joints, walking_scene
from pose_pipeline.weights import check_weights

# measured: from the true 2D of this scene MPJPE 26 mm, PA-MPJPE 8.7 mm; 2,000 frames/s is the floor
THRESHOLD_MPJPE, THRESHOLD_PA_MPJPE, MIN_FRAMES_PER_SECOND = 40.0, 15.0, 2000


def scene_truth(n_frames=90):
    """The walking test scene's true 2D (COCO-17 pixels) and 3D (H36M-17, camera axes), without rendering it."""
    config = walking_scene(n_frames=n_frames, seed=3)
    [person] = config.people
    camera = config.get_camera()
    joints = walking_joints(np.arange(n_frames) / config.fps, scale=person.scale, start=person.start,
                            heading=person.heading, speed=person.speed, phase=person.phase)  # fmt: skip
    pixels = np.concatenate([camera.project(joints), np.ones((n_frames, 17, 1))], axis=2)
    return pixels, coco_to_h36m_standard(camera.to_camera(joints)), (config.width, config.height)


def test_weights_are_shipped_and_verified():
    assert check_weights("synthetic_lifter_h36m17").status == "present"


@pytest.mark.parametrize("flip", [False, True])
def test_accuracy_on_an_unseen_test_scene(flip):
    pixels, truth, size = scene_truth()
    lifter = LIFTING.build("synthetic_lifter", {"flip": flip, "device": "cpu"})
    lifted = lifter(pixels, "COCO-17", size)
    accuracy = lifting_accuracy(lifted.keypoints, truth, bones=H36M17.bones)
    assert accuracy["mpjpe"] < THRESHOLD_MPJPE and accuracy["pa_mpjpe"] < THRESHOLD_PA_MPJPE, accuracy
    # a lifter that ignored its input would do no better than the mean pose
    mean_pose = lifting_accuracy(np.broadcast_to(truth.mean(0), truth.shape), truth, bones=H36M17.bones)
    assert accuracy["mpjpe"] < mean_pose["mpjpe"] / 2


def test_speed_on_one_core():
    pixels, _, size = scene_truth(n_frames=3000)
    lifter = LIFTING.build("synthetic_lifter", {"flip": False, "device": "cpu", "threads": 1})
    lifter(pixels[:300], "COCO-17", size)  # warm up
    started = time.perf_counter()
    lifter(pixels, "COCO-17", size)
    rate = len(pixels) / (time.perf_counter() - started)
    print(f"synthetic_lifter: {rate:.0f} frames/s on one core")
    assert rate > MIN_FRAMES_PER_SECOND
