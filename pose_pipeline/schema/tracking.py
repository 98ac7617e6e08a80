"""Tracking stage: people detected and linked into tracklets, the subject of interest chosen, one box per frame.

Video ─► TrackingBboxMethod (detector + tracker) ─► TrackingBbox (tracklets)
             ─► PersonBboxValid (which tracklets are which subject: a person, the widget or auto)
             ─► PersonBbox (one box per frame for one subject)
(overlays of the tracklets: pose_pipeline.schema.overlays, built from the face-blurred video)
TrackingBbox × TrackingGroundTruth ─► TrackingAccuracy (HOTA, MOTA, IDF1)
"""

from __future__ import annotations

from dataclasses import astuple
from typing import ClassVar

import datajoint as dj
import numpy as np

from ..detection import DEFAULT_DETECTOR  # importing the package registers the detectors
from ..formats import Detections, Tracks
from ..registry import MethodCall
from ..stages import DETECTION, TRACKING
from ..tracking import DEFAULT_TRACKER  # importing the package registers the trackers
from ..tracking.subject import Split, apply_splits, auto_subject, number_splits, subject_boxes
from . import LOOKUP_DEFINITION, nan_to_null
from .requests import MethodRequest
from .runs import PROVENANCE_DEFINITION, run_stage
from .video import Video, VideoInfo, fetch_video

STAGE = "tracking"
schema = dj.Schema()


@schema
class DetectorLookup(dj.Lookup):
    """One registered person detector (rows come from `pose_pipeline.stages.DETECTION`)."""

    registry = DETECTION
    name_attribute = "detector"
    definition = LOOKUP_DEFINITION.format(name=name_attribute)


@schema
class TrackingBboxMethodLookup(dj.Lookup):
    """One registered multi-object tracker (rows come from `pose_pipeline.stages.TRACKING`)."""

    registry = TRACKING
    name_attribute = "tracking_method"
    definition = LOOKUP_DEFINITION.format(name=name_attribute)


@schema
class TrackingBboxMethod(MethodRequest, dj.Manual):
    """A request: track people in one video with one detector and one tracker, each with one parameter set.

    Insert only what you override (``tracker_params``, ``detector_params``); the defaults are merged in and the
    merged parameters hashed into the key (`pose_pipeline.schema.requests`). A request naming no detector gets
    ``DEFAULT_DETECTOR`` (the shipped YOLOX-Nano), none naming a tracker ``DEFAULT_TRACKER`` (ByteTrack). A
    tracker's ``frame_rate`` of None is the video's own."""

    methods = (("tracking_method", TRACKING, "tracker_params"), ("detector", DETECTION, "detector_params"))
    method_defaults: ClassVar[dict[str, str]] = {"tracking_method": DEFAULT_TRACKER, "detector": DEFAULT_DETECTOR}
    hash_attribute = "tracking_params_hash"
    definition = """
    -> Video
    -> TrackingBboxMethodLookup
    -> DetectorLookup
    tracking_params_hash : char(32)  # hash of both merged parameter sets (canonical JSON)
    ---
    tracker_params       : json      # the tracker's parameters, defaults merged in
    detector_params      : json      # the detector's parameters, defaults merged in
    """


