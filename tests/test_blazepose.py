"""BlazePose on real people: the shipped ONNX model against the original TFLite one, keypoints against hand labels
of the Sports2D clip, the COCO-17 mapping, and bad input (a person cut by the frame's edge, a damaged model file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pose_pipeline.keypoints.blazepose import INPUT_SIZE, BlazePoseEstimator, roi_squares
from pose_pipeline.skeletons import BLAZEPOSE33, BLAZEPOSE_TO_COCO17, COCO17
from pose_pipeline.stages import TOP_DOWN
from pose_pipeline.video import VideoReader
from pose_pipeline.weights import WeightsError, require_weights

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "3rdparty" / "data" / "sports2d" / "sports2d_demo.mp4"
LABELS = json.loads((Path(__file__).parent / "data" / "sports2d_blazepose_labels.json").read_text())["frames"]
# Errors against the hand labels (people about 410 px tall; labels good to 5-15 px). Measured: nose <= 11 px,
# shoulder <= 16, hip <= 27, ankles <= 18 (pair mean); mean over all points 12 px.
MAX_POINT_ERROR = 40.0  # px, about a tenth of the person's height
MAX_MEAN_ERROR = 20.0  # px, over every labelled point of the six frames
# ONNX against TFLite on the same crop: landmark x, y in crop pixels (of 256), visibility logits, world metres.
# Measured on the six labelled crops: at most 2.7e-4 px, 8.5e-5 (logits), 6e-8 (pose flag), 3e-5 m.
TOLERANCE = {"landmarks": 0.01, "flag": 1e-4, "world": 1e-3}  # landmarks: x, y (px) and logits


def read_frames(indices) -> dict[int, np.ndarray]:
    wanted, frames = set(indices), {}
    with VideoReader(CLIP) as reader:
        for index, frame in enumerate(reader):
            if index in wanted:
                frames[index] = frame
            if len(frames) == len(wanted):
                break
    return frames


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    return read_frames(int(i) for i in LABELS)


@pytest.fixture(scope="module")
def estimator() -> BlazePoseEstimator:
    return TOP_DOWN.build("blazepose", {})


def label_errors(keypoints: np.ndarray, label: dict) -> dict[str, float]:
    """Distances (px) from BlazePose-33 keypoints (33, 3) to one frame's labels; the labels do not say left or
    right, so the nearer of the two shoulders and hips counts, and the better pairing of the ankles."""
    xy = keypoints[:, :2]

    def nearer(point, names):
        return min(float(np.linalg.norm(xy[BLAZEPOSE33.index(n)] - point)) for n in names)

    ankles = xy[[BLAZEPOSE33.index("left_ankle"), BLAZEPOSE33.index("right_ankle")]]
    truth = np.array(label["ankles"], float)
    pairing = min((ankles - truth, ankles[::-1] - truth), key=lambda d: np.linalg.norm(d, axis=1).sum())
    first, second = np.linalg.norm(pairing, axis=1)
    return {
        "nose": float(np.linalg.norm(xy[0] - label["nose"])),
        "shoulder": nearer(label["shoulder"], ("left_shoulder", "right_shoulder")),
        "hip": nearer(label["hip"], ("left_hip", "right_hip")),
        "ankle_a": float(first),
        "ankle_b": float(second),
    }


def test_onnx_equals_tflite_on_the_same_crop(frames, estimator):
    """The shipped ONNX conversion gives what Google's own runtime gives on the original TFLite file."""
    from ai_edge_litert.interpreter import Interpreter

    label = LABELS["115"]
    crop = estimator.crop(frames[115], roi_squares(np.array([label["box"]], float))[0])
    interpreter = Interpreter(model_path=str(require_weights("blazepose_full_tflite")))
    interpreter.allocate_tensors()
    [tensor_in] = interpreter.get_input_details()
    assert list(tensor_in["shape"]) == [1, INPUT_SIZE, INPUT_SIZE, 3]
    interpreter.set_tensor(tensor_in["index"], (crop.astype(np.float32) / 255)[None])
    interpreter.invoke()
    reference = {o["name"]: interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()}

    landmarks, flag, world = estimator.run_crop(crop)
    expected = reference["Identity"].reshape(-1, 5)
    assert flag > 0.9 and landmarks.shape == expected.shape == (39, 5)
    assert np.abs(landmarks[:, :4] - expected[:, :4]).max() < TOLERANCE["landmarks"]
    assert abs(flag - float(reference["Identity_1"].ravel()[0])) < TOLERANCE["flag"]
    assert np.abs(world - reference["Identity_4"].reshape(-1, 3)).max() < TOLERANCE["world"]


def test_keypoints_match_hand_labels_of_real_frames(frames, estimator):
    errors = []
    for index, label in LABELS.items():
        result = estimator.predict(frames[int(index)], np.array([label["box"]], float))
        assert result["pose_score"][0] > 0.9, index
        frame_errors = label_errors(result["keypoints"][0], label)
        assert max(frame_errors.values()) < MAX_POINT_ERROR, (index, frame_errors)
        errors.extend(frame_errors.values())
    assert len(errors) == 5 * len(LABELS) == 30
    assert np.mean(errors) < MAX_MEAN_ERROR, np.mean(errors)


