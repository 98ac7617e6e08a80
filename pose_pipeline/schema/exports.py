"""Stored results written in other tools' formats: fetch one `TopDownPerson` row with its joint set, the video's
timestamps and size, the subject's boxes and the method's parameters, and hand them to a pure writer
(`pose_pipeline.export`); likewise one `LiftingPerson` row (3D joints, metres) or one multi-camera
`Triangulated3D` row (or its fitted skeleton's joints) for OpenSim's ``.trc``.

>>> export_2d({"filename": "walk.mp4", "top_down_method": "synthetic_pose"}, "nwb", "walk.nwb")
>>> export_all({"filename": "walk.mp4"}, "dlc-h5", "exports/")   # one file per subject and method
>>> export_3d({"filename": "walk.mp4", "lifting_method": "synthetic_lifter"}, "trc", "walk.trc", units="mm")
>>> export_triangulated({"recording": "walk", "triangulation_method": "dlt"}, "walk.trc", axes="y-up")
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import numpy as np

from ..export import ExportError, Result2D, write_coco, write_dlc_csv, write_dlc_h5, write_nwb, write_trc
from ..export.trc import AXES
from ..formats import Keypoints2D, Keypoints3D
from ..skeletons import get_joint_set
from .keypoints import TopDownMethod, TopDownPerson
from .lifting import LiftingPerson
from .multicam import Recording, RecordingError, Triangulated3D
from .tracking import PersonBbox
from .video import Video, VideoInfo

WRITERS = {"nwb": write_nwb, "dlc-h5": write_dlc_h5, "dlc-csv": write_dlc_csv, "coco": write_coco}
WRITERS_3D = {"trc": write_trc}  # formats of 3D results (`LiftingPerson`)
SUFFIXES = {"nwb": ".nwb", "dlc-h5": ".h5", "dlc-csv": ".csv", "coco": ".json", "trc": ".trc"}


class NoResultError(LookupError):
    """A restriction names no stored result, or several where one is needed."""


def describe(key: dict) -> str:
    """A result's short name: project/file, methods, subject."""
    parts = [f"{key.get('video_project', '?')}/{key.get('filename', '?')}"]
    parts += [str(key[k]) for k in ("tracking_method", "detector", "top_down_method", "lifting_method") if k in key]
    if "subject_id" in key:
        parts.append(f"subject {key['subject_id']}")
    return " ".join(parts)


def describe_triangulated(key: dict) -> str:
    """A `Triangulated3D` result's short name: project/recording, 2D results, calibration, method."""
    return (f"{key['recording_project']}/{key['recording']} 2D {key['two_d']} calibration {key['calibration']} "
            f"{key['triangulation_method']}")  # fmt: skip


def _keys(table, what: str, restriction) -> list[dict]:
    keys = (table & restriction).keys(order_by="KEY")
    if not keys:
        raise NoResultError(f"no {what} ({table.__name__}) match {restriction}; populate {table.__name__} first")
    return keys


def _one_key(table, what: str, hash_attribute: str, restriction, name=describe) -> dict:
    keys = _keys(table, what, restriction)
    if len(keys) > 1:
        found = "; ".join(f"{name(k)} ({k[hash_attribute][:8]})" for k in keys)
        raise NoResultError(f"{restriction} matches {len(keys)} {what.split()[0]} results, not one: {found}")
    return keys[0]


def result_keys(restriction) -> list[dict]:
    """The full keys of the `TopDownPerson` rows ``restriction`` selects; `NoResultError` if none."""
    return _keys(TopDownPerson, "2D keypoints", restriction)


def one_result(restriction) -> dict:
    """The key of the one `TopDownPerson` row ``restriction`` selects; `NoResultError` listing the candidates
    when it selects none or several."""
    return _one_key(TopDownPerson, "2D keypoints", "top_down_params_hash", restriction)


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
    writer = _writer(fmt, WRITERS)
    result = result_2d(restriction)
    if fmt == "nwb" and "session_start_time" not in options:
        video = {k: v for k, v in one_result(restriction).items() if k in Video.primary_key}
        options["session_start_time"] = (Video & video).fetch1("imported_at").replace(tzinfo=UTC)
    return writer(result, path, **options)


def export_all(restriction, fmt: str, folder, **options) -> list[Path]:
    """Write every result ``restriction`` selects as ``fmt`` into ``folder``, one file per result (subject and
    method; for 3D formats also lifter), named
    ``<video stem>_<tracker>-<detector>-<hash>_<method>-<hash>[_<lifter>-<hash>]_subject<id><suffix>``; returns the
    paths. ``options`` go to `export_2d` or `export_3d`."""
    three_d = fmt in WRITERS_3D
    _writer(fmt)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in result_3d_keys(restriction) if three_d else result_keys(restriction):
        lifter = f"_{key['lifting_method']}-{key['lifting_params_hash'][:6]}" if three_d else ""
        name = (f"{Path(key['filename']).stem}_{key['tracking_method']}-{key['detector']}-"
                f"{key['tracking_params_hash'][:6]}_{key['top_down_method']}-{key['top_down_params_hash'][:6]}"
                f"{lifter}_subject{key['subject_id']}{SUFFIXES[fmt]}")  # fmt: skip
        paths.append((export_3d if three_d else export_2d)(key, fmt, folder / name, **options))
    return paths


