"""Privacy and review: the blurred video, and every overlay video, built from it.

    TrackingBbox × BlurMethod (which 2D method finds faces) ─► BlurredVideo (every face in every frame blurred)
    BlurredVideo ─► TrackingBboxVideo (every tracklet's box and id)
    BlurredVideo × TopDownPerson ─► TopDownPersonVideo (the subject's box and skeleton, coloured by confidence)

Faces are found by running a 2D method on every tracklet of the video, not only the subject's; where a face's
keypoints are missing or unconfident, the head region of that person's box is blurred instead, so no face is
left sharp.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import datajoint as dj
import numpy as np

from .. import database
from ..stages import DETECTION, TOP_DOWN
from .files import fetch_to_cache, insert_with_file
from .keypoints import PersonBbox, TopDownMethodLookup, TopDownPerson  # noqa: F401 - named in a definition
from .tracking import TrackingBbox, TrackingBboxMethod
from .video import fetch_video

STAGE = "overlays"
schema = dj.Schema()


@schema
class BlurMethod(dj.Manual):
    """A request: blur the faces of one tracking result's people, found with one 2D method."""

    definition = """
    -> TrackingBbox
    -> TopDownMethodLookup.proj(face_method="top_down_method")
    ---
    params=null              : json       # overrides of the 2D method's parameters
    """


@schema
class BlurredVideo(dj.Computed):
    """The video with every detected face in every frame blurred: the source of every overlay. The people are
    the tracklets' boxes and, where the tracker had none (before a track is confirmed), the detector's boxes."""

    definition = """
    -> BlurMethod
    ---
    video                    : <object@derived>   # H.264 MP4
    faces_blurred            : int32      # face regions blurred (one per person per frame)
    """

    def make(self, key):
        from ..privacy import blur_faces, face_regions
        from ..tracking.run import prepare_detector
        from ..tracking.subject import iou
        from ..video.overlay import video_overlay
        from ..video.reader import VideoReader

        params = (BlurMethod & key).fetch1("params")
        estimator = TOP_DOWN.build(key["face_method"], params)
        # Trackers leave out unconfirmed and re-acquired frames; every person the detector saw is blurred too.
        detector = DETECTION.build(key["detector"], (TrackingBboxMethod & key).fetch1("detector_params"))
        tracked = {frame: boxes for frame, (boxes, _) in TrackingBbox.tracks(key).by_frame().items()}
        source = fetch_video(key)
        with VideoReader(source) as reader:
            prepare_detector(detector, reader)
        blurred = 0

        def blur(frame, index):
            nonlocal blurred
            boxes = tracked.get(index, np.empty((0, 4)))
            for detection in np.asarray(detector([frame])[0], dtype=float).reshape(-1, 5)[:, :4]:
                if not len(boxes) or iou(boxes, detection).max() < 0.5:
                    boxes = np.vstack([boxes, detection])
            if not len(boxes):
                return frame
            keypoints = np.asarray(estimator([frame], [boxes])[0], dtype=float)
            regions = face_regions(keypoints, estimator.joint_set, boxes=boxes)
            blurred += len(regions)
            return blur_faces(frame, regions)

        with tempfile.TemporaryDirectory(dir=database.cache_dir()) as scratch:
            out = video_overlay(source, Path(scratch) / "blurred.mp4", blur)
            insert_with_file(self, {**key, "faces_blurred": blurred}, "video", out)

    @staticmethod
    def fetch_path(key) -> Path:
        return _fetch_object(BlurredVideo & key, "video")


def _fetch_object(query, field: str) -> Path:
    ref = query.fetch1(field)
    return fetch_to_cache(ref, f"overlays/{hashlib.sha1(ref.path.encode()).hexdigest()}{ref.ext or ''}", ref.size)


@schema
class TrackingBboxVideo(dj.Computed):
    """An overlay video of one tracking result: every tracklet's box and id, on the blurred video."""

    definition = """
    -> BlurredVideo
    ---
    overlay                  : <object@derived>   # H.264 MP4
    """

    def make(self, key):
        from ..visualize import draw_boxes

        by_frame = TrackingBbox.tracks(key).by_frame()

        def draw(frame, index):
            if index in by_frame:
                draw_boxes(frame, *by_frame[index])
            return frame

        _write_overlay(self, key, draw, "tracking_overlay.mp4")

    @staticmethod
    def fetch_path(key) -> Path:
        """Local path of the overlay video (fetched once into the cache)."""
        return _fetch_object(TrackingBboxVideo & key, "overlay")


@schema
class TopDownPersonVideo(dj.Computed):
    """An overlay video of one subject's 2D keypoints: box and skeleton coloured by confidence, on the blurred
    video."""

    definition = """
    -> TopDownPerson
    -> BlurredVideo
    ---
    overlay                  : <object@derived>   # H.264 MP4
    """

    def make(self, key):
        from ..visualize import draw_boxes
        from ..visualize_pose import draw_skeleton

        keypoints, joint_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
        boxes = (PersonBbox & key).fetch1("boxes")

        def draw(frame, index):
            if np.all(np.isfinite(boxes[index])):
                draw_boxes(frame, boxes[index][None], [key["subject_id"]])
                draw_skeleton(frame, keypoints[index], joint_set)
            return frame

        _write_overlay(self, key, draw, "keypoints_overlay.mp4")

    @staticmethod
    def fetch_path(key) -> Path:
        return _fetch_object(TopDownPersonVideo & key, "overlay")


def _write_overlay(table, key: dict, draw, name: str) -> None:
    """Draw on the blurred video frame by frame and stream the result into the table's ``overlay`` field."""
    from ..video.overlay import video_overlay

    source = BlurredVideo.fetch_path(key)
    with tempfile.TemporaryDirectory(dir=database.cache_dir()) as scratch:
        out = video_overlay(source, Path(scratch) / name, draw)
        insert_with_file(table, dict(key), "overlay", out)
