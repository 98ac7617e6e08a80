"""Predict with a DeepLabCut snapshot and score it on labelled frames.

A `SnapshotPredictor` loads a model once (DeepLabCut's own pose inference runner: its preprocessing, model and
heatmap decoding) and is reused for every metric: errors, PCK and OKS mAP on the train and test frames,
occlusion robustness and the speed benchmark. Metrics come from `pose_pipeline.keypoints.metrics`, the same code
that scores the 2D stage: mean Euclidean error (what DeepLabCut calls "rmse") and the true root mean square, with
and without a p-cutoff, PCK at k pixels, and COCO OKS mAP by pycocotools with per-bodypart sigmas.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..keypoints.metrics import keypoint_accuracy, keypoint_errors
from .engine import require_deeplabcut, resolve_device
from .project import LabelledFrames

SPLITS = ("train", "test")


class SnapshotPredictor:
    """One DeepLabCut snapshot, loaded once: ``predictor.predict(images)`` -> (N, J, 3) x, y, likelihood.

    ``pytorch_config`` is the model's ``pytorch_config.yaml`` (a dict or its path). Coordinates are pixels of the
    given images with DeepLabCut's convention (the top-left pixel's centre at 0, 0).
    """

    def __init__(self, pytorch_config, snapshot_path, *, device: str = "auto", batch_size: int = 8):
        require_deeplabcut()
        from deeplabcut.pose_estimation_pytorch.apis.utils import get_pose_inference_runner
        from deeplabcut.pose_estimation_pytorch.config import PoseConfig

        cfg = PoseConfig.from_any(pytorch_config)
        if "bottom" not in str(cfg["method"]).lower() and str(cfg["method"]).lower() != "bu":
            raise ValueError(f"{snapshot_path}: only bottom-up single-animal models are supported, not {cfg['method']}")
        self.bodyparts = tuple(cfg["metadata"]["bodyparts"])
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.runner = get_pose_inference_runner(cfg, snapshot_path, batch_size=self.batch_size, device=self.device,
                                                max_individuals=1)  # fmt: skip

    def predict(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """(N, J, 3) predictions for RGB uint8 images (any iterable; consumed in batches, never all at once).

        Images may differ in size (a project labelled on videos of several resolutions): DeepLabCut's runner stacks
        a batch into one tensor, so each run of consecutive equal-size images goes through it on its own.
        """
        results = []
        for run in equal_size_runs(images):
            results += self.runner.inference(run)
        if not results:
            return np.zeros((0, len(self.bodyparts), 3))
        return np.stack([np.asarray(r["bodyparts"], dtype=float)[0, :, :3] for r in results])


def equal_size_runs(images: Iterable[np.ndarray]) -> Iterator[Iterator[np.ndarray]]:
    """Consecutive images of equal shape, as lazy iterators: one for a project whose images share a size. Each run
    must be consumed before the next is asked for."""
    source = iter(images)
    pending = next(source, None)
    while pending is not None:

        def run(shape=pending.shape):
            nonlocal pending
            while pending is not None and pending.shape == shape:
                image, pending = pending, next(source, None)
                yield image

        yield run()


def evaluate_predictions(
    predictions: np.ndarray,
    frames: LabelledFrames,
    splits: dict[str, Sequence[int]],
    *,
    pcutoff: float = 0.6,
    pck_pixels: float = 5.0,
    sigmas=None,
) -> dict[str, dict]:
    """`keypoint_accuracy` of ``predictions`` (one per frame, in frame order) on each split's frames.

    OKS areas are the labelled keypoints' extent (as DeepLabCut computes them); ``sigmas`` are per bodypart
    (DeepLabCut's 0.1 for each when None).
    """
    results = {}
    for split, indices in splits.items():
        indices = np.asarray(indices, dtype=int)
        visibility = None if frames.visibility is None else frames.visibility[indices]
        results[split] = keypoint_accuracy(
            predictions[indices], frames.keypoints[indices], visibility, sigmas=sigmas, pck_pixels=pck_pixels,
            pcutoff=pcutoff,
        )  # fmt: skip
    return results


def occluded_vs_visible(predictions: np.ndarray, frames: LabelledFrames, indices: Sequence[int]) -> dict:
    """Mean errors on keypoints the labels mark occluded (visibility 1) and visible (2), where known."""
    out = {}
    indices = np.asarray(indices, dtype=int)
    for name, flag in (("occluded", 1), ("visible", 2)):
        if frames.visibility is None:
            out[f"mean_error_{name}"], out[f"n_{name}"] = np.nan, 0
            continue
        errors = keypoint_errors(predictions[indices], frames.keypoints[indices], frames.visibility[indices] == flag)
        out[f"mean_error_{name}"], out[f"n_{name}"] = errors["mean_error"], errors["n_errors"]
    return out
