"""Study measures from keypoint trajectories: gait cadence and joint range of motion (pure: arrays in, numbers out).

Both take coordinates only, 2D (frames x joints x [x, y]: drop a confidence column first) or 3D (frames x joints x
[x, y, z]), of any joint set that names its hips, knees, ankles (or feet, as Human3.6M does), shoulders, elbows and
wrists.

- **Cadence** (steps per minute) from one of two signals, each averaged over 3 frames and timed by its sign
  changes (linear interpolation between frames; frames missing a joint are left out; a hysteresis of
  `HYSTERESIS` times the signal's amplitude keeps keypoint jitter near a crossing from counting twice):
  - ``"ankles"``: the ankles pass each other once per step. The left-minus-right ankle vector, centred and
    projected on its main direction of variation (the walking direction, whatever the camera), changes sign once
    per step. Needs left and right told apart: 2D models often swap or merge the legs in a side view.
  - ``"pelvis"``: the hip midpoint rises and falls once per step (highest in mid-stance, lowest in double
    support). Its vertical coordinate, linearly detrended, changes sign twice per step. Blind to left/right
    labels, but needs coordinates that are not relative to the hips (image pixels, or world coordinates).
  The rate is taken over whole cycles (an even number of crossing intervals: left and right steps, and rise
  and fall, can differ in duration; with an odd count, the mean of dropping the first or the last interval), so
  partial steps at the ends do not bias it.
- **Range of motion** (degrees): the flexion angle at a joint (180 minus the angle between the segments, so a
  straight leg is 0) per frame, median-filtered over 3 frames so that a single misplaced keypoint does not set
  the range, then maximum minus minimum. In 2D this is the angle in the image plane: a sagittal view is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HYSTERESIS = 0.3  # of the 95th percentile of |signal|
ALIASES = {"ankle": ("ankle", "foot")}  # Human3.6M calls the ankle "foot"
JOINT_ANGLES = {"knee": ("hip", "knee", "ankle"), "elbow": ("shoulder", "elbow", "wrist")}


class MeasureError(ValueError):
    """The keypoints lack the joints a measure needs."""


@dataclass
class Cadence:
    """Steps per minute (NaN with fewer than one step seen), the steps it is measured over and the crossing times
    it came from."""

    steps_per_minute: float
    num_steps: int
    crossings: np.ndarray  # seconds


def joint_index(joints, side: str, name: str) -> int:
    """Index of e.g. ``("left", "ankle")`` in a joint list, accepting `ALIASES`; `MeasureError` if absent."""
    for alias in ALIASES.get(name, (name,)):
        if f"{side}_{alias}" in joints:
            return list(joints).index(f"{side}_{alias}")
    raise MeasureError(f"no {side} {name} among the joints {', '.join(joints)}")


def cadence(coords: np.ndarray, joints, timestamps, signal: str = "ankles", vertical_axis: int = 1) -> Cadence:
    """Gait cadence from ``coords`` (frames x joints x 2 or 3) at ``timestamps`` (seconds), from the ``"ankles"``
    or the ``"pelvis"`` signal (see the module's description); ``vertical_axis``: which coordinate is vertical
    (image y, or the camera's y axis, by default)."""
    coords = np.asarray(coords, dtype=float)
    times = np.asarray(timestamps, dtype=float)
    if signal == "ankles":
        values = coords[:, joint_index(joints, "left", "ankle")] - coords[:, joint_index(joints, "right", "ankle")]
        steps_per_interval = 1.0
    elif signal == "pelvis":
        hips = coords[:, [joint_index(joints, "left", "hip"), joint_index(joints, "right", "hip")], vertical_axis]
        values = hips.mean(axis=1, keepdims=True)
        steps_per_interval = 0.5
    else:
        raise ValueError(f"cadence signal {signal!r}: use 'ankles' or 'pelvis'")
    valid = np.isfinite(values).all(axis=1)
    if valid.sum() < 3:
        return Cadence(float("nan"), 0, np.empty(0))
    values, times = values[valid], times[valid]
    if signal == "ankles":
        centred = values - values.mean(axis=0)
        series = centred @ np.linalg.svd(centred, full_matrices=False)[2][0]
    else:
        series = values[:, 0] - np.polyval(np.polyfit(times, values[:, 0], 1), times)
    crossings = _crossings(_smooth(series), times)
    return Cadence(_rate(crossings, steps_per_interval), int((len(crossings) - 1) * steps_per_interval)
                   if len(crossings) > 1 else 0, crossings)  # fmt: skip


def _rate(crossings: np.ndarray, steps_per_interval: float) -> float:
    intervals = len(crossings) - 1
    if intervals < 1 / steps_per_interval:
        return float("nan")
    if intervals % 2 == 0 or intervals == 1:
        return 60.0 * steps_per_interval * intervals / float(crossings[-1] - crossings[0])
    even = intervals - 1  # whole cycles: both ways of dropping the odd interval
    spans = [float(crossings[first + even] - crossings[first]) for first in (0, 1)]
    return float(np.mean([60.0 * steps_per_interval * even / span for span in spans]))


def flexion(coords: np.ndarray, joints, side: str, joint: str) -> np.ndarray:
    """Per-frame flexion angle (degrees, 0 = straight) at ``side`` ``joint`` ("knee" or "elbow") of ``coords``
    (frames x joints x 2 or 3); NaN where a joint is missing."""
    coords = np.asarray(coords, dtype=float)
    proximal, centre, distal = (coords[:, joint_index(joints, side, name)] for name in JOINT_ANGLES[joint])
    a, b = proximal - centre, distal - centre
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return 180.0 - np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def range_of_motion(coords: np.ndarray, joints, side: str, joint: str) -> float:
    """Maximum minus minimum of the 3-frame median-filtered flexion angle (degrees); NaN without two frames."""
    angle = flexion(coords, joints, side, joint)
    padded = np.concatenate([angle[:1], angle, angle[-1:]])
    windows = np.stack([padded[:-2], padded[1:-1], padded[2:]])
    with np.errstate(all="ignore"):
        filtered = np.where(np.isfinite(windows).all(axis=0), np.median(windows, axis=0), np.nan)
    filtered = filtered[np.isfinite(filtered)]
    return float(filtered.max() - filtered.min()) if len(filtered) >= 2 else float("nan")


def gait_measures(coords: np.ndarray, joints, timestamps, signal: str = "ankles") -> dict[str, float | int]:
    """Cadence (from ``signal``), step count and knee and elbow ranges of motion of one subject (``coords``:
    frames x joints x 2 or 3), as one row's columns."""
    step = cadence(coords, joints, timestamps, signal)
    row: dict[str, float | int] = {"cadence": step.steps_per_minute, "num_steps": step.num_steps}
    for joint in JOINT_ANGLES:
        for side in ("left", "right"):
            row[f"{joint}_rom_{side}"] = range_of_motion(coords, joints, side, joint)
    return row


def _smooth(signal: np.ndarray) -> np.ndarray:
    if len(signal) < 3:
        return signal
    return np.convolve(np.pad(signal, 1, mode="edge"), np.ones(3) / 3, mode="valid")


def _crossings(signal: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Times of the sign changes of ``signal`` that go from beyond +threshold to beyond -threshold or back."""
    threshold = HYSTERESIS * float(np.percentile(np.abs(signal), 95))
    state, last_sure, found = 0, 0, []
    for index, value in enumerate(signal):
        sign = 1 if value > threshold else -1 if value < -threshold else 0
        if sign == 0:
            continue
        if state and sign != state:
            # the last zero crossing between the last sure sample of the old side and this one
            for j in range(index - 1, last_sure - 1, -1):
                if np.sign(signal[j]) != sign or signal[j] == 0:
                    s0, s1 = signal[j], signal[j + 1]
                    found.append(times[j] + (times[j + 1] - times[j]) * (s0 / (s0 - s1) if s0 != s1 else 0.0))
                    break
        state, last_sure = sign, index
    return np.asarray(found, dtype=float)
