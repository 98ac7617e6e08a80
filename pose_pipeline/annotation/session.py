"""The logic behind the annotation widget, without widgets: one tracking result being annotated.

`AnnotationSession` holds a tracking result's tracklets with the annotator's splits applied, reads its video
lazily (a few decoded frames cached, never the whole video), renders frames with every tracklet's box and id and
every head blurred, and saves through `pose_pipeline.schema.tracking.annotate`. The functions below find
tracking results and the ones still waiting for an annotation.
"""

from __future__ import annotations

import getpass
from collections import OrderedDict

import cv2
import numpy as np

from ..tracking.subject import Split, apply_splits
from ..visualize import blur_regions, draw_boxes, head_regions
from .timeline import track_spans


def tracking_module():
    """The tracking schema module, activated (with the rest of the pipeline) if it is not yet."""
    from .. import schema
    from ..schema import tracking

    if not schema.is_active():
        schema.activate()
    if tracking.schema.database is None:  # not (yet) one of the pipeline's STAGE_MODULES
        schema.activate_module(tracking)
    return tracking


def _sorted_keys(query) -> list[dict]:
    primary_key = query.primary_key
    return sorted(query.proj().to_dicts(), key=lambda key: tuple(key[k] for k in primary_key))


def _restricted(query, restriction):
    return query if restriction is None else query & restriction


def tracking_results(restriction=None) -> list[dict]:
    """Keys of every `TrackingBbox` row within ``restriction`` (anything DataJoint can restrict by), sorted."""
    return _sorted_keys(_restricted(tracking_module().TrackingBbox, restriction))


def unannotated(restriction=None) -> list[dict]:
    """Keys of the `TrackingBbox` rows within ``restriction`` that have no `PersonBboxValid` row, sorted."""
    tracking = tracking_module()
    return _sorted_keys(_restricted(tracking.TrackingBbox, restriction) - tracking.PersonBboxValid)


def next_unannotated(restriction=None, after: dict | None = None) -> dict | None:
    """The first unannotated tracking result after ``after`` in key order (wrapping around, never ``after``
    itself), or None when there is no other."""
    keys = unannotated(restriction)
    if after is None:
        return keys[0] if keys else None
    order = tracking_module().TrackingBbox.primary_key
    here = tuple(after[k] for k in order)
    others = [key for key in keys if tuple(key[k] for k in order) != here]
    later = [key for key in others if tuple(key[k] for k in order) > here]
    return (later or others or [None])[0]


def key_name(key: dict) -> str:
    """A tracking result's key as one line: ``project/file · tracker · detector``."""
    return f"{key['video_project']}/{key['filename']} · {key['tracking_method']} · {key['detector']}"


