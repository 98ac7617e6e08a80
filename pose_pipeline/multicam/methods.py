"""The registered triangulation methods (`pose_pipeline.stages.TRIANGULATION`).

Each factory returns a triangulator: ``triangulator(cameras, keypoints, joint_set) -> WorldKeypoints3D`` with
``keypoints`` (cameras, frames, joints, 3): x, y in each camera's full-frame pixels and a confidence; 2D points
with a confidence below ``min_confidence`` are not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..formats import WorldKeypoints3D
from ..stages import TRIANGULATION
from .calibration import CameraSet, to_aniposelib
from .triangulate import Triangulation, reprojection_errors, triangulate_dlt, triangulate_frames, triangulate_robust


def _confident(keypoints: np.ndarray, min_confidence: float) -> np.ndarray:
    keypoints = np.array(keypoints, dtype=float)
    low = ~(keypoints[..., 2] >= min_confidence) | ~(keypoints[..., 2] > 0)
    keypoints[low] = np.nan
    return keypoints


def _contract(result: Triangulation, joint_set: str, cameras: CameraSet) -> WorldKeypoints3D:
    return WorldKeypoints3D(
        keypoints=result.points.astype(float),
        reprojection_error=result.reprojection_error.astype(float),
        cameras_used=np.moveaxis(result.cameras_used, 0, -1).astype(bool),
        joint_set=joint_set,
        camera_names=tuple(cameras.names),
    )


@dataclass
class Triangulator:
    function: Any
    min_confidence: float
    options: dict

    def __call__(self, cameras: CameraSet, keypoints: np.ndarray, joint_set: str) -> WorldKeypoints3D:
        keypoints = _confident(keypoints, self.min_confidence)
        return _contract(triangulate_frames(self.function, cameras, keypoints, **self.options), joint_set, cameras)


@TRIANGULATION.register("dlt", version="1.0", params={"min_confidence": 0.0})
def dlt(min_confidence: float) -> Triangulator:
    """Confidence-weighted DLT over every camera that sees a joint (no outlier rejection)."""
    return Triangulator(triangulate_dlt, float(min_confidence), {})


@TRIANGULATION.register("dlt_ransac", version="1.0",
                        params={"min_confidence": 0.0, "threshold_px": 15.0, "min_cameras": 2})  # fmt: skip
def dlt_ransac(min_confidence: float, threshold_px: float, min_cameras: int) -> Triangulator:
    """Confidence-weighted DLT with RANSAC over camera pairs: cameras reprojecting further than ``threshold_px``
    from the consensus are left out (`pose_pipeline.multicam.triangulate.triangulate_robust`)."""
    return Triangulator(triangulate_robust, float(min_confidence),
                        {"threshold": float(threshold_px), "min_cameras": int(min_cameras)})  # fmt: skip


@dataclass
class AniposeOptimiser:
    min_confidence: float
    threshold_px: float
    options: dict

    def __call__(self, cameras: CameraSet, keypoints: np.ndarray, joint_set: str) -> WorldKeypoints3D:
        from ..skeletons import get_joint_set

        keypoints = _confident(keypoints, self.min_confidence)
        initial = triangulate_frames(triangulate_robust, cameras, keypoints, threshold=self.threshold_px)
        points = initial.points.copy()
        n_cams, n_frames, n_joints, _ = keypoints.shape
        seen = np.isfinite(points).all(axis=-1).any(axis=0)  # joints triangulated in some frame
        if seen.sum() >= 2 and n_frames >= 2:
            joints = np.flatnonzero(seen)
            remap = {int(j): i for i, j in enumerate(joints)}
            bones = get_joint_set(joint_set).bones if self.options["bones"] else ()
            constraints = [[remap[a], remap[b]] for a, b in bones if a in remap and b in remap]
            scores = np.nan_to_num(keypoints[:, :, joints, 2])
            optimised = to_aniposelib(cameras).optim_points(
                keypoints[:, :, joints, :2], points[:, joints], constraints=constraints, scores=scores,
                scale_smooth=self.options["scale_smooth"], scale_length=self.options["scale_length"],
                reproj_error_threshold=self.threshold_px, n_deriv_smooth=self.options["n_deriv_smooth"],
            )  # fmt: skip
            points[:, joints] = optimised
        flat_pixels = keypoints[..., :2].reshape(n_cams, -1, 2)
        errors = reprojection_errors(cameras, points.reshape(-1, 3), flat_pixels)
        used = np.isfinite(flat_pixels).all(axis=-1) & (errors <= self.threshold_px)
        flat_points = points.reshape(-1, 3)
        flat_points[used.sum(axis=0) < 2] = np.nan  # smoothing fills unseen points; only seen ones are reported
        with np.errstate(invalid="ignore"):
            mean = np.where(used, np.nan_to_num(errors), 0.0).sum(axis=0) / used.sum(axis=0)
        mean[~np.isfinite(flat_points).all(axis=-1)] = np.nan
        result = Triangulation(flat_points.reshape(n_frames, n_joints, 3), mean.reshape(n_frames, n_joints),
                               used.reshape(n_cams, n_frames, n_joints))  # fmt: skip
        return _contract(result, joint_set, cameras)


@TRIANGULATION.register(
    "anipose_optim",
    version="1.0",
    requires=("multicam",),
    params={"min_confidence": 0.0, "threshold_px": 15.0, "scale_smooth": 4.0, "scale_length": 2.0,
            "n_deriv_smooth": 2, "bones": True},
)  # fmt: skip
def anipose_optim(min_confidence, threshold_px, scale_smooth, scale_length, n_deriv_smooth, bones) -> AniposeOptimiser:
    """Anipose's spatiotemporal filter: aniposelib's ``CameraGroup.optim_points`` (reprojection with a soft-L1 loss
    at ``threshold_px``, temporal smoothness, constant lengths of the joint set's bones when ``bones``), started
    from ``dlt_ransac``. Points seen by fewer than two cameras within ``threshold_px`` are left NaN.
    ``n_deriv_smooth`` 2 (aniposelib's default is 1) penalises acceleration rather than velocity: with 1, a
    40-frame synthetic walk had both ends pulled 8-9 cm towards its middle (median error 25 mm against 13 mm)."""
    return AniposeOptimiser(float(min_confidence), float(threshold_px),
                            {"scale_smooth": float(scale_smooth), "scale_length": float(scale_length),
                             "n_deriv_smooth": int(n_deriv_smooth), "bones": bool(bones)})  # fmt: skip