@schema
class TrackingBbox(dj.Computed):
    """The tracklets one detector + tracker found in one video: one row per kept detection in the arrays
    (frame index, track id, box x, y, w, h in pixels with x, y the top-left corner, confidence). A video with
    nobody in it gives a row with zero tracks."""

    definition = (
        """
    -> TrackingBboxMethod
    ---
    num_tracks          : int32
    frame               : <blob>     # (N,) 0-based frame index of each box
    track_id            : <blob>     # (N,) track id (>= 0) of each box
    boxes               : <blob>     # (N, 4) x, y, w, h in pixels
    confidence          : <blob>     # (N,) detection score in [0, 1]
    detection_frame     : <blob>     # (D,) frame of each raw detection (the tracker's input; face blurring uses them)
    detection_boxes     : <blob>     # (D, 4) x, y, w, h in pixels
    detection_score     : <blob>     # (D,) detection score in [0, 1]
    num_frames          : int32      # frames processed
    """
        + PROVENANCE_DEFINITION
    )

    def make(self, key):
        from ..tracking.run import TrackedVideo, detect_and_track
        from ..video.reader import VideoReader

        tracker_params, detector_params = (TrackingBboxMethod & key).fetch1("tracker_params", "detector_params")
        fps, n_frames = (VideoInfo & key).fetch1("fps", "num_frames")
        if tracker_params.get("frame_rate", 0) is None:
            tracker_params = {**tracker_params, "frame_rate": float(fps)}
        with VideoReader(fetch_video(key)) as reader:
            result, columns = run_stage(
                lambda detector, tracker: detect_and_track(reader, detector, tracker, n_frames=n_frames),
                MethodCall(DETECTION, key["detector"], detector_params),
                MethodCall(TRACKING, key["tracking_method"], tracker_params),
                n_frames=n_frames,
                output=TrackedVideo,
            )
        tracks = result.tracks
        detection_frame, detection_boxes, detection_score = result.detections.to_arrays()
        self.insert1(
            {
                **key,
                "num_tracks": tracks.n_tracks,
                "frame": tracks.frame.astype(np.int32),
                "track_id": tracks.track_id.astype(np.int32),
                "boxes": tracks.boxes.astype(np.float32),
                "confidence": tracks.confidence.astype(np.float32),
                "detection_frame": detection_frame,
                "detection_boxes": detection_boxes,
                "detection_score": detection_score,
                "num_frames": n_frames,
                **columns,
            }
        )

    @staticmethod
    def tracks(key) -> Tracks:
        """The stored tracklets as a `Tracks`."""
        frame, track_id, boxes, confidence = (TrackingBbox & key).fetch1("frame", "track_id", "boxes", "confidence")
        return Tracks(frame=frame.astype(int), track_id=track_id.astype(int), boxes=boxes.astype(float),
                      confidence=confidence.astype(float))  # fmt: skip

    @staticmethod
    def detections(key) -> Detections:
        """The detector's raw per-frame boxes of the tracking pass, as `Detections`."""
        columns = ("detection_frame", "detection_boxes", "detection_score", "num_frames")
        frame, boxes, score, n_frames = (TrackingBbox & key).fetch1(*columns)
        return Detections.from_arrays(frame, boxes, score, n_frames=n_frames)


class AnnotationError(ValueError):
    """An annotation that cannot be right: unknown tracks, bad subject id, bad split."""


@schema
class PersonBboxValid(dj.Manual):
    """Which tracklets make up one subject in one tracking result, and who said so.

    ``subject_id`` 0 is the primary subject (the patient), -1 marks the video unusable, 1, 2, ... are other
    people (a therapist). Splits (identity swaps cut by the annotator) are applied before the selection.
    Rows are checked on insert: unknown track ids, subject ids below -1 and impossible splits are refused.
    """

    definition = """
    -> TrackingBbox
    subject_id               : int32     # 0 primary subject, -1 video unusable, 1.. other people
    ---
    keep_tracks              : <blob>    # track ids (after splits) that are this subject; empty for -1
    splits                   : json      # [[track_id, frame, new_id], ...] applied before selection
    max_gap=0                : int32     # fill gaps of up to this many frames by interpolation
    annotator                : varchar(64)
    annotated_at=CURRENT_TIMESTAMP : datetime
    """

    def insert(self, rows, **kwargs):
        rows = [dict(row) for row in rows]
        for row in rows:
            validate_annotation(row)
        super().insert(rows, **kwargs)


def _describe(key: dict) -> str:
    return "/".join(str(key[k]) for k in ("video_project", "filename", "tracking_method", "detector") if k in key)


def validate_annotation(row: dict) -> None:
    """Refuse an annotation that names tracks the tracking result does not have, or a bad subject id."""
    where = {k: row[k] for k in TrackingBbox.primary_key if k in row}
    name = _describe(where)
    subject = int(row["subject_id"])
    if subject < -1:
        raise AnnotationError(f"{name}: subject id {subject} is not allowed (-1 unusable, 0 primary, 1.. others)")
    if not TrackingBbox & where:
        raise AnnotationError(f"{name}: no tracking result to annotate (populate TrackingBbox first)")
    keep = [int(t) for t in np.atleast_1d(row.get("keep_tracks", []))]
    if subject == -1:
        if keep:
            raise AnnotationError(f"{name}: a video marked unusable (-1) takes no tracks")
        return
    if not keep:
        raise AnnotationError(f"{name}: subject {subject} needs at least one track id")
    try:
        tracks = apply_splits(TrackingBbox.tracks(where), [Split(*s) for s in row.get("splits") or []])
    except ValueError as error:
        raise AnnotationError(f"{name}: {error}") from None
    unknown = sorted(set(keep) - set(tracks.track_id.tolist()))
    if unknown:
        known = ", ".join(map(str, sorted(set(tracks.track_id.tolist())))) or "none"
        raise AnnotationError(f"{name}: track id(s) {unknown} do not exist; the tracks are {known}")


