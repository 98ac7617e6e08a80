"""Stored results written in other tools' formats: fetch one `TopDownPerson` row with its joint set, the video's
timestamps and size, the subject's boxes and the method's parameters, and hand them to a pure writer
(`pose_pipeline.export`).

>>> export_2d({"filename": "walk.mp4", "top_down_method": "synthetic_pose"}, "nwb", "walk.nwb")
>>> export_all({"filename": "walk.mp4"}, "dlc-h5", "exports/")   # one file per subject and method
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from ..export import Result2D, write_coco, write_dlc_csv, write_dlc_h5, write_nwb
from ..formats import Keypoints2D
from ..skeletons import get_joint_set
from .keypoints import TopDownMethod, TopDownPerson
from .tracking import PersonBbox
from .video import Video, VideoInfo

WRITERS = {"nwb": write_nwb, "dlc-h5": write_dlc_h5, "dlc-csv": write_dlc_csv, "coco": write_coco}
SUFFIXES = {"nwb": ".nwb", "dlc-h5": ".h5", "dlc-csv": ".csv", "coco": ".json"}


class NoResultError(LookupError):
    """A restriction names no stored result, or several where one is needed."""


def describe(key: dict) -> str:
    """A result's short name: project/file, methods, subject."""
    parts = [f"{key.get('video_project', '?')}/{key.get('filename', '?')}"]
    parts += [str(key[k]) for k in ("tracking_method", "detector", "top_down_method") if k in key]
    if "subject_id" in key:
        parts.append(f"subject {key['subject_id']}")
    return " ".join(parts)


def result_keys(restriction) -> list[dict]:
    """The full keys of the `TopDownPerson` rows ``restriction`` selects; `NoResultError` if none."""
    keys = (TopDownPerson & restriction).keys(order_by="KEY")
    if not keys:
        raise NoResultError(f"no 2D keypoints (TopDownPerson) match {restriction}; populate TopDownPerson first")
    return keys


def one_result(restriction) -> dict:
    """The key of the one `TopDownPerson` row ``restriction`` selects; `NoResultError` listing the candidates
    when it selects none or several."""
    keys = result_keys(restriction)
    if len(keys) > 1:
        found = "; ".join(f"{describe(k)} ({k['top_down_params_hash'][:8]})" for k in keys)
        raise NoResultError(f"{restriction} matches {len(keys)} 2D results, not one: {found}")
    return keys[0]


def result_2d(restriction) -> Result2D:
    """The one `TopDownPerson` result ``restriction`` selects, with what a file needs to describe it."""
    key = one_result(restriction)
    keypoints, joint_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
    video = {k: key[k] for k in Video.primary_key}
    timestamps, width, height = (VideoInfo & video).fetch1("timestamps", "width", "height")
    return Result2D(
        keypoints=Keypoints2D(keypoints.astype(float), joint_set),
        timestamps=timestamps,
        name=describe(key),
        joint_set=get_joint_set(joint_set),
        video_path=(Video & video).fetch1("source_path") or key["filename"],
        width=int(width),
        height=int(height),
        boxes=(PersonBbox & key).fetch1("boxes").astype(float),
        method=key["top_down_method"],
        params=(TopDownMethod & key).fetch1("params"),
        subject=str(key["subject_id"]),
    )


def export_2d(restriction, fmt: str, path, **options) -> Path:
    """Write the one 2D result ``restriction`` selects as ``fmt`` (`WRITERS`: nwb, dlc-h5, dlc-csv, coco) to
    ``path``; returns the path. NWB files start their session at the video's import time (taken as UTC) unless
    ``session_start_time`` is given (the database does not know when the video was recorded)."""
    writer = _writer(fmt)
    result = result_2d(restriction)
    if fmt == "nwb" and "session_start_time" not in options:
        video = {k: v for k, v in one_result(restriction).items() if k in Video.primary_key}
        options["session_start_time"] = (Video & video).fetch1("imported_at").replace(tzinfo=UTC)
    return writer(result, path, **options)


def export_all(restriction, fmt: str, folder) -> list[Path]:
    """Write every 2D result ``restriction`` selects as ``fmt`` into ``folder``, one file per result (subject and
    method), named ``<video stem>_<tracker>-<detector>-<hash>_<method>-<hash>_subject<id><suffix>``; returns the paths."""
    _writer(fmt)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in result_keys(restriction):
        name = (f"{Path(key['filename']).stem}_{key['tracking_method']}-{key['detector']}-"
                f"{key['tracking_params_hash'][:6]}_{key['top_down_method']}-{key['top_down_params_hash'][:6]}"
                f"_subject{key['subject_id']}{SUFFIXES[fmt]}")  # fmt: skip
        paths.append(export_2d(key, fmt, folder / name))
    return paths


def _writer(fmt: str):
    if fmt not in WRITERS:
        raise ValueError(f"no export format {fmt!r}; the formats are {', '.join(WRITERS)}")
    return WRITERS[fmt]


__all__ = ["WRITERS", "NoResultError", "export_2d", "export_all", "one_result", "result_2d"]
