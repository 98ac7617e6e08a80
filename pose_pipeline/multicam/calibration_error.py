"""How far a calibrated camera set is from a known one of the same cameras (matched by name): per camera the error
of its position (mm), orientation (degrees), focal length (%) and principal point (pixels), and the overall values.

The two sets may be in different world frames (a board calibration is in its first camera's frame, a synthetic
scene's true cameras in the room's), so the estimate is first moved into the reference's frame by one of:

- ``none``: the frames are the same; nothing is moved.
- ``rigid``: the rotation and translation that best fit the estimate's camera centres and the tips of their unit
  axes (centre + 1 m along each camera axis) to the reference's (Kabsch); works from two cameras. Metres stay
  metres, so a wrong scale shows as position error.
- ``similarity``: the same with a scale, fitted to the camera centres only (Umeyama; three cameras or more): for
  calibrations whose scale is not trusted; the scale found is reported.

The alignment uses every camera, so no camera's error is zero by construction (aligning on one camera would hide
that camera's error and double the others').
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .calibration import CalibrationError, CameraModel, CameraSet

ALIGNMENTS = ("none", "rigid", "similarity")


@dataclass(frozen=True)
class CameraError:
    """One camera's errors against its known model."""

    name: str
    position_mm: float  # distance between the aligned and the true camera centre
    rotation_deg: float  # angle of the rotation between the aligned and the true orientation
    focal_percent: float  # signed: (estimated / true - 1) * 100 of the mean of fx and fy
    principal_point_px: float  # distance between the estimated and the true (cx, cy)


@dataclass(frozen=True)
class CalibrationComparison:
    """Every camera's errors, the alignment used (and what it did), and the overall values."""

    cameras: tuple[CameraError, ...]
    alignment: str
    description: str  # which frames were aligned, and how
    scale: float  # 1 unless ``similarity``
    residual_mm: float  # RMS distance of the camera centres after the alignment

    def overall(self) -> dict[str, float]:
        """Mean and maximum of each error over the cameras (focal length: of its absolute value)."""
        values = {
            "position_error": [c.position_mm for c in self.cameras],
            "rotation_error": [c.rotation_deg for c in self.cameras],
            "focal_error": [abs(c.focal_percent) for c in self.cameras],
            "principal_point_error": [c.principal_point_px for c in self.cameras],
        }
        out = {}
        for name, v in values.items():
            out[f"mean_{name}"], out[f"max_{name}"] = float(np.mean(v)), float(np.max(v))
        return out


def _fit(source: np.ndarray, target: np.ndarray, scale: bool) -> tuple[float, np.ndarray, np.ndarray]:
    """``s, Q, u`` minimising sum |s Q source + u - target|^2 (Umeyama; ``s`` = 1 unless ``scale``)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ d @ vt
    s = float(np.trace(np.diag(singular) @ d) / np.sum(a * a)) if scale else 1.0
    return s, rotation, target_mean - s * rotation @ source_mean


def _axis_points(camera: CameraModel) -> np.ndarray:
    """The camera's centre and the tips of its unit axes, world frame."""
    return camera.center + np.vstack([np.zeros(3), camera.R])


def align(estimate: CameraSet, reference: CameraSet, alignment: str = "rigid") -> tuple[CameraSet, float, float]:
    """``estimate`` moved into ``reference``'s world frame (cameras matched by name); returns the moved set, the
    scale and the RMS distance of the camera centres afterwards (metres)."""
    if alignment not in ALIGNMENTS:
        raise CalibrationError(f"unknown alignment {alignment!r}; one of {', '.join(ALIGNMENTS)}")
    known = reference.subset(estimate.names)
    s, rotation, shift = 1.0, np.eye(3), np.zeros(3)
    if alignment == "rigid":
        source = np.vstack([_axis_points(c) for c in estimate.cameras])
        target = np.vstack([_axis_points(c) for c in known.cameras])
        s, rotation, shift = _fit(source, target, scale=False)
    elif alignment == "similarity":
        if len(estimate) < 3:
            raise CalibrationError(f"a similarity alignment needs three cameras or more; {len(estimate)} given")
        source = np.array([c.center for c in estimate.cameras])
        s, rotation, shift = _fit(source, np.array([c.center for c in known.cameras]), scale=True)
    moved = []
    for camera in estimate.cameras:
        # world_ref = s Q world_est + u; camera coordinates scaled by s project to the same pixels
        r = camera.R @ rotation.T
        t = s * camera.translation - r @ shift
        moved.append(CameraModel(camera.name, camera.matrix, camera.distortion, cv2.Rodrigues(r)[0].ravel(), t,
                                 camera.size, camera.fisheye))  # fmt: skip
    aligned = CameraSet(tuple(moved), reference.world_frame, dict(estimate.metadata))
    residual = float(np.sqrt(np.mean([np.sum((a.center - b.center) ** 2) for a, b in
                                      zip(aligned.cameras, known.cameras)])))  # fmt: skip
    return aligned, s, residual


def compare_calibrations(estimate: CameraSet, reference: CameraSet, alignment: str = "rigid") -> CalibrationComparison:
    """The errors of ``estimate`` against the known cameras ``reference`` (every estimated camera must be in the
    reference, with the same image size) after ``alignment`` (see the module's docstring)."""
    missing = [name for name in estimate.names if name not in reference.names]
    if missing:
        raise CalibrationError(f"the reference calibration has no camera(s) {', '.join(missing)}; it has "
                               f"{', '.join(reference.names)}")  # fmt: skip
    sizes = [f"{c.name} {c.size[0]}x{c.size[1]} vs {reference[c.name].size[0]}x{reference[c.name].size[1]}"
             for c in estimate.cameras if c.size != reference[c.name].size]  # fmt: skip
    if sizes:
        raise CalibrationError(f"image sizes differ, so intrinsics cannot be compared: {'; '.join(sizes)}")
    aligned, scale, residual = align(estimate, reference, alignment)
    errors = []
    for camera in aligned.cameras:
        known = reference[camera.name]
        angle = np.linalg.norm(cv2.Rodrigues(camera.R @ known.R.T)[0])
        focal, true_focal = camera.matrix[[0, 1], [0, 1]].mean(), known.matrix[[0, 1], [0, 1]].mean()
        errors.append(CameraError(camera.name, float(np.linalg.norm(camera.center - known.center) * 1000),
                                  float(np.degrees(angle)), float((focal / true_focal - 1) * 100),
                                  float(np.linalg.norm(camera.matrix[:2, 2] - known.matrix[:2, 2]))))  # fmt: skip
    how = {
        "none": "taken as the same frame, nothing moved",
        "rigid": "rigid fit (rotation, translation) of the camera centres and axes",
        "similarity": f"similarity fit (rotation, translation, scale {scale:.4f}) of the camera centres",
    }[alignment]
    description = f"estimate in {estimate.world_frame!r} -> reference in {reference.world_frame!r}: {how}"
    return CalibrationComparison(tuple(errors), alignment, description, scale, residual * 1000)
