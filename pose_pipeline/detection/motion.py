"""Weight-free person detection for static cameras: background subtraction, blob clean-up and merging.

Pipeline per frame (all on a copy shrunk by an integer factor, boxes scaled back at the end):

1. ``cv2.BackgroundSubtractorMOG2`` with shadow detection; shadow pixels (mask value 127) are dropped, only
   definite foreground (255) is kept.
2. Morphology: an opening (3x3) removes isolated noise pixels, a closing (ellipse about 1/64 of the width)
   reconnects limbs separated by thin gaps.
3. Connected components (8-connectivity); specks below a tenth of the minimum person area are discarded.
4. Merging: a person often falls apart into head, torso and leg blobs stacked vertically, or an arm beside the
   torso. Two blobs are merged when their x-ranges overlap by at least ``merge_overlap`` of the narrower one and
   they are either stacked (sharing at most half the smaller height, with a vertical gap of at most ``merge_gap``
   of the taller height) or nested (80 % of the smaller box inside the larger); repeated until nothing changes.
   Two people side by side share most of their height without being nested, so they stay apart.
5. Merged blobs with fewer foreground pixels than ``min_area_fraction`` of the frame are dropped.

Score (documented, deterministic, in [0, 1]): ``fill_term * size_term`` where ``fill = foreground pixels / box
area`` and ``fill_term = min(1, fill / 0.3)`` (a walking person's silhouette fills 30-60 % of its box; a loose
scatter of noise or a thin ghost edge fills much less), and ``size_term = min(1, pixels / (4 * min_area))``
(blobs barely above the minimum area are the least certain).

Why MOG2 and not KNN: on the processing size (e.g. 320x180) MOG2 took 0.6 ms a frame against 1.0 ms for KNN
(OpenCV 5.0, one thread), its per-pixel Gaussian mixture suits sensor noise on a fixed camera, and its explicit
learning rate lets us initialise the model from a median background (``prime``) and then learn at a constant,
known rate.

Warm-up: until the background model has learnt ``warmup_frames`` frames its output is garbage (the first frame
is "all background", so everyone in it leaves a ghost), so those frames return no boxes. ``prime(frames)`` avoids
the loss: the per-pixel median of frames sampled across the whole video (a caller with random access, such as
the tracking stage, reads ~25 evenly spaced frames) initialises the model, and detections are valid from the first
frame. Priming from the first frames only is not done automatically: a slow walker covers the same pixels for
much of a one-second window, the median then contains them and leaves a ghost box for a second or two.

Limitation: anyone who stands still long enough is absorbed into the background: MOG2 (background ratio 0.9) takes
a new colour into the background once its weight passes 0.1, after about ``0.1 * history`` frames (measured: 55
frames with ``history=500``). The default ``history=1000`` keeps a pausing person for about 3.5 s at 30 frames/s;
raise it for videos with longer pauses (the cost: slower adaptation to lighting changes). People who never move
are never detected, and people whose silhouettes touch form one box.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from pose_pipeline.stages import DETECTION

AUTO_WIDTH = 320  # downscale=0 picks the integer factor that brings the width closest to this
PRIME_SAMPLES = 25  # at most this many frames enter the median background
FILL_FULL = 0.3
SIZE_FULL = 4.0
SPECK_FRACTION = 0.1  # components smaller than this share of the minimum area are noise
NESTED = 0.8  # a blob whose box lies this much inside another's belongs to it

_EMPTY = np.zeros((0, 5))


def merge_blobs(boxes: np.ndarray, overlap: float, gap: float) -> np.ndarray:
    """Merge the blobs of one person: pieces stacked vertically, or a small piece lying inside a larger box.

    ``boxes`` is (N, 5): x0, y0, x1, y1 (exclusive pixel edges) and the blob's foreground pixel count. Two boxes
    merge when their x-ranges overlap by at least ``overlap`` times the narrower width and either they are
    stacked (they share at most half the smaller height and the vertical gap is at most ``gap`` times the taller
    height: head, torso, legs) or the smaller box lies at least 80 % inside the larger (an arm by the torso).
    Two people side by side overlap a lot vertically and are not nested, so they stay apart. Returns the merged
    (M, 5) array, pixel counts summed.
    """
    merged = [row.astype(float) for row in boxes]
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if _same_person(merged[i], merged[j], overlap, gap):
                    a, b = merged[i], merged[j]
                    merged[i] = np.array(
                        [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]
                    )
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return np.array(merged).reshape(-1, 5)


def _same_person(a: np.ndarray, b: np.ndarray, overlap: float, gap: float) -> bool:
    width_a, width_b, height_a, height_b = a[2] - a[0], b[2] - b[0], a[3] - a[1], b[3] - b[1]
    x_overlap = min(a[2], b[2]) - max(a[0], b[0])
    if x_overlap < overlap * min(width_a, width_b):
        return False
    y_overlap = min(a[3], b[3]) - max(a[1], b[1])  # negative: a gap
    if (
        x_overlap > 0
        and y_overlap > 0
        and x_overlap * y_overlap >= NESTED * min(width_a * height_a, width_b * height_b)
    ):
        return True
    return -gap * max(height_a, height_b) <= y_overlap <= 0.5 * min(height_a, height_b)


class MotionDetector:
    """Person boxes from background subtraction on a static camera; see the module docstring for the method.

    Call with consecutive RGB uint8 frames of one video (any batch size), in order; ``reset()`` before the next
    video. ``prime(frames)`` optionally initialises the background from frames sampled across the video.
    """

    def __init__(
        self,
        history: int = 1000,
        var_threshold: float = 16.0,
        detect_shadows: bool = True,
        min_area_fraction: float = 0.002,
        downscale: int = 0,
        warmup_frames: int = 30,
        merge_overlap: float = 0.3,
        merge_gap: float = 0.3,
    ):
        if history < 1 or warmup_frames < 0 or downscale < 0 or not 0 < min_area_fraction < 1:
            raise ValueError("need history >= 1, warmup_frames >= 0, downscale >= 0 and 0 < min_area_fraction < 1")
        self.history = int(history)
        self.var_threshold = float(var_threshold)
        self.detect_shadows = bool(detect_shadows)
        self.min_area_fraction = float(min_area_fraction)
        self.downscale = int(downscale)
        self.warmup_frames = int(warmup_frames)
        self.merge_overlap = float(merge_overlap)
        self.merge_gap = float(merge_gap)
        self.reset()

    def reset(self) -> None:
        """Forget the background: call before the frames of another video."""
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=self.history, varThreshold=self.var_threshold, detectShadows=self.detect_shadows
        )
        self._frame_shape: tuple[int, ...] | None = None
        self._geometry = None
        self._learnt = 0  # frames the background model has learnt from
        self._primed = False

    @property
    def processing_size(self) -> tuple[int, int] | None:
        """(width, height) the frames are shrunk to; None until the first frame is seen."""
        return None if self._geometry is None else self._geometry["small"]

    # --- geometry -----------------------------------------------------------------------------------------------

    def _setup(self, frame: np.ndarray) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.dtype} {frame.shape}")
        if self._frame_shape is None:
            height, width = frame.shape[:2]
            factor = self.downscale or max(1, round(width / AUTO_WIDTH))
            small_w, small_h = max(1, round(width / factor)), max(1, round(height / factor))
            close = max(3, round(small_w / 64) | 1)
            min_area = self.min_area_fraction * small_w * small_h
            self._frame_shape = frame.shape
            self._geometry = {
                "small": (small_w, small_h),
                "scale": (width / small_w, height / small_h),
                "open": np.ones((3, 3), np.uint8),
                "close": cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close)),
                "min_area": min_area,
            }
        elif frame.shape != self._frame_shape:
            raise ValueError(f"frame size changed from {self._frame_shape} to {frame.shape}; call reset() first")

    def _shrink(self, frame: np.ndarray) -> np.ndarray:
        small = self._geometry["small"]
        if small == (frame.shape[1], frame.shape[0]):
            return frame
        return cv2.resize(frame, small, interpolation=cv2.INTER_AREA)

    # --- background ---------------------------------------------------------------------------------------------

    def prime(self, frames: Sequence[np.ndarray]) -> None:
        """Initialise the background with the per-pixel median of ``frames`` (e.g. frames spread over the video).

        People who move are in any pixel for less than half of well-spread frames, so the median is the empty
        scene. Detections are then valid from the first frame; the model keeps learning at ``1 / history``.
        """
        frames = list(frames)
        if not frames:
            raise ValueError("prime() needs at least one frame")
        step = max(1, len(frames) // PRIME_SAMPLES)
        sample = frames[::step][:PRIME_SAMPLES]
        for frame in sample:
            self._setup(frame)
        stack = np.stack([self._shrink(frame) for frame in sample])
        background = np.median(stack, axis=0).astype(np.uint8)
        self._subtractor.apply(background, learningRate=1.0)  # a rate >= 1 re-initialises MOG2 on this image
        self._learnt = max(self._learnt, self.warmup_frames)
        self._primed = True

    # --- detection ----------------------------------------------------------------------------------------------

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Boxes (N, 5: x, y, w, h pixels and score) for each frame, in order."""
        frames = list(frames)
        if not frames:
            return []
        results = []
        for frame in frames:
            self._setup(frame)
            # MOG2's automatic rate (1 / min(2 n, history)) while warming up; after priming a constant 1 / history.
            rate = 1.0 / self.history if self._primed else -1.0
            mask = self._subtractor.apply(self._shrink(frame), learningRate=rate)
            self._learnt += 1
            results.append(self._boxes(mask) if self._learnt > self.warmup_frames else _EMPTY.copy())
        return results

    def _boxes(self, mask: np.ndarray) -> np.ndarray:
        geometry = self._geometry
        foreground = cv2.compare(mask, 255, cv2.CMP_EQ)  # 127 = shadow
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, geometry["open"])
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, geometry["close"])
        count, _, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
        stats = stats[1:]  # 0 is the background
        stats = stats[stats[:, cv2.CC_STAT_AREA] >= SPECK_FRACTION * geometry["min_area"]]
        if count <= 1 or not len(stats):
            return _EMPTY.copy()
        x, y, w, h, area = (stats[:, k].astype(float) for k in range(5))
        blobs = merge_blobs(np.stack([x, y, x + w, y + h, area], axis=1), self.merge_overlap, self.merge_gap)
        blobs = blobs[blobs[:, 4] >= geometry["min_area"]]
        if not len(blobs):
            return _EMPTY.copy()
        width, height = blobs[:, 2] - blobs[:, 0], blobs[:, 3] - blobs[:, 1]
        fill = blobs[:, 4] / (width * height)
        score = np.minimum(1.0, fill / FILL_FULL) * np.minimum(1.0, blobs[:, 4] / (SIZE_FULL * geometry["min_area"]))
        sx, sy = geometry["scale"]
        out = np.stack([blobs[:, 0] * sx, blobs[:, 1] * sy, width * sx, height * sy, score], axis=1)
        return out[np.argsort(-score, kind="stable")]


@DETECTION.register(
    "motion",
    version="1.0",
    params={
        "history": 1000,
        "var_threshold": 16.0,
        "detect_shadows": True,
        "min_area_fraction": 0.002,
        "downscale": 0,
        "warmup_frames": 30,
        "merge_overlap": 0.3,
        "merge_gap": 0.3,
    },
    description="Weight-free person boxes for static cameras: MOG2 background subtraction without shadows, "
    "morphology, connected components merged per person; score from blob fill and size.",
    device="cpu",
)
def motion(**params) -> MotionDetector:
    """Build a `MotionDetector` (the default detector: no weights, static cameras)."""
    return MotionDetector(**params)
