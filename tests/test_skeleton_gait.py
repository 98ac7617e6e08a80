"""Gait from skeleton joint positions: strides of known frequency on the synthetic human walker and a synthetic
trotting rat are recovered, and the average cycle equals the generating curve."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.skeleton_model import definitions as d
from pose_pipeline.skeleton_model import gait as g
from pose_pipeline.skeletons import COCO17
from pose_pipeline.synthetic import motion

RATE = 100.0
SPEED = 1.2


def knee_flexion_deg(phi):
    """The walker's generating knee flexion (pose_pipeline.synthetic.motion) at gait phase ``phi``."""
    amp = min(SPEED / motion.NOMINAL_SPEED, 1.5)
    return np.degrees(np.radians(5 + 55 * np.clip(np.cos(phi + np.pi / 4), 0, None) ** 3) * amp)


@pytest.fixture(scope="module")
def walker():
    human = d.human_coco17()
    t = np.arange(int(6 * RATE)) / RATE
    keypoints = motion.walking_joints(t, speed=SPEED, heading=0.7)
    omega = 2 * np.pi * SPEED / motion.stride_length(SPEED)  # rad/s of the left leg's phase
    return human, g.coco17_joints(keypoints, COCO17.joints, human), omega


def test_human_stride_duration_cadence_and_average_knee_cycle(walker):
    human, joints, omega = walker
    period = 2 * np.pi / omega
    result = g.gait(joints, human, RATE)
    assert set(result) == {"hip_left", "hip_right", "shoulder_left", "shoulder_right"}
    for limb in ("hip_left", "hip_right"):
        leg = result[limb]
        assert len(leg.durations_s) >= 4
        assert leg.cycle_s == pytest.approx(period, rel=0.01)
        assert leg.cadence == pytest.approx(120 / period, rel=0.01)
        assert 0.3 < leg.duty_factor < 0.7
        # the average cycle of the knee's flexion is the generating curve, from the phase at the detected strikes
        knee = leg.angles[f"knee_{limb.split('_')[1]}"]
        offset = 0.0 if limb == "hip_left" else np.pi
        strike_phase = np.angle(np.exp(1j * (omega * leg.events.strikes / RATE + offset)).mean())
        expected = knee_flexion_deg(strike_phase + 2 * np.pi * knee.percent / 100)
        assert np.abs(knee.mean - expected).max() < 1.0
        assert knee.sd.max() < 0.5 and (knee.low <= knee.mean + 1e-9).all() and (knee.high >= knee.mean - 1e-9).all()
    # left and right legs half a stride apart
    lag = (result["hip_right"].events.strikes[0] - result["hip_left"].events.strikes[0]) / RATE % period
    assert lag == pytest.approx(period / 2, abs=0.03)


def test_vertical_events_agree_on_the_stride(walker):
    human, joints, omega = walker
    leg = g.limb_gait(joints, human, "hip_left", RATE, method="vertical", min_cycle_s=0.5)
    assert leg.cycle_s == pytest.approx(2 * np.pi / omega, rel=0.03)


def test_angles_on_the_rest_pose():
    human = d.human_coco17()
    rest = human.rest_positions()[None]
    flexion = g.flexion_angles(rest, human)
    assert flexion["knee_left"][0] == pytest.approx(0.0, abs=1e-6)  # a straight leg
    assert flexion["hip_left"][0] == pytest.approx(90.0, abs=1e-6)  # pelvis bone sideways, thigh down
    assert g.bone_angle(rest, human, "hip_left", "hip_right")[0] == pytest.approx(180.0)
    with pytest.raises(g.GaitError, match="'pelvis' is not a bone"):
        g.bone_angle(rest, human, "pelvis", "knee_left")


def test_too_few_cycles_and_bad_input_are_named(walker):
    human, joints, _ = walker
    with pytest.raises(g.GaitError, match="limb 'hip_right': [01] gait cycle"):
        g.limb_gait(joints[:200], human, "hip_right", RATE)
    with pytest.raises(g.GaitError, match="no limb 'tail'"):
        g.limb_gait(joints, human, "tail", RATE)
    with pytest.raises(g.GaitError, match=r"\(frames, 15 joints"):
        g.flexion_angles(joints[:, :5], human)
    with pytest.raises(g.GaitError, match="does not move"):
        g.limb_gait(np.repeat(joints[:1], 300, axis=0), human, "hip_left", RATE)


@pytest.mark.slow
def test_rat_trot_stride_duty_factor_and_average_cycle():
    pytest.importorskip("jax")
    from pose_pipeline.skeleton_model import gait_synthetic as gs
    from pose_pipeline.skeleton_model import kinematics as kin

    rat = d.rat()
    model = kin.compile_model(rat)
    anatomy = kin.rest_anatomy(rat)
    rate, stride_hz, duty, frames = 200.0, 4.0, 0.6, 300  # 50 frames a cycle: the lift's kink at lift-off
    joints = np.asarray(kin.forward_sequence(model, anatomy, gs.trot_states(model, frames, rate, stride_hz, duty))[0])
    rest_flexion = g.flexion_angles(rat.rest_positions()[None], rat)
    result = g.gait(joints, rat, rate)
    for limb, (_, middle) in gs.LIMB_BONES.items():
        gait = result[limb]
        assert gait.stride_hz == pytest.approx(stride_hz, rel=0.01)
        # lift-off is the paw's most retracted moment, which the swing's lift (folding the middle joint) delays a
        # little past the girdle bone's turn at ``duty``
        assert duty <= gait.duty_factor < duty + 0.08
        # strikes at the paw's most protracted moment: the girdle bone's (phase 0 of the generator) moved a little
        # earlier by the end of the swing's lift, within 10 % of the cycle and the same in every cycle
        phase = (stride_hz * gait.events.strikes / rate - gs.TROT_PHASE[limb] + 0.5) % 1 - 0.5
        assert np.abs(phase).max() < 0.1 and np.ptp(phase) < 0.002
        # the middle bone's lift is the flexion change at its start joint, over the cycle
        hinge = rat.joint_names[rat.parents[rat.joint_names.index(middle)]]
        change = gait.angles[hinge].mean - rest_flexion[hinge][0]
        expected = -np.degrees(gs.limb_angles(np.mean(phase) + gait.angles[hinge].percent / 100, duty)[1])
        assert np.abs(np.abs(change) - np.abs(expected)).max() < 1.5, limb
