"""Top-down crops as mmpose 1.x makes them: box to centre and scale, aspect-ratio padding, affine warp, and back.

mmpose's test pipeline for a top-down model (``GetBBoxCenterScale``, ``TopdownAffine``; mmpose
``mmpose/structures/bbox/transforms.py`` and ``mmpose/datasets/transforms/topdown_transforms.py``):

1. box x1, y1, x2, y2 (``x2 = x + w``) to centre ``((x1 + x2) / 2, (y1 + y2) / 2)`` and scale ``(w, h) * 1.25``;
2. fix the scale's aspect ratio to the model input's ``W / H`` by enlarging the short side
   (``_fix_aspect_ratio``: if ``w > h * W / H`` then ``h = w * H / W`` else ``w = h * W / H``);
3. warp with ``cv2.warpAffine(..., flags=cv2.INTER_LINEAR)`` (constant border, 0) to ``W x H``. The matrix of
   ``get_warp_matrix`` (rotation 0) is a uniform scaling ``k = W / w`` that sends the centre to ``(W / 2, H / 2)``;
   with ``use_udp=True`` (UDP, e.g. ViTPose) ``get_udp_warp_matrix`` scales by ``(W - 1) / w`` and ``(H - 1) / h``
   and sends the scaled box's left and right edges to input pixels ``0`` and ``W - 1``;
4. keypoints found in the input go back with the inverse of that affine map (mmpose
   ``TopdownPoseEstimator.add_pred_to_datasample``: ``p / input_size * scale + centre - scale / 2``; for UDP the
   decoder's ``(W_hm - 1)``/``(W - 1)`` factors make it the inverse of the UDP matrix).

Pixel convention: mmpose and OpenCV put pixel ``i``'s centre at coordinate ``i``; this pipeline puts the origin at
the top-left corner of the top-left pixel (`pose_pipeline.formats`), so pixel ``i``'s centre is ``i + 0.5``. Boxes
are moved by ``-0.5`` on the way in and keypoints by ``+0.5`` on the way out (`Crop.to_frame`): a joint drawn
centred on pixel ``(i, j)`` comes back as ``(i + 0.5, j + 0.5)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

PADDING = 1.25  # mmpose GetBBoxCenterScale's default; rtmlib uses the same
PIXEL_CENTRE = 0.5  # pipeline coordinate of pixel 0's centre; OpenCV/mmpose put it at 0


def box_center_scale(boxes: np.ndarray, padding: float = PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Centres (N, 2) and scales (N, 2) of x, y, w, h boxes (N, 4), in OpenCV's pixel-centre coordinates.

    The scale is the box size times ``padding`` (mmpose ``bbox_xyxy2cs``), not yet fixed to an aspect ratio.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    center = boxes[:, :2] + boxes[:, 2:] / 2 - PIXEL_CENTRE
    return center, boxes[:, 2:] * padding


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Enlarge the short side of each (w, h) in ``scale`` (N, 2) so that w / h = ``aspect_ratio`` (mmpose's rule)."""
    scale = np.asarray(scale, dtype=np.float64).reshape(-1, 2)
    w, h = scale[:, :1], scale[:, 1:]
    return np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]), np.hstack([h * aspect_ratio, h]))


def warp_matrix(center: Sequence[float], scale: Sequence[float], input_size: Sequence[int], udp: bool = False):
    """The 2x3 affine map from frame to model-input pixels (both OpenCV convention) for one crop.

    ``input_size`` is (W, H). Equals mmpose's ``get_warp_matrix`` (``udp=False``; computed there through
    ``cv2.getAffineTransform`` of three float32 points, here in closed form in float64) or ``get_udp_warp_matrix``
    (``udp=True``), both at rotation 0.
    """
    (cx, cy), (sw, sh), (width, height) = center, scale, input_size
    if udp:
        kx, ky = (width - 1) / sw, (height - 1) / sh
        return np.array([[kx, 0.0, kx * (sw / 2 - cx)], [0.0, ky, ky * (sh / 2 - cy)]])
    k = width / sw
    return np.array([[k, 0.0, width / 2 - k * cx], [0.0, k, height / 2 - k * cy]])


@dataclass(frozen=True)
class Crop:
    """One person's crop: its centre and (aspect-fixed) scale in OpenCV coordinates, and the frame-to-input map."""

    center: np.ndarray  # (2,)
    scale: np.ndarray  # (2,) w, h after padding and aspect-ratio fixing
    matrix: np.ndarray  # (2, 3) frame -> model input

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Model-input pixel coordinates (..., 2) to full-frame coordinates in the pipeline's convention."""
        inverse = cv2.invertAffineTransform(self.matrix)
        points = np.asarray(points, dtype=np.float64)
        return points @ inverse[:, :2].T + inverse[:, 2] + PIXEL_CENTRE


def as_boxes(boxes) -> np.ndarray:
    """One frame's boxes as an (N, 4) float array (``[]`` and (0, 4) arrays: no people; one (4,) box: N = 1)."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 4))
    if array.ndim == 1 and array.shape[0] == 4:
        return array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) arrays of x, y, w, h, got shape {array.shape}")
    return array


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Mask of boxes (N, 4) that can be read: finite, with positive width and height."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def make_crops(boxes: np.ndarray, input_size: Sequence[int], padding: float = PADDING, udp: bool = False) -> list[Crop]:
    """The crops of valid x, y, w, h ``boxes`` (N, 4) for a model input of ``input_size`` (W, H)."""
    width, height = input_size
    center, scale = box_center_scale(boxes, padding)
    scale = fix_aspect_ratio(scale, width / height)
    return [Crop(c, s, warp_matrix(c, s, input_size, udp)) for c, s in zip(center, scale)]


def warp(frame: np.ndarray, crop: Crop, input_size: Sequence[int]) -> np.ndarray:
    """The crop of ``frame`` (H, W, C) as the model input (input H x W x C, same dtype): bilinear, black outside."""
    width, height = input_size
    return cv2.warpAffine(
        frame, crop.matrix, (int(width), int(height)), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def estimator_inputs(frames, boxes) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The frames and per-frame (N, 4) box arrays of a top-down estimator call, checked."""
    frames = list(frames)
    boxes = [as_boxes(b) for b in boxes]
    if len(frames) != len(boxes):
        raise ValueError(f"got {len(frames)} frames but {len(boxes)} box arrays; give one (N, 4) array per frame")
    for frame in frames:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}")
    return frames, boxes
