"""BlazePose (MediaPipe's full landmark model) as a top-down 2D method, from the pipeline's person boxes.

The model (``3rdparty/blazepose/pose_landmark_full.onnx``, converted from the TFLite file of the mediapipe 0.10.21
wheel by ``scripts/blazepose_weights.py``) reads one 256x256 RGB crop scaled to [0, 1] (ONNX input ``input_1``
[1, 3, 256, 256]) and returns, among others, ``Identity`` [1, 195]: 39 landmarks x (x, y, z, visibility,
presence), x and y in crop pixels, the first 33 the BlazePose landmarks (the last 6 are MediaPipe's auxiliary ROI
points); ``Identity_1`` [1, 1] the pose flag (probability that a pose is in the crop); ``Identity_4`` [1, 117]
world landmarks 39 x 3 in metres, origin between the hips.

Region of interest, after MediaPipe's pose graph (``pose_detection_to_roi``: ``RectTransformationCalculator`` with
``scale_x = scale_y = 1.25`` and ``square_long: true``; ``ImageToTensorCalculator`` to 256x256, range 0-1): a
square around the box's centre, its side the box's longer side times ``padding`` (1.25). MediaPipe derives its
first ROI from its own detector's keypoints and rotates it so the body is upright; here the pipeline's boxes take
the detector's place and the crop is not rotated (people stand upright in the videos this is for). Pixels outside
the frame are black.

Decoding, as MediaPipe's ``TensorsToLandmarksCalculator`` and ``LandmarkProjectionCalculator``: a landmark at crop
pixel (u, v) (continuous coordinates, 0 at the crop's left edge) is at ``corner + (u, v) * side / 256`` in the
frame (this pipeline's convention: 0 at the top-left pixel's corner); its confidence is ``sigmoid(visibility)``
(MediaPipe's ``visibility``: in the image and not occluded). A landmark placed outside the frame is NaN (the
model's confidence there is not reliable: on the Sports2D clip cut through the shins, an ankle placed below the edge had 0.59). A crop
whose pose flag is below ``min_pose_score`` (MediaPipe drops those poses at 0.5) gives NaN for that person.

A person cut by the frame's edge: the box covers only the visible part, so the crop is centred on it and the model
may place the hidden joints inside the frame, near the cut (measured on the Sports2D clip with the frame cut at
mid-thigh: a knee at the cut with confidence 0.99). Joints placed beyond the cut are NaN; those left above it are
not recognisable as wrong. MediaPipe avoids this with its own detector, whose keypoints extend the region beyond
the frame.

``joint_set="COCO-17"`` returns the 17 joints BlazePose shares with COCO (`pose_pipeline.skeletons.
BLAZEPOSE_TO_COCO17`), so the results feed the face blur, the accuracy tables and comparisons with other methods.
`BlazePoseEstimator.predict` also returns the world landmarks (metric, hip-centred) and the pose flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pose_pipeline.onnx_session import open_session
from pose_pipeline.skeletons import BLAZEPOSE33, BLAZEPOSE_TO_COCO17, COCO17
from pose_pipeline.stages import TOP_DOWN
from pose_pipeline.weights import WeightsError, require_weights

from .crop import estimator_inputs, valid_boxes

WEIGHTS = "blazepose_full"
INPUT_SIZE = 256
N_LANDMARKS = 33  # the model outputs 39; the last 6 are MediaPipe's auxiliary ROI points
PADDING = 1.25  # MediaPipe's RectTransformationCalculator scale for the pose ROI
LANDMARKS, POSE_FLAG, WORLD = "Identity", "Identity_1", "Identity_4"
JOINT_SETS = {BLAZEPOSE33.name: None, COCO17.name: np.array(BLAZEPOSE_TO_COCO17)}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def roi_squares(boxes: np.ndarray, padding: float = PADDING) -> np.ndarray:
    """Square regions (N, 3): left, top (pipeline convention) and side, around x, y, w, h boxes (N, 4)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = boxes[:, 2:].max(axis=1) * padding
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    return np.column_stack([centre - side[:, None] / 2, side])


def crop_matrix(square: Sequence[float], size: int = INPUT_SIZE) -> np.ndarray:
    """The 2x3 affine map ``cv2.warpAffine`` needs (OpenCV's pixel-centre convention on both sides) for a square
    (left, top, side in the pipeline's corner convention) sampled to ``size`` x ``size``."""
    left, top, side = square
    k = size / side
    # crop corner coordinate u = k (x - left); OpenCV's coordinates are both shifted by -0.5
    return np.array([[k, 0.0, k * (0.5 - left) - 0.5], [0.0, k, k * (0.5 - top) - 0.5]])


def inside_frame(points: np.ndarray, shape) -> np.ndarray:
    """Mask of points (..., 2) inside a frame of ``shape`` (H, W, ...), edges included (pipeline convention)."""
    height, width = shape[:2]
    x, y = points[..., 0], points[..., 1]
    return (x >= 0) & (x <= width) & (y >= 0) & (y <= height)