def test_keypoints_lie_in_the_box_with_plausible_bones(frames, estimator):
    """Every confident joint inside the (labelled) person box, and body proportions of a standing adult: bone
    lengths as shares of the box height, left and right alike."""
    index = BLAZEPOSE33.index
    for key, label in LABELS.items():
        box = np.array(label["box"], float)
        result = estimator.predict(frames[int(key)], box[None])
        keypoints, world = result["keypoints"][0], result["world"][0]
        confident = keypoints[:, 2] > 0.5
        assert confident.sum() >= 25, key
        margin = 0.05 * box[3]
        x, y = keypoints[confident, 0], keypoints[confident, 1]
        assert np.all((x > box[0] - margin) & (x < box[0] + box[2] + margin)), key
        assert np.all((y > box[1] - margin) & (y < box[1] + box[3] + margin)), key

        def length(a, b, keypoints=keypoints, height=box[3]):
            return float(np.linalg.norm(keypoints[index(a), :2] - keypoints[index(b), :2])) / height

        for side in ("left", "right"):
            assert 0.15 < length(f"{side}_hip", f"{side}_knee") < 0.35, (key, side)
            assert 0.15 < length(f"{side}_knee", f"{side}_ankle") < 0.35, (key, side)
        # the torso seen from the side: shoulder to hip, about 0.3 of a person's height
        assert 0.22 < length("left_shoulder", "left_hip") < 0.42, key
        # world landmarks in metres: a thigh of an adult is 0.35-0.55 m, the same on both sides
        thighs = [np.linalg.norm(world[index(f"{s}_hip")] - world[index(f"{s}_knee")]) for s in ("left", "right")]
        assert all(0.3 < t < 0.6 for t in thighs) and abs(thighs[0] - thighs[1]) < 0.1, (key, thighs)


def test_coco17_mapping(frames, estimator):
    coco = TOP_DOWN.build("blazepose", {"joint_set": "COCO-17"})
    assert coco.joint_set == "COCO-17" and estimator.joint_set == "BlazePose-33"
    assert [BLAZEPOSE33.joints[i] for i in BLAZEPOSE_TO_COCO17] == list(COCO17.joints)
    label = LABELS["95"]
    boxes = [np.array([label["box"]], float)]
    [full], [mapped] = estimator([frames[95]], boxes), coco([frames[95]], boxes)
    assert full.shape == (1, 33, 3) and mapped.shape == (1, 17, 3)
    np.testing.assert_array_equal(mapped, full[:, list(BLAZEPOSE_TO_COCO17)])


def test_unreadable_boxes_and_frames_without_people(frames, estimator):
    frame = frames[95]
    boxes = np.array([[np.nan] * 4, [10, 10, 0, 50], [-900, -900, 100, 100]])
    result = estimator.predict(frame, boxes)
    assert np.isnan(result["keypoints"][:2]).all() and np.isnan(result["pose_score"][:2]).all()
    # a box outside the frame: the model sees black, finds no pose, and says so
    assert result["pose_score"][2] < 0.5 and np.isnan(result["keypoints"][2]).all()
    [empty] = estimator([frame], [np.zeros((0, 4))])
    assert empty.shape == (0, 33, 3)


def test_person_cut_by_the_frame_edge(frames, estimator):
    """The frame cut through the shins: the ankles beyond the edge are NaN or have a low confidence, the joints
    still in view are found as well as in the whole frame, and nothing fails."""
    label = LABELS["115"]
    cut = 820
    frame = np.ascontiguousarray(frames[115][:cut])
    box = np.array(label["box"], float)
    box[3] = cut - box[1]
    [keypoints] = estimator([frame], [box[None]])[0]
    for name in ("left_ankle", "right_ankle"):
        x, y, confidence = keypoints[BLAZEPOSE33.index(name)]
        assert np.isnan(confidence) or confidence < 0.5, (name, x, y, confidence)
    errors = label_errors(keypoints, label)
    assert errors["nose"] < MAX_POINT_ERROR and errors["shoulder"] < MAX_POINT_ERROR, errors
    finite = np.isfinite(keypoints[:, 0])
    assert np.all(keypoints[finite, 1] <= cut) and np.all((keypoints[finite, 2] >= 0) & (keypoints[finite, 2] <= 1))


def test_damaged_model_file_is_refused(tmp_path, monkeypatch):
    """A file at the model's path that is not the shipped one (its sha256 differs) stops the build with a message
    naming the file and the expected checksum; nothing is loaded."""
    damaged = tmp_path / "blazepose" / "pose_landmark_full.onnx"
    damaged.parent.mkdir()
    shutil.copyfile(require_weights("blazepose_full"), damaged)
    with open(damaged, "r+b") as f:  # same size, one byte changed
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setenv("POSE_PIPELINE_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="sha256") as error:
        TOP_DOWN.build("blazepose", {})
    assert str(damaged) in str(error.value) and "b2f4749e" in str(error.value)


def test_a_model_that_is_not_blazepose_is_refused(tmp_path):
    from tests.pose_onnx_models import centroid_model

    other = centroid_model(tmp_path / "other.onnx", kind="heatmap", n_joints=17)
    with pytest.raises(ValueError, match="not BlazePose"):
        BlazePoseEstimator(other)
    with pytest.raises(ValueError, match="joint_set"):
        BlazePoseEstimator(require_weights("blazepose_full"), joint_set="Halpe-26")


def test_the_weights_script_reproduces_the_shipped_onnx_file(tmp_path):
    """scripts/blazepose_weights.py, from the TFLite file, writes an ONNX file with the manifest's sha256."""
    import subprocess
    import sys

    tflite = require_weights("blazepose_full_tflite")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "blazepose_weights.py"), str(tflite), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert (tmp_path / "pose_landmark_full.onnx").read_bytes() == require_weights("blazepose_full").read_bytes()
    assert result.stdout.count("matches the manifest") == 2
