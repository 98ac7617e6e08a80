"""Any MMDetection 3.x detector (config + checkpoint) as a pipeline person detector; optional.

mmdet is not a dependency of any pose_pipeline extra: it needs mmcv 2.x with compiled ops, which for Python 3.11
and current torch means building mmcv 2.1.0 from source (about 45 minutes; see DESIGN.md section 4). Building
this detector without mmdet installed raises an ImportError saying what to install; nothing is imported before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pose_pipeline.stages import DETECTION
from pose_pipeline.weights import note_model_file, require_weights

MMDET_INSTALL = (
    "the 'mmdet' detector needs MMDetection 3.x, which is not installed (no pose_pipeline extra provides it). "
    "Known to work: mmdet==3.3.0 with mmcv==2.1.0 built from source and mmengine>=0.10 on torch 2.x: "
    "pip install 'setuptools<81' mmengine && pip install --no-build-isolation mmcv==2.1.0 (about 45 minutes) && "
    "pip install mmdet==3.3.0; the 'mmpose' extra (pip install 'pose_pipeline[mmpose]', mmpose==1.3.2) needs the "
    "same mmcv. Without mmdet, use the 'yolox_onnx' or 'rtmdet_onnx' detectors (pip install 'pose_pipeline[onnx]')."
)


def _import_mmdet():
    try:
        import mmdet
        from mmdet.apis import inference_detector, init_detector
    except ImportError as error:
        raise ImportError(MMDET_INSTALL) from error
    major = int(str(getattr(mmdet, "__version__", "0")).split(".")[0] or 0)
    if major < 3:
        raise ImportError(f"found mmdet {mmdet.__version__}; {MMDET_INSTALL}")
    return init_detector, inference_detector


class MMDetDetector:
    """Person boxes from an MMDetection 3.x model (``init_detector`` + ``inference_detector``).

    ``detector(frames)`` takes RGB uint8 frames and returns one (N, 5) array per frame: x, y, w, h in frame pixels
    and score, best first; boxes of class ``person_class`` (0 = person in COCO-trained models) only.
    """

    def __init__(
        self,
        config: str,
        checkpoint,
        *,
        score_threshold: float = 0.3,
        person_class: int = 0,
        device: str = "auto",
        batch_size: int = 8,
    ):
        init_detector, inference_detector = _import_mmdet()
        if device == "auto":
            import torch

            device = "cuda:0" if torch.cuda.is_available() else "cpu"
        self.device = device
        note_model_file(checkpoint)
        note_model_file(config)
        self.model = init_detector(str(config), str(checkpoint), device=device)
        self._inference = inference_detector
        self.score_threshold = float(score_threshold)
        self.person_class = int(person_class)
        self.batch_size = int(batch_size)

    def reset(self) -> None:
        """Nothing to forget between videos; present for the detector interface."""

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Person boxes for each frame, in order."""
        frames = list(frames)
        results = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            samples = self._inference(self.model, [np.ascontiguousarray(f[..., ::-1]) for f in chunk])  # mmdet: BGR
            for frame, sample in zip(chunk, samples):
                instances = sample.pred_instances
                boxes = instances.bboxes.detach().cpu().numpy().astype(np.float64).reshape(-1, 4)
                scores = instances.scores.detach().cpu().numpy().astype(np.float64).reshape(-1)
                labels = instances.labels.detach().cpu().numpy().reshape(-1)
                results.append(self._to_boxes(boxes, scores, labels, frame.shape))
        return results

    def _to_boxes(self, boxes, scores, labels, frame_shape) -> np.ndarray:
        keep = (labels == self.person_class) & (scores >= self.score_threshold)
        boxes, scores = boxes[keep], scores[keep]
        height, width = frame_shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[valid], scores[valid]
        order = np.argsort(-scores, kind="stable")
        boxes, scores = boxes[order], np.clip(scores[order], 0, 1)
        return np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2], scores]).reshape(-1, 5)


@DETECTION.register(
    "mmdet",
    version="1.0",
    params={
        "config": None,
        "weights": None,
        "checkpoint": None,
        "score_threshold": 0.3,
        "person_class": 0,
        "device": "auto",
        "batch_size": 8,
    },
    description="Any MMDetection 3.x detector (config file + checkpoint, e.g. RTMDet or Faster R-CNN trained on "
    "COCO), person class only. Needs mmdet 3.x and mmcv 2.1 built from source.",
    requires=("mmdet",),
    device="any",
)
def mmdet_detector(config=None, weights=None, checkpoint=None, **params) -> MMDetDetector:
    """Build an `MMDetDetector`: ``config`` an mmdet config file, the checkpoint from the manifest entry
    ``weights`` or the file ``checkpoint``. Raises ImportError (what to install) when mmdet is missing."""
    _import_mmdet()  # first, so a missing mmdet is reported before anything else
    if not config:
        raise ValueError("the 'mmdet' detector needs config (an mmdet 3.x config file)")
    if checkpoint:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"mmdet checkpoint {checkpoint} does not exist")
    elif weights:
        checkpoint = require_weights(weights)
    else:
        raise ValueError("the 'mmdet' detector needs weights (a manifest entry) or checkpoint (a file)")
    return MMDetDetector(config, checkpoint, **params)
