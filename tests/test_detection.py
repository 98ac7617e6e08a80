"""Person detectors: the motion detector on synthetic scenes, the ONNX wrappers on self-made probe models, mmdet's
import guard. No database and no downloaded weights."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import pose_pipeline.detection  # noqa: F401  (registers the detectors)
from pose_pipeline.detection.motion import merge_blobs
from pose_pipeline.detection.onnx import letterbox, letterbox_geometry
from pose_pipeline.formats import Detections
from pose_pipeline.stages import DETECTION
from pose_pipeline.synthetic import crossing_scene, empty_scene, render_scene, walking_scene
from pose_pipeline.video import VideoReader
from pose_pipeline.weights import WeightsError
from tests.onnx_models import probe_detector, probe_score

# --- helpers ----------------------------------------------------------------------------------------------------


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two x, y, w, h boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def score_boxes(gt, detections, first_frame=0):
    """Recall of separable mostly-visible people, recall of all mostly-visible people, precision (IoU >= 0.5).

    Mostly visible: visible_fraction >= 0.9. Separable: also, the person's box touches no other person's box (a
    background subtractor cannot split people whose silhouettes touch).
    """
    hits = {"separable": [], "visible": []}
    matched = total = 0
    for f in range(first_frame, gt.n_frames):
        boxes, truth = detections[f], gt.boxes[f]
        present = [p for p in range(gt.n_people) if np.isfinite(truth[p]).all()]
        for p in present:
            found = any(iou(truth[p], b) >= 0.5 for b in boxes)
            if gt.visible_fraction[f, p] >= 0.9:
                hits["visible"].append(found)
                if all(iou(truth[p], truth[q]) == 0 for q in present if q != p):
                    hits["separable"].append(found)
        matched += sum(any(iou(b, truth[p]) >= 0.5 for p in present) for b in boxes)
        total += len(boxes)
    recall = {key: float(np.mean(value)) if value else float("nan") for key, value in hits.items()}
    return recall["separable"], recall["visible"], matched / total if total else 1.0


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Decoded frames and ground truth of three 640x480, 150-frame synthetic videos."""
    folder = tmp_path_factory.mktemp("scenes")
    out = {}
    for name, config in (("walking", walking_scene()), ("crossing", crossing_scene(3)), ("empty", empty_scene())):
        gt = render_scene(config, folder / f"{name}.mp4")
        with VideoReader(folder / f"{name}.mp4") as reader:
            out[name] = (list(reader), gt)
    return out


def run_detector(detector, frames, batch, prime=False):
    detector.reset()
    if prime:
        detector.prime(frames[:: len(frames) // 25])
    out = []
    for start in range(0, len(frames), batch):
        out.extend(detector(frames[start : start + batch]))
    Detections(out).validate(n_frames=len(frames))
    return out


# --- motion -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    # measured (OpenCV 5.0): walking 1.00 / 1.00 / 1.00; crossing 0.97 / 0.70 / 0.92 (people in contact form one blob)
    "name, min_separable, min_visible, min_precision",
    [("walking", 0.97, 0.97, 0.97), ("crossing", 0.93, 0.65, 0.88)],
)
def test_motion_finds_people_in_synthetic_scenes(scenes, name, min_separable, min_visible, min_precision):
    frames, gt = scenes[name]
    detector = DETECTION.build("motion")
    detections = run_detector(detector, frames, batch=16, prime=True)
    separable, visible, precision = score_boxes(gt, detections)
    assert separable >= min_separable and visible >= min_visible and precision >= min_precision, (
        separable,
        visible,
        precision,
    )
    for boxes in detections:
        assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 0] + boxes[:, 2] <= 640 + 1e-9)
        assert np.all(boxes[:, 1] >= 0) and np.all(boxes[:, 1] + boxes[:, 3] <= 480 + 1e-9)
        assert np.all(np.diff(boxes[:, 4]) <= 0)  # best first


