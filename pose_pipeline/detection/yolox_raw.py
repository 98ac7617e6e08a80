"""YOLOX exported to ONNX with its raw head (no NMS inside), run with onnxruntime: the shipped YOLOX-Nano (COCO).

The export's interface (Megvii YOLOX ``tools/export_onnx.py``, as in the shipped ``yolox_nano_coco``): one input
(``images``, float32 [N, 3, H, W]) and one output (N, A, 5 + C): for each of the A anchor points of the strides 8,
16 and 32 (``(H/8)(W/8) + (H/16)(W/16) + (H/32)(W/32)`` points, row by row, finest stride first) the offsets
dx, dy, log w, log h, the objectness and C class probabilities, both after the sigmoid.

Pre-processing, as YOLOX's own ``preproc`` (``yolox/data/data_augment.py``): BGR, one ratio
``r = min(H_in / h, W_in / w)``, resize to ``int(w r) x int(h r)`` (truncated, not rounded), bilinear, placed at
the top-left of an input filled with 114; raw 0-255 values, no normalisation.

Decoding, as YOLOX's ``demo_postprocess`` (``yolox/utils/demo_utils.py``) and ``postprocess``
(``yolox/utils/boxes.py``, per-class NMS, as mmdet's YOLOX head does too): ``cx, cy = (dx, dy) + grid cell`` times
the stride, ``w, h = exp(log w, log h)`` times the stride, boxes divided by ``r``; each anchor's class is its most
probable one and its score ``objectness x that probability``. Anchors whose class is ``person_class`` and whose
score reaches ``score_threshold`` are kept, clipped to the frame, and suppressed among themselves by OpenCV's NMS
(``cv2.dnn.NMSBoxes``) at ``nms_iou`` (a person is not suppressed by an overlapping box of another class). A person cut by the image border gets the
visible part of the box. The defaults (score 0.1, IoU 0.45) are YOLOX's ONNX demo's; low scores are kept on purpose,
as ByteTrack uses detections below its high-confidence split to keep occluded tracks alive (on the Sports2D clip,
0.1 gave fewer broken tracks of the backlit man than 0.3, with the same single track of the walker).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pose_pipeline.onnx_session import input_geometry, open_session, static_dim
from pose_pipeline.stages import DETECTION
from pose_pipeline.weights import WeightsError, load_manifest, require_weights

from .onnx import DEVICES, nms

STRIDES = (8, 16, 32)
PAD_VALUE = 114


def yolox_letterbox(frame: np.ndarray, input_size: tuple[int, int], out: np.ndarray | None = None):
    """YOLOX's ``preproc`` for one RGB uint8 frame: the (3, H, W) float32 BGR input and the ratio ``r``.

    ``input_size`` is (width, height); ``out`` (3, H, W) float32, when given, is filled in place.
    """
    input_width, input_height = input_size
    height, width = frame.shape[:2]
    ratio = min(input_height / height, input_width / width)
    new_width, new_height = max(1, int(width * ratio)), max(1, int(height * ratio))
    resized = cv2.resize(frame, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    if out is None:
        out = np.empty((3, input_height, input_width), np.float32)
    out[...] = PAD_VALUE
    out[:, :new_height, :new_width] = resized.transpose(2, 0, 1)[::-1]  # RGB -> BGR channels
    return out, ratio


def anchor_grid(input_size: tuple[int, int], strides: Sequence[int] = STRIDES) -> tuple[np.ndarray, np.ndarray]:
    """The (A, 2) grid cell (x, y) and (A, 1) stride of every anchor point, in the order of the model's output."""
    input_width, input_height = input_size
    grids, expanded = [], []
    for stride in strides:
        xs, ys = np.meshgrid(np.arange(input_width // stride), np.arange(input_height // stride))
        grid = np.stack([xs, ys], axis=-1).reshape(-1, 2)
        grids.append(grid)
        expanded.append(np.full((len(grid), 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(expanded).astype(np.float32)


class YoloxRawDetector:
    """A raw-head YOLOX ONNX export (see the module docstring) as a pipeline detector.

    ``detector(frames)`` takes RGB uint8 frames and returns one (N, 5) array per frame: x, y, w, h in frame pixels
    and score, best first. Attributes: ``provider`` (onnxruntime's execution provider), ``input_size`` (width,
    height), ``model_path``, ``n_classes``.
    """

    def __init__(
        self,
        model_path,
        *,
        score_threshold: float = 0.1,
        nms_iou: float = 0.45,
        person_class: int = 0,
        input_size: Sequence[int] | None = None,
        device: str = "auto",
        threads: int = 0,
        size_hint: Sequence[int] | None = None,
    ):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        if not 0 <= score_threshold <= 1 or not 0 <= nms_iou <= 1:
            raise ValueError("need 0 <= score_threshold <= 1 and 0 <= nms_iou <= 1")
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise WeightsError(f"ONNX model {self.model_path} does not exist")
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.person_class = int(person_class)
        self.session, self.provider = open_session(self.model_path, device, threads)
        self._check_interface(input_size, size_hint or (416, 416))
        self._grid, self._strides = anchor_grid(self.input_size)
        if self._n_anchors is not None and self._n_anchors != len(self._grid):
            raise ValueError(
                f"ONNX model {self.model_path}: {self._n_anchors} anchor points, but strides {STRIDES} on a "
                f"{self.input_size[0]}x{self.input_size[1]} input give {len(self._grid)}"
            )

    def _check_interface(self, input_size, size_hint) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        found_in = ", ".join(f"{i.name!r} {i.type} {list(i.shape)}" for i in inputs)
        found_out = ", ".join(f"{o.name!r} {list(o.shape)}" for o in outputs)
        expected = (
            "one float input [N, 3, H, W] and one output [N, anchors, 5 + classes] (a YOLOX export with the raw "
            "head; an mmdeploy end2end export with 'dets' and 'labels' belongs to 'yolox_onnx')"
        )
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        out_shape = list(outputs[0].shape) if len(outputs) == 1 else []
        if (
            len(shape) != 4
            or inputs[0].type != "tensor(float)"
            or static_dim(shape[1]) not in (None, 3)
            or len(out_shape) != 3
            or (static_dim(out_shape[2]) or 6) <= 5
        ):
            raise ValueError(
                f"ONNX model {self.model_path}: expected {expected}; found inputs {found_in}, outputs {found_out}"
            )
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name
        self._n_anchors = static_dim(out_shape[1])
        self.n_classes = (static_dim(out_shape[2]) or 0) - 5 or None
        if self.n_classes is not None and not 0 <= self.person_class < self.n_classes:
            raise ValueError(f"person_class {self.person_class} is not one of the model's {self.n_classes} classes")
        self._static_batch, self.input_size = input_geometry(shape, self.model_path, input_size, size_hint)

    def reset(self) -> None:
        """Nothing to forget between videos (the detector has no state); present for the detector interface."""

    def preprocess(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[float]]:
        """The model input (N, 3, H, W) float32 for RGB uint8 frames, and each frame's ratio ``r``."""
        width, height = self.input_size
        batch = np.empty((len(frames), 3, height, width), np.float32)
        ratios = []
        for i, frame in enumerate(frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}")
            ratios.append(yolox_letterbox(frame, self.input_size, out=batch[i])[1])
        return batch, ratios

    def decode(self, output: np.ndarray, ratio: float, frame_shape) -> np.ndarray:
        """(N, 5) x, y, w, h, score in frame pixels, best first, from one image's raw output (A, 5 + C)."""
        classes = output[:, 5:]
        best = classes.argmax(axis=1)
        scores = output[:, 4] * classes[np.arange(len(classes)), best]
        keep = np.flatnonzero((best == self.person_class) & (scores >= self.score_threshold))
        if keep.size == 0:
            return np.empty((0, 5))
        raw = output[keep].astype(np.float64)
        strides = self._strides[keep]
        centre = (raw[:, :2] + self._grid[keep]) * strides
        size = np.exp(raw[:, 2:4]) * strides
        height, width = frame_shape[:2]
        low = np.clip((centre - size / 2) / ratio, 0, [width, height])
        high = np.clip((centre + size / 2) / ratio, 0, [width, height])
        boxes, scores = np.hstack([low, high]), scores[keep].astype(np.float64)
        valid = np.all(high > low, axis=1) & np.isfinite(boxes).all(axis=1)
        boxes, scores = boxes[valid], scores[valid]
        order = nms(boxes, scores, self.nms_iou)
        boxes, scores = boxes[order], scores[order]
        return np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2], np.clip(scores, 0, 1)]).reshape(-1, 5)

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Person boxes for each frame, in order."""
        frames = list(frames)
        if not frames:
            return []
        batch, ratios = self.preprocess(frames)
        chunk = self._static_batch or len(frames)
        results = []
        for start in range(0, len(frames), chunk):
            part = batch[start : start + chunk]
            if self._static_batch and len(part) < chunk:  # a fixed batch > 1: pad the last chunk
                part = np.concatenate([part, np.zeros((chunk - len(part), *part.shape[1:]), np.float32)])
            (output,) = self.session.run([self._output_name], {self._input_name: part})
            for i in range(min(chunk, len(frames) - start)):
                results.append(self.decode(output[i], ratios[start + i], frames[start + i].shape))
        return results


@DETECTION.register(
    "yolox_raw_onnx",
    version="1.0",
    params={
        "weights": "yolox_nano_coco",
        "model_path": None,
        "score_threshold": 0.1,
        "nms_iou": 0.45,
        "person_class": 0,
        "input_size": None,
        "device": "auto",
        "threads": 0,
    },
    description="YOLOX with the raw head (decoded here; the shipped YOLOX-Nano COCO by default) on onnxruntime: "
    "YOLOX letterbox with 114, BGR, no normalisation; person class, OpenCV NMS; CUDA when available.",
    device="any",
)
def yolox_raw_onnx(weights=None, model_path=None, **params) -> YoloxRawDetector:
    """Build a `YoloxRawDetector` from a manifest entry (``weights``) or an ONNX file (``model_path``)."""
    if model_path:
        return YoloxRawDetector(Path(model_path), **params)
    if not weights:
        raise ValueError("give either weights (a manifest entry name) or model_path")
    path = require_weights(weights)  # raises WeightsError (missing / corrupt) before anything is loaded
    return YoloxRawDetector(path, size_hint=load_manifest()[weights].extra.get("input_size"), **params)
