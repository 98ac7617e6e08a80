"""Face blurring driven by face keypoints, with the person box's head region as the fallback.

``face_regions`` turns each person's face keypoints into an ellipse ``(cx, cy, rx, ry, angle)`` (pixels,
angle in degrees as in ``cv2.ellipse``: rotation of the x axis towards +y); ``blur_faces`` blurs inside them.

Size of a face ellipse. From the confident face keypoints we estimate the head width S (pixels) as the largest of
these pairwise distances times a factor that turns it into a head width (adult averages: ear to ear about
14.5 cm, eye to eye about 6.3 cm, ear to nose tip about 11-12 cm, ear to eye about 9.5 cm, eye to nose tip about
4.5-5 cm; the synthetic figures agree within 10 percent):

- ear to ear x 1.0, eye to eye x 2.4, ear to nose x 1.3, ear to eye (same side) x 1.5, eye to nose x 3.0;
- wholebody face landmarks (``face-0`` ... ``face-67``): their extent / 0.9 (the landmarks span about 0.9 of
  the head's width).

Taking the largest keeps S from shrinking when a pair is foreshortened (both ears project onto one point seen in
profile, while ear to nose is then longest). With a person box, S is at least ``MIN_HEAD_FRACTION`` x max(w, h)
(a head is about 0.086 of a standing person's height; the floor is 70 percent of that, and only raises S, e.g.
when the face is turned and its nose and eyes are out of the image).

The ellipse is centred on the mean of the confident face keypoints, with ``rx = RX_FACTOR * S`` and
``ry = RY_FACTOR * S``: 2.4 head widths across and 3 high, a generous margin around a head (about 1 x 1.55 head
widths) wherever on the head the keypoints lie (in profile their mean sits half a head radius in front of the
head's centre). Its angle follows the eye (else ear) line when that line is clearly seen (longer than half its
expected length), so a tilted or lying head gets a tilted ellipse; otherwise it is upright.

Fallback: a person with fewer than two confident face keypoints gets the ellipse around the head region of its
box (``visualize.head_regions``: the box's top part), so a face is never left unblurred because its keypoints
were missed. A person with neither gets nothing (there is nothing to locate).

Whole videos, without a database or video files: `people_to_blur` says whom to blur in each frame (every
tracklet's box, plus the detector's boxes the tracker left out); `blur_people` blurs one frame's people (a 2D
estimator finds their faces), `blur_frames` a stream of frames, the estimator running on several frames at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice

import cv2
import numpy as np

from pose_pipeline.formats import BlurredFaces, Detections, Tracks
from pose_pipeline.skeletons import FACE_JOINTS, JointSet, get_joint_set
from pose_pipeline.tracking.subject import iou
from pose_pipeline.visualize import head_regions

# Factors from a pair of face keypoints' distance to the head width (see the module docstring).
HEAD_WIDTH_FACTORS = {
    ("ear", "ear"): 1.0,
    ("eye", "eye"): 2.4,
    ("ear", "nose"): 1.3,
    ("ear", "eye"): 1.5,
    ("eye", "nose"): 3.0,
}
RX_FACTOR = 1.2  # ellipse half-width in head widths
RY_FACTOR = 1.5  # ellipse half-height in head widths
MIN_HEAD_FRACTION = 0.06  # head width floor as a share of max(w, h) of the person box
BLUR_FRACTION = 0.35  # Gaussian sigma as a share of the ellipse's smaller radius
FEATHER_FRACTION = 0.25  # the blur fades out over this share of the radii, outside the ellipse

Ellipse = tuple[float, float, float, float, float]


def _joint_set(joint_set) -> JointSet:
    return joint_set if isinstance(joint_set, JointSet) else get_joint_set(joint_set)


def _face_part(name: str) -> str | None:
    """The face part a joint name refers to: 'nose', 'left_eye', 'right_ear', ..., 'face' (another face
    landmark, e.g. wholebody sets' face-0 ... face-67), or None for a joint that is not on the face."""
    lowered = name.lower()
    if lowered in FACE_JOINTS or lowered.endswith(("_eye", "_ear")):
        return lowered
    if lowered.startswith("face"):
        return "face"
    return None


def face_joints(joint_set) -> dict[int, str]:
    """Face joints of a joint set: index -> part ('nose', 'left_eye', ..., or 'face' for other landmarks)."""
    joint_set = _joint_set(joint_set)
    parts = {i: _face_part(name) for i, name in enumerate(joint_set.joints)}
    return {i: part for i, part in parts.items() if part is not None}


def _pair_factor(part_a: str, part_b: str) -> float | None:
    """Head width per unit distance between two face parts (None when the pair gives no estimate)."""
    side_a, _, kind_a = part_a.rpartition("_")
    side_b, _, kind_b = part_b.rpartition("_")
    if {kind_a, kind_b} == {"ear", "eye"} and side_a != side_b:
        return None  # an ear and the other side's eye: their distance depends too much on the head's turn
    return HEAD_WIDTH_FACTORS.get(tuple(sorted((kind_a, kind_b))))


def _head_width(points: np.ndarray, parts: list[str]) -> float:
    """Largest head-width estimate over the pairs of face points (0 if no pair has a factor)."""
    width = 0.0
    landmarks = [i for i, part in enumerate(parts) if part == "face"]
    for a in range(len(points)):
        for b in range(a + 1, len(points)):
            factor = _pair_factor(parts[a], parts[b])
            if factor is not None:
                width = max(width, factor * float(np.linalg.norm(points[a] - points[b])))
    if len(landmarks) >= 2:  # wholebody: the landmarks outline the face; a face is about 0.9 head widths across
        extent = points[landmarks].max(axis=0) - points[landmarks].min(axis=0)
        width = max(width, float(extent.max()) / 0.9)
    return width


def _angle(points: np.ndarray, parts: list[str], head_width: float) -> float:
    """Head roll in degrees from the eye line (else the ear line) when clearly seen, else 0."""
    for part, factor in (("eye", HEAD_WIDTH_FACTORS["eye", "eye"]), ("ear", 1.0)):
        pair = [p for p, name in zip(points, parts) if name.endswith(part)]
        if len(pair) == 2:
            dx, dy = pair[1] - pair[0]
            if np.hypot(dx, dy) * factor > 0.5 * head_width:
                # the line's direction does not matter: keep the angle within [-90, 90)
                return float((np.degrees(np.arctan2(dy, dx)) + 90) % 180 - 90)
    return 0.0


def _box_ellipse(box) -> Ellipse:
    """The ellipse through the corners of a box's head region (it contains the whole region)."""
    x, y, w, h = head_regions(box)[0]
    return (x + w / 2, y + h / 2, w / np.sqrt(2), h / np.sqrt(2), 0.0)


def face_regions(keypoints, joint_set, boxes=None, min_confidence: float = 0.3) -> list[Ellipse]:
    """Face ellipses ``(cx, cy, rx, ry, angle_degrees)`` of the people in one frame.

    ``keypoints`` (N, J, 3) x, y, confidence (or (J, 3) for one person; NaN where missing); ``boxes`` (N, 4)
    x, y, w, h person boxes (NaN rows allowed) for the size floor and the fallback. Keypoints count when finite
    with confidence >= ``min_confidence``. Sizes and the fallback are described in the module docstring. One
    ellipse per person that has two confident face keypoints or a finite box, in the people's order.
    """
    keypoints = np.asarray(keypoints, dtype=float)
    if keypoints.ndim == 2:
        keypoints = keypoints[None]
    n_people = len(keypoints)
    boxes = np.full((n_people, 4), np.nan) if boxes is None else np.asarray(boxes, dtype=float).reshape(-1, 4)
    if len(boxes) != n_people:
        raise ValueError(f"{len(boxes)} boxes for {n_people} people")
    faces = face_joints(joint_set)
    if keypoints.shape[1] != len(_joint_set(joint_set)):
        raise ValueError(f"keypoints have {keypoints.shape[1]} joints, the joint set {len(_joint_set(joint_set))}")
    indices = np.array(sorted(faces), dtype=int)
    ellipses = []
    for person, box in zip(keypoints, boxes):
        has_box = bool(np.isfinite(box).all() and box[2] > 0 and box[3] > 0)
        face = person[indices] if indices.size else np.empty((0, 3))
        with np.errstate(invalid="ignore"):
            confident = np.isfinite(face).all(axis=1) & (face[:, 2] >= min_confidence)
        points = face[confident, :2]
        parts = [faces[i] for i in indices[confident]]
        head_width = _head_width(points, parts) if len(points) >= 2 else 0.0
        if has_box:
            head_width = max(head_width, MIN_HEAD_FRACTION * max(box[2], box[3])) if head_width > 0 else 0.0
        if head_width > 0:
            cx, cy = points.mean(axis=0)
            angle = _angle(points, parts, head_width)
            ellipses.append((float(cx), float(cy), RX_FACTOR * head_width, RY_FACTOR * head_width, angle))
        elif has_box:
            ellipses.append(tuple(float(v) for v in _box_ellipse(box)))
    return ellipses


def ellipse_mask(shape, ellipse: Ellipse, feather: float = 0.0) -> np.ndarray:
    """Float mask (H, W) of an ellipse: 1 inside, falling linearly to 0 at ``1 + feather`` times its radii."""
    height, width = shape[:2]
    cx, cy, rx, ry, angle = ellipse
    v, u = np.mgrid[0:height, 0:width].astype(float)
    return _ellipse_alpha(u - cx, v - cy, rx, ry, angle, feather)


def _ellipse_alpha(du, dv, rx, ry, angle, feather):
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    along, across = c * du + s * dv, -s * du + c * dv
    rho = np.sqrt((along / rx) ** 2 + (across / ry) ** 2)  # 1 on the ellipse
    if feather <= 0:
        return (rho <= 1).astype(float)
    return np.clip((1 + feather - rho) / feather, 0.0, 1.0)


def blur_faces(
    frame: np.ndarray, ellipses, blur_fraction: float = BLUR_FRACTION, feather: float = FEATHER_FRACTION
) -> np.ndarray:
    """Blur ``frame`` (H, W, C or H, W; modified in place and returned) inside every ellipse of every person.

    Inside an ellipse the frame is replaced by a strong Gaussian blur (sigma = ``blur_fraction`` x the smaller
    radius, done on a downscaled copy, so large faces cost little); outside, the blur fades out linearly to
    ``1 + feather`` times the radii, so there is no hard edge and no pixel of the ellipse itself keeps detail.
    """
    height, width = frame.shape[:2]
    for cx, cy, rx, ry, angle in ellipses:
        if not (np.isfinite([cx, cy, rx, ry, angle]).all() and rx > 0 and ry > 0):
            continue
        reach = (1 + feather) * max(rx, ry) + 1
        x0, y0 = max(int(np.floor(cx - reach)), 0), max(int(np.floor(cy - reach)), 0)
        x1, y1 = min(int(np.ceil(cx + reach)) + 1, width), min(int(np.ceil(cy + reach)) + 1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        roi = frame[y0:y1, x0:x1]
        v, u = np.mgrid[y0:y1, x0:x1].astype(float)
        alpha = _ellipse_alpha(u - cx, v - cy, rx, ry, angle, feather)
        if not alpha.any():
            continue
        blurred = _strong_blur(roi, max(1.0, blur_fraction * min(rx, ry)))
        if roi.ndim == 3:
            alpha = alpha[..., None]
        mixed = alpha * blurred + (1 - alpha) * roi.astype(float)
        if np.issubdtype(frame.dtype, np.integer):
            info = np.iinfo(frame.dtype)
            mixed = np.clip(np.rint(mixed), info.min, info.max)
        frame[y0:y1, x0:x1] = mixed.astype(frame.dtype)
    return frame


def _strong_blur(roi: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a large sigma: downscale so the sigma is about 2 pixels, blur, scale back up."""
    height, width = roi.shape[:2]
    source = roi.astype(np.float32)
    scale = max(1.0, sigma / 2.0)
    small_size = (max(1, round(width / scale)), max(1, round(height / scale)))
    small = cv2.resize(source, small_size, interpolation=cv2.INTER_AREA) if scale > 1 else source
    small_sigma = sigma / scale
    small = cv2.GaussianBlur(small, (0, 0), small_sigma, borderType=cv2.BORDER_REFLECT)
    if scale > 1:
        small = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return small.reshape(roi.shape).astype(float)


# --- whole videos -------------------------------------------------------------------------------------------------


def people_to_blur(
    tracks: Tracks, detections: Sequence[np.ndarray] | Detections | None = None, iou_threshold: float = 0.5
) -> dict[int, np.ndarray]:
    """The people whose faces are blurred in each frame: frame index -> (M, 4) float x, y, w, h boxes.

    A frame's boxes are its tracklet boxes (in the tracks' row order), then each of its raw ``detections`` (one
    (N, 5) x, y, w, h, score array per frame, frame index = position; the detector's order) whose IoU with every
    box kept so far is below ``iou_threshold``: trackers leave out unconfirmed tracks and re-acquired people,
    whose faces must be blurred all the same. "Kept so far" includes the detections added before it, so two
    detections of one person (IoU >= ``iou_threshold``) add one box. Frames without anybody are absent.
    ``detections`` None: the tracklets alone. Raises `ContractError` for invalid detections or tracks, or tracks
    in frames beyond the detections'.
    """
    boxes_by_frame = {frame: boxes.astype(float) for frame, (boxes, _) in tracks.by_frame().items()}
    if detections is None:
        return boxes_by_frame
    detections = detections if isinstance(detections, Detections) else Detections(list(detections))
    detections.validate()
    tracks.validate(n_frames=len(detections.boxes))
    for frame, frame_detections in enumerate(detections.boxes):
        boxes = boxes_by_frame.get(frame, np.empty((0, 4)))
        for detection in frame_detections[:, :4]:
            if not len(boxes) or iou(boxes, detection).max() < iou_threshold:
                boxes = np.vstack([boxes, detection])
        if len(boxes):
            boxes_by_frame[frame] = boxes
    return dict(sorted(boxes_by_frame.items()))


def _blur_with_keypoints(frame: np.ndarray, boxes: np.ndarray, keypoints, joint_set) -> tuple[np.ndarray, int]:
    regions = face_regions(np.asarray(keypoints, dtype=float), joint_set, boxes=boxes)
    return blur_faces(frame, regions), len(regions)


def _boxes(boxes) -> np.ndarray:
    return np.asarray(boxes, dtype=float).reshape(-1, 4)


def blur_people(frame: np.ndarray, boxes, estimator) -> tuple[np.ndarray, int]:
    """Blur the faces of the people in ``boxes`` ((M, 4) x, y, w, h) in one RGB ``frame`` (modified in place).

    ``estimator(frames, boxes)`` (a ``TOP_DOWN`` object, with a ``joint_set``) finds each person's keypoints;
    `face_regions` turns them into face ellipses (the box's head region where face keypoints are missing or
    unconfident) and `blur_faces` blurs them. Returns the frame and the number of regions blurred (one per person
    at most). With nobody, the estimator is not run and the frame is returned untouched.
    """
    boxes = _boxes(boxes)
    if not len(boxes):
        return frame, 0
    keypoints = estimator([frame], [boxes])
    if len(keypoints) != 1:
        raise ValueError(f"estimator returned {len(keypoints)} results for 1 frame")
    return _blur_with_keypoints(frame, boxes, keypoints[0], estimator.joint_set)


def blur_frames(
    frames: Iterable[np.ndarray],
    people: Mapping[int, np.ndarray] | Sequence[np.ndarray],
    estimator,
    *,
    batch_size: int = 8,
) -> Iterator[tuple[np.ndarray, int]]:
    """`blur_people` over a stream of frames: yields ``(blurred frame, regions blurred)`` for each frame, in order.

    ``frames``: any iterable of RGB frames (a `VideoReader`'s ``iter_frames()``, a list), numbered from 0; each
    is modified in place and yielded. ``people``: each frame's (M, 4) x, y, w, h boxes, as a mapping frame index
    -> boxes (`people_to_blur`; a frame that is absent has nobody) or a sequence with one entry per frame (frames
    beyond its end have nobody). The estimator gets up to ``batch_size`` frames per call (only those with somebody
    in them), so only that many frames are held at a time; each frame's result is the same as `blur_people`'s.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lookup = people if isinstance(people, Mapping) else dict(enumerate(people))
    nobody = np.empty((0, 4))
    iterator = iter(frames)
    start = 0
    while batch := list(islice(iterator, batch_size)):
        boxes = [_boxes(lookup.get(start + i, nobody)) for i in range(len(batch))]
        busy = [i for i, frame_boxes in enumerate(boxes) if len(frame_boxes)]
        keypoints = estimator([batch[i] for i in busy], [boxes[i] for i in busy]) if busy else []
        if len(keypoints) != len(busy):
            raise ValueError(f"estimator returned {len(keypoints)} results for {len(busy)} frames")
        by_frame = dict(zip(busy, keypoints))
        for i, frame in enumerate(batch):
            if i in by_frame:
                yield _blur_with_keypoints(frame, boxes[i], by_frame[i], estimator.joint_set)
            else:
                yield frame, 0
        start += len(batch)


def blur_faces_in_video(source, out, people, estimator, *, batch_size: int = 8) -> BlurredFaces:
    """Write ``out`` (H.264): every frame of the video file ``source`` with the faces of ``people`` blurred
    (`blur_frames`); returns the written file, its frame count and the face regions blurred."""
    from .video.overlay import video_map

    counts = {"frames": 0, "faces": 0}

    def blurred(frames):
        for frame, faces in blur_frames(frames, people, estimator, batch_size=batch_size):
            counts["frames"] += 1
            counts["faces"] += faces
            yield frame

    path = video_map(source, out, blurred)
    return BlurredFaces(path, num_frames=counts["frames"], faces_blurred=counts["faces"])
