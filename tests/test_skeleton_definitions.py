"""Skeleton definitions for the anatomically constrained model: built-ins, round trip, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pose_pipeline.skeleton_model import definitions as d


@pytest.mark.parametrize("build", [d.rat, d.mouse, d.human_coco17])
def test_builtins_round_trip_through_json(build):
    skeleton = build()
    text = json.dumps(skeleton.definition(), allow_nan=False)
    again = d.SkeletonDefinition.from_definition(json.loads(text))
    assert again == skeleton and again.sha256() == skeleton.sha256()
    parents = skeleton.parents
    assert parents[0] == -1 and all(parents[i] < i for i in range(1, len(parents)))


def test_rodent_shapes_and_allometry():
    rat = d.rat(284.4)
    assert len(rat.joints) == 29 and len(rat.joints) - 1 == 28  # the study's 28 bones
    assert len(rat.markers) == 41
    lengths = dict(zip(rat.joint_names, rat.rest_lengths()))
    assert lengths["elbow_left"] == pytest.approx(0.0075 * 284.4 / 100)  # humerus, Lammers & German 2002
    assert lengths["knee_left"] == pytest.approx(0.0102 * 284.4 / 100)  # femur
    bounds = dict(zip(rat.joint_names, rat.length_bounds()))
    assert bounds["knee_left"] == pytest.approx([(0.0102 - 10 * 0.0006) * 2.844, (0.0102 + 10 * 0.0006) * 2.844])
    assert bounds["tail_1"][1] == np.inf  # non-limb bones unbounded, as in the study
    big = d.rat(600.0)
    assert dict(zip(big.joint_names, big.rest_lengths()))["ankle_left"] == pytest.approx(0.0114 * 6.0)
    mouse = d.mouse()
    assert dict(zip(mouse.joint_names, mouse.rest_lengths()))["wrist_left"] == pytest.approx(0.01531)


def test_left_right_mirror():
    rat = d.rat()
    joints = {j.name: j for j in rat.joints}
    left, right = joints["knee_left"], joints["knee_right"]
    assert right.rest == pytest.approx((left.rest[0], -left.rest[1], left.rest[2]))
    assert right.limits[0] == left.limits[0]  # flexion the same on both sides
    assert right.limits[1] == (-left.limits[1][1], -left.limits[1][0])  # abduction and rotation mirrored
    assert right.length_bounds == left.length_bounds
    assert ("ankle_left", "ankle_right") in rat.marker_pairs and ("ankle_left", "ankle_right") in rat.joint_pairs


def test_angle_limits_and_relaxed():
    rat = d.rat()
    limits = rat.angle_limits()
    i = rat.joint_names.index("knee_left")
    assert np.degrees(limits[i, 0]) == pytest.approx([-55, 105])
    assert np.isnan(limits[0]).all()  # the root: global rotation, free
    shoulder = rat.joint_names.index("shoulder_left")
    assert (limits[shoulder] == 0).all()  # clavicle fixed
    relaxed = rat.angle_limits(relax=True)
    assert np.isnan(relaxed[i]).all() and (relaxed[shoulder] == 0).all()


def test_human_coco17_markers_are_the_coco_joints():
    from pose_pipeline.skeletons import COCO17

    human = d.human_coco17(1.80)
    assert human.marker_names == COCO17.joints
    lengths = dict(zip(human.joint_names, human.rest_lengths()))
    assert lengths["knee_left"] == pytest.approx(0.245 * 1.80)  # thigh, Winter 2009
    bounds = dict(zip(human.joint_names, human.length_bounds()))
    assert bounds["knee_left"] == pytest.approx([0.245 * 1.80 * 0.85, 0.245 * 1.80 * 1.15])


def _data():
    return d.rat().definition()


def test_loop_is_named():
    data = _data()
    for joint in data["joints"]:
        if joint["name"] == "spine_thoracolumbar":
            joint["parent"] = "head_atlas"
    with pytest.raises(d.SkeletonDefinitionError, match="root"):
        d.SkeletonDefinition.from_definition(data)
    data = _data()
    data["joints"].append({"name": "a", "parent": "b", "rest": [0, 0, 1]})
    data["joints"].append({"name": "b", "parent": "a", "rest": [0, 0, 1]})
    with pytest.raises(d.SkeletonDefinitionError, match="loop: a -> b -> a"):
        d.SkeletonDefinition.from_definition(data)


def test_unknown_joint_and_unattached_marker():
    data = _data()
    data["joints"].append({"name": "claw", "parent": "paw", "rest": [0, 0, 1]})
    with pytest.raises(d.SkeletonDefinitionError, match="'claw' has unknown parent 'paw'"):
        d.SkeletonDefinition.from_definition(data)
    data = _data()
    data["markers"].append({"name": "collar", "joint": "neck"})
    with pytest.raises(d.SkeletonDefinitionError, match="marker 'collar' is attached to 'neck', which is not a joint"):
        d.SkeletonDefinition.from_definition(data)
    data = _data()
    data["marker_pairs"].append(["ankle_left", "ankle_middle"])
    with pytest.raises(d.SkeletonDefinitionError, match="unknown marker 'ankle_middle'"):
        d.SkeletonDefinition.from_definition(data)


def test_bad_limits_and_bounds():
    data = _data()
    data["joints"][-1]["limits"] = [[10, 20], None, None]  # rest pose (0) outside
    with pytest.raises(d.SkeletonDefinitionError, match="low < 0 < high"):
        d.SkeletonDefinition.from_definition(data)
    data = _data()
    knee = next(j for j in data["joints"] if j["name"] == "knee_left")
    knee["length_bounds"] = [0.5, 0.6]
    with pytest.raises(d.SkeletonDefinitionError, match="'knee_left' rest length .* outside its bounds"):
        d.SkeletonDefinition.from_definition(data)
    with pytest.raises(d.SkeletonDefinitionError, match="unknown rodent species"):
        d.rodent("hamster")
