"""The windowed ONNX lifter on self-made ONNX models: pre- and post-processing checked by hand, bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pose_pipeline.lifting.gaps import FILLED, MISSING, NoUsableFramesError
from pose_pipeline.lifting.joints import GASTNET, JointSetMismatchError, coco_to_h36m_gastnet, coco_to_h36m_standard
from pose_pipeline.lifting.onnx_lifter import OnnxWindowLifter, flip_pose, normalise
from pose_pipeline.registry import MethodCall, run_methods
from pose_pipeline.skeletons import H36M17
from pose_pipeline.stages import LIFTING
from pose_pipeline.weights import WeightsError, file_sha256
from tests.lifting_onnx_models import expected_probe, probe_lifter, sequence_lifter

WIDTH, HEIGHT = 640, 480


def coco_track(n=12, seed=0) -> np.ndarray:
    """COCO-17 keypoints (frames, 17, 3) moving smoothly, confidence 0.9."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 400, size=(17, 2))
    drift = np.arange(n)[:, None, None] * rng.uniform(-3, 3, size=(1, 17, 2))
    return np.concatenate([base + drift, np.full((n, 17, 1), 0.9)], axis=2)


def test_screen_normalisation_by_hand():
    points = np.zeros((1, 17, 2))
    points[0, 0] = [320, 240]  # the image centre of a 640 x 480 frame -> (0, 0)
    points[0, 1] = [640, 0]  # -> (1, -0.75)
    out = normalise(points, "screen", (WIDTH, HEIGHT))
    np.testing.assert_allclose(out[0, :2], [[0, 0], [1, -0.75]])


def test_pose_normalisation_by_hand():
    points = np.zeros((1, 17, 2))
    points[0, :] = [10, 20]
    points[0, 1] = [10 + 17**0.5 * 3, 20]  # one joint off the root: RMS radius = 3
    out = normalise(points, "pose", None)
    assert out[0, 0].tolist() == [0, 0] and out[0, 1, 0] == pytest.approx(17**0.5)


def test_flip_pose_swaps_and_negates():
    points = np.arange(17 * 3, dtype=float).reshape(17, 3)
    flipped = flip_pose(points)
    left, right = H36M17.index("left_wrist"), H36M17.index("right_wrist")
    assert flipped[left].tolist() == [-points[right, 0], *points[right, 1:]]
    np.testing.assert_array_equal(flip_pose(flipped), points)


@pytest.mark.parametrize("scale", [1.0, 0.001])
def test_windows_padding_and_output_scaling_by_hand(tmp_path, scale):
    model = probe_lifter(tmp_path / "probe.onnx", window=5, scale=1.0)
    lifter = OnnxWindowLifter(model, window=5, normalisation="screen", output_scale=scale, batch=4)
    keypoints = coco_track()
    lifted = lifter(keypoints, "COCO-17", (WIDTH, HEIGHT))
    normalised = normalise(coco_to_h36m_standard(keypoints), "screen", (WIDTH, HEIGHT))
    expected = expected_probe(normalised, window=5)
    expected = (expected - expected[:, :1]) * scale
    np.testing.assert_allclose(lifted.keypoints, expected, atol=1e-5 * max(scale, 1e-3))
    assert lifted.joint_set == "H36M-17" and lifted.root_joint == "root" and lifted.conversion == "h36m_standard"
    assert lifted.input_joint_set == "COCO-17" and lifted.units == "m" and lifted.frame_status.tolist() == [0] * 12
    lifted.validate(n_frames=12)


def test_flip_augmentation_averages_the_mirrored_run(tmp_path):
    lifter = OnnxWindowLifter(probe_lifter(tmp_path / "probe.onnx", window=3), window=3, flip=True)
    lifted = lifter(coco_track(), "COCO-17", (WIDTH, HEIGHT))
    # x, y of the centre frame survive a mirrored run; z (a mean of x) is negated by it and averages to 0
    normalised = normalise(coco_to_h36m_standard(coco_track()), "screen", (WIDTH, HEIGHT))
    np.testing.assert_allclose(lifted.keypoints[..., :2], normalised - normalised[:, :1], atol=1e-5)
    np.testing.assert_allclose(lifted.keypoints[..., 2], 0, atol=1e-6)


def test_gastnet_conversion_is_used_and_recorded(tmp_path):
    lifter = OnnxWindowLifter(probe_lifter(tmp_path / "probe.onnx", window=3), window=3, conversion=GASTNET)
    lifted = lifter(coco_track(), "COCO-17", (WIDTH, HEIGHT))
    normalised = normalise(coco_to_h36m_gastnet(coco_track()), "screen", (WIDTH, HEIGHT))
    np.testing.assert_allclose(lifted.keypoints[..., :2], normalised - normalised[:, :1], atol=1e-5)
    assert lifted.conversion == GASTNET


def test_gaps_filled_or_marked_and_segments_padded_separately(tmp_path):
    lifter = OnnxWindowLifter(probe_lifter(tmp_path / "probe.onnx", window=5), window=5, max_gap=2)
    keypoints = coco_track(n=14)
    keypoints[3, 9] = np.nan  # one frame of the left wrist: filled
    keypoints[7:10, 11] = np.nan  # three frames of the left hip: the frames are missing
    lifted = lifter(keypoints, "COCO-17", (WIDTH, HEIGHT))
    status = lifted.frame_status.tolist()
    assert status[3] == FILLED and status[7:10] == [MISSING] * 3 and status.count(0) == 10
    assert np.isnan(lifted.keypoints[7:10]).all() and np.isfinite(lifted.keypoints[[0, 3, 6, 10, 13]]).all()
    # the second stretch (frames 10-13) is padded with its own first frame, not with the gap
    h36m = coco_to_h36m_standard(coco_track(n=14))
    normalised = normalise(h36m[10:], "screen", (WIDTH, HEIGHT))
    expected = expected_probe(normalised, window=5)
    np.testing.assert_allclose(lifted.keypoints[10:], expected - expected[:, :1], atol=1e-5)