def test_motion_warms_up_without_priming(scenes):
    frames, gt = scenes["walking"]
    detector = DETECTION.build("motion", {"warmup_frames": 30})
    detections = run_detector(detector, frames, batch=8)
    assert all(len(boxes) == 0 for boxes in detections[:30])
    separable, _, precision = score_boxes(gt, detections, first_frame=30)
    assert separable >= 0.97 and precision >= 0.97, (separable, precision)


def test_motion_priming_gives_boxes_from_the_first_frame(scenes):
    frames, gt = scenes["walking"]
    detections = run_detector(DETECTION.build("motion"), frames, batch=8, prime=True)
    assert all(iou(detections[f][0], gt.boxes[f, 0]) >= 0.5 for f in range(5))


@pytest.mark.parametrize("prime", [False, True])
def test_motion_finds_nobody_in_an_empty_scene(scenes, prime):
    frames, _ = scenes["empty"]
    detections = run_detector(DETECTION.build("motion"), frames, batch=32, prime=prime)
    assert sum(len(boxes) for boxes in detections[30:]) == 0


def test_motion_reset_starts_a_new_video(scenes):
    walking, _ = scenes["walking"]
    detector = DETECTION.build("motion", {"warmup_frames": 5})
    assert len(detector(walking[:40])[-1]) == 1
    small = [frame[::2, ::2].copy() for frame in walking[:10]]
    with pytest.raises(ValueError, match="frame size changed"):
        detector(small)
    detector.reset()
    assert [len(b) for b in detector(small)[:5]] == [0] * 5  # warming up again: the old background is gone


def test_motion_absorbs_a_person_who_stops_after_about_a_tenth_of_history(scenes):
    empty, _ = scenes["empty"]
    walking, _ = scenes["walking"]
    detector = DETECTION.build("motion", {"history": 500})
    detector.prime(empty)  # same room, nobody in it
    counts = [len(boxes) for boxes in detector([walking[75]] * 80)]
    assert counts[:45] == [1] * 45 and counts[-10:] == [0] * 10  # measured: gone after 55 frames


def test_merge_blobs_joins_stacked_parts_not_neighbours():
    head, torso, legs = [48, 0, 60, 12, 100], [40, 14, 70, 60, 900], [42, 64, 68, 110, 500]
    other = [80, 10, 110, 110, 1500]  # another person beside, at the same height
    arm_piece = [62, 30, 69, 50, 60]  # inside the torso's box
    merged = merge_blobs(np.array([head, torso, legs, other, arm_piece], float), overlap=0.3, gap=0.3)
    assert sorted(map(tuple, merged.tolist())) == [(40, 0, 70, 110, 1560), (80, 10, 110, 110, 1500)]


# --- ONNX: pre- and post-processing on probe models -------------------------------------------------------------


WEIGHTS_YOLOX = (0.02, -0.01, 0.005, 0.03, -0.02, 0.01)  # raw 0-255 inputs
WEIGHTS_RTMDET = (1.0, -0.5, 0.7, 0.8, -1.2, 0.4)  # normalised inputs
RTMDET_MEAN, RTMDET_STD = np.array([103.53, 116.28, 123.675]), np.array([57.375, 57.12, 58.395])
PERSON = [64, 32, 600, 352]  # model-input pixels
ROWS = {
    "boxes": [PERSON, [0, 0, 200, 200], [70, 40, 610, 360], [0, 0, 0, 0]],
    "labels": [0, 1, 0, 0],  # person, a confident non-person, a near duplicate (IoU 0.92), mmdeploy's zero row
    "score_scale": [1.0, 0.0, 0.9, 0.0],
    "score_offset": [0.0, 0.95, 0.0, 0.0],
}
COLOUR = (200, 40, 90)  # RGB
SCORE_TOL = 1e-4  # onnxruntime's float32 means over 640x640 pixels are good to ~5e-5; mistakes shift scores > 1e-3

