"""BlazePose's world landmarks as a lifting method: metric 3D straight from the image, not from 2D keypoints.

BlazePose's landmark model returns, beside its image landmarks, 33 "world" landmarks in metres with the origin
between the hips (x right, y down, z away from the camera: MediaPipe's convention, the model's own estimate of a
person's size, not a calibrated measurement). This lifter runs the shipped model on each frame's subject box
(`pose_pipeline.keypoints.blazepose`), keeps the 17 joints BlazePose shares with COCO and converts them to
Human3.6M-17 by the standard mapping, so its rows compare with every other lifter's. Unlike the 2D-to-3D lifters it
needs the frames: ``lift_video(frames, boxes)``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from pose_pipeline.keypoints.blazepose import BlazePoseEstimator
from pose_pipeline.skeletons import BLAZEPOSE_TO_COCO17, COCO17, H36M17

from .joints import STANDARD, to_h36m
from .onnx_lifter import LiftedPose

# fits the row's varchar(64); the module docstring and the method's description say the rest
FRAME = "BlazePose world: hip-centred, x right, y down, z away (model's)"
assert len(FRAME) <= 64
COMPLETE, MISSING = 0, 2


class BlazePoseWorldLifter:
    """``lift_video(frames, boxes)``: RGB frames and the subject's (frames, 4) x, y, w, h boxes (NaN where absent)
    in, `LiftedPose` (H36M-17, metres, hip-centred) out; NaN and status MISSING where there is no box or no pose."""

    needs_video = True

    def __init__(self, estimator: BlazePoseEstimator):
        self.estimator = estimator

    def __call__(self, keypoints, joint_set, image_size):
        raise TypeError("blazepose_world lifts from the video frames, not from 2D keypoints: call lift_video()")

    def lift_video(self, frames: Iterable[np.ndarray], boxes: np.ndarray) -> LiftedPose:
        boxes = np.asarray(boxes, dtype=float)
        world = np.full((len(boxes), len(COCO17), 3), np.nan)
        for index, frame in zip(range(len(boxes)), frames, strict=False):
            if np.isfinite(boxes[index]).all():
                world[index] = self.estimator.predict(frame, boxes[index][None])["world"][0, list(BLAZEPOSE_TO_COCO17)]
        points, conversion = to_h36m(world, COCO17.name, STANDARD)
        points -= points[:, H36M17.index("root")][:, None]  # the model's origin is near, not at, the mid-hip root
        status = np.where(np.isfinite(points).all(axis=(1, 2)), COMPLETE, MISSING).astype(np.int8)
        return LiftedPose(points, H36M17.name, root_joint="root", input_joint_set="BlazePose-33",
                          conversion=conversion, frame_status=status, units="m", frame=FRAME)  # fmt: skip
