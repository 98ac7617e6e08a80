"""The tracking loop: frames -> detector -> tracker -> `Tracks`, and tracklet edits for the annotation widget.

Pure functions: no database, no video files. The tracking stage's ``make()`` calls `track_video` (or
`detect_and_track`, which also keeps the detector's raw boxes) with a `VideoReader`, a detector built from
``DETECTION`` and a tracker built from ``TRACKING``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

import numpy as np

from pose_pipeline.formats import Detections, Tracks


class Tracker(Protocol):
    """What `track_video` needs of a tracker (`PackageTracker` is one)."""

    def update(self, boxes: np.ndarray, frame: np.ndarray | None = None) -> np.ndarray: ...

    def reset(self) -> None: ...


def _empty_tracks() -> Tracks:
    return Tracks(
        frame=np.empty(0, dtype=np.int64),
        track_id=np.empty(0, dtype=np.int64),
        boxes=np.empty((0, 4)),
        confidence=np.empty(0),
    )


class _Collector:
    """Gathers the tracker's per-frame (M, 6) outputs into one `Tracks`."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker
        self.rows: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []

    def add(self, index: int, boxes: np.ndarray, frame: np.ndarray | None) -> None:
        out = np.asarray(self.tracker.update(boxes, frame), dtype=float)
        if out.ndim != 2 or out.shape[1] != 6:
            raise ValueError(f"tracker returned shape {out.shape} for frame {index}; expected (M, 6)")
        if len(out):
            self.rows.append(out)
            self.frames.append(np.full(len(out), index, dtype=np.int64))

    def tracks(self, n_frames: int | None) -> Tracks:
        if not self.rows:
            tracks = _empty_tracks()
        else:
            rows = np.concatenate(self.rows)
            ids = rows[:, 5]
            if not np.array_equal(ids, np.round(ids)):
                raise ValueError("tracker returned non-integer track ids")
            tracks = Tracks(
                frame=np.concatenate(self.frames),
                track_id=ids.astype(np.int64),
                boxes=rows[:, :4].copy(),
                confidence=rows[:, 4].copy(),
            )
        tracks.validate(n_frames=n_frames)
        return tracks


def _batches(frames: Iterable[np.ndarray], size: int):
    iterator = iter(frames)
    while batch := list(islice(iterator, size)):
        yield batch


def prepare_detector(detector, frames, prime_samples: int = 15) -> None:
    """Reset a stateful detector and, if it has ``prime(frames)`` and ``frames`` allows random access (a
    `VideoReader`), prime it with ``prime_samples`` frames spread evenly over the video."""
    if hasattr(detector, "reset"):
        detector.reset()
    if hasattr(detector, "prime") and hasattr(frames, "__getitem__") and hasattr(frames, "__len__") and len(frames):
        count = len(frames)
        detector.prime([frames[int(i)] for i in np.linspace(0, count - 1, min(prime_samples, count))])


@dataclass
class TrackedVideo:
    """What one pass of detection and tracking over a video gives: the tracker's `Tracks` and the detector's raw
    per-frame boxes (`Detections`, one (N, 5) array per frame, the tracker's input), which also hold the boxes a
    tracker leaves out (unconfirmed tracks, re-acquired people, low scores)."""

    tracks: Tracks
    detections: Detections

    def validate(self, n_frames: int | None = None) -> None:
        """Both contracts: the tracks and the detections cover the same ``n_frames`` frames."""
        self.tracks.validate(n_frames=n_frames)
        self.detections.validate(n_frames=n_frames)


