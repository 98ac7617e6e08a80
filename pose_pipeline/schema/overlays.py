"""Privacy and review: the blurred video, and every overlay video, built from it.

    TrackingBbox × BlurMethod (which 2D method finds faces) ─► BlurredVideo (every face in every frame blurred)
    BlurredVideo ─► TrackingBboxVideo (every tracklet's box and id)
    BlurredVideo × TopDownPerson ─► TopDownPersonVideo (the subject's box and skeleton, coloured by confidence)

Faces are found by running a 2D method on every tracklet of the video, not only the subject's; where a face's
keypoints are missing or unconfident, the head region of that person's box is blurred instead, so no face is
left sharp.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import datajoint as dj
import numpy as np

from .. import database
from ..formats import BlurredFaces
from ..registry import MethodCall
from ..stages import TOP_DOWN
from .files import fetch_verified, insert_with_file
from .keypoints import PersonBbox, TopDownMethodLookup, TopDownPerson  # noqa: F401 - named in a definition
from .requests import MethodRequest
from .runs import PROVENANCE_DEFINITION, run_stage
from .tracking import TrackingBbox
from .video import fetch_video

STAGE = "overlays"
schema = dj.Schema()


@schema
class BlurMethod(MethodRequest, dj.Manual):
    """A request: blur the faces of one tracking result's people, found with one 2D method and parameter set."""

    methods = (("face_method", TOP_DOWN, "params"),)
    hash_attribute = "face_params_hash"
    definition = """
    -> TrackingBbox
    -> TopDownMethodLookup.proj(face_method="top_down_method")
    face_params_hash         : char(32)   # hash of the 2D method's merged parameters (canonical JSON)
    ---
    params                   : json       # the 2D method's parameters, defaults merged in
    """


@schema
class BlurredVideo(dj.Computed):
    """The video with every detected face in every frame blurred: the source of every overlay. The people are
    the tracklets' boxes and the detections the tracker did not report (before a track is confirmed), both kept
    by the tracking stage, so the detector does not run again."""

    definition = (
        """
    -> BlurMethod
    ---
    video                    : <object@derived>   # H.264 MP4
    sha256                   : char(64)   # of the stored file, verified whenever it is fetched
    faces_blurred            : int32      # face regions blurred (one per person per frame)
    """
        + PROVENANCE_DEFINITION
    )

    def make(self, key):
        from ..privacy import blur_faces_in_video, people_to_blur

        params = (BlurMethod & key).fetch1("params")
        people = people_to_blur(TrackingBbox.tracks(key), TrackingBbox.detections(key))
        n_frames = (TrackingBbox & key).fetch1("num_frames")
        with tempfile.TemporaryDirectory(dir=database.cache_dir()) as scratch:
            blurred, columns = run_stage(
                lambda estimator: blur_faces_in_video(
                    fetch_video(key), Path(scratch) / "blurred.mp4", people, estimator
                ),
                MethodCall(TOP_DOWN, key["face_method"], params),
                n_frames=n_frames,
                output=BlurredFaces,
            )
            row = {**key, "faces_blurred": blurred.faces_blurred, **columns}
            insert_with_file(self, row, "video", blurred.path)

    @staticmethod
    def fetch_path(key) -> Path:
        """Local path of the blurred video (fetched once into the cache, checksum-verified)."""
        return _fetch_video_field(BlurredVideo, key, "video")


def _fetch_video_field(table, key: dict, field: str) -> Path:
    ref, sha256 = (table & key).fetch1(field, "sha256")
    return fetch_verified(ref, sha256, f"{table.__name__} of {'/'.join(str(v) for v in key.values())}")


@schema
class TrackingBboxVideo(dj.Computed):
    """An overlay video of one tracking result: every tracklet's box and id, on the blurred video."""

    definition = """
    -> BlurredVideo
    ---
    overlay                  : <object@derived>   # H.264 MP4
    sha256                   : char(64)   # of the stored file, verified whenever it is fetched
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
        return _fetch_video_field(TrackingBboxVideo, key, "overlay")


@schema
class TopDownPersonVideo(dj.Computed):
    """An overlay video of one subject's 2D keypoints: box and skeleton coloured by confidence, on the blurred
    video."""

    definition = """
    -> TopDownPerson
    -> BlurredVideo
    ---
    overlay                  : <object@derived>   # H.264 MP4
    sha256                   : char(64)   # of the stored file, verified whenever it is fetched
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
        return _fetch_video_field(TopDownPersonVideo, key, "overlay")


def _write_overlay(table, key: dict, draw, name: str) -> None:
    """Draw on the blurred video frame by frame and stream the result into the table's ``overlay`` field."""
    from ..video.overlay import video_overlay

    source = BlurredVideo.fetch_path(key)
    with tempfile.TemporaryDirectory(dir=database.cache_dir()) as scratch:
        out = video_overlay(source, Path(scratch) / name, draw)
        insert_with_file(table, dict(key), "overlay", out)


METHOD_REQUESTS = (BlurMethod,)