# (frame width, height) -> (resized width, height in the 640x640 input), worked out by hand with mmcv's rule
# new = int(size * min(640 / w, 640 / h) + 0.5), and the expected person box x, y, w, h in the frame.
CASES = {
    "landscape": ((1280, 720), (640, 360), (128.0, 64.0, 1072.0, 640.0)),
    "portrait": ((600, 1000), (384, 640), (100.0, 50.0, 500.0, 500.0)),  # x2 = 937.5 clipped to 600
    "uneven": ((1001, 751), (640, 480), (100.1, 32 * 751 / 480, 600 * 1001 / 640 - 100.1, 320 * 751 / 480)),
}


def expected_score(colour, new_size, input_size, weights, bias=-1.0, mean=None, std=None, rgb=False):
    """The probe's score for a frame of one colour, from the pre-processing spelled out: BGR, pad 114 bottom-right."""
    value = np.array(colour if rgb else colour[::-1], float)
    pad = np.full(3, 114.0)
    if mean is not None:
        value, pad = (value - mean) / std, (pad - mean) / std
    content = new_size[0] * new_size[1] / (input_size[0] * input_size[1])
    return probe_score(content * value + (1 - content) * pad, value, weights, bias)


@pytest.fixture
def probe(tmp_path):
    """Factory: write a probe model with the standard rows and return its path."""

    def make(name="probe.onnx", **kwargs):
        return probe_detector(tmp_path / name, **{**ROWS, "weights": WEIGHTS_YOLOX, **kwargs})

    return make


def test_letterbox_geometry_follows_mmcv():
    assert letterbox_geometry(1280, 720, 640, 640) == (640, 360, 0.5, 0.5)
    assert letterbox_geometry(600, 1000, 640, 640) == (384, 640, 0.64, 0.64)
    assert letterbox_geometry(1001, 751, 640, 640) == (640, 480, 640 / 1001, 480 / 751)
    assert letterbox_geometry(100, 50, 416, 416)[:2] == (416, 208)  # upscaling
    frame = np.zeros((720, 1280, 3), np.uint8)
    padded, scale = letterbox(frame, (640, 640))
    assert scale == (0.5, 0.5) and padded.shape == (640, 640, 3)
    assert np.all(padded[:360] == 0) and np.all(padded[360:] == 114)  # image at the top, padding below


@pytest.mark.parametrize("case", list(CASES))
def test_yolox_maps_boxes_back_and_feeds_raw_bgr(probe, case):
    (width, height), new_size, box = CASES[case]
    detector = DETECTION.build("yolox_onnx", {"model_path": str(probe()), "weights": None})
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = COLOUR
    (boxes,) = detector([frame])
    score = expected_score(COLOUR, new_size, (640, 640), WEIGHTS_YOLOX)
    # only the person row survives: label 1 filtered, the duplicate suppressed, the zero row dropped
    assert boxes.shape == (1, 5)
    np.testing.assert_allclose(boxes[0, :4], box, rtol=0, atol=1e-6)
    np.testing.assert_allclose(boxes[0, 4], score, rtol=0, atol=SCORE_TOL)
    assert abs(expected_score(COLOUR, new_size, (640, 640), WEIGHTS_YOLOX, rgb=True) - score) > 1e-3


@pytest.mark.parametrize("case", ["landscape", "portrait"])
def test_rtmdet_normalises_with_bgr_mean_and_std(probe, case):
    (width, height), new_size, box = CASES[case]
    detector = DETECTION.build("rtmdet_onnx", {"model_path": str(probe(weights=WEIGHTS_RTMDET)), "weights": None})
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = COLOUR
    (boxes,) = detector([frame])
    score = expected_score(COLOUR, new_size, (640, 640), WEIGHTS_RTMDET, mean=RTMDET_MEAN, std=RTMDET_STD)
    np.testing.assert_allclose(boxes[0, :4], box, rtol=0, atol=1e-6)
    np.testing.assert_allclose(boxes[0, 4], score, rtol=0, atol=SCORE_TOL)
    raw = expected_score(COLOUR, new_size, (640, 640), WEIGHTS_RTMDET)
    assert abs(raw - score) > 1e-3  # forgetting the normalisation would show