def detect_and_track(
    frames: Iterable[np.ndarray],
    detector: Callable[[list[np.ndarray]], Sequence[np.ndarray]],
    tracker: Tracker,
    *,
    batch_size: int = 8,
    n_frames: int | None = None,
    progress: bool = False,
    prime_samples: int = 15,
) -> TrackedVideo:
    """Detect and track people in a stream of RGB frames; returns validated `Tracks` (frame indices from 0) and
    the detector's validated `Detections` of every frame, from the same single pass (the detector runs once per
    frame; no frames are kept, only their boxes).

    ``frames``: any iterable of (H, W, 3) uint8 RGB arrays (a `VideoReader`, a list, a generator); only
    ``batch_size`` frames are held at a time. ``detector(list of frames)`` returns one (N, 5) array x, y, w, h,
    score per frame (a ``DETECTION`` object). ``tracker`` is reset first, then fed each frame's detections in
    order. ``n_frames``, when given, is the number of frames the stream must yield (a shorter or longer stream is
    an error) and the progress bar's total. A video with nobody in it gives `Tracks` with zero rows.

    A detector with state (the motion detector's background model) is reset; one with a ``prime(frames)`` method
    is primed with ``prime_samples`` frames spread evenly over the video when ``frames`` allows random access (a
    `VideoReader`), so it detects from the first frame instead of after a warm-up.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    prepare_detector(detector, frames, prime_samples)
    tracker.reset()
    collector = _Collector(tracker)
    kept: list[np.ndarray] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_frames, desc="tracking", unit="frame")
    index = 0
    try:
        for batch in _batches(frames, batch_size):
            detections = [np.array(boxes, dtype=float).reshape(-1, 5) for boxes in detector(batch)]
            if len(detections) != len(batch):
                raise ValueError(f"detector returned {len(detections)} results for a batch of {len(batch)} frames")
            # The detector's contract, checked here so a broken detector is named rather than the tracker.
            Detections(detections).validate()
            for frame, boxes in zip(batch, detections):
                collector.add(index, boxes, frame)
                index += 1
            kept.extend(detections)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    if n_frames is not None and index != n_frames:
        raise ValueError(f"the video yielded {index} frames, expected {n_frames}")
    return TrackedVideo(tracks=collector.tracks(n_frames=index), detections=Detections(kept))


def track_video(frames: Iterable[np.ndarray], detector, tracker: Tracker, **options) -> Tracks:
    """`detect_and_track`'s `Tracks` alone (same arguments and options, same single pass); see there."""
    return detect_and_track(frames, detector, tracker, **options).tracks


def track_detections(detections: Sequence[np.ndarray] | Detections, tracker: Tracker) -> Tracks:
    """Track precomputed detections (one (N, 5) array per frame, or a `Detections`) without images.

    The tracker is reset first, so the same detections given to several trackers compare them fairly. Trackers
    that read images (BoT-SORT's camera motion compensation) run without it.
    """
    boxes = detections.boxes if isinstance(detections, Detections) else detections
    boxes = [np.asarray(frame_boxes, dtype=float).reshape(-1, 5) for frame_boxes in boxes]
    Detections(boxes).validate()
    tracker.reset()
    collector = _Collector(tracker)
    for index, frame_boxes in enumerate(boxes):
        collector.add(index, frame_boxes, None)
    return collector.tracks(n_frames=len(boxes))


def _copy(tracks: Tracks, track_id: np.ndarray) -> Tracks:
    return Tracks(
        frame=tracks.frame.copy(), track_id=track_id, boxes=tracks.boxes.copy(), confidence=tracks.confidence.copy()
    )


def split_track(tracks: Tracks, track_id: int, at_frame: int, new_id: int | None = None) -> Tracks:
    """Split tracklet ``track_id`` where an identity swap happened: its rows from frame ``at_frame`` on get
    ``new_id`` (default: the largest id + 1). Returns new `Tracks`; ``tracks`` is not changed.

    Raises ValueError if ``track_id`` does not exist, has no rows from ``at_frame`` on, or if ``new_id`` is taken
    by another track in any of the moved frames.
    """
    rows = tracks.track_id == track_id
    if not rows.any():
        raise ValueError(f"no track {track_id}")
    moved = rows & (tracks.frame >= at_frame)
    if not moved.any():
        raise ValueError(
            f"track {track_id} has no rows from frame {at_frame} on (its last frame is {int(tracks.frame[rows].max())})"
        )
    if new_id is None:
        new_id = int(tracks.track_id.max()) + 1
    elif new_id < 0:
        raise ValueError(f"track ids must be >= 0, got {new_id}")
    elif new_id != track_id:
        clash = np.intersect1d(tracks.frame[moved], tracks.frame[tracks.track_id == new_id])
        if clash.size:
            raise ValueError(f"track {new_id} already has boxes in frames {clash[:5].tolist()}")
    ids = tracks.track_id.copy()
    ids[moved] = new_id
    result = _copy(tracks, ids)
    result.validate()
    return result


def merge_tracks(tracks: Tracks, track_ids: Iterable[int], into: int | None = None) -> Tracks:
    """Join tracklets of one person: every id in ``track_ids`` becomes ``into`` (default: the smallest of them).

    Returns new `Tracks`. Raises ValueError if an id does not exist or if two of the merged tracklets have boxes
    in the same frame.
    """
    track_ids = sorted({int(i) for i in track_ids})
    missing = [i for i in track_ids if not np.any(tracks.track_id == i)]
    if missing or not track_ids:
        raise ValueError(f"no track(s) {missing}" if missing else "no track ids given")
    into = track_ids[0] if into is None else int(into)
    if into < 0:
        raise ValueError(f"track ids must be >= 0, got {into}")
    merged = np.isin(tracks.track_id, [*track_ids, into])
    frames, counts = np.unique(tracks.frame[merged], return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"tracks {track_ids} overlap in frames {frames[counts > 1][:5].tolist()}; cannot merge")
    ids = tracks.track_id.copy()
    ids[merged] = into
    return _copy(tracks, ids)
