"""Top-down 2D keypoint wrappers: cropping, decoding and the ONNX estimators on self-made models whose outputs are
known exactly (`pose_onnx_models`), the combining method, the mmpose import guard. No database, no downloaded
weights."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import pose_pipeline.keypoints  # noqa: F401  (registers the estimators)
from pose_pipeline.formats import Keypoints2D
from pose_pipeline.keypoints.crop import box_center_scale, fix_aspect_ratio, make_crops, warp, warp_matrix
from pose_pipeline.keypoints.decode import decode_heatmaps, decode_simcc
from pose_pipeline.skeletons import COCO17, JointSet, get_joint_set, register_joint_set
from pose_pipeline.stages import TOP_DOWN
from pose_pipeline.weights import WeightsError
from tests.pose_onnx_models import MEAN, STD, centroid_model, probe_model

RGB = register_joint_set(JointSet("test-RGB", ("red", "green", "blue"), ()))
BODY = (192, 256)  # RTMPose body input, W x H
WHOLE = (288, 384)  # RTMW input

# --- crop -------------------------------------------------------------------------------------------------------


def test_box_to_center_and_scale_with_padding_and_aspect_ratio():
    center, scale = box_center_scale(np.array([[10.0, 20.0, 100.0, 50.0], [0.0, 0.0, 30.0, 200.0]]))
    # centre in OpenCV's pixel-centre coordinates: x + w / 2 - 0.5; scale: size * 1.25
    np.testing.assert_allclose(center, [[59.5, 44.5], [14.5, 99.5]])
    np.testing.assert_allclose(scale, [[125.0, 62.5], [37.5, 250.0]])
    fixed = fix_aspect_ratio(scale, 192 / 256)
    np.testing.assert_allclose(fixed, [[125.0, 125.0 / 0.75], [250.0 * 0.75, 250.0]])  # the short side grows


def test_warp_matrix_equals_mmpose_three_point_construction():
    center, scale, size = np.array([301.7, 122.2]), np.array([157.5, 210.0]), BODY
    # mmpose get_warp_matrix (rotation 0): centre -> input centre, centre - (w/2, 0) -> (0, H/2), and the third
    # points 90 degrees on
    src = np.float32([center, center + [-scale[0] / 2, 0], center + [-scale[0] / 2, 0] + [0, scale[0] / 2]])
    w, h = size
    dst = np.float32([[w / 2, h / 2], [0, h / 2], [0, h / 2 + w / 2]])
    np.testing.assert_allclose(warp_matrix(center, scale, size), cv2.getAffineTransform(src, dst), atol=1e-4)


def test_udp_warp_maps_box_edges_to_the_first_and_last_pixel():
    center, scale, (w, h) = np.array([100.0, 80.0]), np.array([90.0, 120.0]), BODY
    m = warp_matrix(center, scale, (w, h), udp=True)
    corners = np.array([[100 - 45, 80 - 60, 1], [100 + 45, 80 + 60, 1], [100, 80, 1]]) @ m.T
    np.testing.assert_allclose(corners, [[0, 0], [w - 1, h - 1], [(w - 1) / 2, (h - 1) / 2]], atol=1e-12)


@pytest.mark.parametrize("udp", [False, True])
def test_crop_maps_back_to_pipeline_coordinates(udp):
    (crop,) = make_crops(np.array([[40.0, 30.0, 80.0, 150.0]]), BODY, udp=udp)
    frame_cv = np.array([[50.0, 60.0], [119.25, 179.5]])  # OpenCV coordinates (pixel centres at integers)
    in_input = frame_cv @ crop.matrix[:, :2].T + crop.matrix[:, 2]
    np.testing.assert_allclose(crop.to_frame(in_input), frame_cv + 0.5, atol=1e-9)


def test_warp_is_black_outside_the_frame():
    frame = np.full((100, 100, 3), 255, np.uint8)
    (crop,) = make_crops(np.array([[-50.0, 0.0, 100.0, 100.0]]), BODY)  # half of the box is left of the frame
    image = warp(frame, crop, BODY)
    inverse = cv2.invertAffineTransform(crop.matrix)
    x_of_column = np.arange(BODY[0]) * inverse[0, 0] + inverse[0, 2]
    row = image[BODY[1] // 2, :, 0]
    assert np.all(row[x_of_column < -1] == 0) and np.all(row[(x_of_column > 0) & (x_of_column < 99)] == 255)


# --- decode -----------------------------------------------------------------------------------------------------


def test_simcc_decoding_takes_argmax_over_split_ratio_and_the_smaller_maximum():
    sx, sy = np.zeros((2, 3, 20)), np.zeros((2, 3, 16))
    sx[0, 0, 7], sy[0, 0, 11] = 0.8, 0.6  # x 3.5, y 5.5, confidence min(0.8, 0.6)
    sx[0, 1, 19], sy[0, 1, 0] = 1.4, 1.2  # confidence above 1: clipped
    sx[0, 2, 3], sy[0, 2, 3] = 0.5, -0.1  # a maximum <= 0: not found
    sx[1] = -1.0  # nothing found anywhere
    out = decode_simcc(sx, sy, split_ratio=2.0)
    np.testing.assert_allclose(out[0, 0], [3.5, 5.5, 0.6])
    np.testing.assert_allclose(out[0, 1], [9.5, 0.0, 1.0])
    assert np.isnan(out[0, 2, :2]).all() and out[0, 2, 2] == 0
    assert np.isnan(out[1, :, :2]).all() and np.all(out[1, :, 2] == 0)


@pytest.mark.parametrize(
    "left, right, up, down, expected",
    [(0.2, 0.5, 0.5, 0.5, (5.25, 7.0)), (0.5, 0.2, 0.2, 0.5, (4.75, 7.25)), (0.3, 0.3, 0.5, 0.1, (5.0, 6.75))],
)
def test_heatmap_msra_decoding_moves_a_quarter_cell_toward_the_higher_neighbour(left, right, up, down, expected):
    heatmaps = np.zeros((1, 1, 16, 12), np.float32)
    heatmaps[0, 0, 7, 5] = 0.9
    heatmaps[0, 0, 7, 4], heatmaps[0, 0, 7, 6] = left, right
    heatmaps[0, 0, 6, 5], heatmaps[0, 0, 8, 5] = up, down
    out = decode_heatmaps(heatmaps, (48, 64), "msra")
    np.testing.assert_allclose(out[0, 0], [expected[0] * 4, expected[1] * 4, 0.9], rtol=1e-6)


def test_heatmap_msra_keeps_mmposes_bounds_and_clips_confidence():
    heatmaps = np.zeros((1, 2, 16, 12), np.float32)
    heatmaps[0, 0, 7, 1], heatmaps[0, 0, 7, 2] = 1.5, 0.5  # x = 1: mmpose does not refine it
    heatmaps[0, 1] = -0.2  # nothing found
    out = decode_heatmaps(heatmaps, (48, 64), "msra")
    np.testing.assert_allclose(out[0, 0], [4.0, 28.0, 1.0])
    assert np.isnan(out[0, 1, :2]).all() and out[0, 1, 2] == 0


def test_heatmap_udp_dark_decoding_recovers_a_gaussian_centre():
    h, w = 64, 48
    centres = [(10.3, 7.6), (30.55, 50.2), (23.0, 31.9)]
    ys, xs = np.mgrid[0:h, 0:w]
    heatmaps = np.stack([np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 8.0) for x, y in centres])[None]
    out = decode_heatmaps(heatmaps.astype(np.float32), (192, 256), "udp")
    scale = np.array([191 / 47, 255 / 63])  # UDP: (input - 1) / (heatmap - 1)
    error_cells = np.abs(out[0, :, :2] / scale - np.array(centres))
    assert error_cells.max() < 1e-3, error_cells  # measured 4e-5; the argmax alone is off by up to 0.5
    # confidence: the peak of the raw heatmap, at the nearest cells (10, 8), (31, 50), (23, 32)
    peaks = [np.exp(-(0.3**2 + 0.4**2) / 8), np.exp(-(0.45**2 + 0.2**2) / 8), np.exp(-(0.1**2) / 8)]
    np.testing.assert_allclose(out[0, :, 2], peaks, rtol=1e-6)


# --- the ONNX estimators on models that find bright blobs -------------------------------------------------------


def draw_blob(frame: np.ndarray, x: float, y: float, sigma: float, channel: int) -> None:
    """A Gaussian blob of peak 255 centred at pipeline coordinates (x, y) (pixel i's centre is at i + 0.5)."""
    h, w = frame.shape[:2]
    g = np.exp(-(((np.arange(w) + 0.5)[None] - x) ** 2 + ((np.arange(h) + 0.5)[:, None] - y) ** 2) / (2 * sigma**2))
    frame[..., channel] = np.maximum(frame[..., channel], np.round(255 * g).astype(np.uint8))


def input_pixel(box, input_size, udp=False) -> float:
    """Frame pixels per model-input pixel for a box, from mmpose's rule (padding 1.25, short side enlarged)."""
    width, height = input_size
    crop_w = max(box[2] * 1.25, box[3] * 1.25 * width / height)
    return crop_w / (width - 1) if udp else crop_w / width


# (resolution of the decoder, slack for the test model's own centroid error), both in model-input pixels.
# SimCC: half a bin, 1 / (2 k) = 0.25; MSRA: the quarter cell left after the quarter shift, stride / 4 = 1; UDP with
# DARK: ~0. Worst errors measured over these cases with 30 random seeds: SimCC 0.255 (RTMW size 0.261), MSRA 1.001,
# UDP 0.011 input pixels. The slack covers the blob drawn in uint8 and warped to a uint8 crop.
RESOLUTION = {"simcc": (0.25, 0.02), "msra": (1.0, 0.02), "udp": (0.0, 0.03)}

CASES = {
    # frame size, boxes per frame (x, y, w, h)
    "landscape": ((480, 640), [[[100, 150, 300, 120]]]),
    "portrait": ((480, 640), [[[300, 40, 90, 400]]]),
    "small box (upsampled)": ((480, 640), [[[500, 300, 40, 60]]]),
    "large box (downsampled)": ((720, 1280), [[[200, 50, 600, 650]]]),
    "cut by the top-left border": ((480, 640), [[[-60, -40, 200, 260]]]),
    "cut by the bottom-right border": ((480, 640), [[[520, 330, 180, 200]]]),
    "two people, two frames": ((480, 640), [[[20, 60, 150, 300], [420, 100, 200, 320]], [[250, 200, 120, 200]]]),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pose_models")
    return {
        "simcc": centroid_model(folder / "simcc.onnx", kind="simcc", n_joints=17),
        "msra": centroid_model(folder / "msra.onnx", kind="heatmap", n_joints=17),
        "udp": centroid_model(folder / "udp.onnx", kind="heatmap", n_joints=17, udp=True),
        "rtmw": centroid_model(folder / "rtmw.onnx", kind="simcc", n_joints=133, input_size=WHOLE),
        "rgb": centroid_model(folder / "rgb.onnx", kind="heatmap", n_joints=3, udp=True),
        "simcc_batch1": centroid_model(folder / "simcc_b1.onnx", kind="simcc", n_joints=17, batch=1),
        "simcc_batch4": centroid_model(folder / "simcc_b4.onnx", kind="simcc", n_joints=17, batch=4),
    }


def build(models, name, **params):
    method, decoder = {
        "simcc": ("rtmpose_onnx", None),
        "rtmw": ("rtmw_onnx", None),
        "msra": ("heatmap_onnx", "msra"),
        "udp": ("heatmap_onnx", "udp"),
    }[name]
    params = {"model_path": str(models[name]), "threads": 1, **params}
    if decoder:
        params["decoder"] = decoder
    return TOP_DOWN.build(method, params)


def scene(frame_shape, boxes_per_frame, rng, sigma_input_px=3.0, input_size=BODY, udp=False):
    """Frames with one red, green and blue blob inside each box, and the blobs' positions (frame, person, 3, 2)."""
    frames, truth = [], []
    for boxes in boxes_per_frame:
        frame = np.zeros((*frame_shape, 3), np.uint8)
        people = []
        for box in boxes:
            x, y, w, h = box
            # 2 input pixels, but at least 1.5 frame pixels: a frame cannot hold a finer blob at a sub-pixel place
            sigma = max(sigma_input_px * input_pixel(box, input_size, udp), 1.5)
            # inside the box and at least 3 sigma inside the frame, so the whole blob is seen
            lo = np.maximum([x + 0.15 * w, y + 0.15 * h], 3 * sigma)
            hi = np.minimum([x + 0.85 * w, y + 0.85 * h], [frame_shape[1] - 3 * sigma, frame_shape[0] - 3 * sigma])
            points = rng.uniform(lo, hi, size=(3, 2))
            for channel, (px, py) in enumerate(points):
                draw_blob(frame, px, py, sigma, channel)
            people.append(points)
        frames.append(frame)
        truth.append(np.array(people))
    return frames, [np.array(b, float) for b in boxes_per_frame], truth


@pytest.mark.parametrize("name", ["simcc", "msra", "udp", "rtmw"])
def test_estimators_find_known_points_in_full_frame_pixels(models, name):
    estimator = build(models, name)
    input_size = WHOLE if name == "rtmw" else BODY
    assert estimator.input_size == input_size
    resolution, slack = RESOLUTION["simcc" if name == "rtmw" else name]
    udp = name == "udp"
    rng = np.random.default_rng(7)
    worst = 0.0
    for label, (shape, boxes_per_frame) in CASES.items():
        for _ in range(3):
            frames, boxes, truth = scene(shape, boxes_per_frame, rng, input_size=input_size, udp=udp)
            results = estimator(frames, boxes)
            assert [r.shape for r in results] == [(len(b), estimator.n_joints, 3) for b in boxes]
            for result, frame_boxes, points in zip(results, boxes, truth):
                for keypoints, box, true in zip(result, frame_boxes, points):
                    found = keypoints[:, :2].reshape(-1, 2)
                    expected = true[np.arange(estimator.n_joints) % 3]  # joint j reports channel j % 3
                    pixel = input_pixel(box, input_size, udp)
                    error = np.abs(found - expected).max()
                    assert error <= (resolution + slack) * pixel, (label, error / pixel)
                    worst = max(worst, error / pixel)
                    assert np.all((keypoints[:, 2] > 0.5) & (keypoints[:, 2] <= 1))
    print(f"{name}: worst error {worst:.4f} input pixels, bound {resolution + slack}")


def test_without_the_quarter_shift_the_msra_bound_would_fail(models):
    """The cases above hit offsets where the quarter shift matters: the plain argmax is off by more than the bound."""
    estimator = build(models, "msra")
    rng = np.random.default_rng(7)
    worst_argmax = 0.0
    for shape, boxes_per_frame in CASES.values():
        frames, boxes, truth = scene(shape, boxes_per_frame, rng)
        for frame, frame_boxes, points in zip(frames, boxes, truth):
            for box, true in zip(frame_boxes, points):
                (crop,) = make_crops(box[None], BODY)
                batch = estimator.preprocess([warp(frame, crop, BODY)])
                (heatmaps,) = estimator._run(batch)
                cells = np.stack(np.unravel_index(heatmaps[0, :3].reshape(3, -1).argmax(1), (64, 48)), 1)[:, ::-1]
                found = crop.to_frame(cells * 4.0)
                worst_argmax = max(worst_argmax, np.abs(found - true).max() / input_pixel(box, BODY))
    assert worst_argmax > RESOLUTION["msra"][0] + RESOLUTION["msra"][1], worst_argmax


# onnxruntime's float32 means over 192x256 pixels were within 3e-5; a std of the wrong channel shifts these by > 2e-3
MEAN_TOL = 1e-4


def test_colour_order_mean_and_std_reach_the_model(tmp_path):
    # one joint per channel twice: confidence = clip(scale * mean(normalised channel) + offset), simcc_y adds delta
    path = probe_model(
        tmp_path / "probe.onnx",
        n_joints=6,
        scale=[0.1, 0.1, 0.1, 1.0, 1.0, 0.1],
        offset=[0.5, 0.5, 0.5, 0.5, 0.0, 0.5],
        y_delta=[0.05, -0.05, 0.0, 0.0, 0.0, 0.0],
    )
    register_joint_set(JointSet("test-6", tuple("abcdef"), ()))
    estimator = TOP_DOWN.build("rtmpose_onnx", {"model_path": str(path), "joint_set": "test-6"})
    colour = np.array([200.0, 100.0, 50.0])  # R, G, B
    frame = np.empty((480, 640, 3), np.uint8)
    frame[:] = colour.astype(np.uint8)
    (result,) = estimator([frame], [np.array([[200.0, 100.0, 120.0, 200.0]])])  # the crop lies inside the frame
    normalised = (colour - MEAN) / STD  # R 1.307, G -0.285, B -0.933
    values = np.array([0.1, 0.1, 0.1, 1.0, 1.0, 0.1]) * normalised[[0, 1, 2, 0, 1, 2]] + [0.5, 0.5, 0.5, 0.5, 0, 0.5]
    values = np.minimum(values, values + [0.05, -0.05, 0, 0, 0, 0])
    expected = np.where(values > 0, np.clip(values, 0, 1), 0)
    np.testing.assert_allclose(result[0, :, 2], expected, atol=MEAN_TOL)
    assert result[0, 3, 2] == 1.0  # 1.807 clipped
    assert np.isnan(result[0, 4, :2]).all() and result[0, 4, 2] == 0  # maximum <= 0: not found
    assert np.isfinite(result[0, [0, 1, 2, 3, 5], :2]).all()


def test_heatmap_confidence_is_the_peak_clipped(tmp_path):
    path = probe_model(tmp_path / "probe_hm.onnx", kind="heatmap", scale=[0.1, 1.0, 0.1], offset=[0.5, 1.0, 0.5])
    estimator = TOP_DOWN.build("heatmap_onnx", {"model_path": str(path), "joint_set": RGB.name, "decoder": "msra"})
    frame = np.full((480, 640, 3), (200, 100, 50), np.uint8)
    (result,) = estimator([frame], [np.array([[200.0, 100.0, 120.0, 200.0]])])
    normalised = (np.array([200.0, 100.0, 50.0]) - MEAN) / STD
    expected = [0.5 + 0.1 * normalised[0], 1.0 + normalised[1], 0.5 + 0.1 * normalised[2]]
    np.testing.assert_allclose(result[0, :, 2], expected, atol=MEAN_TOL)
    # the spike sits at cell (24, 32): input pixel (96, 128), the crop's centre, which is the box centre
    np.testing.assert_allclose(result[0, :, :2], [[260.0, 200.0]] * 3, atol=1e-6)


def test_udp_models_get_udp_crops(tmp_path):
    path = probe_model(tmp_path / "probe_udp.onnx", kind="heatmap")
    estimator = TOP_DOWN.build("heatmap_onnx", {"model_path": str(path), "joint_set": RGB.name, "decoder": "udp"})
    frame = np.full((480, 640, 3), 128, np.uint8)
    (result,) = estimator([frame], [np.array([[200.0, 100.0, 120.0, 200.0]])])
    # spike at cell (24, 32) of 48 x 64 -> input pixel (24 * 191 / 47, 32 * 255 / 63) (DARK adds nothing to a
    # symmetric spike); the UDP crop puts the box centre (259.5, 199.5 in OpenCV coordinates) at input pixel
    # (95.5, 127.5) and has 187.5 / 191 frame pixels per input pixel across (the 150 x 250 padded box made 3:4)
    x = 259.5 + (24 * 191 / 47 - 95.5) * 187.5 / 191 + 0.5
    y = 199.5 + (32 * 255 / 63 - 127.5) * 250 / 255 + 0.5
    np.testing.assert_allclose(result[0, :, :2], [[x, y]] * 3, atol=1e-6)


def test_channels_reach_their_joints(models):
    """Blobs of three colours come back as joints red, green, blue (RGB input, the model's own mean and std)."""
    estimator = TOP_DOWN.build(
        "heatmap_onnx", {"model_path": str(models["rgb"]), "joint_set": RGB.name, "decoder": "udp"}
    )
    frames, boxes, truth = scene((480, 640), [[[100, 100, 200, 250]]], np.random.default_rng(1), udp=True)
    (result,) = estimator(frames, boxes)
    np.testing.assert_allclose(result[0, :, :2], truth[0][0], atol=0.1 * input_pixel(boxes[0][0], BODY, True))


def test_unreadable_boxes_give_nan_people(models):
    estimator = build(models, "simcc")
    frames, boxes, truth = scene((480, 640), [[[100, 100, 200, 250]]], np.random.default_rng(2))
    bad = [[np.nan, 10, 50, 50], [10, 10, 0, 50], [10, 10, 50, -5], [np.inf, 10, 50, 50]]
    (result,) = estimator(frames, [np.vstack([bad[:2], boxes[0], bad[2:]])])
    assert result.shape == (5, 17, 3)
    assert np.isnan(result[[0, 1, 3, 4]]).all()
    np.testing.assert_allclose(result[2, :3, :2], truth[0][0], atol=0.3 * input_pixel(boxes[0][0], BODY))


def test_no_frames_and_no_people(models):
    estimator = build(models, "msra")
    assert estimator([], []) == []
    frame = np.zeros((120, 160, 3), np.uint8)
    results = estimator([frame, frame], [np.zeros((0, 4)), []])
    assert [r.shape for r in results] == [(0, 17, 3), (0, 17, 3)]
    with pytest.raises(ValueError, match="2 frames but 1 box arrays"):
        estimator([frame, frame], [np.zeros((0, 4))])
    with pytest.raises(ValueError, match=r"boxes must be \(N, 4\) arrays of x, y, w, h, got shape \(1, 5\)"):
        estimator([frame], [np.array([[10.0, 10.0, 50.0, 50.0, 0.9]])])  # a detection with its score
    assert estimator([frame], [np.array([10.0, 10.0, 50.0, 50.0])])[0].shape == (1, 17, 3)
    with pytest.raises(ValueError, match="uint8 RGB"):
        estimator([frame.astype(np.float32)], [np.zeros((0, 4))])


class CountingSession:
    """Wraps an onnxruntime session and records the batch size of every call."""

    def __init__(self, session):
        self.session, self.batches = session, []

    def run(self, names, feed):
        self.batches.append(len(next(iter(feed.values()))))
        return self.session.run(names, feed)

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_batched_equals_unbatched_and_crops_of_all_frames_go_together(models):
    rng = np.random.default_rng(3)
    frames, boxes, _ = scene((480, 640), CASES["two people, two frames"][1] * 2, rng)  # 4 frames, 6 people
    boxes[1] = np.vstack([boxes[1], [[np.nan] * 4]])  # a seventh box, not readable: not sent to the model
    runs = {}
    for label, model, max_batch in [
        ("one call", "simcc", 16),
        ("one by one", "simcc", 1),
        ("chunks of 4", "simcc", 4),
        ("fixed batch 1", "simcc_batch1", 16),
        ("fixed batch 4", "simcc_batch4", 16),
    ]:
        estimator = TOP_DOWN.build(
            "rtmpose_onnx", {"model_path": str(models[model]), "max_batch": max_batch, "threads": 1}
        )
        estimator.session = CountingSession(estimator.session)
        runs[label] = (estimator(frames, boxes), estimator.session.batches, estimator.batched)
    assert runs["one call"][1:] == ([6], True)
    assert runs["one by one"][1] == [1] * 6
    assert runs["chunks of 4"][1] == [4, 2]
    assert runs["fixed batch 1"][1:] == ([1] * 6, False)
    assert runs["fixed batch 4"][1] == [4, 4]  # the last chunk padded to the model's batch
    reference = runs["one call"][0]
    for label, (results, _, _) in runs.items():
        for a, b in zip(results, reference):
            np.testing.assert_array_equal(a, b, err_msg=label)


def test_output_satisfies_the_stage_contract(models):
    estimator = build(models, "rtmw")
    assert estimator.joint_set == "COCO-WholeBody-133"
    frames, boxes, _ = scene((480, 640), [[[100, 100, 200, 250]]] * 3, np.random.default_rng(4), input_size=WHOLE)
    keypoints = np.stack([r[0] for r in estimator(frames, boxes)])
    Keypoints2D(keypoints, estimator.joint_set).validate(n_frames=3)


# --- loading: joint counts, interfaces, weights, devices --------------------------------------------------------


@pytest.mark.parametrize("dynamic", [False, True])
def test_wrong_joint_count_is_refused_naming_the_model(tmp_path, dynamic):
    path = centroid_model(tmp_path / "five.onnx", n_joints=5, dynamic_outputs=dynamic)
    with pytest.raises(ValueError, match=r"outputs \[5\] joints, but joint set 'COCO-17' has 17") as error:
        TOP_DOWN.build("rtmpose_onnx", {"model_path": str(path)})
    assert str(path) in str(error.value)
    heatmap = centroid_model(tmp_path / "hm133.onnx", kind="heatmap", n_joints=17, dynamic_outputs=dynamic)
    with pytest.raises(ValueError, match=r"outputs \[17\] joints, but joint set 'Halpe-26' has 26"):
        TOP_DOWN.build("heatmap_onnx", {"model_path": str(heatmap), "joint_set": "Halpe-26"})


def test_wrong_simcc_length_and_interface_are_refused(tmp_path):
    path = centroid_model(tmp_path / "k3.onnx", split_ratio=3.0)
    with pytest.raises(ValueError, match=r"SimCC lengths 576, 768 do not match input 192x256 with split ratio 2"):
        TOP_DOWN.build("rtmpose_onnx", {"model_path": str(path)})
    assert TOP_DOWN.build("rtmpose_onnx", {"model_path": str(path), "simcc_split_ratio": 3.0}).n_joints == 17
    heatmap = centroid_model(tmp_path / "hm.onnx", kind="heatmap")
    with pytest.raises(ValueError, match=r"a SimCC model needs outputs \['simcc_x', 'simcc_y'\], found \['heatmaps'\]"):
        TOP_DOWN.build("rtmpose_onnx", {"model_path": str(heatmap)})
    with pytest.raises(ValueError, match=r"shapes \[\[.*\]\]; a heatmap model's are 4-dimensional"):
        TOP_DOWN.build("heatmap_onnx", {"model_path": str(path), "decoder": "msra"})
    with pytest.raises(ValueError, match=r"fixed input of 192x256, input_size=\[288, 384\]"):
        TOP_DOWN.build("rtmpose_onnx", {"model_path": str(path), "input_size": [288, 384]})
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot load ONNX model") as error:
        TOP_DOWN.build("rtmw_onnx", {"model_path": str(broken)})
    assert str(broken) in str(error.value)


def write_manifest(folder: Path, monkeypatch, model: Path | None, sha256: str | None, **extra) -> None:
    """A one-entry manifest 'pose_probe' for ``model`` in ``folder``, made the default through the environment."""
    entry = {
        "name": "pose_probe",
        "path": "pose_probe.onnx",
        "url": "https://example.org/pose_probe.zip",
        "license": "CC0-1.0",
        "used_by": ["top_down/heatmap_onnx"],
        "sha256": sha256,
        **extra,
    }
    if model is not None:
        (folder / "pose_probe.onnx").write_bytes(model.read_bytes())
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("POSE_PIPELINE_MANIFEST", str(folder / "manifest.json"))
    monkeypatch.delenv("POSE_PIPELINE_WEIGHTS", raising=False)


def test_weights_come_from_the_manifest_with_their_joint_set_and_decoder(models, tmp_path, monkeypatch):
    model = models["rgb"]
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    write_manifest(tmp_path, monkeypatch, model, digest, joint_set=RGB.name, decoder="udp", input_size=[192, 256])
    estimator = TOP_DOWN.build("heatmap_onnx", {"weights": "pose_probe", "threads": 1})
    assert (estimator.joint_set, estimator.decoder, estimator.udp) == (RGB.name, "udp", True)
    assert estimator.model_path == tmp_path / "pose_probe.onnx"


def test_missing_or_corrupt_weights_stop_before_anything_loads(models, tmp_path, monkeypatch):
    import onnxruntime

    def no_session(*args, **kwargs):
        raise AssertionError("a model was loaded before the weights were checked")

    monkeypatch.setattr(onnxruntime, "InferenceSession", no_session)
    write_manifest(tmp_path, monkeypatch, None, None, joint_set=RGB.name)
    with pytest.raises(WeightsError, match="'pose_probe'.*is missing: expected at") as error:
        TOP_DOWN.build("heatmap_onnx", {"weights": "pose_probe"})
    assert str(tmp_path / "pose_probe.onnx") in str(error.value)
    write_manifest(tmp_path, monkeypatch, models["rgb"], "0" * 64, joint_set=RGB.name)
    with pytest.raises(WeightsError, match="does not match the manifest") as error:
        TOP_DOWN.build("heatmap_onnx", {"weights": "pose_probe"})
    assert str(tmp_path / "pose_probe.onnx") in str(error.value)
    with pytest.raises(WeightsError, match="ONNX model .*nowhere.onnx does not exist"):
        TOP_DOWN.build("rtmpose_onnx", {"model_path": str(tmp_path / "nowhere.onnx")})


def test_devices(models):
    import onnxruntime

    estimator = build(models, "simcc", device="cpu")
    assert estimator.provider == "CPUExecutionProvider"
    auto = build(models, "simcc")
    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    assert auto.provider == ("CUDAExecutionProvider" if cuda else "CPUExecutionProvider")
    if not cuda:
        with pytest.raises(RuntimeError, match="device='cuda' but onnxruntime offers only"):
            build(models, "simcc", device="cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        build(models, "simcc", device="gpu")


def test_estimators_are_registered_with_json_defaults():
    assert {"rtmpose_onnx", "rtmw_onnx", "heatmap_onnx", "combined", "mmpose", "blazepose"} <= set(TOP_DOWN.names())
    rows = {row["method_name"]: row for row in TOP_DOWN.lookup_rows()}
    assert json.loads(rows["rtmpose_onnx"]["default_params"])["weights"] == "rtmpose_m_body7_coco17"
    assert json.loads(rows["rtmw_onnx"]["default_params"])["weights"] == "rtmw_l_cocktail14_384x288"
    assert json.loads(rows["heatmap_onnx"]["default_params"])["weights"] == "vitpose_b_coco"
    assert TOP_DOWN.get("rtmpose_onnx").requires == () and TOP_DOWN.get("mmpose").requires == ("mmpose",)
    with pytest.raises(ValueError, match="has no parameter"):
        TOP_DOWN.build("rtmpose_onnx", {"nonsense": 1})


def test_project_manifest_lists_the_keypoint_models():
    from pose_pipeline.weights import DEFAULT_MANIFEST, load_manifest

    entries = load_manifest(DEFAULT_MANIFEST)
    for name, joint_set in [
        ("rtmpose_m_body7_coco17", "COCO-17"),
        ("rtmpose_m_body7_halpe26", "Halpe-26"),
        ("rtmw_l_cocktail14_384x288", "COCO-WholeBody-133"),
        ("vitpose_b_coco", "COCO-17"),
    ]:
        entry = entries[name]
        get_joint_set(entry.extra["joint_set"])
        assert entry.extra["joint_set"] == joint_set and len(entry.extra["input_size"]) == 2
        assert entry.url.startswith("https://") and entry.license and entry.path.startswith("keypoints/")
    assert entries["vitpose_b_coco"].extra["decoder"] == "udp"


def test_importing_the_estimators_stays_light():
    code = (
        "import sys, pose_pipeline, pose_pipeline.keypoints; "
        "heavy = [m for m in ('onnxruntime', 'onnx', 'torch', 'mmpose', 'mmcv', 'pandas') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# --- joint sets -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, size, named",
    [
        ("Halpe-26", 26, {17: "head", 18: "neck", 19: "hip", 20: "left_big_toe", 25: "right_heel"}),
        (
            "COCO-WholeBody-133",
            133,
            {
                17: "left_big_toe",
                22: "right_heel",
                23: "face-0",
                90: "face-67",
                91: "left_hand_root",
                95: "left_thumb4",
                112: "right_hand_root",
                132: "right_pinky_finger4",
            },
        ),
    ],
)
def test_new_joint_sets(name, size, named):
    joints = get_joint_set(name)
    assert len(joints) == size == len(joints.sigmas) == len(set(joints.joints))
    assert joints.joints[:17] == COCO17.joints and joints.sigmas[:17] == COCO17.sigmas
    assert all(joints.joints[i] == joint for i, joint in named.items())
    assert all(0 <= a < size and 0 <= b < size and a != b for a, b in joints.bones)


def test_wholebody_hands_and_sigmas_follow_mmpose():
    joints = get_joint_set("COCO-WholeBody-133")
    assert len(joints.bones) == 65  # 19 body + 6 feet + 20 per hand, none on the face
    assert (91, 92) in joints.bones and (108, 109) in joints.bones and (112, 129) in joints.bones
    assert joints.sigmas[23] == 0.042 and joints.sigmas[91] == joints.sigmas[112] == 0.029


# --- combined ---------------------------------------------------------------------------------------------------


def test_combined_replaces_and_appends_joints_from_the_extra_method(models):
    base = {"method": "rtmpose_onnx", "params": {"model_path": str(models["simcc"]), "threads": 1}}
    extra = {
        "method": "heatmap_onnx",
        "params": {"model_path": str(models["rgb"]), "joint_set": RGB.name, "decoder": "udp", "threads": 1},
    }
    params = {
        "base": base,
        "extra": extra,
        "joints": {"blue": "left_knee", "green": "prosthesis"},
        "joint_set": "test-COCO-17+prosthesis",
    }
    combined = TOP_DOWN.build("combined", params)
    joints = get_joint_set("test-COCO-17+prosthesis")
    assert joints.joints == (*COCO17.joints, "prosthesis") and joints.bones == COCO17.bones and joints.sigmas is None
    assert combined.joint_set == joints.name
    assert combined.sources[13] == ("extra", "blue") and combined.sources[17] == ("extra", "green")

    frames, boxes, _ = scene((480, 640), CASES["two people, two frames"][1], np.random.default_rng(5))
    boxes[1] = np.vstack([boxes[1], [[np.nan] * 4]])
    merged = combined(frames, boxes)
    base_out, extra_out = combined.base(frames, boxes), combined.extra(frames, boxes)
    for m, b, e in zip(merged, base_out, extra_out):
        assert m.shape == (len(b), 18, 3)
        keep = [i for i in range(17) if i != 13]
        np.testing.assert_array_equal(m[:, keep], b[:, keep])
        np.testing.assert_array_equal(m[:, 13], e[:, 2])
        np.testing.assert_array_equal(m[:, 17], e[:, 1])
    assert not np.array_equal(merged[0][:, 13], base_out[0][:, 13])  # the knee did change (blue, not green)
    assert np.isnan(merged[1][1]).all()
    Keypoints2D(np.stack([m[0] for m in merged]), combined.joint_set).validate()

    replace_only = TOP_DOWN.build("combined", {**params, "joints": {"red": "nose"}, "joint_set": "test-COCO-17b"})
    assert get_joint_set(replace_only.joint_set).sigmas == COCO17.sigmas


def test_combined_refuses_bad_mappings(models):
    base = {"method": "rtmpose_onnx", "params": {"model_path": str(models["simcc"])}}
    extra = {"method": "heatmap_onnx", "params": {"model_path": str(models["rgb"]), "joint_set": RGB.name}}
    good = {"base": base, "extra": extra, "joints": {"red": "nose"}, "joint_set": "test-combined"}
    with pytest.raises(KeyError, match="joint 'purple' is not in joint set 'test-RGB'"):
        TOP_DOWN.build("combined", {**good, "joints": {"purple": "nose"}})
    with pytest.raises(ValueError, match=r"several extra joints map to \['nose'\]"):
        TOP_DOWN.build("combined", {**good, "joints": {"red": "nose", "blue": "nose"}})
    with pytest.raises(ValueError, match="'COCO-17' is already registered with different joints"):
        TOP_DOWN.build("combined", {**good, "joints": {"red": "new"}, "joint_set": "COCO-17"})
    with pytest.raises(ValueError, match="give joint_set"):
        TOP_DOWN.build("combined", {**good, "joint_set": None})
    with pytest.raises(ValueError, match="base must be"):
        TOP_DOWN.build("combined", {**good, "base": {"name": "rtmpose_onnx"}})


# --- mmpose -----------------------------------------------------------------------------------------------------


def test_mmpose_without_mmpose_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mmpose", None)  # makes "import mmpose" fail even where it is installed
    monkeypatch.setitem(sys.modules, "mmpose.apis", None)
    with pytest.raises(ImportError, match=r"mmpose==1\.3\.2.*mmcv==2\.1\.0.*mmdet==3\.3\.0") as error:
        TOP_DOWN.build("mmpose", {"config": "rtmpose-m_8xb256-420e_coco-256x192.py", "weights": "nope"})
    assert "from source" in str(error.value) and "rtmpose_onnx" in str(error.value)