def result_3d_keys(restriction) -> list[dict]:
    """The full keys of the `LiftingPerson` rows ``restriction`` selects; `NoResultError` if none."""
    return _keys(LiftingPerson, "3D keypoints", restriction)


def one_result_3d(restriction) -> dict:
    """The key of the one `LiftingPerson` row ``restriction`` selects; `NoResultError` listing the candidates
    when it selects none or several."""
    return _one_key(LiftingPerson, "3D keypoints", "lifting_params_hash", restriction)


def export_3d(restriction, fmt: str, path, *, units: str = "m", axes: str = "camera") -> Path:
    """Write the one 3D result (`LiftingPerson`) ``restriction`` selects as ``fmt`` (`WRITERS_3D`: trc) to
    ``path`` in ``units`` ("m" or "mm", declared in the file's header), with the video's frame times; returns the
    path. ``axes="camera"`` writes the stored axes (x right, y down, z forward); ``"y-up"`` turns them half a
    turn about x (x right, y up, z backward), OpenSim's vertical Y."""
    writer = _writer(fmt, WRITERS_3D)
    key = one_result_3d(restriction)
    points, joint_set, root, stored_units = (LiftingPerson & key).fetch1("keypoints_3d", "joint_set", "root_joint",
                                                                         "units")  # fmt: skip
    if stored_units != "m":
        raise ExportError(f"{describe(key)}: stored in {stored_units!r}, the 3D contract is metres")
    if axes not in AXES:
        raise ExportError(f"{describe(key)} -> {path}: axes must be one of {', '.join(AXES)}, not {axes!r}")
    timestamps = (VideoInfo & {k: key[k] for k in VideoInfo.primary_key}).fetch1("timestamps")
    keypoints = Keypoints3D(points.astype(float) * AXES[axes], joint_set, root)
    return writer(keypoints, timestamps, path, units=units, name=describe(key))


# The axes a triangulated result can be written in, as rotations of its world frame (rows: the written x, y, z).
# "y-up" turns a z-up world (the synthetic rigs', a board calibration's) a quarter turn about x, (x, y, z) ->
# (x, z, -y): OpenSim's vertical Y, and a proper rotation (determinant 1), so left and right stay as they are.
WORLD_AXES = {"world": np.eye(3), "y-up": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])}


def one_triangulated(restriction) -> dict:
    """The key of the one `Triangulated3D` row ``restriction`` selects; `NoResultError` listing the candidates
    when it selects none or several."""
    return _one_key(Triangulated3D, "triangulated 3D keypoints", "triangulation_params_hash", restriction,
                    describe_triangulated)  # fmt: skip


def export_triangulated(restriction, path, *, units: str = "m", axes: str = "world", skeleton: bool = False) -> Path:
    """Write the one multi-camera 3D result (`Triangulated3D`) ``restriction`` selects as an OpenSim ``.trc`` to
    ``path``; returns the path.

    Markers are the result's joints, named by its joint set; with ``skeleton=True`` they are the joints of the
    skeleton an ``acm_*`` method fitted (`Triangulated3D.SkeletonFit`), named by that skeleton's definition
    (refused, naming the result, when it has no fit). Times are frame index / `Recording` ``fps`` (the frame
    rate, not each camera's own frame times). ``units`` "m" or "mm" (declared in the header). ``axes="world"``
    writes the calibration's world frame as stored (the row's ``world_frame`` says what it is); ``"y-up"`` turns a
    z-up world into OpenSim's Y-up frame by the rotation (x, y, z) -> (x, z, -y) (`WORLD_AXES`; for a world
    whose z is not up this is not OpenSim's vertical). Points not triangulated (NaN) are written as empty fields.
    """
    key = one_triangulated(restriction)
    name = describe_triangulated(key)
    if axes not in WORLD_AXES:
        raise ExportError(f"{name} -> {path}: axes must be one of {', '.join(WORLD_AXES)}, not {axes!r}")
    joint_set, stored_units = (Triangulated3D & key).fetch1("joint_set", "units")
    if stored_units != "m":
        raise ExportError(f"{name}: stored in {stored_units!r}, the 3D contract is metres")
    if skeleton:  # the skeleton's joints are no registered joint set: named by its stored definition
        from .skeleton_model import fitted_skeleton

        try:
            definition, points, fps = fitted_skeleton(key)
        except RecordingError as error:
            raise ExportError(f"{name}: {error}") from None
        joint_set, markers = definition.name, definition.joint_names
    else:
        points, markers = (Triangulated3D & key).fetch1("keypoints_3d"), None
        fps = (Recording & key).fetch1("fps")
    timestamps = np.arange(len(points)) / fps
    keypoints = Keypoints3D(points.astype(float) @ WORLD_AXES[axes].T, joint_set)
    return write_trc(keypoints, timestamps, path, units=units, name=name, markers=markers)


def _writer(fmt: str, writers: dict | None = None):
    writers = writers or {**WRITERS, **WRITERS_3D}
    if fmt not in writers:
        raise ValueError(f"no export format {fmt!r}; the formats are {', '.join(writers)}")
    return writers[fmt]


__all__ = [
    "WORLD_AXES",
    "WRITERS",
    "WRITERS_3D",
    "NoResultError",
    "export_2d",
    "export_3d",
    "export_all",
    "export_triangulated",
    "one_result",
    "one_result_3d",
    "one_triangulated",
    "result_2d",
    "result_3d_keys",
]
