"""Anatomy learning: bone lengths of a synthetic rat recovered from labelled frames of four synthetic cameras."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from pose_pipeline.skeleton_model import anatomy as an
from pose_pipeline.skeleton_model import definitions as d
from pose_pipeline.skeleton_model import synthetic as syn


def test_symmetry_maps_share_one_side():
    rat = d.rat()
    bone_index, free_bones, marker_index, sign, free_markers = an.symmetry_maps(rat)
    names = rat.joint_names
    assert bone_index[names.index("knee_left")] == bone_index[names.index("knee_right")] >= 0
    assert len(free_bones) == 28 - 9  # nine bilateral bones share a length
    markers = rat.marker_names
    i, j = markers.index("ankle_left"), markers.index("ankle_right")
    assert marker_index[i] == marker_index[j] and sign[j, 1] == -1 and sign[i, 1] == 1
    assert len(free_markers) == len(markers) - len(rat.marker_pairs)


@pytest.mark.slow
def test_bone_lengths_and_markers_learned_together():
    rat = d.rat()
    scene = syn.scene(rat, frames=20, rate_hz=5.0, seed=1, noise_px=1.0, occlusion=0.1, outliers=0.0)
    fit = an.learn_anatomy(rat, scene.cameras, scene.pixels, max_iter=2000)
    truth = scene.anatomy.bone_lengths
    start = np.abs(rat.rest_lengths() - truth)[1:]
    error = np.abs(fit.anatomy.bone_lengths - truth)[1:]
    limbs = [
        rat.joint_names.index(n) - 1 for n in ("elbow_left", "wrist_left", "knee_left", "ankle_left", "paw_hind_left")
    ]
    assert error[limbs].max() < 1e-3 and error[limbs].mean() < start[limbs].mean(), (error[limbs], start[limbs])
    assert error.mean() < start.mean(), (error, start)
    offsets = np.linalg.norm(fit.anatomy.marker_offsets - scene.anatomy.marker_offsets, axis=1)
    assert offsets.mean() < np.linalg.norm(rat.marker_offsets() - scene.anatomy.marker_offsets, axis=1).mean()
    assert fit.rms_px < 1.2


@pytest.mark.slow
def test_bone_lengths_recovered_from_labelled_frames():
    rat = d.rat()
    scene = syn.scene(rat, frames=12, rate_hz=4.0, seed=3, noise_px=1.0, occlusion=0.1, outliers=0.0)
    fit = an.learn_anatomy(rat, scene.cameras, scene.pixels, marker_offsets=scene.anatomy.marker_offsets, max_iter=600)
    truth = scene.anatomy.bone_lengths
    start = np.abs(rat.rest_lengths() - truth)[1:]
    error = np.abs(fit.anatomy.bone_lengths - truth)[1:]
    limbs = [
        rat.joint_names.index(n) - 1 for n in ("elbow_left", "wrist_left", "knee_left", "ankle_left", "paw_hind_left")
    ]
    assert error[limbs].max() < 1e-3, error[limbs]  # within 1 mm (the study's MRI comparison: 4.5 mm mean)
    assert error.max() < 2e-3 and error.mean() < start.mean() / 3, (error, start)
    names = rat.joint_names
    assert fit.anatomy.bone_lengths[names.index("knee_left")] == fit.anatomy.bone_lengths[names.index("knee_right")]
    assert fit.rms_px < 1.5  # close to the 1 px label noise
    bounds = rat.length_bounds()
    assert (fit.anatomy.bone_lengths[1:] >= bounds[1:, 0] - 1e-12).all()
    assert (fit.anatomy.bone_lengths[1:] <= bounds[1:, 1] + 1e-12).all()


def test_bad_label_shapes_are_named():
    rat = d.rat()
    cameras = syn.ring_cameras()
    with pytest.raises(ValueError, match="4 cameras, 41 markers"):
        an.learn_anatomy(rat, cameras, np.zeros((3, 4, 40, 2)))
    with pytest.raises(ValueError, match="no labelled marker"):
        an.learn_anatomy(rat, cameras, np.full((3, 4, 41, 2), np.nan))
