"""SMPLPerson by a released estimator (`pose_pipeline.bodymodels.estimators`): what such a method reads instead of
the subject's 2D keypoints, the video's frames and the subject's boxes (PersonBbox)."""

from __future__ import annotations

from ..formats import SMPLParams
from .tracking import PersonBbox
from .video import VideoInfo, open_video


def needs_frames(registry, method: str) -> bool:
    """Whether the registered ``method`` estimates from frames (its builder says so) rather than fitting 2D."""
    return bool(getattr(registry.get(method).func, "needs_frames", False))


def estimate_subject(estimator, key: dict) -> SMPLParams:
    """Run ``estimator(frames, boxes, image_size)`` on the subject's video and boxes."""
    boxes = (PersonBbox & key).fetch1("boxes")
    width, height = (VideoInfo & key).fetch1("width", "height")
    with open_video(key) as reader:
        return estimator(reader, boxes, (int(width), int(height)))
