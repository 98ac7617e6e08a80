"""Drawing on frames for overlay videos: boxes with track ids, and privacy blurring."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

# Until face keypoints exist (2D keypoint stage), overlays blur this top share of every person box: the head.
HEAD_FRACTION = 0.22


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-separated RGB colour per track id (golden-ratio hues)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def blur_regions(frame: np.ndarray, boxes: np.ndarray, kernel_fraction: float = 0.5) -> np.ndarray:
    """Blur each x, y, w, h region of ``frame`` in place (Gaussian, kernel half the region's size)."""
    height, width = frame.shape[:2]
    for x, y, w, h in np.asarray(boxes, dtype=float).reshape(-1, 4):
        if not np.all(np.isfinite([x, y, w, h])):
            continue
        x0, y0 = max(int(np.floor(x)), 0), max(int(np.floor(y)), 0)
        x1, y1 = min(int(np.ceil(x + w)), width), min(int(np.ceil(y + h)), height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        size = max(3, int(kernel_fraction * max(x1 - x0, y1 - y0)) | 1)
        frame[y0:y1, x0:x1] = cv2.GaussianBlur(frame[y0:y1, x0:x1], (size, size), 0)
    return frame


def head_regions(boxes: np.ndarray) -> np.ndarray:
    """The head part of person boxes (top ``HEAD_FRACTION``, widened by 10 percent each side)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    heads = boxes.copy()
    heads[:, 0] -= 0.1 * boxes[:, 2]
    heads[:, 2] *= 1.2
    heads[:, 3] = HEAD_FRACTION * boxes[:, 3]
    return heads


def draw_boxes(frame: np.ndarray, boxes: np.ndarray, track_ids=None, thickness: int = 2) -> np.ndarray:
    """Draw x, y, w, h boxes in place, each in its track's colour and labelled with its id."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    ids = [None] * len(boxes) if track_ids is None else list(track_ids)
    for (x, y, w, h), track_id in zip(boxes, ids):
        if not np.all(np.isfinite([x, y, w, h])):
            continue
        color = track_color(track_id or 0)
        top_left, bottom_right = (round(x), round(y)), (round(x + w), round(y + h))
        cv2.rectangle(frame, top_left, bottom_right, color, thickness)
        if track_id is not None:
            label = str(int(track_id))
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
            cv2.rectangle(frame, top_left, (top_left[0] + tw + 6, top_left[1] - th - 6), color, -1)
            cv2.putText(frame, label, (top_left[0] + 3, top_left[1] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    return frame