class AnnotationSession:
    """One tracking result being annotated (``key``: a `TrackingBbox` key).

    ``tracks`` are the stored tracklets with ``splits`` applied in order; ``frame(i)`` reads frame ``i`` lazily
    (at most ``cache_size`` decoded frames are kept), scaled down to at most ``max_width`` pixels wide;
    ``render(i, selected)`` draws every tracklet's box and id on it with every head blurred.
    """

    def __init__(self, key: dict, *, cache_size: int = 8, max_width: int = 960):
        tracking = self._tracking = tracking_module()
        missing = [k for k in tracking.TrackingBbox.primary_key if k not in key]
        if missing:
            raise KeyError(f"a tracking result key needs {missing}")
        self.key = {k: key[k] for k in tracking.TrackingBbox.primary_key}
        result = tracking.TrackingBbox & self.key
        if not result:
            raise LookupError(f"no tracking result {key_name(self.key)} (populate TrackingBbox first)")
        self.raw_tracks = tracking.TrackingBbox.tracks(self.key)
        self.n_frames = max(int(result.fetch1("num_frames")), 1)
        info = tracking.VideoInfo & self.key
        if info:
            fps, timestamps, width = info.fetch1("fps", "timestamps", "width")
            self.fps, self.timestamps, width = float(fps), np.asarray(timestamps, dtype=float), int(width)
        else:
            self.fps, self.timestamps, width = None, None, None
        self.scale = 1.0 if width is None else min(1.0, max_width / width)
        self.max_width = max_width
        self.cache_size = cache_size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._reader = None
        self.splits: list[Split] = []
        self._apply()

    # --- tracklets and splits -----------------------------------------------------------------------------------

    def _apply(self) -> None:
        self.tracks = apply_splits(self.raw_tracks, self.splits)
        self._by_frame = self.tracks.by_frame()

    @property
    def track_ids(self) -> list[int]:
        """Track ids after the splits, ascending."""
        return sorted(int(t) for t in np.unique(self.tracks.track_id))

    def spans(self) -> dict[int, list[tuple[int, int]]]:
        """Per track id, its runs of consecutive frames (see `track_spans`)."""
        return track_spans(self.tracks.frame, self.tracks.track_id)

    def boxes_at(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The boxes (x, y, w, h in video pixels) and track ids in frame ``index``."""
        return self._by_frame.get(index, (np.empty((0, 4)), np.empty(0, dtype=int)))

    def splittable_at(self, index: int) -> list[int]:
        """Tracks that can be split at frame ``index``: present in it and in some earlier frame."""
        _, ids = self.boxes_at(index)
        return sorted(int(t) for t in ids if np.any((self.tracks.track_id == t) & (self.tracks.frame < index)))

    def next_id(self) -> int:
        """An id no track has had (stored or created by a split)."""
        used = [int(t) for t in self.raw_tracks.track_id] + [s.new_id for s in self.splits] + [-1]
        return max(used) + 1

    def split(self, track_id: int, index: int) -> Split:
        """Give track ``track_id``'s boxes from frame ``index`` on a new id (an identity swap there)."""
        track_id, index = int(track_id), int(index)
        mine = self.tracks.frame[self.tracks.track_id == track_id]
        if mine.size == 0:
            raise ValueError(f"there is no track {track_id}")
        if not np.any(mine >= index):
            raise ValueError(f"track {track_id} has no boxes from frame {index} on: nothing to split")
        if not np.any(mine < index):
            raise ValueError(
                f"track {track_id} starts at frame {int(mine.min())}: splitting it at {index} changes nothing"
            )
        split = Split(track_id, index, self.next_id())
        self.set_splits([*self.splits, split])
        return split

    def undo_split(self) -> Split | None:
        """Remove the last split; returns it (None when there was none)."""
        if not self.splits:
            return None
        last = self.splits[-1]
        self.set_splits(self.splits[:-1])
        return last

    def set_splits(self, splits) -> None:
        """Replace the splits (``Split``s or ``[track_id, frame, new_id]`` triples) and re-apply them."""
        self.splits = [s if isinstance(s, Split) else Split(*map(int, s)) for s in splits]
        self._apply()

    # --- frames -------------------------------------------------------------------------------------------------

    def time_at(self, index: int) -> float | None:
        """Seconds from the first frame to frame ``index`` (per-frame timestamps when known)."""
        if self.timestamps is not None and 0 <= index < len(self.timestamps):
            return float(self.timestamps[index])
        return index / self.fps if self.fps else None

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as stored (RGB), scaled to the display width; read on demand, a few kept."""
        index = int(index)
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        if self._reader is None:
            from ..schema.video import fetch_video
            from ..video.reader import VideoReader

            self._reader = VideoReader(fetch_video(self.key))
            if self.fps is None:
                self.fps = self._reader.fps
                self.scale = min(1.0, self.max_width / self._reader.size[0])
        image = self._reader[index]
        if self.scale < 1.0:
            size = (round(image.shape[1] * self.scale), round(image.shape[0] * self.scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        self._cache[index] = image
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return image

    def render(self, index: int, selected=()) -> np.ndarray:
        """Frame ``index`` with every head blurred and every tracklet's box and id drawn in its colour; the
        boxes of ``selected`` tracks are drawn thicker."""
        image = self.frame(index).copy()
        boxes, ids = self.boxes_at(index)
        boxes = boxes * self.scale
        blur_regions(image, head_regions(boxes))  # privacy by default: every person's head, as in the overlays
        chosen = np.isin(ids, np.asarray(list(selected), dtype=int))
        draw_boxes(image, boxes[~chosen], ids[~chosen], thickness=2)
        draw_boxes(image, boxes[chosen], ids[chosen], thickness=5)
        return image

    def jpeg(self, index: int, selected=(), quality: int = 85) -> bytes:
        """`render` encoded as JPEG."""
        image = cv2.cvtColor(self.render(index, selected), cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"could not encode frame {index} as JPEG")
        return data.tobytes()

    def close(self) -> None:
        """Close the video and drop the cached frames."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._cache.clear()

    # --- the database -------------------------------------------------------------------------------------------

    def annotations(self) -> list[dict]:
        """This tracking result's `PersonBboxValid` rows, by subject id."""
        rows = (self._tracking.PersonBboxValid & self.key).to_dicts()
        return sorted(rows, key=lambda row: row["subject_id"])

    def save(self, subject_id: int, tracks, *, max_gap: int = 0, annotator: str = "") -> tuple[dict, bool]:
        """Record ``tracks`` (ids after the splits) as subject ``subject_id`` with the current splits, replacing
        an earlier annotation of the same subject. Returns the `PersonBboxValid` key and whether it replaced
        one; raises `AnnotationError` for an annotation that cannot be right."""
        replaced = bool(self._tracking.PersonBboxValid & {**self.key, "subject_id": int(subject_id)})
        key = self._tracking.annotate(
            self.key,
            int(subject_id),
            [int(t) for t in tracks],
            splits=[(s.track_id, s.frame, s.new_id) for s in self.splits],
            max_gap=int(max_gap),
            annotator=annotator or getpass.getuser(),
            replace=replaced,
        )
        return key, replaced

    def mark_unusable(self, annotator: str = "") -> tuple[dict, bool]:
        """Record the video as unusable (subject -1), replacing every subject annotated before. Returns the key and
        whether anything was replaced."""
        replaced = bool(self._tracking.PersonBboxValid & self.key)
        key = self._tracking.annotate(self.key, -1, [], annotator=annotator or getpass.getuser(), replace=replaced)
        return key, replaced