def test_nms_and_score_threshold(probe):
    path = str(probe())
    frame = np.full((720, 1280, 3), COLOUR, np.uint8)
    without_nms = DETECTION.build("yolox_onnx", {"model_path": path, "nms_iou": None})([frame])[0]
    assert len(without_nms) == 2  # the person and its near duplicate (this export has no NMS of its own)
    assert without_nms[0, 4] > without_nms[1, 4]
    strict = DETECTION.build("yolox_onnx", {"model_path": path, "score_threshold": 0.999})([frame])[0]
    assert strict.shape == (0, 5)
    other_class = DETECTION.build("yolox_onnx", {"model_path": path, "person_class": 1})([frame])[0]
    np.testing.assert_allclose(other_class, [[0, 0, 400, 400, 0.95]], atol=1e-6)  # the label-1 row


@pytest.mark.parametrize("batch, batched", [("batch", True), (1, False), (3, True)])
def test_batches_give_per_frame_results(probe, batch, batched):
    detector = DETECTION.build("yolox_onnx", {"model_path": str(probe(batch=batch)), "max_batch": 2})
    assert detector.batched is batched
    colours = [(200, 40, 90), (60, 90, 60), (128, 128, 128), (40, 40, 160), (150, 100, 20)]
    frames = [np.full((720, 1280, 3), colour, np.uint8) for colour in colours]
    results = detector(frames)
    assert len(results) == len(frames)
    for colour, boxes in zip(colours, results):
        np.testing.assert_allclose(
            boxes[0, 4], expected_score(colour, (640, 360), (640, 640), WEIGHTS_YOLOX), atol=SCORE_TOL
        )
        np.testing.assert_allclose(boxes[0, :4], CASES["landscape"][2], atol=1e-6)


def test_dynamic_input_size_comes_from_the_manifest(probe, tmp_path, monkeypatch):
    path = probe(input_size=None)  # dynamic height and width
    write_manifest(tmp_path, monkeypatch, path, input_size=[416, 416])
    detector = DETECTION.build("yolox_onnx", {"weights": "probe"})
    assert detector.input_size == (416, 416)
    (boxes,) = detector([np.full((720, 1280, 3), COLOUR, np.uint8)])
    # 1280x720 into 416x416: 416x234, factors 416/1280 and 234/720 (= 0.325 both); x2 and y2 clipped to the frame
    np.testing.assert_allclose(boxes[0, :4], [64 / 0.325, 32 / 0.325, 1280 - 64 / 0.325, 720 - 32 / 0.325], atol=1e-6)
    fixed = DETECTION.build("yolox_onnx", {"weights": "probe", "input_size": [320, 320]})
    assert fixed.input_size == (320, 320)


def test_provider_is_recorded(probe):
    import onnxruntime

    detector = DETECTION.build("yolox_onnx", {"model_path": str(probe())})
    expected = (
        "CUDAExecutionProvider"
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        else "CPUExecutionProvider"
    )
    assert detector.provider == expected
    assert DETECTION.build("yolox_onnx", {"model_path": str(probe()), "device": "cpu"}).provider == (
        "CPUExecutionProvider"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_name": "images"}, r"expected one input 'input'.*found 'images'"),
        ({"channels": 1}, r"expected one input 'input'.*\[.*1, 640, 640\]"),
    ],
)
def test_wrong_interface_is_refused_naming_the_file(probe, kwargs, message):
    if "channels" in kwargs:
        kwargs["weights"] = WEIGHTS_YOLOX[:2]
    path = probe(name="wrong.onnx", **kwargs)
    with pytest.raises(ValueError, match=message) as error:
        DETECTION.build("yolox_onnx", {"model_path": str(path)})
    assert str(path) in str(error.value)


def test_unreadable_model_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match="cannot load ONNX model") as error:
        DETECTION.build("rtmdet_onnx", {"model_path": str(path)})
    assert str(path) in str(error.value)


# --- weights from the manifest ----------------------------------------------------------------------------------


