"""What every reader of an existing result returns, and the checks of that result against the video it is for.

A reader turns a file into a `PoseFile`: per-frame keypoints of each individual it holds, in this project's pixel
convention (origin at the top-left pixel's corner; the files' pixel-centre coordinates get +0.5), the file's joint
names and what the file itself says about the video (frame count, size). `PoseFile.subject` chooses one individual
and `check_against_video` refuses, before anything is stored, a file whose frames, size or points do not fit the
video. Every refusal is an `ImportRefused` naming the file and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..export.result import PIXEL_CENTRE_SHIFT
from ..skeletons import JointSet, get_joint_set, register_joint_set

PIXEL_ORIGINS = ("centre", "corner")  # where the file puts (0, 0): the top-left pixel's centre or its corner
EDGE_TOLERANCE = 1e-3  # pixels: float noise allowed beyond the frame's edges
MAX_JOINT_SET_NAME = 64  # the database's joint_set column is varchar(64)


class ImportRefused(ValueError):
    """A result file that cannot be imported for this video; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoFacts:
    """What an imported result is checked against: the stored video's frame count and size, and its per-frame
    times (seconds from the first frame; NWB samples are placed on frames by them)."""

    n_frames: int
    width: int
    height: int
    name: str = "the video"
    timestamps: np.ndarray | None = field(default=None, compare=False)


@dataclass
class PoseFile:
    """One result file as read: ``keypoints[individual]`` is (rows, joints, 3) x, y (this project's convention)
    and confidence in [0, 1], NaN where missing; ``frames[individual]`` the video frame of each row."""

    path: str
    format: str
    joints: tuple[str, ...]
    keypoints: dict[str, np.ndarray]
    frames: dict[str, np.ndarray]
    joint_set_name: str  # the set the file's joints are stored as unless the request names one
    reader: str
    reader_version: str
    n_frames: int | None = None  # what the file says the video's length is, where it says
    size: tuple[int, int] | None = None  # what the file says the video's width and height are, where it says
    bones: tuple[tuple[int, int], ...] = ()
    unnamed: dict[int, np.ndarray] | None = None  # OpenPose: frame -> (people, joints, 3) of its untracked people

    def refuse(self, reason: str) -> ImportRefused:
        return ImportRefused(f"{self.path} ({self.format}): {reason}")

    def subject(self, individual: str | None) -> str:
        """The individual the import takes: ``individual`` by name, or the only one; ambiguity is refused."""
        names = list(self.keypoints)
        if individual is None:
            if len(names) == 1:
                return names[0]
            raise self.refuse(f"holds {len(names)} individuals ({', '.join(map(repr, names))}); name one with "
                              "individual=...")  # fmt: skip
        if str(individual) not in self.keypoints:
            raise self.refuse(f"has no individual {individual!r}; it has {', '.join(map(repr, names)) or 'none'}")
        return str(individual)


def to_corner(xy: np.ndarray, pixel_origin: str, what: str) -> np.ndarray:
    """Coordinates of a file whose origin is ``pixel_origin`` in this project's corner convention."""
    if pixel_origin not in PIXEL_ORIGINS:
        raise ImportRefused(f"{what}: pixel_origin must be one of {PIXEL_ORIGINS}, not {pixel_origin!r}")
    xy = np.asarray(xy, dtype=float)
    return xy + PIXEL_CENTRE_SHIFT if pixel_origin == "centre" else xy


def confidence(values, n: int) -> np.ndarray:
    """Scores as confidence in [0, 1]: absent scores are 1 (a labelled point), scores above 1 (SLEAP's peak
    values can exceed it) are clipped."""
    if values is None:
        return np.ones(n)
    return np.clip(np.asarray(values, dtype=float), 0.0, 1.0)