class BlazePoseEstimator:
    """BlazePose's landmark model on onnxruntime as a pipeline estimator (see the module docstring).

    ``estimator(frames, boxes)``: RGB uint8 frames and one (N_i, 4) x, y, w, h array per frame; returns one
    (N_i, J, 3) array per frame (x, y full-frame pixels, confidence in [0, 1]; NaN for a box that cannot be read or
    a crop without a pose). ``joint_set`` is ``"BlazePose-33"`` or ``"COCO-17"``.
    """

    def __init__(
        self,
        model_path,
        *,
        joint_set: str = BLAZEPOSE33.name,
        padding: float = PADDING,
        min_pose_score: float = 0.5,
        device: str = "auto",
        threads: int = 0,
    ):
        if joint_set not in JOINT_SETS:
            raise ValueError(f"blazepose: joint_set must be one of {sorted(JOINT_SETS)}, got {joint_set!r}")
        if padding <= 0 or not 0 <= min_pose_score <= 1:
            raise ValueError("blazepose: need padding > 0 and min_pose_score in [0, 1]")
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise WeightsError(f"BlazePose model {self.model_path} does not exist")
        self.joint_set = joint_set
        self._joints = JOINT_SETS[joint_set]
        self.padding = float(padding)
        self.min_pose_score = float(min_pose_score)
        self.session, self.provider = open_session(self.model_path, device, threads)
        inputs = self.session.get_inputs()
        outputs = {o.name for o in self.session.get_outputs()}
        if (
            len(inputs) != 1
            or list(inputs[0].shape) != [1, 3, INPUT_SIZE, INPUT_SIZE]
            or not {
                LANDMARKS,
                POSE_FLAG,
                WORLD,
            }
            <= outputs
        ):
            raise ValueError(
                f"{self.model_path} is not BlazePose's landmark model: expected input [1, 3, 256, 256] and outputs "
                f"{LANDMARKS}, {POSE_FLAG}, {WORLD}; found {[(i.name, i.shape) for i in inputs]}, {sorted(outputs)}"
            )
        self._input_name = inputs[0].name
        self._outputs = [LANDMARKS, POSE_FLAG, WORLD]

    def crop(self, frame: np.ndarray, square: Sequence[float]) -> np.ndarray:
        """The model's view of one square region: RGB uint8 (256, 256, 3), black outside the frame."""
        return cv2.warpAffine(
            frame, crop_matrix(square), (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )

    def run_crop(self, crop: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """The raw model on one uint8 crop: landmarks (39, 5) in crop pixels, pose flag, world landmarks (39, 3)."""
        batch = (crop.astype(np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)[None]
        landmarks, flag, world = self.session.run(self._outputs, {self._input_name: batch})
        return landmarks.reshape(-1, 5), float(flag.reshape(-1)[0]), world.reshape(-1, 3)

    def predict(self, frame: np.ndarray, boxes) -> dict[str, np.ndarray]:
        """All the model says about the people in ``boxes`` (N, 4) of one frame, in BlazePose-33 order.

        ``keypoints`` (N, 33, 3): x, y frame pixels, sigmoid(visibility) (NaN outside the frame); ``presence`` (N, 33): sigmoid(presence);
        ``world`` (N, 33, 3): metres, origin between the hips, x right, y down, z away from the camera (MediaPipe's
        world landmarks); ``pose_score`` (N,): the pose flag. NaN for unreadable boxes and for poses under
        ``min_pose_score`` (their ``pose_score`` is kept).
        """
        [frame], [boxes] = estimator_inputs([frame], [boxes])
        n = len(boxes)
        out = {
            "keypoints": np.full((n, N_LANDMARKS, 3), np.nan),
            "presence": np.full((n, N_LANDMARKS), np.nan),
            "world": np.full((n, N_LANDMARKS, 3), np.nan),
            "pose_score": np.full(n, np.nan),
        }
        valid = valid_boxes(boxes)
        for i, square in zip(np.flatnonzero(valid), roi_squares(boxes[valid], self.padding)):
            landmarks, flag, world = self.run_crop(self.crop(frame, square))
            out["pose_score"][i] = flag
            if flag < self.min_pose_score:
                continue
            landmarks = landmarks[:N_LANDMARKS]
            out["keypoints"][i, :, :2] = square[:2] + landmarks[:, :2] * (square[2] / INPUT_SIZE)
            out["keypoints"][i, :, 2] = sigmoid(landmarks[:, 3])
            outside = ~inside_frame(out["keypoints"][i, :, :2], frame.shape)
            out["keypoints"][i, outside] = np.nan
            out["presence"][i] = sigmoid(landmarks[:, 4])
            out["world"][i] = world[:N_LANDMARKS]
        return out

    def __call__(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Keypoints of the people in ``boxes``, one (N_i, J, 3) array per frame, in ``joint_set`` order."""
        frames, boxes = estimator_inputs(frames, boxes)
        results = []
        for frame, frame_boxes in zip(frames, boxes):
            keypoints = self.predict(frame, frame_boxes)["keypoints"]
            results.append(keypoints if self._joints is None else keypoints[:, self._joints])
        return results


@TOP_DOWN.register(
    "blazepose",
    version="1.0",
    params={
        "joint_set": BLAZEPOSE33.name,
        "padding": PADDING,
        "min_pose_score": 0.5,
        "model_path": None,
        "device": "auto",
        "threads": 0,
    },
    description="BlazePose GHUM full landmark model (MediaPipe 0.10.21, converted to ONNX; shipped) on onnxruntime, "
    "top-down from the pipeline's boxes: square crop of the box's long side x 1.25, no rotation, confidence = "
    "sigmoid(visibility). joint_set 'BlazePose-33' or 'COCO-17' (the 17 shared joints).",
    device="any",
)
def blazepose(model_path=None, **params) -> BlazePoseEstimator:
    """Build a `BlazePoseEstimator` on the shipped, checksum-verified model (or ``model_path``)."""
    path = Path(model_path) if model_path else require_weights(WEIGHTS)
    return BlazePoseEstimator(path, **params)
