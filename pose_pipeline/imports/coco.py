"""COCO keypoint JSON: what mmpose, detectron2 and OpenPifPaf write, and this project's own export.

Two shapes are read:

- a dataset ``{"images", "annotations", "categories"}``. Each image is a video frame: its ``frame_index`` where
  every image has one (this project's export, `pose_pipeline.export.coco`), else the last number in its
  ``file_name`` where every name has a different one (``walk_000012.png`` -> 12), else its rank by ``id``. The
  category's ``keypoints`` name the joints and its 1-based ``skeleton`` gives the bones.
- a bare results list ``[{"image_id", "category_id", "keypoints", "score", "bbox"?}, ...]`` (what detectors
  write for ``COCO.loadRes``). Its ``image_id`` is the frame counted from 1 (frame = image_id - 1), as COCO's ids
  and this project's export (``first_image_id=1``) count; format ``coco-0`` reads lists counted from 0.

Keypoints are ``[x0, y0, v0, x1, ...]``: a third value of 0 is a missing point (NaN). Where the file gives
``keypoint_scores`` (this project's export) they are the confidences; else third values that are all 0, 1 or 2
are COCO's visibility flags (a labelled point: confidence 1) and any others a detector's scores (confidence,
clipped to [0, 1]). K = 17 joints without names are COCO-17; other names make a joint set ``COCO:<category>``;
other counts without names are refused unless ``joint_set`` names a known set of that many joints.

People with a ``track_id`` (or ``instance_id``) are individuals named by it; untracked people are chosen per
frame as OpenPose's are (`pose_pipeline.imports.openpose.choose_people`). Crowd annotations and annotations
without a single point (COCO's unlabelled people) are skipped. COCO's origin is the top-left pixel's centre.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .. import __version__
from ..skeletons import BUILT_IN, COCO17, get_joint_set
from .common import ImportRefused, PoseFile, confidence, to_corner

FORMAT = "coco"
ZERO_BASED = "coco-0"  # a results list whose image_id counts frames from 0
TRACK_KEYS = ("track_id", "instance_id")
FLAGS = (0.0, 1.0, 2.0)
FRAME_NUMBER = re.compile(r"(\d+)")


def read_coco(path, pixel_origin: str = "centre", joint_set: str | None = None, name: str | None = None,
              first_image_id: int = 1) -> PoseFile:  # fmt: skip
    """A COCO keypoint JSON file as a `PoseFile` (see the module); ``first_image_id`` is the ``image_id`` of
    frame 0 in a bare results list; ``joint_set`` names the joints of an unnamed layout other than COCO-17."""
    path = Path(path)
    what = f"{name or path} ({FORMAT if first_image_id == 1 else ZERO_BASED})"
    # Plain json, not pycocotools: COCO() prints, asserts without a message on a malformed file and needs a
    # path, and loadRes needs a dataset's images, which a bare results list lacks; grouping the annotations by
    # image is all we would take from either.
    try:
        body = json.loads(path.read_bytes())
    except (ValueError, OSError) as error:
        raise ImportRefused(f"{what}: not COCO keypoint JSON ({type(error).__name__}: {error})") from None
    if isinstance(body, list):
        annotations, frame_of, categories = body, None, {}
        n_frames, size, kind = None, None, "results list"
    elif isinstance(body, dict) and isinstance(body.get("images"), list) and isinstance(body.get("annotations"), list):
        annotations, kind = body["annotations"], "dataset"
        frame_of, n_frames, size = _image_frames(body["images"], what)
        categories = {c.get("id"): c for c in body.get("categories") or [] if isinstance(c, dict)}
    else:
        raise ImportRefused(f"{what}: not COCO keypoint JSON (neither a dataset with images and annotations nor "
                            "a results list)")  # fmt: skip
    people = _people(annotations, what)
    category = _category(people, categories, what)
    joints, bones, n_joints = _layout(people, category, joint_set, what)
    flags = not any("keypoint_scores" in p for p in people) and all(
        np.isin(np.asarray(p["keypoints"], dtype=float)[2::3], FLAGS).all() for p in people
    )
    by_track: dict[str, dict[int, np.ndarray]] = {}
    unnamed: dict[int, list[np.ndarray]] = {}
    tracked = [_track(p) is not None for p in people]
    if any(tracked) and not all(tracked):
        raise ImportRefused(f"{what}: {sum(tracked)} of {len(people)} annotations have a track_id or instance_id; "
                            "people can be told apart only if all have one")  # fmt: skip
    for person in people:
        frame = _frame(person["image_id"], frame_of, first_image_id, what)
        values = _values(person, n_joints, flags, pixel_origin, what)
        track = _track(person)
        if track is None:
            unnamed.setdefault(frame, []).append(values)
            continue
        if frame in by_track.setdefault(track, {}):
            raise ImportRefused(f"{what}: frame {frame} has two annotations of track {track!r}")
        by_track[track][frame] = values
    keypoints = {t: np.stack([rows[f] for f in sorted(rows)]) for t, rows in by_track.items()}
    frames = {t: np.array(sorted(rows), dtype=int) for t, rows in by_track.items()}
    return PoseFile(path=str(name or path), format=FORMAT if first_image_id == 1 else ZERO_BASED, joints=joints,
                    keypoints=keypoints, frames=frames,
                    joint_set_name=f"COCO:{(category or {}).get('name') or 'person'}",
                    reader="pose_pipeline.imports.coco", reader_version=f"{__version__} (COCO keypoint {kind})",
                    n_frames=n_frames, size=size, bones=bones,
                    unnamed={f: np.stack(p) for f, p in sorted(unnamed.items())} if not any(tracked) else None)  # fmt: skip


def _image_frames(images: list, what: str) -> tuple[dict, int | None, tuple[int, int] | None]:
    """image id -> video frame (see the module), the frame count the images stand for and their size."""
    if not all(isinstance(i, dict) and "id" in i for i in images):
        raise ImportRefused(f"{what}: not COCO keypoint JSON (an image without an id)")
    ids = [i["id"] for i in images]
    if len(set(ids)) != len(ids):
        raise ImportRefused(f"{what}: image ids repeat")
    numbers = [_number(i.get("file_name")) for i in images]
    if all(isinstance(i.get("frame_index"), int) for i in images):
        frames = [i["frame_index"] for i in images]
    elif None not in numbers and len(set(numbers)) == len(numbers):
        frames = numbers
    else:
        frames = list(np.argsort(np.argsort(ids, kind="stable")))
    frames = [int(f) for f in frames]
    if len(set(frames)) != len(frames) or min(frames, default=0) < 0:
        raise ImportRefused(f"{what}: its images' frames {sorted(frames)[:5]}... repeat or are negative")
    sizes = {(i["width"], i["height"]) for i in images if "width" in i and "height" in i}
    if len(sizes) > 1:
        raise ImportRefused(f"{what}: its images have {len(sizes)} sizes; the frames of one video have one")
    n_frames = len(frames) if sorted(frames) == list(range(len(frames))) else None
    size = tuple(int(v) for v in sizes.pop()) if sizes else None
    return dict(zip(ids, frames, strict=True)), n_frames, size


def _number(file_name) -> int | None:
    numbers = FRAME_NUMBER.findall(Path(file_name).stem) if isinstance(file_name, str) else []
    return int(numbers[-1]) if numbers else None


def _people(annotations: list, what: str) -> list[dict]:
    """The annotations that are people with points: crowd regions and unlabelled people (all v = 0) are not."""
    people = []
    for n, annotation in enumerate(annotations):
        if not isinstance(annotation, dict) or "image_id" not in annotation or "keypoints" not in annotation:
            raise ImportRefused(f"{what}: not COCO keypoint JSON (annotation {n} has no image_id and keypoints)")
        points = annotation["keypoints"]
        if not isinstance(points, list) or not points or len(points) % 3:
            raise ImportRefused(f"{what}: annotation {n} has {len(points) if isinstance(points, list) else 'no'} "
                                "keypoint values, not x, y, v triples")  # fmt: skip
        if annotation.get("iscrowd") or not any(points[2::3]):
            continue
        people.append(annotation)
    if not people:
        raise ImportRefused(f"{what}: holds no annotated keypoints")
    return people


def _category(people: list[dict], categories: dict, what: str) -> dict | None:
    """The one category the people are of (None: a results list, whose categories the file does not name)."""
    used = sorted({p.get("category_id") for p in people}, key=str)
    if len(used) > 1:
        raise ImportRefused(f"{what}: annotations of {len(used)} categories ({used}); one is supported")
    if not categories:
        return None
    if used[0] not in categories:
        raise ImportRefused(f"{what}: annotations of category {used[0]!r}, which is not among its categories")
    return categories[used[0]]


def _layout(people: list[dict], category: dict | None, joint_set: str | None, what: str):
    """The file's joint names, bones and joint count: the category's names, else COCO-17 for 17 joints, else the
    known set ``joint_set`` names; anything else is refused."""
    counts = sorted({len(p["keypoints"]) // 3 for p in people})
    if len(counts) > 1:
        raise ImportRefused(f"{what}: annotations have {counts} keypoints; one layout is supported")
    [n_joints] = counts
    names = (category or {}).get("keypoints")
    if names:
        if len(names) != n_joints:
            raise ImportRefused(f"{what}: annotations have {n_joints} keypoints; category "
                                f"{category.get('name')!r} names {len(names)}")  # fmt: skip
        skeleton = category.get("skeleton") or []
        bones = tuple((int(a) - 1, int(b) - 1) for a, b in skeleton)  # COCO's skeleton counts joints from 1
        return tuple(str(n) for n in names), bones, n_joints
    if joint_set is not None:
        try:
            known = get_joint_set(joint_set)
        except KeyError as error:
            raise ImportRefused(f"{what}: {error.args[0]}") from None
        if len(known) != n_joints:
            raise ImportRefused(f"{what}: annotations have {n_joints} keypoints; {joint_set} has {len(known)}")
        return known.joints, known.bones, n_joints
    if n_joints == len(COCO17):
        return COCO17.joints, COCO17.bones, n_joints
    fits = [s.name for s in BUILT_IN if len(s) == n_joints]
    raise ImportRefused(f"{what}: annotations have {n_joints} unnamed keypoints, not COCO-17's 17; name the layout "
                        f"with joint_set=... ({', '.join(fits) or 'no known set has as many'})")  # fmt: skip


def _frame(image_id, frame_of: dict | None, first_image_id: int, what: str) -> int:
    if frame_of is not None:
        if image_id not in frame_of:
            raise ImportRefused(f"{what}: an annotation is of image {image_id!r}, which is not among its images")
        return frame_of[image_id]
    if not isinstance(image_id, int) or isinstance(image_id, bool):
        raise ImportRefused(f"{what}: image_id {image_id!r} is not a frame number")
    if image_id < first_image_id:
        other = ZERO_BASED if first_image_id == 1 else FORMAT
        raise ImportRefused(f"{what}: image_id {image_id} is before the first frame (image ids count frames from "
                            f"{first_image_id}; format {other!r} counts from {1 - first_image_id})")  # fmt: skip
    return image_id - first_image_id


def _track(person: dict) -> str | None:
    for key in TRACK_KEYS:
        if person.get(key) is not None:
            return str(person[key])
    return None


def _values(person: dict, n_joints: int, flags: bool, pixel_origin: str, what: str) -> np.ndarray:
    """One person's (joints, 3) x, y (this project's convention) and confidence, NaN where v = 0."""
    try:
        points = np.asarray(person["keypoints"], dtype=float).reshape(n_joints, 3)
        scores = person.get("keypoint_scores")
        scores = None if scores is None else np.asarray(scores, dtype=float).reshape(n_joints)
    except (TypeError, ValueError) as error:
        raise ImportRefused(f"{what}: keypoints of image {person['image_id']!r} are not numbers ({error})") from None
    if scores is None:
        scores = None if flags else points[:, 2]
    values = np.concatenate([to_corner(points[:, :2], pixel_origin, what), confidence(scores, n_joints)[:, None]],
                            axis=1)  # fmt: skip
    values[(points[:, 2] == 0) | ~np.isfinite(points[:, :2]).all(axis=1)] = np.nan
    return values