def joint_set_for(pose: PoseFile, name: str | None) -> tuple[JointSet, np.ndarray]:
    """The joint set the import is stored as, and for each of its joints the file's joint index (-1: not in
    the file, NaN). ``name`` None: a built-in set with exactly the file's joints (any order), else a new set
    ``pose.joint_set_name`` with the file's joints and bones. Joints of the file that the set lacks are refused;
    so is a new set under a name known with other joints."""
    file_joints = list(pose.joints)
    if len(set(file_joints)) != len(file_joints):
        repeated = sorted({j for j in file_joints if file_joints.count(j) > 1})
        raise pose.refuse(f"names joint(s) {repeated} more than once")
    if name is None:
        from ..skeletons import BUILT_IN

        same = [s for s in BUILT_IN if set(s.joints) == set(file_joints)]
        exact = [s for s in same if s.joints == tuple(file_joints)]
        if exact or same:
            joint_set = (exact or same)[0]
        else:
            if len(pose.joint_set_name) > MAX_JOINT_SET_NAME:
                raise pose.refuse(f"joint set name {pose.joint_set_name!r} is longer than {MAX_JOINT_SET_NAME} "
                                  "characters; name the joint set with joint_set=...")  # fmt: skip
            candidate = JointSet(name=pose.joint_set_name, joints=tuple(file_joints), bones=tuple(pose.bones))
            try:
                joint_set = get_joint_set(candidate.name)  # stored before (another file of the same model)
            except KeyError:
                joint_set = register_joint_set(candidate)
    else:
        try:
            joint_set = get_joint_set(name)
        except KeyError as error:
            raise pose.refuse(str(error.args[0])) from None
    unknown = [j for j in file_joints if j not in joint_set.joints]
    if unknown:
        raise pose.refuse(f"joint(s) {unknown} are not in joint set {joint_set.name!r} "
                          f"({', '.join(joint_set.joints)})")  # fmt: skip
    index = np.array([file_joints.index(j) if j in file_joints else -1 for j in joint_set.joints])
    return joint_set, index


def assemble(pose: PoseFile, individual: str, joint_set: JointSet, index: np.ndarray, video: VideoFacts) -> np.ndarray:
    """The individual's keypoints as (video frames, joint set's joints, 3), after the checks against the video."""
    check_against_video(pose, video)
    rows, frames = pose.keypoints[individual], np.asarray(pose.frames[individual], dtype=int)
    out = np.full((video.n_frames, len(joint_set), 3), np.nan)
    present = index >= 0
    out[np.ix_(frames, np.flatnonzero(present))] = rows[:, index[present]]
    check_points(pose, out, video)
    return out


def check_against_video(pose: PoseFile, video: VideoFacts) -> None:
    """Refuse a file made for another video: its frame count or size, or frames beyond the video's end."""
    if pose.n_frames is not None and pose.n_frames != video.n_frames:
        raise pose.refuse(f"covers {pose.n_frames} frames; {video.name} has {video.n_frames} (another video's "
                          "result?)")  # fmt: skip
    if pose.size is not None and tuple(pose.size) != (video.width, video.height):
        raise pose.refuse(f"is for a {pose.size[0]} x {pose.size[1]} video; {video.name} is "
                          f"{video.width} x {video.height}")  # fmt: skip
    for individual, frames in pose.frames.items():
        frames = np.asarray(frames)
        if len(frames) and (frames.min() < 0 or frames.max() >= video.n_frames):
            raise pose.refuse(f"has frame {int(frames.max())} for {individual!r}; {video.name} has frames "
                              f"0..{video.n_frames - 1}")  # fmt: skip


def check_points(pose: PoseFile, keypoints: np.ndarray, video: VideoFacts) -> None:
    """Refuse points outside the frame (this project's convention: 0 <= x <= width, 0 <= y <= height)."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    outside = np.isfinite(x) & (
        (x < -EDGE_TOLERANCE) | (x > video.width + EDGE_TOLERANCE) | (y < -EDGE_TOLERANCE)
        | (y > video.height + EDGE_TOLERANCE)
    )  # fmt: skip
    if outside.any():
        frame, joint = (int(v) for v in np.argwhere(outside)[0])
        raise pose.refuse(
            f"{int(outside.sum())} point(s) lie outside the {video.width} x {video.height} frame of {video.name}, "
            f"the first in frame {frame} at ({x[frame, joint]:.1f}, {y[frame, joint]:.1f}) (another video's "
            "result, or the wrong pixel_origin?)"
        )
