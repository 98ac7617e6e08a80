"""OpenPose's per-frame JSON files (``--write_json``): a folder (or a zip of it) with one file per video frame.

Each file is ``{"version": 1.3, "people": [{"pose_keypoints_2d": [x0, y0, c0, x1, ...], ...}, ...]}``; OpenPose
names them ``<video>_000000000000_keypoints.json``, Pose2Sim's copies ``cam01.0000.json``: the frame is the last
number in the name. A point OpenPose did not find is written as 0, 0, 0 (stored as NaN). The joints are one of
OpenPose's body models, told by their count (18: COCO) or by the request's ``joint_set`` (25 joints are BODY_25 or
BODY_25B: the file cannot say which). OpenPose keeps no identities: people are chosen per frame (`choose_people`).
OpenPose's origin is the top-left pixel's centre, as in DeepLabCut and COCO: its ``--keypoint_scale 3`` ([0, 1])
divides by width - 1 (``getScaleAndOffset`` in ``keypointScaler.cpp``), so the pixel centres are the integers.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..skeletons import OPENPOSE, OPENPOSE_COCO18
from .common import ImportRefused, PoseFile, confidence, to_corner

FRAME_NUMBER = re.compile(r"(\d+)")
CHOICES = ("box", "largest")  # besides None (one person per frame) and an index into a frame's people
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp: the same folder always packs into the same bytes


def frame_number(name: str) -> int | None:
    """The frame a file name stands for: the last number in its stem (``x_000000000012_keypoints`` -> 12)."""
    numbers = FRAME_NUMBER.findall(Path(name).name.removesuffix(".json"))
    return int(numbers[-1]) if numbers else None


def pack_folder(folder, out) -> Path:
    """The folder's ``*.json`` files in one zip (stored, sorted names, fixed dates: same files, same bytes)."""
    folder, out = Path(folder), Path(out)
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".json" and p.is_file())
    if not names:
        raise ImportRefused(f"{folder} (openpose): holds no .json files")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, (folder / name).read_bytes())
    return out


def _files(path: Path):
    """(name, bytes) of every JSON file of a folder or a zip, in file-name order."""
    if path.is_dir():
        for p in sorted(path.iterdir()):
            if p.suffix.lower() == ".json" and p.is_file():
                yield p.name, p.read_bytes()
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ImportRefused(f"{path} (openpose): neither a folder of OpenPose JSON files nor a zip of one "
                            f"({error})") from None  # fmt: skip
    with archive:
        for name in sorted(archive.namelist()):
            if name.lower().endswith(".json"):
                yield Path(name).name, archive.read(name)


