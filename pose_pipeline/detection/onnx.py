"""Person detectors exported by mmdeploy to ONNX ("end2end.onnx"), run with onnxruntime: YOLOX and RTMDet.

The export's interface (mmdeploy ``configs/mmdet/_base_/base_static.py`` and ``_base_/onnx_config.py``): one input
``input``, float32 (N, 3, H, W); outputs ``dets`` (N, K, 5) = x1, y1, x2, y2, score in model-input pixels and
``labels`` (N, K) int class ids. The exports include NMS (mmdeploy rewrites ``multiclass_nms`` into ONNX
``NonMaxSuppression``: per class, IoU 0.5, ``keep_top_k`` 100) and pad ``dets`` with zero rows (score 0).

Pre-processing, from the models' own test pipelines (mmdet 3.x configs) and mmcv 2.x:

- both: frames are BGR (mmdet loads images with OpenCV and neither config sets ``bgr_to_rgb``); ``Resize`` with
  ``keep_ratio=True`` scales by ``r = min(W_in / w, H_in / h)`` to ``int(w r + 0.5) x int(h r + 0.5)`` (mmcv
  ``_scale_size``), bilinear (``cv2.INTER_LINEAR``), and records per-axis factors ``new_w / w``, ``new_h / h``
  by which boxes are divided afterwards; ``Pad`` fills the bottom and right with 114 up to the input size (mmcv
  ``impad`` pads only there), so the image sits at the top-left corner.
- YOLOX (mmpose ``projects/rtmpose/yolox/humanart/yolox_*_8xb8-300e_humanart.py``, mmdet ``yolox_s_8xb8-300e_coco``):
  ``DetDataPreprocessor`` without mean/std: raw 0-255 values, no normalisation. 640x640 (tiny and nano: 416x416).
- RTMDet (mmpose ``projects/rtmpose/rtmdet/person/rtmdet_nano_320-8xb32_coco-person.py``, base mmdet
  ``rtmdet_l_8xb32-300e_coco``): ``mean=[103.53, 116.28, 123.675]``, ``std=[57.375, 57.12, 58.395]`` in BGR
  order, applied after padding (pad pixels become ``(114 - mean) / std``). 640x640 (nano: 320x320).

For a square input (every published export) the fit rule above equals mmcv's long-edge/short-edge rule. The
model's static input size wins; a dynamic one takes ``input_size``, else the manifest entry's, else the default.

After the model: keep ``labels == person_class`` and ``score >= score_threshold``, divide by the resize factors,
clip to the frame, drop empty boxes, then a class-agnostic NMS at ``nms_iou`` (None: off). On an export with NMS
this removes nothing (its person boxes already overlap by at most IoU 0.5); it covers exports without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pose_pipeline.onnx_session import input_geometry, open_session, static_dim
from pose_pipeline.stages import DETECTION
from pose_pipeline.weights import WeightsError, load_manifest, require_weights

INPUT_NAME = "input"
OUTPUT_NAMES = ("dets", "labels")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Preprocessing:
    """How a model family wants its input: default size (width, height), BGR mean and std (None: raw 0-255)."""

    family: str
    default_size: tuple[int, int]
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    pad_value: float = 114.0
    bgr: bool = True


YOLOX = Preprocessing("yolox", (640, 640))
RTMDET = Preprocessing("rtmdet", (640, 640), mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395))


def letterbox_geometry(width: int, height: int, input_width: int, input_height: int) -> tuple[int, int, float, float]:
    """Size of the frame inside the model input and the per-axis scale factors (mmcv ``Resize(keep_ratio=True)``).

    Returns ``new_width, new_height, sx, sy`` with ``sx = new_width / width``, ``sy = new_height / height``: a
    model-input x maps back to ``x / sx`` in the frame.
    """
    ratio = min(input_width / width, input_height / height)
    new_width = min(input_width, max(1, int(width * ratio + 0.5)))
    new_height = min(input_height, max(1, int(height * ratio + 0.5)))
    return new_width, new_height, new_width / width, new_height / height


def letterbox(frame: np.ndarray, input_size: tuple[int, int], pad_value: float = 114.0):
    """Resize ``frame`` keeping its aspect ratio and pad bottom and right to ``input_size`` (width, height).

    Returns the padded uint8 image and the scale factors ``(sx, sy)``.
    """
    input_width, input_height = input_size
    new_width, new_height, sx, sy = letterbox_geometry(frame.shape[1], frame.shape[0], input_width, input_height)
    padded = np.full((input_height, input_width, frame.shape[2]), pad_value, dtype=np.uint8)
    if (new_width, new_height) != (frame.shape[1], frame.shape[0]):
        frame = cv2.resize(frame, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    padded[:new_height, :new_width] = frame
    return padded, (sx, sy)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression by OpenCV (``cv2.dnn.NMSBoxes``); ``boxes`` (N, 4) x1, y1, x2, y2.

    A box is dropped when its IoU with a better kept box exceeds ``iou_threshold``. Returns the kept indices,
    best score first.
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=int)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float64)
    # OpenCV keeps only scores above a threshold >= 0 and compares them in float32: hand it ranks (N for the best,
    # ties by index) so that a score of 0 is kept and close scores keep their order.
    ranks = np.empty(len(scores), np.float32)
    ranks[np.argsort(-np.asarray(scores), kind="stable")] = np.arange(len(scores), 0, -1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), ranks.tolist(), 0.0, float(iou_threshold))
    return np.asarray(keep, dtype=int).reshape(-1)


class OnnxPersonDetector:
    """An mmdeploy end2end ONNX detector (see the module docstring) as a pipeline detector.

    ``detector(frames)`` takes RGB uint8 frames and returns one (N, 5) array per frame: x, y, w, h in frame pixels
    and score, best first. Attributes: ``provider`` (the onnxruntime execution provider in use), ``batched``
    (whether frames go through the model several at a time), ``input_size`` (width, height), ``model_path``.
    """

    def __init__(
        self,
        model_path,
        preprocessing: Preprocessing,
        *,
        score_threshold: float = 0.3,
        nms_iou: float | None = 0.65,
        person_class: int = 0,
        input_size: Sequence[int] | None = None,
        device: str = "auto",
        max_batch: int = 8,
        threads: int = 0,
        size_hint: Sequence[int] | None = None,
    ):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        if not 0 <= score_threshold <= 1 or max_batch < 1:
            raise ValueError("need 0 <= score_threshold <= 1 and max_batch >= 1")
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise WeightsError(f"ONNX model {self.model_path} does not exist")
        self.preprocessing = preprocessing
        self.score_threshold = float(score_threshold)
        self.nms_iou = None if nms_iou is None else float(nms_iou)
        self.person_class = int(person_class)
        self.max_batch = int(max_batch)
        self._mean = None if preprocessing.mean is None else np.array(preprocessing.mean, np.float32)[:, None, None]
        self._std = None if preprocessing.std is None else np.array(preprocessing.std, np.float32)[:, None, None]

        self.session, self.provider = open_session(self.model_path, device, threads)
        self._check_interface(input_size, size_hint)

    def _check_interface(self, input_size, size_hint) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        found = ", ".join(f"{i.name!r} {i.type} {list(i.shape)}" for i in inputs)
        expected = f"one input {INPUT_NAME!r} tensor(float) [N, 3, H, W] (an mmdeploy end2end export)"
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME or inputs[0].type != "tensor(float)":
            raise ValueError(f"ONNX model {self.model_path}: expected {expected}, found {found}")
        shape = list(inputs[0].shape)
        if len(shape) != 4 or static_dim(shape[1]) not in (None, 3):
            raise ValueError(f"ONNX model {self.model_path}: expected {expected}, found {found}")
        names = [o.name for o in outputs]
        if any(name not in names for name in OUTPUT_NAMES):
            raise ValueError(
                f"ONNX model {self.model_path}: expected outputs {list(OUTPUT_NAMES)} (dets: x1, y1, x2, y2, score; "
                f"labels), found {names}"
            )
        dets_shape = list(outputs[names.index("dets")].shape)
        if len(dets_shape) != 3 or static_dim(dets_shape[2]) not in (None, 5):
            raise ValueError(f"ONNX model {self.model_path}: 'dets' must be [N, K, 5], found {dets_shape}")

        self._static_batch, self.input_size = input_geometry(
            shape, self.model_path, input_size, size_hint or self.preprocessing.default_size
        )
        self.batched = self._static_batch != 1
        self._chunk = self._static_batch or self.max_batch

    def reset(self) -> None:
        """Nothing to forget between videos (the detector has no state); present for the detector interface."""

    def preprocess(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[float, float]]]:
        """The model input (N, 3, H, W) float32 for RGB uint8 frames, and each frame's scale factors (sx, sy)."""
        width, height = self.input_size
        batch = np.empty((len(frames), 3, height, width), np.float32)
        scales = []
        for i, frame in enumerate(frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}")
            padded, scale = letterbox(frame, self.input_size, self.preprocessing.pad_value)
            chw = padded.transpose(2, 0, 1)
            batch[i] = chw[::-1] if self.preprocessing.bgr else chw
            scales.append(scale)
        if self._mean is not None:
            batch -= self._mean
            batch /= self._std
        return batch, scales

    def postprocess(self, dets: np.ndarray, labels: np.ndarray, scale, frame_shape) -> np.ndarray:
        """(N, 5) x, y, w, h, score in frame pixels from one image's ``dets`` (K, 5) and ``labels`` (K,)."""
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        labels = np.asarray(labels).reshape(-1)
        keep = (labels == self.person_class) & (dets[:, 4] >= self.score_threshold) & np.isfinite(dets).all(axis=1)
        boxes, scores = dets[keep, :4].copy(), dets[keep, 4]
        sx, sy = scale
        height, width = frame_shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]] / sx, 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] / sy, 0, height)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[valid], scores[valid]
        order = nms(boxes, scores, self.nms_iou) if self.nms_iou is not None else np.argsort(-scores, kind="stable")
        boxes, scores = boxes[order], scores[order]
        return np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2], np.clip(scores, 0, 1)]).reshape(-1, 5)

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Person boxes for each frame, in order."""
        frames = list(frames)
        results = []
        for start in range(0, len(frames), self._chunk):
            chunk = frames[start : start + self._chunk]
            batch, scales = self.preprocess(chunk)
            if self._static_batch and len(chunk) < self._static_batch:  # a fixed batch > 1: pad the last chunk
                batch = np.concatenate(
                    [batch, np.zeros((self._static_batch - len(chunk), *batch.shape[1:]), np.float32)]
                )
            dets, labels = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
            results.extend(
                self.postprocess(dets[i], labels[i], scales[i], frame.shape) for i, frame in enumerate(chunk)
            )
        return results


def _model_file(weights: str | None, model_path) -> tuple[Path, Sequence[int] | None]:
    """The ONNX file to load (``model_path`` wins over the manifest entry ``weights``) and the entry's input size."""
    if model_path:
        return Path(model_path), None
    if not weights:
        raise ValueError("give either weights (a manifest entry name) or model_path")
    path = require_weights(weights)  # raises WeightsError (missing / corrupt) before anything is loaded
    return path, load_manifest()[weights].extra.get("input_size")


