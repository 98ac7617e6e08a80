"""The whole frame as the one detection of every frame: for single-animal videos of a fixed arena, whose 2D
keypoints come from a whole-frame model (a DeepLabCut model) or an imported result file, where there is nobody
else to tell apart. Tracked (e.g. by ByteTrack with ``minimum_consecutive_frames`` 1, so that the first frame is
not spent confirming the track) it gives one tracklet spanning the video from its second frame (the trackers
package numbers a new track from its second frame on), which `auto_annotate` takes as the subject."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..stages import DETECTION


class WholeFrameDetector:
    """One box (0, 0, width, height) with ``score`` per frame."""

    def __init__(self, score: float = 1.0):
        if not 0 < score <= 1:
            raise ValueError(f"whole_frame: score must lie in (0, 1], got {score}")
        self.score = float(score)

    def reset(self) -> None:
        """Nothing to forget between videos."""

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.array([[0.0, 0.0, frame.shape[1], frame.shape[0], self.score]]) for frame in frames]


@DETECTION.register(
    "whole_frame",
    version="1.0",
    params={"score": 1.0},
    description="The whole frame as one detection in every frame: single-animal videos of a fixed arena whose "
    "keypoints come from a whole-frame model or an imported file.",
    device="cpu",
)
def whole_frame(score: float) -> WholeFrameDetector:
    return WholeFrameDetector(score)
