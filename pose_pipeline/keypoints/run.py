"""Running a top-down estimator over a video for one subject (the 2D stage's loop, without the database)."""

from __future__ import annotations

import numpy as np

BATCH_FRAMES = 16  # frames per call of the estimator: enough to batch crops, little memory


def estimate_subject(frames, boxes: np.ndarray, estimator, batch_frames: int = BATCH_FRAMES) -> np.ndarray:
    """Run a top-down estimator over a stream of frames with one box (or NaN) per frame; returns (frames, J, 3).

    Only frames with a box are decoded into a batch; at most ``batch_frames`` frames are held at a time.
    """
    present = np.all(np.isfinite(boxes), axis=1)
    joints = None
    out = None
    batch_frames_list, batch_index = [], []

    def flush():
        nonlocal out, joints
        results = estimator(batch_frames_list, [boxes[i][None] for i in batch_index])
        for index, person in zip(batch_index, results):
            person = np.asarray(person, dtype=float)
            if out is None:
                joints = person.shape[1]
                out = np.full((len(boxes), joints, 3), np.nan)
            out[index] = person[0]
        batch_frames_list.clear()
        batch_index.clear()

    for index, frame in enumerate(frames):
        if index >= len(boxes):
            break
        if present[index]:
            batch_frames_list.append(frame)
            batch_index.append(index)
            if len(batch_frames_list) == batch_frames:
                flush()
    if batch_frames_list:
        flush()
    if out is None:  # nobody in any frame: the method's joint count without running it
        from ..skeletons import get_joint_set

        out = np.full((len(boxes), len(get_joint_set(estimator.joint_set)), 3), np.nan)
    return out