def one_tracking_result(key: dict) -> dict:
    """The full key of the one tracking result ``key`` names (it may leave out what is unambiguous, e.g. the
    parameter hash); an error lists the candidates when it names none or several."""
    keys = (TrackingBbox & {k: v for k, v in key.items() if k in TrackingBbox.primary_key}).keys()
    if not keys:
        raise AnnotationError(f"{_describe(key)}: no tracking result to annotate (populate TrackingBbox first)")
    if len(keys) > 1:
        found = "; ".join(f"{_describe(k)} parameters {k['tracking_params_hash'][:8]}" for k in keys)
        raise AnnotationError(f"{_describe(key)} names {len(keys)} tracking results, not one: {found}")
    return keys[0]


def annotate(key: dict, subject_id: int, tracks, *, splits=(), max_gap: int = 0, annotator: str = "",
             replace: bool = False) -> dict:  # fmt: skip
    """Record which tracks are ``subject_id`` in the tracking result ``key`` (the CLI and the widget use this).

    ``splits`` are (track_id, frame, new_id) triples; a negative new id takes the next free id. ``replace=True``
    replaces an earlier annotation of the same subject (and its PersonBbox). Marking the video unusable
    (``subject_id=-1``) while subjects are annotated is refused, unless ``replace=True``, which removes them."""
    import getpass

    key = one_tracking_result(key)
    splits = [astuple(s) for s in number_splits(TrackingBbox.tracks(key), splits)] if splits else []
    row = {
        **{k: key[k] for k in TrackingBbox.primary_key},
        "subject_id": int(subject_id),
        "keep_tracks": np.asarray(sorted(int(t) for t in tracks), dtype=np.int32),
        "splits": [list(map(int, s)) for s in splits],
        "max_gap": int(max_gap),
        "annotator": annotator or getpass.getuser(),
    }
    validate_annotation(row)
    existing = PersonBboxValid & {k: row[k] for k in PersonBboxValid.primary_key}
    if subject_id == -1:
        # an unusable video has no subjects; an earlier "unusable" mark is replaced the same way
        existing = PersonBboxValid & {k: row[k] for k in TrackingBbox.primary_key}
    if existing and not replace:
        subjects = sorted(existing.to_arrays("subject_id").tolist())
        raise AnnotationError(
            f"{_describe(key)}: subject(s) {subjects} already annotated; pass replace=True to replace"
        )
    if existing:
        existing.delete(prompt=False)
    PersonBboxValid.insert1(row)
    return {k: row[k] for k in PersonBboxValid.primary_key}


def auto_annotate(*restrictions) -> dict[str, list]:
    """Annotate subject 0 wherever one tracklet clearly is the only person (`auto_subject`'s documented rule);
    returns which tracking results were annotated and which need a person."""
    todo = (TrackingBbox - PersonBboxValid).proj()
    if restrictions:
        todo &= dj.AndList(restrictions)
    done, needs_person = [], []
    for key in todo.to_dicts():
        track = auto_subject(TrackingBbox.tracks(key), (TrackingBbox & key).fetch1("num_frames"))
        if track is None:
            needs_person.append(key)
        else:
            done.append(annotate(key, 0, [track], annotator="auto"))
    return {"annotated": done, "needs_person": needs_person}