def read_openpose(path, pixel_origin: str = "centre", joint_set: str | None = None,
                  name: str | None = None) -> PoseFile:  # fmt: skip
    """OpenPose JSON files as a `PoseFile` whose people stay unnamed (``unnamed``: per frame, (people, joints, 3));
    ``name`` is how messages name the source (the original folder, when ``path`` is its stored zip)."""
    path = Path(path)
    what = f"{name or path} (openpose)"
    by_frame: dict[int, np.ndarray] = {}
    n_joints, version = None, "unknown"
    for file_name, data in _files(path):
        frame = frame_number(file_name)
        if frame is None:
            raise ImportRefused(f"{what}: {file_name} has no frame number in its name")
        if frame in by_frame:
            raise ImportRefused(f"{what}: two files are frame {frame} ({file_name})")
        try:
            body = json.load(io.BytesIO(data))
            people, version = body["people"], body.get("version", version)
            arrays = [np.asarray(p["pose_keypoints_2d"], dtype=float) for p in people]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ImportRefused(f"{what}: {file_name} is not OpenPose JSON ({type(error).__name__}: {error})") from None
        for array in arrays:
            if array.size % 3 or (n_joints is not None and array.size // 3 != n_joints):
                raise ImportRefused(f"{what}: {file_name} has a person of {array.size} values; "
                                    f"expected {3 * (n_joints or 1)}-value triples")  # fmt: skip
            n_joints = array.size // 3
        people = np.stack([a.reshape(-1, 3) for a in arrays]) if arrays else None
        by_frame[frame] = people
    if not by_frame:
        raise ImportRefused(f"{what}: holds no .json files")
    model = _model(n_joints, joint_set, what)
    frames = sorted(by_frame)
    unnamed = {}
    for frame in frames:
        people = by_frame[frame]
        if people is None:
            unnamed[frame] = np.zeros((0, len(model), 3))
            continue
        missing = (people[..., 0] == 0) & (people[..., 1] == 0) & (people[..., 2] == 0)
        values = np.concatenate([to_corner(people[..., :2], pixel_origin, what),
                                 confidence(people[..., 2], 0)[..., None]], axis=-1)  # fmt: skip
        values[missing] = np.nan
        unnamed[frame] = values
    return PoseFile(path=str(name or path), format="openpose", joints=model.joints, keypoints={}, frames={},
                    joint_set_name=model.name, reader="pose_pipeline.imports.openpose",
                    reader_version=f"{__version__} (OpenPose JSON {version})",
                    n_frames=frames[-1] + 1 if frames == list(range(len(frames))) else None, unnamed=unnamed,
                    bones=model.bones)  # fmt: skip


def _model(n_joints: int | None, joint_set: str | None, what: str):
    by_name = {s.name: s for s in OPENPOSE}
    if joint_set is not None:
        model = by_name.get(joint_set)
        if model is None:
            raise ImportRefused(f"{what}: joint_set must be one of OpenPose's {sorted(by_name)}, not {joint_set!r}")
        if n_joints is not None and n_joints != len(model):
            raise ImportRefused(f"{what}: people have {n_joints} joints; {joint_set} has {len(model)}")
        return model
    if n_joints in (None, len(OPENPOSE_COCO18)):
        return OPENPOSE_COCO18
    fits = sorted(s.name for s in OPENPOSE if len(s) == n_joints)
    if fits:
        raise ImportRefused(f"{what}: people have {n_joints} joints, which is any of {fits}; say which with "
                            "joint_set=...")  # fmt: skip
    raise ImportRefused(f"{what}: people have {n_joints} joints; OpenPose's body models have 18 or 25")


def choose_people(pose: PoseFile, individual, boxes: np.ndarray | None) -> PoseFile:
    """One individual, ``"subject"``, chosen per frame from OpenPose's unnamed people:

    - None: the only person of each frame; a frame with several is refused;
    - ``"box"``: the person whose keypoints' bounding box overlaps the subject's tracked box most (IoU); frames
      without a box or without an overlapping person stay empty;
    - ``"largest"``: the person whose keypoints' bounding box is largest;
    - an integer k: each frame's k-th person (OpenPose's order, which no tracker keeps).
    """
    frames, rows = [], []
    for frame, people in pose.unnamed.items():
        if not len(people):
            continue
        pick = _pick(pose, frame, people, individual, boxes)
        if pick is not None:
            frames.append(frame)
            rows.append(people[pick])
    pose.keypoints = {"subject": np.stack(rows) if rows else np.zeros((0, len(pose.joints), 3))}
    pose.frames = {"subject": np.array(frames, dtype=int)}
    return pose


def _pick(pose: PoseFile, frame: int, people: np.ndarray, individual, boxes) -> int | None:
    if individual is None:
        if len(people) > 1:
            raise pose.refuse(f"frame {frame} has {len(people)} people; choose with individual='box' (the subject's "
                              "tracked box), 'largest' or an index")  # fmt: skip
        return 0
    extents = [_extent(p) for p in people]
    if individual == "largest":
        areas = [0.0 if e is None else e[2] * e[3] for e in extents]
        return int(np.argmax(areas))
    if individual == "box":
        if boxes is None:
            raise pose.refuse("individual='box' needs the subject's boxes")
        box = boxes[frame] if frame < len(boxes) else np.full(4, np.nan)
        if not np.all(np.isfinite(box)):
            return None
        overlaps = [0.0 if e is None else _iou(e, box) for e in extents]
        return int(np.argmax(overlaps)) if max(overlaps) > 0 else None
    try:
        index = int(individual)
    except (TypeError, ValueError):
        raise pose.refuse(f"individual must be None, 'box', 'largest' or an index, not {individual!r}") from None
    return index if 0 <= index < len(people) else None


def _extent(person: np.ndarray) -> np.ndarray | None:
    xy = person[np.isfinite(person[:, :2]).all(axis=1), :2]
    if not len(xy):
        return None
    low, high = xy.min(axis=0), xy.max(axis=0)
    return np.array([*low, *(high - low)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0
