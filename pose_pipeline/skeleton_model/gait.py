"""Gait from a fitted skeleton: joint angles, gait cycles per limb, the average cycle and its spread (numpy/scipy).

Input: joint positions (frames x joints x 3, metres, z up) of a skeleton definition, e.g. a regime's
``result.joints``, and the frame rate.

- **Joint angles**: the flexion at every hinge of a chain (a joint with a parent and one child): 180 degrees minus
  the angle between the bones that meet there, so a straight limb is 0 (the formula of `pose_pipeline.measures`'
  knee and elbow flexion, taken here over the skeleton's own bone tree); and the 3D angle between any two bones.
- **Limbs**: every chain that leaves the unpaired trunk at a left/right joint (the rat's shoulders and hips, the
  human's hips and shoulders), down to its leaf; named by its first joint, e.g. ``hip_left``.
- **Gait events** per limb from one of two signals:
  - ``"protraction"`` (default): the distal joint's position along the walking direction relative to the root
    (the limb swinging forward and back). Foot strike = most protracted (the paw lands at the front of its
    sweep), lift-off = most retracted. Extremes by `scipy.signal.find_peaks` with a minimum cycle duration and a
    prominence of `PROMINENCE` of the signal's range, refined to sub-frame time by a parabola through the peak.
  - ``"vertical"``: the distal joint is in stance while it is within `STANCE_HEIGHT` of its range above its
    lowest height and moves forward slower than `STANCE_SPEED` of its fastest (forward) speed; strikes are the
    starts of stance, lift-offs the ends; stances closer than the minimum cycle duration are merged.
- **Cycles**: strike to next strike, each signal resampled to 0-100 % of the cycle (101 samples); the average
  cycle, its standard deviation and a percentile band; per limb the cycle duration, the cadence (steps per minute
  as `pose_pipeline.measures.cadence` counts them: two steps per stride) and the duty factor (stance share of
  the cycle). Fewer than two cycles on a limb raise `GaitError` naming the limb.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

SAMPLES = 101  # 0, 1, ..., 100 % of the cycle
PROMINENCE = 0.3  # of the protraction signal's 5-95 percentile range
STANCE_HEIGHT = 0.25  # of the distal joint's height range
STANCE_SPEED = 0.25  # of its 95th-percentile forward speed


class GaitError(ValueError):
    """Gait cannot be measured as asked; the message names the limb or joint."""


# ---------------------------------------------------------------- skeleton structure


def _children(skeleton) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {i: [] for i in range(len(skeleton.joints))}
    for i, p in enumerate(skeleton.parents):
        if p >= 0:
            children[int(p)].append(i)
    return children


def hinges(skeleton) -> dict[str, tuple[int, int, int]]:
    """Joints with a parent and exactly one child: name -> (parent, joint, child) indices."""
    children = _children(skeleton)
    return {
        skeleton.joint_names[j]: (int(skeleton.parents[j]), j, children[j][0])
        for j in range(len(skeleton.joints))
        if skeleton.parents[j] >= 0 and len(children[j]) == 1
    }


def limbs(skeleton) -> dict[str, tuple[str, ...]]:
    """Limb chains: from each paired joint whose parent is unpaired, down single children to the leaf."""
    paired = {n for pair in skeleton.joint_pairs for n in pair}
    children = _children(skeleton)
    names = skeleton.joint_names
    out = {}
    for j, name in enumerate(names):
        parent = skeleton.parents[j]
        if name not in paired or parent < 0 or names[parent] in paired:
            continue
        chain, node = [j], j
        while len(children[node]) == 1:
            node = children[node][0]
            chain.append(node)
        if len(chain) >= 3:
            out[name] = tuple(names[i] for i in chain)
    return out


# ---------------------------------------------------------------- angles


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) between vectors (..., 3); NaN where either is missing or zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def flexion_angles(joints, skeleton) -> dict[str, np.ndarray]:
    """Per hinge joint (see `hinges`), the flexion (degrees, 0 = straight) per frame of ``joints`` (T, J, 3)."""
    joints = _check_joints(joints, skeleton)
    return {
        name: 180.0 - angle_between(joints[:, p] - joints[:, j], joints[:, c] - joints[:, j])
        for name, (p, j, c) in hinges(skeleton).items()
    }


def bone_vector(joints, skeleton, bone: str) -> np.ndarray:
    """(T, 3) vector of the bone that ends at joint ``bone`` (from its parent)."""
    names = skeleton.joint_names
    if bone not in names or skeleton.parents[names.index(bone)] < 0:
        raise GaitError(f"{bone!r} is not a bone of skeleton {skeleton.name!r} (bones are named by their end joint)")
    j = names.index(bone)
    return joints[:, j] - joints[:, skeleton.parents[j]]


def bone_angle(joints, skeleton, bone_a: str, bone_b: str) -> np.ndarray:
    """3D angle (degrees) per frame between two bones, each named by its end joint."""
    joints = _check_joints(joints, skeleton)
    return angle_between(bone_vector(joints, skeleton, bone_a), bone_vector(joints, skeleton, bone_b))


def _check_joints(joints, skeleton) -> np.ndarray:
    joints = np.asarray(joints, dtype=float)
    if joints.ndim != 3 or joints.shape[1:] != (len(skeleton.joints), 3):
        raise GaitError(
            f"joint positions must be (frames, {len(skeleton.joints)} joints of {skeleton.name!r}, 3), "
            f"got {joints.shape}"
        )
    return joints


# ---------------------------------------------------------------- events


def forward_direction(joints, rate_hz: float, window_s: float = 0.5) -> np.ndarray:
    """(T, 3) unit horizontal walking direction per frame: the root's velocity averaged over ``window_s``."""
    root = np.asarray(joints, dtype=float)[:, 0, :2]
    width = max(3, round(window_s * rate_hz) | 1)
    velocity = np.gradient(root, axis=0)
    kernel = np.ones(width) / width
    padded = np.pad(velocity, ((width // 2, width // 2), (0, 0)), mode="edge")
    smooth = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(2)], axis=1)
    norm = np.linalg.norm(smooth, axis=1, keepdims=True)
    if not np.all(norm > 1e-9):
        raise GaitError("the subject does not move: no walking direction (pass forward= explicitly)")
    return np.concatenate([smooth / norm, np.zeros((len(root), 1))], axis=1)


def protraction(joints, skeleton, limb: str, forward=None, rate_hz: float = 100.0) -> np.ndarray:
    """(T,) position (metres) of ``limb``'s distal joint along the walking direction, relative to the root."""
    joints = _check_joints(joints, skeleton)
    chain = _limb(skeleton, limb)
    forward = forward_direction(joints, rate_hz) if forward is None else np.broadcast_to(forward, (len(joints), 3))
    distal = joints[:, skeleton.joint_names.index(chain[-1])] - joints[:, 0]
    return (distal * forward).sum(axis=1)


def _limb(skeleton, limb: str) -> tuple[str, ...]:
    chains = limbs(skeleton)
    if limb not in chains:
        raise GaitError(f"no limb {limb!r} in skeleton {skeleton.name!r}; limbs: {', '.join(chains)}")
    return chains[limb]


def _refine(signal: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-frame peak positions by a parabola through each peak and its neighbours."""
    out = peaks.astype(float)
    inner = (peaks > 0) & (peaks < len(signal) - 1)
    p = peaks[inner]
    left, mid, right = signal[p - 1], signal[p], signal[p + 1]
    denom = left - 2 * mid + right
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(denom != 0, 0.5 * (left - right) / denom, 0.0)
    out[inner] += np.clip(shift, -0.5, 0.5)
    return out


@dataclass(frozen=True)
class Events:
    """Foot strikes and lift-offs of one limb, in (fractional) frames."""

    limb: str
    strikes: np.ndarray
    liftoffs: np.ndarray


def detect_events(joints, skeleton, limb: str, rate_hz: float, method: str = "protraction",
                  min_cycle_s: float = 0.15, forward=None) -> Events:  # fmt: skip
    """Foot strikes and lift-offs of ``limb`` (see the module docstring for the two methods)."""
    joints = _check_joints(joints, skeleton)
    min_frames = max(1.0, min_cycle_s * rate_hz)
    if method == "protraction":
        signal = _fill(protraction(joints, skeleton, limb, forward, rate_hz))
        low, high = np.percentile(signal, [5, 95])
        kwargs = {"distance": min_frames, "prominence": PROMINENCE * max(high - low, 1e-12)}
        strikes, _ = find_peaks(signal, **kwargs)
        liftoffs, _ = find_peaks(-signal, **kwargs)
        return Events(limb, _refine(signal, strikes), _refine(-signal, liftoffs))
    if method == "vertical":
        chain = _limb(skeleton, limb)
        distal = joints[:, skeleton.joint_names.index(chain[-1])]
        height = _fill(distal[:, 2])
        forward = (
            forward_direction(joints, rate_hz) if forward is None else np.broadcast_to(forward, joints[:, 0].shape)
        )
        speed = (np.gradient(_fill_2d(distal), axis=0) * rate_hz * forward).sum(axis=1)
        low, high = np.percentile(height, [2, 98])
        stance = (height < low + STANCE_HEIGHT * (high - low)) & (speed < STANCE_SPEED * np.percentile(speed, 95))
        starts = np.flatnonzero(stance[1:] & ~stance[:-1]) + 1
        ends = np.flatnonzero(~stance[1:] & stance[:-1]) + 1
        kept = []  # merge stances that start within the minimum cycle of the previous one
        for s in starts:
            if not kept or s - kept[-1] >= min_frames:
                kept.append(s)
        return Events(limb, np.asarray(kept, float), ends.astype(float))
    raise ValueError(f"gait event method {method!r}: use 'protraction' or 'vertical'")


def _fill(signal: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN frames (find_peaks needs finite values)."""
    signal = np.asarray(signal, dtype=float)
    ok = np.isfinite(signal)
    if ok.sum() < 2:
        return np.zeros_like(signal)
    return np.interp(np.arange(len(signal)), np.flatnonzero(ok), signal[ok])


def _fill_2d(points: np.ndarray) -> np.ndarray:
    return np.stack([_fill(points[:, k]) for k in range(points.shape[1])], axis=1)


# ---------------------------------------------------------------- cycles


def normalise_cycles(signal, strikes) -> np.ndarray:
    """(cycles, 101) of ``signal`` (T,) resampled from each strike to the next (fractional frames); a cycle with
    fewer than half its frames finite is NaN."""
    signal = np.asarray(signal, dtype=float)
    frames = np.arange(len(signal))
    ok = np.isfinite(signal)
    out = []
    for start, end in itertools.pairwise(strikes):
        inside = (frames >= np.floor(start)) & (frames <= np.ceil(end))
        if ok[inside].sum() < max(2, inside.sum() / 2):
            out.append(np.full(SAMPLES, np.nan))
            continue
        grid = np.linspace(start, end, SAMPLES)
        out.append(np.interp(grid, frames[ok], signal[ok]))
    return np.asarray(out).reshape(-1, SAMPLES)


@dataclass(frozen=True)
class AverageCycle:
    """One signal over the gait cycle: per cycle (cycles, 101) and its mean, SD and percentile band."""

    cycles: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    low: np.ndarray
    high: np.ndarray
    band: tuple[float, float]

    @property
    def percent(self) -> np.ndarray:
        return np.linspace(0.0, 100.0, SAMPLES)


def average_cycle(cycles: np.ndarray, band=(10.0, 90.0)) -> AverageCycle:
    cycles = np.asarray(cycles, dtype=float)
    with np.errstate(all="ignore"):
        mean, sd = np.nanmean(cycles, axis=0), np.nanstd(cycles, axis=0, ddof=1 if len(cycles) > 1 else 0)
        low, high = np.nanpercentile(cycles, band, axis=0)
    return AverageCycle(cycles, mean, sd, low, high, tuple(band))


@dataclass(frozen=True)
class LimbGait:
    """Gait of one limb: events, cycle durations, cadence, duty factor and average cycles of its joint angles."""

    limb: str
    events: Events
    durations_s: np.ndarray  # per cycle
    duty_factors: np.ndarray  # per cycle, NaN where no lift-off falls inside
    angles: dict[str, AverageCycle]  # flexion of the limb's hinges (and any extra signals given)

    @property
    def cycle_s(self) -> float:
        return float(np.mean(self.durations_s))

    @property
    def cadence(self) -> float:
        """Steps per minute (two per stride, as `pose_pipeline.measures.cadence` counts)."""
        return 120.0 / self.cycle_s

    @property
    def stride_hz(self) -> float:
        return 1.0 / self.cycle_s

    @property
    def duty_factor(self) -> float:
        return float(np.nanmean(self.duty_factors)) if np.isfinite(self.duty_factors).any() else float("nan")

    def summary(self) -> dict:
        return {
            "limb": self.limb,
            "cycles": len(self.durations_s),
            "cycle_s": self.cycle_s,
            "cycle_sd_s": float(np.std(self.durations_s)),
            "stride_hz": self.stride_hz,
            "cadence_steps_per_min": self.cadence,
            "duty_factor": self.duty_factor,
        }


def limb_gait(joints, skeleton, limb: str, rate_hz: float, method: str = "protraction", min_cycle_s: float = 0.15,
              band=(10.0, 90.0), forward=None, signals: dict | None = None) -> LimbGait:  # fmt: skip
    """Events, cycles and average cycles of ``limb``'s hinge flexions (plus ``signals``: name -> (T,) array)."""
    joints = _check_joints(joints, skeleton)
    events = detect_events(joints, skeleton, limb, rate_hz, method, min_cycle_s, forward)
    strikes = events.strikes
    if len(strikes) < 3:
        raise GaitError(
            f"limb {limb!r}: {max(len(strikes) - 1, 0)} gait cycle(s) found ({len(strikes)} strikes in "
            f"{len(joints) / rate_hz:.2f} s), at least 2 are needed"
        )
    durations = np.diff(strikes) / rate_hz
    duty = []
    for start, end in itertools.pairwise(strikes):
        inside = events.liftoffs[(events.liftoffs > start) & (events.liftoffs < end)]
        duty.append((inside[0] - start) / (end - start) if len(inside) else np.nan)
    chain = _limb(skeleton, limb)
    flexion = flexion_angles(joints, skeleton)
    series = {name: flexion[name] for name in chain if name in flexion}
    series.update(signals or {})
    angles = {name: average_cycle(normalise_cycles(values, strikes), band) for name, values in series.items()}
    return LimbGait(limb, events, durations, np.asarray(duty), angles)


def gait(joints, skeleton, rate_hz: float, only: list[str] | None = None, **kwargs) -> dict[str, LimbGait]:
    """`limb_gait` for every limb of the skeleton (or those named)."""
    return {limb: limb_gait(joints, skeleton, limb, rate_hz, **kwargs) for limb in (only or limbs(skeleton))}


def coco17_joints(keypoints, names, skeleton) -> np.ndarray:
    """(T, J, 3) joints of a COCO-17 human skeleton (`definitions.human_coco17`) from COCO-17 keypoints
    (T, 17, 3) named ``names``: pelvis and thorax at the hip and shoulder midpoints, head at the nose."""
    keypoints = np.asarray(keypoints, dtype=float)
    index = {n: i for i, n in enumerate(names)}
    out = []
    for joint in skeleton.joint_names:
        if joint == "pelvis":
            out.append(keypoints[:, [index["left_hip"], index["right_hip"]]].mean(axis=1))
        elif joint == "thorax":
            out.append(keypoints[:, [index["left_shoulder"], index["right_shoulder"]]].mean(axis=1))
        elif joint == "head":
            out.append(keypoints[:, index["nose"]])
        else:
            base, side = joint.rsplit("_", 1)
            out.append(keypoints[:, index[f"{side}_{base}"]])
    return np.stack(out, axis=1)
