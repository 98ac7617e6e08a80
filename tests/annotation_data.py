"""A tracking result prepared for the annotation widget's tests: a rendered two-person crossing scene with
hand-made tracklets that contain an identity swap.

The tracklets are UI test data, not a prediction: they are cut from the scene's ground-truth boxes so that the
tests know exactly which tracklet is whom, independently of the detectors and trackers. Person A (the subject)
and person B cross in the middle of the video:

- track 1 follows A until ``SWAP`` and then (an identity swap) B to the end;
- track 2 follows B until ``SWAP - GAP`` (lost in the occlusion);
- track 3 follows A again from ``SWAP + GAP`` to the end (re-found under a new id).

The right annotation of A (subject 0): split track 1 at ``SWAP`` (its part from there on gets id 4) and keep
tracks 1 and 3. `PersonBbox` then has A's ground-truth boxes everywhere except frames ``SWAP .. SWAP+GAP-1``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

N_FRAMES = 60
SWAP = 30
GAP = 3
PERSON_A, PERSON_B = 0, 1  # people of the scene (columns of the ground truth's boxes)


@dataclass
class PreparedResult:
    """Keys of the prepared tracking results (same video, imported under several file names) and the truth."""

    keys: list[dict]  # TrackingBbox keys
    truth_boxes: np.ndarray  # (frames, people, 4) ground-truth x, y, w, h

    @property
    def key(self) -> dict:
        """The first tracking result."""
        return self.keys[0]

    def expected_subject_boxes(self) -> np.ndarray:
        """PersonBbox boxes of the right annotation of person A: NaN where no kept tracklet has A."""
        expected = self.truth_boxes[:, PERSON_A].copy()
        expected[SWAP : SWAP + GAP] = np.nan
        return expected


def tracking_schema():
    """The tracking schema module, activated (it may not be among the pipeline's stage modules yet)."""
    from pose_pipeline.annotation.session import tracking_module

    return tracking_module()


def hand_made_rows(truth_boxes: np.ndarray) -> dict[str, np.ndarray]:
    """The `TrackingBbox` arrays of the tracklets described in this module's docstring."""
    rows = []  # frame, track id, person
    for frame in range(len(truth_boxes)):
        rows.append((frame, 1, PERSON_A if frame < SWAP else PERSON_B))
        if frame < SWAP - GAP:
            rows.append((frame, 2, PERSON_B))
        if frame >= SWAP + GAP:
            rows.append((frame, 3, PERSON_A))
    rows = np.array(rows)
    boxes = truth_boxes[rows[:, 0], rows[:, 2]]
    assert np.isfinite(boxes).all(), "both people must be in view in every frame of the prepared scene"
    confidence = np.linspace(0.6, 0.95, len(rows)) % 1.0
    return {
        "frame": rows[:, 0].astype(np.int32),
        "track_id": rows[:, 1].astype(np.int32),
        "boxes": boxes.astype(np.float32),
        "confidence": confidence.astype(np.float32),
    }


@functools.cache
def rendered_scene() -> tuple[bytes, np.ndarray]:
    """The crossing scene's MP4 file and ground-truth boxes, rendered once per test process (about 1 s each time)."""
    import tempfile

    from pose_pipeline.synthetic import crossing_scene, render_scene

    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "crossing.mp4"
        truth = render_scene(crossing_scene(n_people=2, n_frames=N_FRAMES), video)
        return video.read_bytes(), truth.boxes


def prepare_tracking_result(workdir: Path, *, project: str = "annotation_test", copies: int = 1) -> PreparedResult:
    """Write the rendered scene, import it ``copies`` times (file names ``crossing_0.mp4``, ...), describe it
    (`VideoInfo`), request tracking with the registered ``motion`` detector and ``bytetrack`` tracker, and insert
    the hand-made tracklets as each one's `TrackingBbox` row (direct insert: UI test data, not a prediction)."""
    from pose_pipeline.schema.video import VideoInfo, insert_local_video

    tracking = tracking_schema()
    Path(workdir).mkdir(parents=True, exist_ok=True)
    video = Path(workdir) / "crossing.mp4"
    data, truth_boxes = rendered_scene()
    video.write_bytes(data)
    truth_boxes = truth_boxes.copy()
    arrays = hand_made_rows(truth_boxes)
    keys = []
    for copy in range(copies):
        video_key = insert_local_video(video, video_project=project, filename=f"crossing_{copy}.mp4")
        VideoInfo.populate(video_key)
        request = {**video_key, "tracking_method": "bytetrack", "detector": "motion"}
        tracking.TrackingBboxMethod.insert1(request)
        key = tracking.TrackingBboxMethod.request_key(request)
        tracking.TrackingBbox.insert1(
            {
                **key,
                **arrays,
                "detection_frame": np.empty(0, np.int32),  # no detector ran: the tracklets are made by hand
                "detection_boxes": np.empty((0, 4), np.float32),
                "detection_score": np.empty(0, np.float32),
                "num_tracks": int(np.unique(arrays["track_id"]).size),
                "num_frames": N_FRAMES,
                "provenance": {"methods": [], "note": "hand-made tracklets for the annotation tests"},
                "seconds": 0.0,
            },
            allow_direct_insert=True,
        )
        keys.append(key)
    return PreparedResult(keys=keys, truth_boxes=truth_boxes)
