"""Stored results as pandas tables, one helper per stage: tidy (one row per frame and joint, or per box) or wide
(one row per frame, a column per joint), each row carrying the key of the result it comes from (video, methods,
parameter hashes, subject) and the frame's time from `VideoInfo`.

>>> keypoints_table({"filename": "walk.mp4"})             # frame, time, joint, x, y, score + key columns
>>> keypoints_table({"filename": "walk.mp4"}, wide=True)  # index: key + frame; columns: (joint, coord)
>>> tracking_table({"filename": "walk.mp4"})              # every kept box: frame, time, track_id, x, y, w, h
"""

from __future__ import annotations

import pandas as pd

from ..export.tables import boxes_long, keypoints_long, keypoints_wide
from ..skeletons import get_joint_set
from .keypoints import TopDownPerson
from .tracking import PersonBbox, TrackingBbox
from .video import VideoInfo


def keypoints_table(restriction=None, wide: bool = False) -> pd.DataFrame:
    """2D keypoints (`TopDownPerson`) of every result ``restriction`` selects.

    Tidy (default): one row per result, frame and joint, with the result's key columns, ``joint_set``,
    ``frame``, ``time``, ``joint``, ``x``, ``y``, ``score``. ``wide=True``: one row per result and frame,
    indexed by the key columns and ``frame``, with a ``(joint, coord)`` column per joint and coordinate (results
    of different joint sets share the columns their joints share). Pixels as stored (corner origin), NaN where
    the subject is absent.
    """
    parts = []
    for key in _keys(TopDownPerson, restriction):
        keypoints, joint_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
        joints, timestamps = get_joint_set(joint_set).joints, _timestamps(key)
        if wide:
            part = keypoints_wide(keypoints, joints, timestamps)
            part.index = pd.MultiIndex.from_tuples(
                [(*key.values(), frame) for frame in part.index], names=[*key, "frame"]
            )
        else:
            part = _with_key(keypoints_long(keypoints, joints, timestamps), {**key, "joint_set": joint_set})
        parts.append(part)
    if not parts:
        return _empty(TopDownPerson, ["joint_set", "frame", "time", "joint", "x", "y", "score"], wide)
    return pd.concat(parts, ignore_index=not wide)


def tracking_table(restriction=None) -> pd.DataFrame:
    """Tracklets (`TrackingBbox`) of every tracking result ``restriction`` selects: one row per kept box with the
    result's key columns, ``frame``, ``time``, ``track_id``, ``confidence``, ``x``, ``y``, ``w``, ``h``."""
    parts = []
    for key in _keys(TrackingBbox, restriction):
        tracks = TrackingBbox.tracks(key)
        boxes = boxes_long(tracks.frame, tracks.boxes, _timestamps(key), track_id=tracks.track_id,
                           confidence=tracks.confidence)  # fmt: skip
        parts.append(_with_key(boxes, key))
    if not parts:
        return _empty(TrackingBbox, ["frame", "time", "track_id", "confidence", "x", "y", "w", "h"])
    return pd.concat(parts, ignore_index=True)


def person_boxes_table(restriction=None) -> pd.DataFrame:
    """The subject's box per frame (`PersonBbox`) of every annotated subject ``restriction`` selects: one row per
    frame with the key columns, ``frame``, ``time``, ``present``, ``confidence``, ``x``, ``y``, ``w``, ``h`` (NaN
    where the subject is absent)."""
    parts = []
    for key in _keys(PersonBbox, restriction):
        boxes, present, confidence = (PersonBbox & key).fetch1("boxes", "present", "confidence")
        frames = range(len(boxes))
        parts.append(_with_key(boxes_long(frames, boxes, _timestamps(key), present=present.astype(bool),
                                          confidence=confidence.astype(float)), key))  # fmt: skip
    if not parts:
        return _empty(PersonBbox, ["frame", "time", "present", "confidence", "x", "y", "w", "h"])
    return pd.concat(parts, ignore_index=True)


def _keys(table, restriction) -> list[dict]:
    query = table() if restriction is None else table & restriction
    return query.keys(order_by="KEY")


def _timestamps(key: dict):
    video = {k: key[k] for k in VideoInfo.primary_key}
    return (VideoInfo & video).fetch1("timestamps")


def _with_key(table: pd.DataFrame, key: dict) -> pd.DataFrame:
    for position, (name, value) in enumerate(key.items()):
        table.insert(position, name, value)
    return table


def _empty(table, columns: list[str], wide: bool = False) -> pd.DataFrame:
    if wide:
        return pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=[*table.primary_key, "frame"]))
    return pd.DataFrame(columns=[*table.primary_key, *columns])


__all__ = ["keypoints_table", "person_boxes_table", "tracking_table"]
