"""Synchronisation of a multi-camera recording, checked from each video's own per-frame timestamps.

Triangulation matches frame ``i`` of every camera with frame ``i`` of the others, so the check asks whether
that is true: the same number of frames, the same frame rate, and frame ``i``'s time in each camera (its
timestamp plus the camera's declared ``time_offset``, seconds on the recording's clock) within ``tolerance`` of
the reference camera's (the first) for every frame. Measured per camera: the median difference from the
reference (its offset) and how far that difference moves over the recording (its drift, peak to peak).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class SynchronisationError(ValueError):
    """The cameras' frames do not correspond one to one; the message names the cameras."""


@dataclass(frozen=True)
class SyncReport:
    """What the check measured: frames and rate shared by all cameras, and per camera (by name) the offset from
    the reference camera (median, seconds) and the drift (peak-to-peak range of that difference, seconds)."""

    reference: str
    num_frames: int
    fps: float
    offsets: dict[str, float]
    drifts: dict[str, float]
    tolerance: float


def check_synchronisation(timestamps: dict[str, np.ndarray], time_offsets: dict[str, float] | None = None, *,
                          tolerance: float | None = None, rate_tolerance: float = 0.002) -> SyncReport:  # fmt: skip
    """Check that the cameras' frames correspond one to one (see the module docstring); raises
    `SynchronisationError` naming the cameras that differ. ``timestamps``: camera name -> (frames,) seconds from
    its first frame (``VideoInfo.timestamps``); ``tolerance`` defaults to a quarter of a frame interval;
    ``rate_tolerance`` is relative."""
    if len(timestamps) < 2:
        raise SynchronisationError(f"a recording needs at least two cameras; got {', '.join(timestamps) or 'none'}")
    time_offsets = dict(time_offsets or {})
    unknown = sorted(set(time_offsets) - set(timestamps))
    if unknown:
        raise SynchronisationError(f"time offsets given for camera(s) not in the recording: {', '.join(unknown)}")
    times = {name: np.asarray(t, dtype=float).ravel() for name, t in timestamps.items()}
    counts = {name: len(t) for name, t in times.items()}
    if len(set(counts.values())) > 1:
        raise SynchronisationError(
            "the cameras have different frame counts: " + ", ".join(f"{n} {c}" for n, c in counts.items())
        )
    n_frames = next(iter(counts.values()))
    if n_frames < 2:
        raise SynchronisationError(f"the cameras have {n_frames} frame(s); synchronisation needs at least two")
    bad = [name for name, t in times.items() if not (np.isfinite(t).all() and np.all(np.diff(t) > 0))]
    if bad:
        raise SynchronisationError(f"timestamps not finite and increasing for camera(s) {', '.join(bad)}")
    rates = {name: (n_frames - 1) / (t[-1] - t[0]) for name, t in times.items()}
    reference = next(iter(times))
    fps = rates[reference]
    off_rate = [name for name, rate in rates.items() if abs(rate / fps - 1) > rate_tolerance]
    if off_rate:
        raise SynchronisationError(
            f"frame rates differ from camera {reference!r}'s {fps:.4g} fps by more than {100 * rate_tolerance:.2g} %: "
            + ", ".join(f"{name} {rates[name]:.4g} fps" for name in off_rate)
        )
    tolerance = 0.25 / fps if tolerance is None else float(tolerance)
    clock = {name: t + float(time_offsets.get(name, 0.0)) for name, t in times.items()}
    offsets, drifts, problems = {}, {}, []
    for name, t in clock.items():
        difference = t - clock[reference]
        offsets[name] = float(np.median(difference))
        drifts[name] = float(np.ptp(difference))
        worst = int(np.argmax(np.abs(difference)))
        if abs(difference[worst]) > tolerance:
            kind = "drifts" if drifts[name] > tolerance else "is offset"
            problems.append(f"{name} {kind}: frame {worst} is {difference[worst] * 1000:+.1f} ms from {reference}'s "
                            f"(median offset {offsets[name] * 1000:+.1f} ms, drift {drifts[name] * 1000:.1f} ms)")  # fmt: skip
    if problems:
        raise SynchronisationError(
            f"frames do not correspond within {tolerance * 1000:.1f} ms: " + "; ".join(problems)
            + " (give each camera's time_offset, or trim the videos to common frames)"
        )  # fmt: skip
    return SyncReport(reference, n_frames, float(fps), offsets, drifts, tolerance)
