"""From tracklets to one box per frame for a subject of interest: splits, selection, overlaps, gaps.

Pure functions on `Tracks`; the database stage (`pose_pipeline.schema.tracking`) calls them.

Rules, in the order they apply:

1. **Splits.** An annotator splits a tracklet at the frame where an identity swap happened: rows of that
   track from that frame on get a new track id (`apply_splits`).
2. **Selection.** The subject is the union of the chosen tracklets.
3. **Overlaps.** Where two chosen tracklets both have a box in one frame, the box that overlaps most (IoU)
   with the subject's box in the nearest earlier frame wins (identity continuity); with no earlier box, the
   higher detection confidence wins.
4. **Gaps.** Optionally, gaps of at most ``max_gap`` frames between present boxes are filled by linear
   interpolation of x, y, w, h; longer gaps and the ends stay NaN.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..formats import PersonBoxes, Tracks

# Auto-annotation (see `auto_subject`): a tracklet shorter than this share of the video is ignored as noise;
# the one tracklet left must cover at least AUTO_MIN_COVERAGE of the video's frames.
AUTO_MIN_TRACK_FRACTION = 0.05
AUTO_MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class Split:
    """Give the rows of ``track_id`` from ``frame`` on the id ``new_id``."""

    track_id: int
    frame: int
    new_id: int


def apply_splits(tracks: Tracks, splits: list[Split]) -> Tracks:
    """Apply identity-swap splits in order; refuses a new id that is already in use."""
    track_id = tracks.track_id.copy()
    for split in splits:
        if split.new_id in track_id:
            raise ValueError(f"split of track {split.track_id} at frame {split.frame}: id {split.new_id} is in use")
        moved = (track_id == split.track_id) & (tracks.frame >= split.frame)
        if not moved.any():
            raise ValueError(f"track {split.track_id} has no boxes from frame {split.frame} on: nothing to split")
        track_id[moved] = split.new_id
    return Tracks(frame=tracks.frame, track_id=track_id, boxes=tracks.boxes, confidence=tracks.confidence)


def number_splits(tracks: Tracks, splits) -> list[Split]:
    """Splits as `Split`s, those with a negative new id given the next free id (max id + 1) in order."""
    next_id = int(tracks.track_id.max()) + 1 if len(tracks.track_id) else 0
    numbered = []
    for track_id, frame, new_id in splits:
        if new_id < 0:
            new_id = next_id
        next_id = max(next_id, new_id + 1)
        numbered.append(Split(int(track_id), int(frame), int(new_id)))
    return numbered


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of x, y, w, h boxes ``a`` (N, 4) against one box ``b`` (4,)."""
    x1 = np.maximum(a[:, 0], b[0])
    y1 = np.maximum(a[:, 1], b[1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[0] + b[2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[1] + b[3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return intersection / (a[:, 2] * a[:, 3] + b[2] * b[3] - intersection)


def subject_boxes(tracks: Tracks, n_frames: int, keep_tracks, max_gap: int = 0) -> tuple[PersonBoxes, np.ndarray]:
    """One box per frame for the union of ``keep_tracks``; returns the boxes and each frame's confidence (NaN
    where absent or interpolated)."""
    keep = np.isin(tracks.track_id, np.asarray(list(keep_tracks), dtype=tracks.track_id.dtype))
    frames, boxes, confidence = tracks.frame[keep], tracks.boxes[keep], tracks.confidence[keep]
    out = np.full((n_frames, 4), np.nan)
    out_confidence = np.full(n_frames, np.nan)
    order = np.argsort(frames, kind="stable")
    frames, boxes, confidence = frames[order], boxes[order], confidence[order]
    starts = np.searchsorted(frames, np.arange(n_frames), side="left")
    ends = np.searchsorted(frames, np.arange(n_frames), side="right")
    previous = None
    for frame in np.unique(frames):
        candidates = slice(starts[frame], ends[frame])
        if ends[frame] - starts[frame] == 1:
            best = starts[frame]
        elif previous is not None:
            best = starts[frame] + int(np.argmax(iou(boxes[candidates], previous)))
        else:
            best = starts[frame] + int(np.argmax(confidence[candidates]))
        out[frame] = boxes[best]
        out_confidence[frame] = confidence[best]
        previous = boxes[best]
    if max_gap > 0:
        fill_gaps(out, max_gap)
    result = PersonBoxes(out)
    result.validate(n_frames=n_frames)
    return result, out_confidence


def fill_gaps(boxes: np.ndarray, max_gap: int) -> None:
    """Linearly interpolate runs of at most ``max_gap`` missing frames between present ones, in place."""
    present = np.flatnonzero(np.all(np.isfinite(boxes), axis=1))
    for before, after in itertools.pairwise(present):
        gap = after - before - 1
        if 0 < gap <= max_gap:
            weights = (np.arange(1, gap + 1) / (gap + 1))[:, None]
            boxes[before + 1 : after] = (1 - weights) * boxes[before] + weights * boxes[after]


def auto_subject(tracks: Tracks, n_frames: int) -> int | None:
    """The track id to annotate automatically as subject 0, or None when a person must decide.

    Rule: ignore tracklets present in fewer than ``AUTO_MIN_TRACK_FRACTION`` of the frames (flicker, false
    detections); if exactly one tracklet is left and it is present in at least ``AUTO_MIN_COVERAGE`` of the
    frames, it is the subject. Anything else (nobody, several people, one short tracklet) needs a person.
    """
    if n_frames == 0 or len(tracks.frame) == 0:
        return None
    ids, counts = np.unique(tracks.track_id, return_counts=True)
    substantial = ids[counts >= AUTO_MIN_TRACK_FRACTION * n_frames]
    if len(substantial) != 1:
        return None
    coverage = counts[ids == substantial[0]][0] / n_frames
    return int(substantial[0]) if coverage >= AUTO_MIN_COVERAGE else None