def write_manifest(folder, monkeypatch, model, sha256=True, input_size=None):
    """A one-entry manifest 'probe' for ``model`` (placed in ``folder``), made the default through the environment."""
    import hashlib

    entry = {
        "name": "probe",
        "path": model.name,
        "url": "https://example.org/probe.zip",
        "license": "CC0-1.0",
        "used_by": ["detection/yolox_onnx"],
        "sha256": hashlib.sha256(model.read_bytes()).hexdigest() if sha256 is True else sha256,
        "size": None,
    }
    if input_size:
        entry["input_size"] = input_size
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("POSE_PIPELINE_MANIFEST", str(manifest))
    monkeypatch.delenv("POSE_PIPELINE_WEIGHTS", raising=False)
    return manifest


def test_weights_are_checked_before_any_model_is_loaded(probe, tmp_path, monkeypatch):
    import onnxruntime

    path = probe()
    write_manifest(tmp_path, monkeypatch, path)
    assert DETECTION.build("yolox_onnx", {"weights": "probe"}).model_path == path

    def no_session(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(onnxruntime, "InferenceSession", no_session)
    write_manifest(tmp_path, monkeypatch, path, sha256="0" * 64)
    with pytest.raises(WeightsError, match="does not match the manifest") as error:
        DETECTION.build("yolox_onnx", {"weights": "probe"})
    assert str(path) in str(error.value) and "https://example.org/probe.zip" in str(error.value)
    path.unlink()
    with pytest.raises(WeightsError, match="is missing: expected at") as error:
        DETECTION.build("yolox_onnx", {"weights": "probe"})
    assert str(path) in str(error.value)


def test_default_weights_of_the_onnx_detectors_are_in_the_manifest(monkeypatch):
    from pose_pipeline.weights import load_manifest

    monkeypatch.delenv("POSE_PIPELINE_MANIFEST", raising=False)
    manifest = load_manifest()
    for name in ("yolox_onnx", "rtmdet_onnx"):
        entry = manifest[DETECTION.get(name).params["weights"]]
        assert f"detection/{name}" in entry.used_by and entry.url.startswith("https://")


# --- mmdet, registration, imports -------------------------------------------------------------------------------


def test_mmdet_without_mmdet_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mmdet", None)  # makes "import mmdet" fail even where it is installed
    monkeypatch.setitem(sys.modules, "mmdet.apis", None)
    with pytest.raises(ImportError, match=r"mmdet==3\.3\.0.*mmcv==2\.1\.0") as error:
        DETECTION.build("mmdet", {"config": "rtmdet_tiny_8xb32-300e_coco.py", "weights": "nope"})
    assert "from source" in str(error.value) and "yolox_onnx" in str(error.value)


def test_detectors_are_registered():
    assert {"motion", "yolox_onnx", "rtmdet_onnx", "mmdet"} <= set(DETECTION.names())
    assert DETECTION.get("motion").requires == ()
    assert DETECTION.get("yolox_onnx").requires == () and DETECTION.get("mmdet").requires == ("mmdet",)
    rows = {row["method_name"]: row for row in DETECTION.lookup_rows()}
    assert json.loads(rows["motion"]["default_params"])["history"] == 1000
    with pytest.raises(ValueError, match="has no parameter"):
        DETECTION.build("motion", {"nonsense": 1})


def test_importing_the_detectors_stays_light():
    code = (
        "import sys, pose_pipeline, pose_pipeline.detection, pose_pipeline.weights; "
        "heavy = [m for m in ('onnxruntime', 'onnx', 'torch', 'mmdet', 'mmcv', 'pandas') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_whole_frame_detector_gives_the_frame_as_one_box():
    detector = DETECTION.build("whole_frame")
    frames = [np.zeros((48, 64, 3), np.uint8), np.zeros((48, 64, 3), np.uint8)]
    boxes = detector(frames)
    assert len(boxes) == 2 and all(np.array_equal(b, [[0, 0, 64, 48, 1.0]]) for b in boxes)
    with pytest.raises(ValueError, match=r"whole_frame: score must lie in \(0, 1\], got 1.5"):
        DETECTION.build("whole_frame", {"score": 1.5})
