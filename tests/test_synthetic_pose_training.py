"""The left/right handling of scripts/train_synthetic_pose.py's flip augmentation, and the swap and collapse rates of
scripts/diagnose_synthetic_pose_sides.py. Nothing here trains.

The shipped model puts both knees and both ankles on one leg (see 3rdparty/synthetic_pose/TRAINING.md); these tests
rule out the flip augmentation as the cause and pin down what the diagnosis script counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from pose_pipeline.keypoints.crop import PIXEL_CENTRE, Crop, warp
from pose_pipeline.skeletons import COCO17
from pose_pipeline.synthetic import SceneRenderer, walking_scene

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
J = COCO17.index


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train():
    return load("train_synthetic_pose")


def test_flip_index_swaps_each_left_joint_with_its_right_joint(train):
    for j, name in enumerate(COCO17.joints):
        mirror = COCO17.joints[train.FLIP_INDEX[j]]
        if name.startswith("left_"):
            assert mirror == "right_" + name[5:]
        elif name.startswith("right_"):
            assert mirror == "left_" + name[6:]
        else:
            assert mirror == name
    assert sorted(train.FLIP_INDEX) == list(range(len(COCO17)))


def test_flipped_crop_is_the_mirror_image_and_its_left_joints_are_the_mirrored_right_ones(train):
    renderer = SceneRenderer(walking_scene(n_frames=30, seed=11, noise_sigma=0))
    [instance] = train.frame_instances(renderer, 12)
    center, scale = train.center_scale(instance.box)
    plain = train.augmented_matrix(center, scale, 10.0, flip=False)
    flipped = train.augmented_matrix(center, scale, 10.0, flip=True)
    image = warp(instance.image, Crop(center, scale, plain), train.INPUT_SIZE).astype(int)
    image_flipped = warp(instance.image, Crop(center, scale, flipped), train.INPUT_SIZE).astype(int)
    assert np.abs(image_flipped - image[:, ::-1]).max() <= 1  # the flip is composed after the crop's rotation

    keypoints = instance.keypoints - PIXEL_CENTRE
    points = train.apply_affine(plain, keypoints)
    # what augmented_sample does with a flip: swap the labels, then map with the flipped matrix
    points_flipped = train.apply_affine(flipped, keypoints[train.FLIP_INDEX])
    width = train.INPUT_SIZE[0]
    for side, other in (("left", "right"), ("right", "left")):
        for joint in ("knee", "ankle", "wrist"):
            a, b = J(f"{side}_{joint}"), J(f"{other}_{joint}")
            assert points_flipped[a] == pytest.approx([width - 1 - points[b, 0], points[b, 1]], abs=1e-9)


def test_swap_and_collapse_rates():
    diagnose = load("diagnose_synthetic_pose_sides")
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 200, (40, len(COCO17), 2))
    truth[:, J("right_knee")] = truth[:, J("left_knee")] + [30.0, 0.0]
    visible = np.ones(truth.shape[:2], bool)
    predicted = truth.copy()
    predicted[:10, J("right_knee")] = truth[:10, J("left_knee")] + 1.0  # collapsed onto the left knee
    predicted[10:20, [J("left_knee"), J("right_knee")]] = truth[10:20, [J("right_knee"), J("left_knee")]]  # swapped
    rows = diagnose.table(truth, predicted, visible)
    assert rows["left_knee"]["collapse"] == rows["right_knee"]["collapse"] == pytest.approx(0.25)
    assert rows["left_knee"]["swap"] == pytest.approx(0.25)
    assert rows["right_knee"]["swap"] == pytest.approx(0.5)
    assert rows["left_knee"]["n_far"] == 40
    assert "swap" not in rows["nose"]
