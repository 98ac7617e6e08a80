"""Results of other tools imported as a 2D method, ``imported``: DeepLabCut ``.h5``/``.csv``, SLEAP ``.slp``, NWB
ndx-pose files, OpenPose JSON folders and COCO keypoint JSON, read into the 2D stage's contract for a video already
in the database.

`import_pose` is the whole import without the database: read the file (`dlc`, `sleap`, `nwb`, `openpose`,
`coco`), choose the individual, map its joints onto a joint set, convert the pixel convention and check everything
against the video (`common`). The ``imported`` method (`method`) runs it inside the normal ``TopDownPerson.populate``
path on a file the schema layer keeps in its stores (`pose_pipeline.schema.imports`). Only numpy is imported here;
pandas, sleap-io and pynwb load when their format is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..formats import Keypoints2D
from ..skeletons import JointSet
from .common import ImportRefused, PoseFile, VideoFacts, assemble, joint_set_for

FORMATS = ("dlc", "slp", "nwb", "openpose", "coco", "coco-0")  # coco-0: a COCO results list counting frames from 0
ALIASES = {"dlc-h5": "dlc", "dlc-csv": "dlc", "h5": "dlc", "csv": "dlc", "sleap": "slp", "ndx-pose": "nwb",
           "json": "coco"}  # fmt: skip
SUFFIX_FORMATS = {".h5": "dlc", ".hdf5": "dlc", ".csv": "dlc", ".slp": "slp", ".nwb": "nwb", ".zip": "openpose",
                  ".json": "coco"}  # fmt: skip
NAMES_JOINTS = ("openpose", "coco", "coco-0")  # formats whose reader takes joint_set (a layout the file cannot name)


def format_name(fmt: str | None, path) -> str:
    """The canonical format name: ``fmt`` (or an alias of one), else guessed from the path (a folder: openpose)."""
    if fmt:
        name = ALIASES.get(fmt.lower(), fmt.lower())
        if name not in FORMATS:
            raise ImportRefused(f"{path}: no import format {fmt!r}; the formats are {', '.join(FORMATS)}")
        return name
    path = Path(path)
    if path.is_dir():
        return "openpose"
    guessed = SUFFIX_FORMATS.get(path.suffix.lower())
    if guessed is None:
        raise ImportRefused(f"{path}: cannot tell its format from the name; give one of {', '.join(FORMATS)}")
    return guessed


def read_pose(path, fmt: str, pixel_origin: str = "centre", joint_set: str | None = None,
              video_name: str | None = None, name: str | None = None,
              frame_times: np.ndarray | None = None) -> PoseFile:  # fmt: skip
    """Read a result file of format ``fmt`` (`FORMATS`); ``name`` is how messages name it (the original file,
    when ``path`` is its stored copy); ``frame_times`` the video's per-frame times (NWB samples go by time)."""
    from .coco import read_coco
    from .dlc import read_dlc
    from .nwb import read_nwb
    from .openpose import read_openpose
    from .sleap import read_slp

    fmt = format_name(fmt, path)
    path = Path(path)
    if fmt == "openpose":
        return read_openpose(path, pixel_origin, joint_set, name=name)
    if not path.is_file():
        raise ImportRefused(f"{name or path} ({fmt}): no such file")
    if fmt == "dlc":
        return read_dlc(path, pixel_origin, name)
    if fmt in ("coco", "coco-0"):
        return read_coco(path, pixel_origin, joint_set, name, first_image_id=0 if fmt == "coco-0" else 1)
    if fmt == "slp":
        return read_slp(path, pixel_origin, video_name, name)
    return read_nwb(path, pixel_origin, name, frame_times)


def import_pose(path, fmt: str, video: VideoFacts, *, boxes: np.ndarray | None = None, individual=None,
                joint_set: str | None = None, pixel_origin: str = "centre", name: str | None = None,
                video_name: str | None = None) -> tuple[Keypoints2D, JointSet, PoseFile, str]:  # fmt: skip
    """Read, choose, map and check one result file for ``video``: returns the keypoints (the 2D contract, this
    project's pixel convention, one row per video frame), their joint set, the file as read and the individual
    taken. Raises `ImportRefused` naming the file and the reason."""
    fmt = format_name(fmt, path)
    pose = read_pose(
        path, fmt, pixel_origin, joint_set if fmt in NAMES_JOINTS else None, video_name, name, video.timestamps
    )
    if pose.unnamed is not None:
        from .openpose import choose_people

        pose = choose_people(pose, individual, boxes)
        chosen = "subject"
    else:
        chosen = pose.subject(None if individual is None else str(individual))
    target, index = joint_set_for(pose, joint_set)
    keypoints = assemble(pose, chosen, target, index, video)
    result = Keypoints2D(keypoints, target.name)
    result.validate(n_frames=video.n_frames)
    return result, target, pose, chosen


from . import method  # registers the 'imported' 2D method (after import_pose, which it uses)

__all__ = ["FORMATS", "ImportRefused", "PoseFile", "VideoFacts", "format_name", "import_pose", "method", "read_pose"]
