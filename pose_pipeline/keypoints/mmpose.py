"""Any MMPose 1.x top-down model (config + checkpoint) through its inference API; optional.

mmpose is not installed with pose_pipeline's default or ONNX extras: it needs mmcv 2.x with compiled ops, which for
Python 3.11 and current torch means building mmcv 2.1.0 from source (about 45 minutes; see DESIGN.md section 4).
Building this estimator without mmpose raises an ImportError saying what to install; nothing is imported before.

mmpose works in OpenCV's pixel-centre coordinates: boxes are moved by -0.5 going in and keypoints by +0.5 coming
out, as in `pose_pipeline.keypoints.crop`. mmpose reads BGR images, so frames are flipped before the call; the
model's own test pipeline (and its flip test, if the config enables it) does the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pose_pipeline.skeletons import get_joint_set
from pose_pipeline.stages import TOP_DOWN
from pose_pipeline.weights import note_model_file, require_weights

from .crop import PIXEL_CENTRE, as_boxes, valid_boxes

MMPOSE_INSTALL = (
    "the 'mmpose' top-down method needs MMPose 1.x, which is not installed. Known to work: mmpose==1.3.2 with "
    "mmcv==2.1.0 built from source, mmdet==3.3.0 and mmengine>=0.10 on torch 2.x: "
    "pip install 'setuptools<81' mmengine && pip install --no-build-isolation mmcv==2.1.0 (about 45 minutes) && "
    "pip install mmdet==3.3.0 'pose_pipeline[mmpose]' (mmpose==1.3.2). Without mmpose, use 'rtmpose_onnx', "
    "'rtmw_onnx' or 'heatmap_onnx' (pip install 'pose_pipeline[onnx]')."
)

# mmpose dataset_meta["dataset_name"] -> joint set, for models whose joint set is not given
DATASET_JOINT_SETS = {"coco": "COCO-17", "halpe26": "Halpe-26", "coco_wholebody": "COCO-WholeBody-133"}


def _import_mmpose():
    try:
        import mmpose
        from mmpose.apis import inference_topdown, init_model
    except ImportError as error:
        raise ImportError(MMPOSE_INSTALL) from error
    major = int(str(getattr(mmpose, "__version__", "0")).split(".")[0] or 0)
    if major < 1:
        raise ImportError(f"found mmpose {mmpose.__version__}; {MMPOSE_INSTALL}")
    return init_model, inference_topdown


class MMPoseEstimator:
    """Keypoints from an MMPose 1.x top-down model (``init_model`` + ``inference_topdown``).

    ``estimator(frames, boxes)`` as for every top-down method: one (N_i, J, 3) array per frame, x, y in full-frame
    pixels and confidence clipped to [0, 1]; NaN for boxes that cannot be read.
    """

    def __init__(self, config: str, checkpoint, *, joint_set: str | None = None, device: str = "auto"):
        init_model, inference_topdown = _import_mmpose()
        if device == "auto":
            import torch

            device = "cuda:0" if torch.cuda.is_available() else "cpu"
        self.device = device
        note_model_file(checkpoint)
        note_model_file(config)
        self.model = init_model(str(config), str(checkpoint), device=device)
        self._inference = inference_topdown
        if joint_set is None:
            dataset = (getattr(self.model, "dataset_meta", None) or {}).get("dataset_name")
            if dataset not in DATASET_JOINT_SETS:
                raise ValueError(f"mmpose model of dataset {dataset!r}: give its joint_set")
            joint_set = DATASET_JOINT_SETS[dataset]
        self.joint_set = get_joint_set(joint_set).name
        self.n_joints = len(get_joint_set(joint_set))
        n_model = (getattr(self.model, "dataset_meta", None) or {}).get("num_keypoints")
        if n_model is not None and n_model != self.n_joints:
            raise ValueError(
                f"mmpose model {checkpoint} has {n_model} joints, joint set {self.joint_set!r} has {self.n_joints}"
            )

    def __call__(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Keypoints of the people in ``boxes`` (x, y, w, h), one (N_i, J, 3) array per frame."""
        frames, boxes = list(frames), [as_boxes(b) for b in boxes]
        if len(frames) != len(boxes):
            raise ValueError(f"got {len(frames)} frames but {len(boxes)} box arrays; give one (N, 4) array per frame")
        results = []
        for frame, frame_boxes in zip(frames, boxes):
            out = np.full((len(frame_boxes), self.n_joints, 3), np.nan)
            keep = np.flatnonzero(valid_boxes(frame_boxes))
            if keep.size:
                shifted = frame_boxes[keep].copy()
                shifted[:, :2] -= PIXEL_CENTRE
                samples = self._inference(
                    self.model, np.ascontiguousarray(frame[..., ::-1]), shifted, bbox_format="xywh"
                )
                for n, sample in zip(keep, samples):
                    instances = sample.pred_instances
                    out[n, :, :2] = np.asarray(instances.keypoints, dtype=np.float64)[0] + PIXEL_CENTRE
                    out[n, :, 2] = np.clip(np.asarray(instances.keypoint_scores, dtype=np.float64)[0], 0, 1)
            results.append(out)
        return results


@TOP_DOWN.register(
    "mmpose",
    version="1.0",
    params={"config": None, "weights": None, "checkpoint": None, "joint_set": None, "device": "auto"},
    description="Any MMPose 1.x top-down model (config file + checkpoint) through mmpose's inference API. Needs "
    "mmpose 1.3.2 and mmcv 2.1 built from source.",
    requires=("mmpose",),
    device="any",
)
def mmpose_topdown(config=None, weights=None, checkpoint=None, joint_set=None, device="auto") -> MMPoseEstimator:
    """Build an `MMPoseEstimator`: ``config`` an mmpose config file, the checkpoint from the manifest entry ``weights``
    or the file ``checkpoint``. Raises ImportError (what to install) when mmpose is missing."""
    _import_mmpose()  # first, so a missing mmpose is reported before anything else
    if not config:
        raise ValueError("the 'mmpose' method needs config (an mmpose 1.x config file)")
    if checkpoint:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"mmpose checkpoint {checkpoint} does not exist")
    elif weights:
        checkpoint = require_weights(weights)
    else:
        raise ValueError("the 'mmpose' method needs weights (a manifest entry) or checkpoint (a file)")
    return MMPoseEstimator(config, checkpoint, joint_set=joint_set, device=device)
