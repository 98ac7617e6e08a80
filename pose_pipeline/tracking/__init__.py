"""Multi-object tracking: trackers from the `trackers` package, the tracking loop, MOT files and accuracy metrics.

Importing this package registers the trackers in `pose_pipeline.stages.TRACKING` (``bytetrack``, ``ocsort``,
``sort``, ``botsort``) without importing the `trackers` package itself, which loads when a
tracker is built::

    from pose_pipeline.stages import TRACKING
    from pose_pipeline.tracking import track_detections, tracking_metrics

    tracker = TRACKING.build("bytetrack", {"frame_rate": 25.0})
    tracks = track_detections(per_frame_boxes, tracker)  # Tracks: frame, track_id, boxes, confidence
    tracking_metrics(ground_truth, tracks)["HOTA"]
"""

from .metrics import compare_trackers, simulate_detections, tracking_metrics
from .mot import groundtruth_tracks, mot_to_tracks, read_mot, tracks_to_mot, write_mot
from .run import TrackedVideo, detect_and_track, merge_tracks, split_track, track_detections, track_video
from .trackers import DEFAULT_TRACKER, TRACKERS_VERSION, PackageTracker

__all__ = [
    "DEFAULT_TRACKER",
    "TRACKERS_VERSION",
    "PackageTracker",
    "TrackedVideo",
    "compare_trackers",
    "detect_and_track",
    "groundtruth_tracks",
    "merge_tracks",
    "mot_to_tracks",
    "read_mot",
    "simulate_detections",
    "split_track",
    "track_detections",
    "track_video",
    "tracking_metrics",
    "tracks_to_mot",
    "write_mot",
]
