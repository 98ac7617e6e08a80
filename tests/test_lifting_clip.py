"""The whole-clip (MotionBERT-style) ONNX lifter on a self-made model: crop_scale, clips, flip and the metric rule."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.lifting.gaps import NoUsableFramesError
from pose_pipeline.lifting.joints import JointSetMismatchError, coco_to_h36m_standard
from pose_pipeline.lifting.onnx_clip import OnnxClipLifter, crop_scale, leg_lengths
from pose_pipeline.stages import LIFTING
from tests.lifting_onnx_models import identity_clip_lifter, probe_lifter


def test_crop_scale_by_hand():
    clip = np.zeros((2, 17, 3))
    clip[..., 2] = 1.0
    clip[:, :, :2] = [100, 50]
    clip[1, 0, :2] = [300, 150]  # box x 100-300, y 50-150: side 200, corner (100, 0)
    out = crop_scale(clip)
    np.testing.assert_allclose(out[0, 1, :2], [-1, -0.5])  # ((100 - 100) / 200 - 0.5) * 2, ((50 - 0) / 200 - 0.5) * 2
    np.testing.assert_allclose(out[1, 0, :2], [1, 0.5])
    assert (out[..., 2] == 1).all()
    clip[..., 2] = 0  # nothing confident: zeros, as MotionBERT
    assert not crop_scale(clip).any()


def walk(n=20) -> np.ndarray:
    """COCO-17 keypoints drifting 2 px right and 1 px down a frame, confidence 0.8."""
    base = np.random.default_rng(1).uniform(100, 400, size=(17, 2))
    xy = base + np.arange(n)[:, None, None] * np.array([2.0, 1.0])
    return np.concatenate([xy, np.full((n, 17, 1), 0.8)], axis=2)


@pytest.mark.parametrize("flip", [False, True])
def test_clips_normalisation_and_metric_rule_by_hand(tmp_path, flip):
    lifter = OnnxClipLifter(identity_clip_lifter(tmp_path / "clip.onnx"), clip=9, flip=flip, leg_length=0.9)
    keypoints = walk(20)  # clips 0-8, 9-17, 18-19 (padded to 9)
    lifted = lifter(keypoints, "COCO-17", None)
    h36m = coco_to_h36m_standard(keypoints)
    expected = np.concatenate([crop_scale(h36m[s : s + 9])[: 20 - s] for s in (0, 9, 18)])
    # the last clip is edge-padded before crop_scale: its box is that of its own two frames
    expected[18:] = crop_scale(np.pad(h36m[18:], ((0, 7), (0, 0), (0, 0)), mode="edge"))[:2]
    expected = expected - expected[:, :1]
    expected *= 0.9 / np.median(leg_lengths(expected))
    np.testing.assert_allclose(lifted.keypoints, expected, atol=1e-5)  # flip: the identity model is symmetric
    assert np.median(leg_lengths(lifted.keypoints)) == pytest.approx(0.9)
    assert lifted.units == "m" and lifted.root_joint == "root"


def test_clip_length_mismatch_and_window_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match="clips of 9 frames, but the method declares clip=243"):
        LIFTING.build("motionbert_onnx", {"model_path": str(identity_clip_lifter(tmp_path / "clip.onnx"))})
    with pytest.raises(ValueError, match=r"expected one input \[N, clip, 17, 3\]"):
        OnnxClipLifter(probe_lifter(tmp_path / "window.onnx", window=9), clip=9)


def test_clip_lifter_bad_input_is_refused_naming_it(tmp_path):
    model = identity_clip_lifter(tmp_path / "clip.onnx")
    lifter = OnnxClipLifter(model, clip=9)
    with pytest.raises(NoUsableFramesError, match=r"no usable frames: all 12 frames of the 2D input \(COCO-17\)"):
        lifter(np.full((12, 17, 3), np.nan), "COCO-17")
    with pytest.raises(JointSetMismatchError, match="'DLC:reaching'.*'H36M-17'"):
        lifter(np.zeros((12, 7, 3)), "DLC:reaching")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"cannot load ONNX model {corrupt}"):
        LIFTING.build("motionbert_onnx", {"model_path": str(corrupt), "clip": 9})
