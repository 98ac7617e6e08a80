"""MOT-challenge text files in and out, and ground truth as `Tracks`.

A MOT file has one comma-separated row per box: ``frame, id, bb_left, bb_top, width, height, conf, x, y, z``
with 1-based frames (``x, y, z`` are -1 for 2D boxes; ground-truth files use them for class and visibility).
`Tracks` use 0-based frames and this package's pixel convention (`pose_pipeline.formats`): 0 is the top-left
corner of the top-left pixel, so a box covering pixel columns 3..7 has x = 3, w = 5.

Files written by other tools may measure coordinates from elsewhere; ``origin`` says where:

- ``"edge"`` (default): this package's convention; written files use it too;
- ``"center0"``: 0 at the centre of the top-left pixel (OpenCV, COCO keypoints, and the synthetic scenes'
  `GroundTruth.to_mot`, whose box edges are pixel boundaries at -0.5 offsets): our x = file x + 0.5;
- ``"center1"``: 1 at the centre of the top-left pixel (1-based pixel indices, MATLAB): our x = file x - 0.5.

Widths and heights are the same in all three.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose_pipeline.formats import Tracks

ORIGINS = {"edge": 0.0, "center0": 0.5, "center1": -0.5}  # added to file x, y to get this package's x, y


def _offset(origin: str) -> float:
    try:
        return ORIGINS[origin]
    except KeyError:
        raise ValueError(f"origin must be one of {sorted(ORIGINS)}, got {origin!r}") from None


def mot_to_tracks(rows: np.ndarray, *, origin: str = "edge", min_confidence: float | None = None) -> Tracks:
    """MOT rows (N, >= 6: frame 1-based, id, x, y, w, h[, conf, ...]) as `Tracks`, sorted by frame and id.

    A confidence of -1 (MOT's "not given") becomes NaN; a missing conf column gives NaN. ``min_confidence`` drops
    rows with a lower confidence (ground-truth files mark rows to ignore with conf 0: use 0.5).
    """
    rows = np.asarray(rows, dtype=float)
    if rows.size == 0:
        rows = rows.reshape(0, 10)
    if rows.ndim != 2 or rows.shape[1] < 6:
        raise ValueError(f"MOT rows need at least 6 columns (frame, id, x, y, w, h); got shape {rows.shape}")
    confidence = rows[:, 6].copy() if rows.shape[1] > 6 else np.full(len(rows), np.nan)
    confidence[confidence == -1] = np.nan
    if min_confidence is not None:
        keep = confidence >= min_confidence
        rows, confidence = rows[keep], confidence[keep]
    frame, track_id = rows[:, 0], rows[:, 1]
    for name, values in (("frame", frame), ("id", track_id)):
        if not np.array_equal(values, np.round(values)):
            raise ValueError(f"MOT {name} column must hold integers")
    if np.any(frame < 1):
        raise ValueError(f"MOT frames are 1-based; found frame {int(frame.min())}")
    if np.any(track_id < 0):
        raise ValueError("MOT rows with negative ids (detections, not tracks) cannot be read as tracks")
    order = np.lexsort((track_id, frame))
    boxes = rows[order, 2:6].copy()
    boxes[:, :2] += _offset(origin)
    tracks = Tracks(
        frame=frame[order].astype(np.int64) - 1,
        track_id=track_id[order].astype(np.int64),
        boxes=boxes,
        confidence=confidence[order],
    )
    tracks.validate()
    return tracks


def tracks_to_mot(tracks: Tracks, *, origin: str = "edge") -> np.ndarray:
    """`Tracks` as MOT rows (N, 10): frame 1-based, id, x, y, w, h, conf (NaN -> -1), -1, -1, -1."""
    rows = np.full((len(tracks.frame), 10), -1.0)
    rows[:, 0] = tracks.frame + 1
    rows[:, 1] = tracks.track_id
    rows[:, 2:6] = tracks.boxes
    rows[:, 2:4] -= _offset(origin)
    rows[:, 6] = np.where(np.isnan(tracks.confidence), -1.0, tracks.confidence)
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def read_mot(path, *, origin: str = "edge", min_confidence: float | None = None) -> Tracks:
    """Read a MOT-challenge text file (comma- or whitespace-separated; an empty file gives zero rows)."""
    text = Path(path).read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    rows = [line.replace(",", " ").split() for line in lines]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise ValueError(f"{path}: rows have different numbers of columns {sorted(widths)}")
    array = np.array(rows, dtype=float) if rows else np.empty((0, 10))
    return mot_to_tracks(array, origin=origin, min_confidence=min_confidence)


def write_mot(tracks: Tracks, path, *, origin: str = "edge") -> Path:
    """Write `Tracks` as a MOT-challenge text file; returns the path."""
    path = Path(path)
    rows = tracks_to_mot(tracks, origin=origin)
    lines = (f"{int(r[0])},{int(r[1])}," + ",".join(f"{v:.10g}" for v in r[2:7]) + ",-1,-1,-1\n" for r in rows)
    with open(path, "w") as f:
        f.writelines(lines)
    return path


def groundtruth_tracks(ground_truth, *, min_visible: float = 0.0) -> Tracks:
    """The boxes of a synthetic `GroundTruth` as `Tracks` (ids 1-based as in the scene, confidence 1), shifted
    into this package's pixel convention (the synthetic boxes put pixel centres at integers: x + 0.5).

    ``min_visible`` > 0 drops boxes whose person is less visible than that (share of pixels not covered by others).
    """
    boxes = ground_truth.boxes
    present = np.isfinite(boxes).all(axis=-1)
    if min_visible > 0:
        present &= np.nan_to_num(ground_truth.visible_fraction, nan=0.0) >= min_visible
    frames, people = np.nonzero(present)
    kept = boxes[frames, people].copy()
    kept[:, :2] += ORIGINS["center0"]
    return Tracks(
        frame=frames.astype(np.int64),
        track_id=np.asarray(ground_truth.track_ids)[people].astype(np.int64),
        boxes=kept,
        confidence=np.ones(len(frames)),
    )
