"""Multi-object trackers from the maintained `trackers` package (Roboflow, Apache-2.0), registered in ``TRACKING``.

Each factory returns a `PackageTracker`: ``update(boxes, frame)`` takes one frame's detections as an (N, 5) array
x, y, w, h, score (this package's box convention, see `pose_pipeline.formats`) and returns the tracked ones as an
(M, 6) array x, y, w, h, score, track_id. Association, Kalman filtering and track life cycles are the package's;
this module only converts arrays. The package (and `supervision`, which it needs) is imported when a tracker is
built, so importing this module stays cheap.

Parameters keep the package's names and defaults. ``lost_track_buffer`` counts frames at 30 fps and is scaled by
``frame_rate``, so pass the video's frame rate. A detection is reported only once its track is confirmed
(``minimum_consecutive_frames`` matches), so the first frames of every track are not in the output (OC-SORT
counts the matches again after every missed frame).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from pose_pipeline.stages import TRACKING


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


TRACKERS_VERSION = _package_version("trackers")
_VERSION = f"trackers {TRACKERS_VERSION}"
_REQUIRES = ()  # core dependencies of pose_pipeline


class PackageTracker:
    """A tracker of the `trackers` package behind this pipeline's array interface.

    ``tracker`` is the package's object (``ByteTrackTracker``, ...); ``uses_frame`` says whether it reads the
    image (BoT-SORT's camera motion compensation). Other trackers never see the frame.
    """

    def __init__(self, tracker: Any, *, name: str, uses_frame: bool = False):
        import supervision as sv

        self.tracker = tracker
        self.name = name
        self.uses_frame = uses_frame
        self._detections = sv.Detections

    def update(self, boxes: np.ndarray, frame: np.ndarray | None = None) -> np.ndarray:
        """Feed one frame's detections, in frame order; returns the confirmed tracks' detections in this frame.

        ``boxes`` (N, 5): x, y, w, h (pixels), score in [0, 1]. ``frame``: the RGB image (H, W, 3), or None.
        Returns (M, 6): x, y, w, h, score (the detection's own box and score) and track_id (int >= 0), sorted by
        track id. Detections whose track is not confirmed yet, or that no track takes, are left out.
        """
        boxes = np.asarray(boxes, dtype=float)
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"{self.name}: detections must be an (N, 5) array x, y, w, h, score; got {boxes.shape}")
        xyxy = boxes[:, :4].copy()
        xyxy[:, 2:] += xyxy[:, :2]
        # "index" rides along through the package's slicing, so the output rows can return the exact input boxes.
        detections = self._detections(xyxy=xyxy, confidence=boxes[:, 4].copy(), data={"index": np.arange(len(boxes))})
        if self.uses_frame and frame is not None:
            result = self.tracker.update(detections, np.ascontiguousarray(frame[..., ::-1]))  # the package wants BGR
        else:
            result = self.tracker.update(detections)
        if len(result) == 0:
            return np.empty((0, 6))
        ids = np.asarray(result.tracker_id)
        keep = ids >= 0
        index, ids = np.asarray(result.data["index"])[keep], ids[keep]
        order = np.argsort(ids, kind="stable")
        out = np.empty((len(ids), 6))
        out[:, :5] = boxes[index[order]]
        out[:, 5] = ids[order]
        return out

    def reset(self) -> None:
        """Forget all tracks and restart ids at 0 (call between videos; `track_video` does)."""
        self.tracker.reset()

    def __repr__(self) -> str:
        return f"PackageTracker({self.name!r}, {type(self.tracker).__name__})"


# frame_rate None: the video's own rate in the tracking stage (30 fps where a tracker is built alone)
_COMMON = {"lost_track_buffer": 30, "frame_rate": None, "minimum_consecutive_frames": 2}
DEFAULT_FRAME_RATE = 30.0
DEFAULT_TRACKER = "bytetrack"  # a tracking request that names no tracker gets this one


@TRACKING.register(
    "bytetrack",
    version=_VERSION,
    params={
        **_COMMON,
        "track_activation_threshold": 0.7,
        "high_conf_det_threshold": 0.6,
        "minimum_iou_threshold": 0.1,
    },
    requires=_REQUIRES,
    description=(
        "ByteTrack (trackers package): Kalman filter and IoU association, high-score detections first, then "
        "low-score ones to keep occluded tracks alive. lost_track_buffer: frames at 30 fps a lost track is kept "
        "(scaled by frame_rate); track_activation_threshold: score to start a track; high_conf_det_threshold: "
        "high/low split; minimum_iou_threshold: IoU to associate; minimum_consecutive_frames: matches to confirm."
    ),
)
def bytetrack(**params) -> PackageTracker:
    """ByteTrack from the `trackers` package; see the registered description for the parameters."""
    from trackers import ByteTrackTracker

    return PackageTracker(ByteTrackTracker(**_with_rate(params)), name="bytetrack")


@TRACKING.register(
    "ocsort",
    version=_VERSION,
    params={
        **_COMMON,
        "minimum_consecutive_frames": 3,
        "high_conf_det_threshold": 0.6,
        "minimum_iou_threshold": 0.3,
        "direction_consistency_weight": 0.2,
        "delta_t": 3,
    },
    requires=_REQUIRES,
    description=(
        "OC-SORT (trackers package): observation-centric SORT; re-anchors a track on its last observation after "
        "occlusion and adds a motion-direction consistency cost. high_conf_det_threshold: detections below it "
        "are ignored; minimum_iou_threshold: IoU to associate; direction_consistency_weight: weight of the "
        "direction cost; delta_t: frames over which direction is measured; lost_track_buffer (frames at 30 fps, "
        "scaled by frame_rate); minimum_consecutive_frames: matches to confirm, counted again after every "
        "missed frame (as in the original OC-SORT), so a track's first frames after a miss are not reported."
    ),
)
def ocsort(**params) -> PackageTracker:
    """OC-SORT from the `trackers` package; see the registered description for the parameters."""
    from trackers import OCSORTTracker

    return PackageTracker(OCSORTTracker(**_with_rate(params)), name="ocsort")


@TRACKING.register(
    "sort",
    version=_VERSION,
    params={
        **_COMMON,
        "minimum_consecutive_frames": 3,
        "track_activation_threshold": 0.25,
        "minimum_iou_threshold": 0.3,
    },
    requires=_REQUIRES,
    description=(
        "SORT (trackers package): Kalman filter and one IoU association per frame. track_activation_threshold: "
        "score to start a track; minimum_iou_threshold: IoU to associate; lost_track_buffer (frames at 30 fps, "
        "scaled by frame_rate); minimum_consecutive_frames: matches to confirm."
    ),
)
def sort(**params) -> PackageTracker:
    """SORT from the `trackers` package; see the registered description for the parameters."""
    from trackers import SORTTracker

    return PackageTracker(SORTTracker(**_with_rate(params)), name="sort")


@TRACKING.register(
    "botsort",
    version=_VERSION,
    params={
        **_COMMON,
        "track_activation_threshold": 0.7,
        "high_conf_det_threshold": 0.6,
        "minimum_iou_threshold_first_assoc": 0.2,
        "minimum_iou_threshold_second_assoc": 0.5,
        "minimum_iou_threshold_unconfirmed_assoc": 0.3,
        "enable_cmc": True,
        "cmc_method": "sparseOptFlow",
        "cmc_downscale": 2,
    },
    requires=_REQUIRES,
    description=(
        "BoT-SORT without re-identification (trackers package): ByteTrack-style two-stage IoU association fused "
        "with detection scores, plus camera motion compensation (enable_cmc; cmc_method: sparseOptFlow, orb, "
        "sift or ecc; cmc_downscale) estimated from the frames when the frames are given. Thresholds: "
        "track_activation_threshold, high_conf_det_threshold and the three association minimums; "
        "lost_track_buffer (frames at 30 fps, scaled by frame_rate); minimum_consecutive_frames."
    ),
)
def botsort(**params) -> PackageTracker:
    """BoT-SORT (no appearance model) from the `trackers` package; see the registered description."""
    from trackers import BoTSORTTracker

    return PackageTracker(
        BoTSORTTracker(**_with_rate(params)), name="botsort", uses_frame=bool(params.get("enable_cmc", True))
    )


def _with_rate(params: dict) -> dict:
    return {**params, "frame_rate": DEFAULT_FRAME_RATE if params.get("frame_rate") is None else params["frame_rate"]}


# No appearance (re-id) tracker is registered: the trackers package has none, and association code is not
# hand-written here. BoxMOT has re-id trackers but is AGPL-3.0.
