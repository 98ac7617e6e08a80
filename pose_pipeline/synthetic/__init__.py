"""Synthetic videos of walking COCO-17 figures with exact ground truth, for tests, demos and benchmarks.

Data flow: ``motion`` (3D joints of a parametric walk) -> ``camera`` (pinhole projection) -> ``render``
(figures drawn far to near over a ``background``, with a person-id map for occlusion labels) -> ``scene``
(configuration, orchestration, H.264 output) -> ``groundtruth`` (arrays, npz, MOT export).

World: metres, z up, floor z = 0. Camera: OpenCV (x right, y down, z forward), x_cam = R @ X + t.
Pixels: (u, v) = (column, row), integer values at pixel centres.

>>> gt = render_scene(crossing_scene(n_people=3), "crossing.mp4")
>>> gt.keypoints2d.shape  # (frames, people, 17, 2)
"""

from .camera import Camera, default_camera
from .groundtruth import GroundTruth
from .motion import walking_joints
from .render import FigureStyle, FrameLabels, render_people
from .scene import (
    PALETTE,
    Frame,
    PersonSpec,
    SceneConfig,
    SceneRenderer,
    crossing_scene,
    empty_scene,
    render_scene,
    walking_scene,
)

__all__ = [
    "PALETTE",
    "Camera",
    "FigureStyle",
    "Frame",
    "FrameLabels",
    "GroundTruth",
    "PersonSpec",
    "SceneConfig",
    "SceneRenderer",
    "crossing_scene",
    "default_camera",
    "empty_scene",
    "render_people",
    "render_scene",
    "walking_joints",
    "walking_scene",
]
