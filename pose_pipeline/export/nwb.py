"""NWB files with the ndx-pose extension: one file per subject, readable by pynwb and by sleap-io.

Layout: an ``NWBFile`` whose ``subject`` is the result's subject; a ``Skeletons`` container in the ``behavior``
processing module (as ndx-pose recommends) holding one ``Skeleton`` (the joint set's joints as nodes, its bones as
edges); and one ``PoseEstimation`` with a ``PoseEstimationSeries`` per joint (x, y in pixels, confidence, the
video's per-frame timestamps, shared by every series). It links the source video (an external-file
``ImageSeries`` in ``acquisition``, also named in ``original_videos`` for sleap-io), names the method as
``scorer`` and gives the method with its parameters as ``description``. The ``PoseEstimation`` sits in a
processing module named ``SLEAP_VIDEO_000_<video stem>``: sleap-io 0.9 reads pose estimations only from modules
named so, and pynwb readers find it by type wherever it is. Coordinates are moved to the pixel-centre origin
sleap-io and DeepLabCut's NWB converter use (x - 0.5, y - 0.5; `pose_pipeline.export.result`); the series'
``reference_frame`` says so.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .. import __version__
from .result import Result2D, to_pixel_centre

REFERENCE_FRAME = ("(0, 0) is the centre of the top-left pixel of the video frame, x to the right, y down "
                   "(pose_pipeline stores the top-left corner as (0, 0): stored x, y minus 0.5)")  # fmt: skip


def pose_module_name(video_path: str) -> str:
    """The processing module the pose estimation goes in (sleap-io's naming)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(video_path).stem or "video")
    return f"SLEAP_VIDEO_000_{stem}"


def write_nwb(result: Result2D, path, session_start_time: datetime | None = None, identifier: str | None = None,
              session_description: str | None = None) -> Path:  # fmt: skip
    """Write the result as an NWB file with ndx-pose; returns the path.

    ``session_start_time`` (timezone-aware; default: now, UTC) is when the recording started: the video's
    timestamps count from it. Needs the ``pynwb`` and ``ndx-pose`` packages.
    """
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.image import ImageSeries

    path = Path(path)
    result.check(path)
    start = session_start_time or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    nwbfile = NWBFile(
        session_description=session_description or f"pose estimation of {result.name}",
        identifier=identifier or f"{result.name} {result.method}",
        session_start_time=start,
        subject=Subject(subject_id=str(result.subject), description=f"subject {result.subject} of {result.name}"),
        source_script=f"pose_pipeline {__version__}",
        source_script_file_name="pose_pipeline",
    )
    joint_set = result.joint_set
    edges = np.asarray(joint_set.bones, dtype="uint8").reshape(-1, 2)
    skeleton = Skeleton(name=_safe(joint_set.name), nodes=list(joint_set.joints), edges=edges,
                        subject=nwbfile.subject)  # fmt: skip
    behavior = nwbfile.create_processing_module(name="behavior", description="skeletons of the pose estimations")
    behavior.add(Skeletons(skeletons=[skeleton]))

    keypoints = result.keypoints.keypoints.astype(float)
    xy, confidence = to_pixel_centre(keypoints[..., :2]), keypoints[..., 2]
    series, timestamps = [], result.timestamps
    for index, joint in enumerate(joint_set.joints):
        one = PoseEstimationSeries(
            name=joint,
            description=f"{joint} of subject {result.subject}",
            data=xy[:, index],
            unit="pixels",
            reference_frame=REFERENCE_FRAME,
            timestamps=timestamps,
            confidence=confidence[:, index],
            confidence_definition=f"the confidence method {result.method} gives each keypoint, in [0, 1]",
        )
        series.append(one)
        timestamps = series[0]  # the later series link the first one's timestamps
    video = ImageSeries(
        name="source_video",
        description=f"the video {result.name} was estimated from",
        external_file=[result.video_path or "unknown"],
        format="external",
        starting_frame=[0],
        timestamps=series[0],
        dimension=[int(result.width), int(result.height)] if result.width and result.height else None,
    )
    nwbfile.add_acquisition(video)
    with warnings.catch_warnings():
        # ndx-pose 0.4 deprecates original_videos for source_video; sleap-io 0.9 still reads only original_videos
        warnings.simplefilter("ignore", DeprecationWarning)
        estimation = PoseEstimation(
            name=f"subject{_safe(str(result.subject))}",
            pose_estimation_series=series,
            description=result.description(),
            original_videos=[result.video_path or "unknown"],
            source_video=video,
            scorer=result.method or "pose_pipeline",
            source_software="pose_pipeline",
            source_software_version=__version__,
            skeleton=skeleton,
        )
    module = nwbfile.create_processing_module(name=pose_module_name(result.video_path),
                                              description=f"pose estimation of {result.name}")  # fmt: skip
    module.add(estimation)
    with NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    return path


def _safe(name: str) -> str:
    """An NWB object name: no slashes."""
    return name.replace("/", "_")
