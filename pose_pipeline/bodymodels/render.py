"""A CPU mesh overlay: a body-model mesh drawn over a video frame, shaded by its facing, half transparent.

Faces turned away from the camera are dropped; the rest are drawn back to front in depth-sorted batches (a
painter's algorithm: overlaps inside one batch of ``batch`` faces may be drawn in the wrong order, which at a
body's scale is invisible), each face shaded by the cosine between its normal and the view direction.
OpenCV fills the triangles; no GPU and no OpenGL context are needed.
"""

from __future__ import annotations

import numpy as np

COLOUR = np.array([120.0, 170.0, 230.0])  # RGB of a face seen head-on
SHADES = 12


def draw_mesh(frame: np.ndarray, pixels: np.ndarray, vertices: np.ndarray, faces: np.ndarray, alpha: float = 0.6,
              batch: int = 2000) -> np.ndarray:  # fmt: skip
    """Draw the mesh (vertices at ``pixels`` (V, 2), at ``vertices`` (V, 3) in the camera frame, triangles
    ``faces`` (F, 3)) on ``frame`` (H, W, 3 RGB uint8) in place; returns the frame. NaN draws nothing."""
    import cv2

    if not (np.isfinite(pixels).all() and np.isfinite(vertices).all()):
        return frame
    depth = vertices[:, 2]
    tri = pixels[faces]  # (F, 3, 2)
    # screen-space winding: with y down, faces towards the camera are clockwise for counter-clockwise meshes
    cross = (tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1]) - (tri[:, 1, 1] - tri[:, 0, 1]) * (
        tri[:, 2, 0] - tri[:, 0, 0]
    )
    front = cross < 0
    if not front.any():
        front = cross > 0  # a mesh wound the other way
    v = vertices[faces[front]]
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    view = v.mean(1) if (depth > 0).all() else np.array([0.0, 0.0, 1.0])  # weak perspective: parallel rays
    cosine = np.abs((normals * view).sum(-1)) / (
        np.linalg.norm(normals, axis=-1) * np.linalg.norm(view, axis=-1) + 1e-12
    )
    shade = np.clip((cosine * SHADES).astype(int), 0, SHADES - 1)
    order = np.argsort(-depth[faces[front]].mean(1))  # far first
    polygons = np.round(tri[front] * 16).astype(np.int32)  # 4 fractional bits (cv2's shift)
    layer = frame.copy()
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        for level in np.unique(shade[chunk]):
            pick = chunk[shade[chunk] == level]
            colour = tuple(float(c) for c in COLOUR * (0.35 + 0.65 * (level + 0.5) / SHADES))
            cv2.fillPoly(layer, list(polygons[pick]), colour, lineType=cv2.LINE_AA, shift=4)
    covered = np.any(layer != frame, axis=2)
    frame[covered] = (alpha * layer[covered] + (1 - alpha) * frame[covered]).astype(np.uint8)
    return frame


def project_mesh(vertices: np.ndarray, camera: str, params: np.ndarray) -> np.ndarray:
    """(V, 3) camera-frame vertices -> (V, 2) pixels through a stored camera (`SMPLPerson`'s ``camera_model`` and
    one frame's ``camera_params``)."""
    if camera == "perspective":
        fx, fy, cx, cy = params
        z = vertices[:, 2]
        return np.stack([vertices[:, 0] / z * fx + cx, vertices[:, 1] / z * fy + cy], 1)
    s, _, tx, ty = params
    return vertices[:, :2] * s + np.array([tx, ty])
