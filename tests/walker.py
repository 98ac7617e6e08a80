"""A synthetic walker imported, tracked (motion detector + ByteTrack) and annotated automatically: the subject
that the keypoint and lifting stage tests build on."""

from __future__ import annotations

from pose_pipeline.schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, auto_annotate
from pose_pipeline.schema.video import VideoInfo, insert_local_video
from pose_pipeline.synthetic import render_scene, walking_scene


def tracked_walker(folder, project: str, n_frames: int, seed: int = 3, *, speed: float | None = None,
                   name: str = "walker.mp4"):  # fmt: skip
    """Returns the PersonBbox key of the walker and the scene's ground truth (``speed`` m/s: see `walking_scene`)."""
    truth = render_scene(walking_scene(n_frames=n_frames, seed=seed, speed=speed), folder / name)
    key = insert_local_video(folder / name, project)
    VideoInfo.populate(key)
    tracking = {**key, "tracking_method": "bytetrack", "detector": "motion"}
    TrackingBboxMethod.insert1(tracking)
    TrackingBbox.populate(key)
    [person] = auto_annotate(tracking)["annotated"]
    PersonBbox.populate(person)
    return person, truth