@schema
class PersonBbox(dj.Computed):
    """One box per frame for one annotated subject: NaN where the subject is absent, a presence mask, and the
    detection confidence of each kept box (rules in `pose_pipeline.tracking.subject`)."""

    definition = """
    -> PersonBboxValid
    ---
    boxes                    : <blob>    # (frames, 4) x, y, w, h in pixels, NaN where absent
    present                  : <blob>    # (frames,) bool
    confidence               : <blob>    # (frames,) detection score, NaN where absent or interpolated
    num_present              : int32     # frames with a box
    """

    @property
    def key_source(self):
        return PersonBboxValid & "subject_id >= 0"

    def make(self, key):
        keep, splits, max_gap = (PersonBboxValid & key).fetch1("keep_tracks", "splits", "max_gap")
        tracks = apply_splits(TrackingBbox.tracks(key), [Split(*s) for s in splits or []])
        n_frames = (TrackingBbox & key).fetch1("num_frames")
        boxes, confidence = subject_boxes(tracks, n_frames, keep, max_gap=max_gap)
        self.insert1(
            {
                **key,
                "boxes": boxes.boxes.astype(np.float32),
                "present": boxes.present,
                "confidence": confidence.astype(np.float32),
                "num_present": int(boxes.present.sum()),
            }
        )


ROOT_TABLES = ()  # everything here hangs off Video, emptied by the video stage
METHOD_LOOKUPS = (DetectorLookup, TrackingBboxMethodLookup)
METHOD_REQUESTS = (TrackingBboxMethod,)


@schema
class TrackingGroundTruth(dj.Manual):
    """Ground-truth tracks of one video (a synthetic scene's, or a user's MOT-format annotation), in the same
    format as `TrackingBbox`."""

    definition = """
    -> Video
    ---
    frame                    : <blob>    # (N,) 0-based frame index
    track_id                 : <blob>    # (N,) ground-truth identity
    boxes                    : <blob>    # (N, 4) x, y, w, h in pixels
    source                   : varchar(255)  # where it came from: "synthetic" or a file
    """

    @staticmethod
    def tracks(key) -> Tracks:
        frame, track_id, boxes = (TrackingGroundTruth & key).fetch1("frame", "track_id", "boxes")
        return Tracks(frame.astype(int), track_id.astype(int), boxes.astype(float), np.ones(len(frame)))


def insert_ground_truth(key: dict, tracks: Tracks, source: str, replace: bool = False) -> None:
    """Store ground-truth tracks for the video ``key`` (validated like any tracker output).

    ``replace=True`` first deletes earlier ground truth, and with it the accuracy computed against it (DataJoint's
    own ``replace`` is MySQL's REPLACE INTO, which PostgreSQL lacks and which would leave stale accuracy rows)."""
    n_frames = (VideoInfo & key).fetch1("num_frames") if VideoInfo & key else None
    tracks.validate(n_frames=n_frames)
    row = {k: key[k] for k in Video.primary_key}
    row.update(frame=tracks.frame.astype(np.int32), track_id=tracks.track_id.astype(np.int32),
               boxes=tracks.boxes.astype(np.float32), source=source[:255])  # fmt: skip
    existing = TrackingGroundTruth & {k: row[k] for k in Video.primary_key}
    if existing and replace:
        existing.delete(prompt=False)
    TrackingGroundTruth.insert1(row)


@schema
class TrackingAccuracy(dj.Computed):
    """How well one tracking result matches the video's ground truth (metrics from TrackEval)."""

    definition = """
    -> TrackingBbox
    -> TrackingGroundTruth
    ---
    hota=null                : float64   # higher-order tracking accuracy (alpha-averaged); NULL: undefined
    deta=null                : float64   # HOTA's detection accuracy
    assa=null                : float64   # HOTA's association accuracy
    mota=null                : float64   # multi-object tracking accuracy (CLEAR); NULL without ground-truth boxes
    idf1=null                : float64   # identity F1
    id_switches              : int32
    false_positives          : int32
    false_negatives          : int32
    """

    def make(self, key):
        from ..tracking.metrics import tracking_metrics

        n_frames = (TrackingBbox & key).fetch1("num_frames")
        metrics = tracking_metrics(TrackingGroundTruth.tracks(key), TrackingBbox.tracks(key), n_frames=n_frames)
        values = {column: metrics[name] for column, name in ACCURACY_COLUMNS.items()}
        self.insert1({**key, **nan_to_null(values)})


# TrackingAccuracy's columns and the names TrackEval (and `tracking_metrics`) gives them
ACCURACY_COLUMNS = {"hota": "HOTA", "deta": "DetA", "assa": "AssA", "mota": "MOTA", "idf1": "IDF1",
                    "id_switches": "IDSW", "false_positives": "FP", "false_negatives": "FN"}  # fmt: skip
