"""COCO-17 -> Human3.6M-17 conversions, checked joint by joint against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.lifting.joints import (
    GASTNET,
    IDENTITY,
    STANDARD,
    JointSetMismatchError,
    coco_to_h36m_gastnet,
    coco_to_h36m_standard,
    to_h36m,
)
from pose_pipeline.skeletons import COCO17, H36M17

# One hand-made COCO-17 pose in image pixels (x right, y down), each joint at distinct, easy numbers.
POSE = {
    "nose": (50, 10),
    "left_eye": (54, 6),
    "right_eye": (46, 6),
    "left_ear": (58, 8),
    "right_ear": (42, 8),
    "left_shoulder": (70, 30),
    "right_shoulder": (30, 30),
    "left_elbow": (76, 50),
    "right_elbow": (24, 50),
    "left_wrist": (80, 70),
    "right_wrist": (20, 70),
    "left_hip": (62, 90),
    "right_hip": (38, 90),
    "left_knee": (64, 130),
    "right_knee": (36, 130),
    "left_ankle": (66, 170),
    "right_ankle": (34, 170),
}
CONF = {name: 0.1 + 0.05 * i for i, name in enumerate(COCO17.joints)}


def coco(with_confidence=False) -> np.ndarray:
    rows = [(*POSE[n], CONF[n]) if with_confidence else POSE[n] for n in COCO17.joints]
    return np.array([rows], dtype=float)


def h(out, name):
    return out[0, H36M17.index(name)]


def test_standard_mapping_by_hand():
    out = coco_to_h36m_standard(coco())
    assert h(out, "root").tolist() == [50, 90]  # mid-hips
    assert h(out, "thorax").tolist() == [50, 30]  # mid-shoulders
    assert h(out, "spine").tolist() == [50, 60]  # midpoint of the two
    assert h(out, "head").tolist() == [50, 6]  # mid-eyes
    assert h(out, "neck_base").tolist() == [50, 10]  # the nose
    assert h(out, "right_foot").tolist() == [34, 170] and h(out, "left_wrist").tolist() == [80, 70]
    assert h(out, "right_hip").tolist() == [38, 90] and h(out, "left_knee").tolist() == [64, 130]


def test_standard_mapping_works_in_3d_and_carries_confidence():
    points = np.concatenate([coco(), np.arange(17, dtype=float)[None, :, None]], axis=2)  # z = COCO index
    out = coco_to_h36m_standard(points)
    assert h(out, "root")[2] == (11 + 12) / 2 and h(out, "spine")[2] == ((11 + 12) / 2 + (5 + 6) / 2) / 2
    conf = coco_to_h36m_standard(coco(True))
    assert h(conf, "head")[2] == pytest.approx((CONF["left_eye"] + CONF["right_eye"]) / 2)
    assert h(conf, "left_foot")[2] == pytest.approx(CONF["left_ankle"])


def test_gastnet_mapping_by_hand():
    out = coco_to_h36m_gastnet(coco())
    # head: x = mean of eyes and ears = (54+46+58+42)/4 = 50; y = 6 + 6 - 10 = 2 (above the eyes)
    assert h(out, "head").tolist() == [50, 2]
    # thorax: (50, 30) + ((50, 10) - (50, 30)) / 3 = (50, 23.33); y -= (6 - 10) * 2/3 -> 23.33 + 2.67 = 26
    np.testing.assert_allclose(h(out, "thorax"), [50, 26])
    assert h(out, "root").tolist() == [50, 90]
    # spine: mean of shoulders and hips = (50, 60); x += 2 (50 - (50 + 50) / 2) = 0
    assert h(out, "spine").tolist() == [50, 60]
    # neck: nose - (nose - mid-shoulders) / 4 = (50, 10) - (0, -20) / 4 = (50, 15)
    assert h(out, "neck_base").tolist() == [50, 15]
    assert h(out, "right_foot").tolist() == [34, 170]


def test_gastnet_spine_is_pushed_sideways_by_an_asymmetric_torso():
    pose = coco()
    pose[0, COCO17.index("left_shoulder"), 0] += 12  # shoulders centre moves to x = 56
    out = coco_to_h36m_gastnet(pose)
    thorax_x = 56 + (50 - 56) / 3  # 54
    spine_x = (82 + 30 + 62 + 38) / 4  # 53
    assert h(out, "thorax")[0] == pytest.approx(thorax_x)
    assert h(out, "spine")[0] == pytest.approx(spine_x + 2 * (spine_x - (50 + thorax_x) / 2))
    assert h(out, "neck_base")[0] == pytest.approx(50 - (50 - 56) / 4)


def test_gastnet_confidences():
    out = coco_to_h36m_gastnet(coco(True))
    assert h(out, "root")[2] == pytest.approx((CONF["left_hip"] + CONF["right_hip"]) / 2)
    ears_eyes = [CONF[n] for n in ("left_eye", "right_eye", "left_ear", "right_ear")]
    assert h(out, "head")[2] == pytest.approx(np.mean(ears_eyes))
    assert h(out, "neck_base")[2] == pytest.approx(CONF["nose"])


def test_the_two_mappings_differ_where_documented():
    a, b = coco_to_h36m_standard(coco()), coco_to_h36m_gastnet(coco())
    differs = {H36M17.joints[j] for j in range(17) if not np.allclose(a[0, j], b[0, j])}
    assert differs == {"head", "thorax", "neck_base"}  # spine and root agree on this symmetric pose


def test_nan_input_joint_gives_nan_derived_joint():
    pose = coco()
    pose[0, COCO17.index("left_hip")] = np.nan
    out = coco_to_h36m_standard(pose)
    assert np.isnan(h(out, "root")).all() and np.isnan(h(out, "spine")).all()
    assert np.isfinite(h(out, "head")).all()


@pytest.mark.parametrize("joint_set,n", [("Halpe-26", 26), ("COCO-WholeBody-133", 133)])
def test_halpe_and_wholebody_map_through_their_coco_subset(joint_set, n):
    extra = np.full((1, n - 17, 2), 999.0)
    out, name = to_h36m(np.concatenate([coco(), extra], axis=1), joint_set, GASTNET)
    assert name == GASTNET
    np.testing.assert_array_equal(out, coco_to_h36m_gastnet(coco()))


def test_blazepose_maps_through_its_coco_joints():
    """BlazePose-33 holds COCO-17's joints in its own order (nose 0, left eye 2, ..., right ankle 28): each lands
    where COCO-17's would, so a BlazePose 2D result feeds every lifter."""
    from pose_pipeline.skeletons import BLAZEPOSE33

    blaze = np.full((1, 33, 2), 999.0)  # joints COCO-17 lacks (mouth, fingers, heels, toes) must not leak in
    for coco_index, name in enumerate(COCO17.joints):
        blaze[0, BLAZEPOSE33.index(name)] = coco()[0, coco_index]
    out, name = to_h36m(blaze, "BlazePose-33", STANDARD)
    assert name == STANDARD
    np.testing.assert_array_equal(out, to_h36m(coco(), "COCO-17", STANDARD)[0])


def test_to_h36m_identity_and_refusals():
    same = np.random.default_rng(0).normal(size=(3, 17, 3))
    out, name = to_h36m(same, "H36M-17", STANDARD)
    assert name == IDENTITY and np.array_equal(out, same)
    with pytest.raises(JointSetMismatchError, match="'DLC:reaching'.*'H36M-17'"):
        to_h36m(np.zeros((2, 7, 3)), "DLC:reaching")
    with pytest.raises(ValueError, match="unknown joint conversion 'nope'"):
        to_h36m(coco(), "COCO-17", "nope")
    with pytest.raises(ValueError, match=r"shape \(frames, 17, C\)"):
        to_h36m(np.zeros((2, 16, 2)), "COCO-17")