ONNX_PARAMS = {
    "model_path": None,
    "score_threshold": 0.3,
    "nms_iou": 0.65,
    "person_class": 0,
    "input_size": None,
    "device": "auto",
    "max_batch": 8,
    "threads": 0,
}


@DETECTION.register(
    "yolox_onnx",
    version="1.0",
    params={"weights": "yolox_m_humanart", **ONNX_PARAMS},
    description="YOLOX person detector (mmdeploy end2end ONNX, e.g. RTMPose's YOLOX-m Human-Art) on onnxruntime: "
    "letterbox with 114, BGR, no normalisation; CUDA when available.",
    device="any",
)
def yolox_onnx(weights=None, model_path=None, **params) -> OnnxPersonDetector:
    """Build a YOLOX `OnnxPersonDetector` from a manifest entry (``weights``) or an ONNX file (``model_path``)."""
    path, size_hint = _model_file(weights, model_path)
    return OnnxPersonDetector(path, YOLOX, size_hint=size_hint, **params)


@DETECTION.register(
    "rtmdet_onnx",
    version="1.0",
    params={"weights": "rtmdet_nano_person", **ONNX_PARAMS},
    description="RTMDet person detector (mmdeploy end2end ONNX, e.g. RTMPose's RTMDet-nano person) on onnxruntime: "
    "letterbox with 114, BGR, mean/std normalisation; CUDA when available.",
    device="any",
)
def rtmdet_onnx(weights=None, model_path=None, **params) -> OnnxPersonDetector:
    """Build an RTMDet `OnnxPersonDetector` from a manifest entry (``weights``) or an ONNX file (``model_path``)."""
    path, size_hint = _model_file(weights, model_path)
    return OnnxPersonDetector(path, RTMDET, size_hint=size_hint, **params)