def test_bad_input_is_refused_with_a_message_naming_it(tmp_path):
    model = probe_lifter(tmp_path / "probe.onnx", window=5)
    lifter = OnnxWindowLifter(model, window=5)
    with pytest.raises(NoUsableFramesError, match="no usable frames"):
        lifter(np.full((8, 17, 3), np.nan), "COCO-17", (WIDTH, HEIGHT))
    with pytest.raises(JointSetMismatchError, match="'DLC:reaching'.*'H36M-17'"):
        lifter(np.zeros((8, 7, 3)), "DLC:reaching", (WIDTH, HEIGHT))
    with pytest.raises(ValueError, match="takes windows of 5 frames, but the method declares window=243"):
        OnnxWindowLifter(model, window=243)
    with pytest.raises(ValueError, match="not one frame"):
        OnnxWindowLifter(sequence_lifter(tmp_path / "clip.onnx"), window=27)


def test_dynamic_window_model_is_probed(tmp_path):
    model = probe_lifter(tmp_path / "dyn.onnx", window=9, dynamic=True)
    assert OnnxWindowLifter(model, window=9).window == 9


def test_registered_method_refuses_corrupt_weights(tmp_path, monkeypatch):
    model = probe_lifter(tmp_path / "probe.onnx", window=5)
    with pytest.raises(WeightsError, match="does not match the expected"):
        LIFTING.build("videopose3d_onnx", {"model_path": str(model), "sha256": "0" * 64, "window": 5})
    manifest = tmp_path / "manifest.json"
    entry = {"name": "lifter", "path": "probe.onnx", "url": "https://example.org/lifter", "license": "test",
             "used_by": ["lifting/videopose3d_onnx"], "sha256": "1" * 64}  # fmt: skip
    manifest.write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("POSE_PIPELINE_MANIFEST", str(manifest))
    with pytest.raises(WeightsError, match="'lifter'.*does not match the manifest"):
        LIFTING.build("videopose3d_onnx", {"weights": "lifter", "window": 5})
    entry["sha256"] = file_sha256(model)
    manifest.write_text(json.dumps({"models": [entry]}))
    run = run_methods(lambda lifter: lifter(coco_track(), "COCO-17", (WIDTH, HEIGHT)),
                      MethodCall(LIFTING, "videopose3d_onnx", {"weights": "lifter", "window": 5}), n_frames=12)  # fmt: skip
    [provenance] = run.provenance
    assert provenance.model_files[0]["sha256"] == file_sha256(model) and provenance.params["window"] == 5


def test_lifting_in_chunks_gives_the_same_result(tmp_path, monkeypatch):
    from pose_pipeline.lifting import onnx_lifter

    lifter = OnnxWindowLifter(probe_lifter(tmp_path / "probe.onnx", window=5), window=5, flip=True, max_gap=1)
    keypoints = coco_track(n=40)
    keypoints[20:23, 11] = np.nan  # the left hip: two stretches, 0-19 and 23-39
    whole = lifter(keypoints, "COCO-17", (WIDTH, HEIGHT)).keypoints
    monkeypatch.setattr(onnx_lifter, "CHUNK", 3)  # chunk edges inside both stretches and at their ends
    chunked = lifter(keypoints, "COCO-17", (WIDTH, HEIGHT)).keypoints
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    assert np.isnan(whole[20:23]).all() and np.isfinite(whole[:20]).all() and np.isfinite(whole[23:]).all()


def test_gastnet_method_uses_its_own_conversion_and_checks_its_window(tmp_path):
    model = probe_lifter(tmp_path / "gast81.onnx", window=81)
    lifter = LIFTING.build("gastnet_onnx", {"model_path": str(model), "window": 81, "flip": False})
    lifted = lifter(coco_track(), "COCO-17", (WIDTH, HEIGHT))
    assert lifted.conversion == GASTNET
    normalised = normalise(coco_to_h36m_gastnet(coco_track()), "screen", (WIDTH, HEIGHT))
    np.testing.assert_allclose(lifted.keypoints[..., :2], normalised - normalised[:, :1], atol=1e-5)
    with pytest.raises(ValueError, match="takes windows of 81 frames, but the method declares window=27"):
        LIFTING.build("gastnet_onnx", {"model_path": str(model)})


def test_corrupt_model_files_are_refused_naming_them(tmp_path, monkeypatch):
    model = probe_lifter(tmp_path / "probe.onnx", window=5)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(model.read_bytes()[:100])  # truncated, no sha256 given: onnxruntime cannot parse it
    with pytest.raises(ValueError, match=f"cannot load ONNX model {corrupt}"):
        LIFTING.build("videopose3d_onnx", {"model_path": str(corrupt), "window": 5})
    # the shipped lifter damaged: found first in a POSE_PIPELINE_WEIGHTS directory, refused by its manifest size
    damaged = tmp_path / "weights" / "synthetic_lifter" / "synthetic_lifter.onnx"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(model.read_bytes())
    monkeypatch.setenv("POSE_PIPELINE_WEIGHTS", str(tmp_path / "weights"))
    with pytest.raises(
        WeightsError, match=f"'synthetic_lifter_h36m17' at {damaged} has .* bytes, the manifest expects"
    ):
        LIFTING.build("synthetic_lifter", {})
