"""Gait measures (`pose_pipeline.measures`) against the synthetic walker's exact gait: its step frequency follows
from its speed and stride length, its knee flexes by 55 degrees times the gait amplitude."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.measures import MeasureError, cadence, gait_measures, range_of_motion
from pose_pipeline.skeletons import COCO17, H36M17
from pose_pipeline.synthetic.motion import NOMINAL_SPEED, stride_length, walking_joints

FPS = 30.0


def walk(speed: float, n_frames: int = 90, phase: float = 0.4):
    times = np.arange(n_frames) / FPS
    return walking_joints(times, speed=speed, phase=phase), times


@pytest.mark.parametrize("speed", [0.8, 1.0, 1.3])
def test_cadence_of_the_walker(speed):
    joints, times = walk(speed)
    truth = 120.0 * speed / stride_length(speed)  # two steps per stride
    assert cadence(joints, COCO17.joints, times, "ankles").steps_per_minute == pytest.approx(truth, rel=0.005)
    pelvis = cadence(joints, COCO17.joints, times, "pelvis", vertical_axis=2)  # world z is up
    assert pelvis.steps_per_minute == pytest.approx(truth, rel=0.01)
    side_view = joints[..., [0, 2]] * [1, -1]  # x, and z as an image's downward y
    assert cadence(side_view, COCO17.joints, times, "pelvis").steps_per_minute == pytest.approx(truth, rel=0.01)


def test_range_of_motion_of_the_walker():
    joints, _ = walk(1.3)
    amplitude = 1.3 / NOMINAL_SPEED
    # the 3-frame median filter trims the knee's sharp swing peak by up to about 2.5 degrees at 30 frames/s
    for side in ("left", "right"):
        assert range_of_motion(joints, COCO17.joints, side, "knee") == pytest.approx(55 * amplitude, abs=3.0)
        assert range_of_motion(joints, COCO17.joints, side, "elbow") == pytest.approx(25 * amplitude, abs=2.0)


def test_gaps_short_walks_and_other_joint_sets():
    joints, times = walk(1.0)
    truth = 120.0 / stride_length(1.0)
    gappy = joints.copy()
    gappy[40:44] = np.nan  # frames without the subject are left out, not zero
    assert cadence(gappy, COCO17.joints, times).steps_per_minute == pytest.approx(truth, rel=0.02)

    one_frame, _ = walk(1.0, n_frames=1)
    row = gait_measures(one_frame, COCO17.joints, times[:1])
    assert np.isnan(row["cadence"]) and row["num_steps"] == 0 and np.isnan(row["knee_rom_left"])

    h36m = np.zeros((len(joints), 17, 3))  # Human3.6M names its ankles "foot"
    for name in ("hip", "knee", "shoulder", "elbow", "wrist"):
        for side in ("left", "right"):
            h36m[:, H36M17.index(f"{side}_{name}")] = joints[:, COCO17.index(f"{side}_{name}")]
    for side in ("left", "right"):
        h36m[:, H36M17.index(f"{side}_foot")] = joints[:, COCO17.index(f"{side}_ankle")]
    assert gait_measures(h36m, H36M17.joints, times) == pytest.approx(gait_measures(joints, COCO17.joints, times))

    with pytest.raises(MeasureError, match="no left ankle among the joints nose, left_eye"):
        cadence(joints[:, :5], COCO17.joints[:5], times)
    with pytest.raises(ValueError, match="cadence signal 'feet'"):
        cadence(joints, COCO17.joints, times, "feet")
