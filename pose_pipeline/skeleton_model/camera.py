"""Pinhole cameras with OpenCV's distortion model, stacked for JAX: world points to pixels in every camera.

Conventions as OpenCV's ``projectPoints``: ``x_cam = R @ X + t``; ``(x', y') = (x_cam / z_cam, y_cam / z_cam)``;
``r2 = x'^2 + y'^2``; radial ``1 + k1 r2 + k2 r2^2 + k3 r2^3``; tangential ``2 p1 x'y' + p2 (r2 + 2x'^2)`` and
``p1 (r2 + 2y'^2) + 2 p2 x'y'``; pixels ``K @ (x'', y'', 1)``. Coefficients ``dist = (k1, k2, p1, p2, k3)``.
A calibration table hands its cameras over as `Cameras.from_dicts` (K, dist, R or rvec, t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Cameras:
    """C calibrated cameras: K (C, 3, 3), dist (C, 5), R (C, 3, 3) world-to-camera, t (C, 3)."""

    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    names: tuple[str, ...] = ()

    def __post_init__(self):
        count = len(self.K)
        for name, shape in (("K", (count, 3, 3)), ("dist", (count, 5)), ("R", (count, 3, 3)), ("t", (count, 3))):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != shape:
                raise ValueError(f"cameras: {name} must have shape {shape}, got {value.shape}")
            object.__setattr__(self, name, value)
        if not np.allclose(self.R @ np.swapaxes(self.R, 1, 2), np.eye(3), atol=1e-6):
            raise ValueError("cameras: every R must be a rotation matrix")
        if not self.names:
            object.__setattr__(self, "names", tuple(f"cam{i}" for i in range(count)))

    def __len__(self) -> int:
        return len(self.K)

    @classmethod
    def from_dicts(cls, cameras: list[dict]) -> Cameras:
        """From dicts with K, t, dist (optional, 4, 5 or more OpenCV coefficients: the first five are used) and R
        or rvec (a Rodrigues vector, as OpenCV and aniposelib store it)."""
        import cv2

        K, dist, R, t, names = [], [], [], [], []
        for i, cam in enumerate(cameras):
            K.append(np.asarray(cam["K"], dtype=float))
            coefficients = np.zeros(5)
            given = np.ravel(cam.get("dist", np.zeros(5))).astype(float)[:5]
            coefficients[: len(given)] = given
            dist.append(coefficients)
            R.append(
                np.asarray(cam["R"], dtype=float) if "R" in cam else cv2.Rodrigues(np.asarray(cam["rvec"], float))[0]
            )
            t.append(np.ravel(cam["t"]).astype(float))
            names.append(str(cam.get("name", f"cam{i}")))
        return cls(np.array(K), np.array(dist), np.array(R), np.array(t), tuple(names))

    @classmethod
    def from_synthetic(cls, cameras) -> Cameras:
        """From `pose_pipeline.synthetic.camera.Camera` objects."""
        return cls.from_dicts([c.to_dict() for c in cameras])

    def project_numpy(self, points) -> np.ndarray:
        """World points (..., 3) to pixels (..., C, 2), numpy (for data generation and checks)."""
        return np.asarray(project(self.arrays(np), np.asarray(points, dtype=float), xp=np))

    def arrays(self, xp=None):
        """(K, dist, R, t) as arrays of the given array module (jax.numpy by default)."""
        if xp is None:
            import jax.numpy as xp
        return tuple(xp.asarray(a) for a in (self.K, self.dist, self.R, self.t))


def project(arrays, points, xp=None):
    """World points (..., 3) to pixels (..., C, 2) in every camera of ``arrays`` = (K, dist, R, t)."""
    if xp is None:
        import jax.numpy as xp
    K, dist, R, t = arrays
    cam = xp.einsum("cij,...j->...ci", R, points) + t  # (..., C, 3)
    x, y = cam[..., 0] / cam[..., 2], cam[..., 1] / cam[..., 2]
    k1, k2, p1, p2, k3 = (dist[:, i] for i in range(5))
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    u = K[:, 0, 0] * xd + K[:, 0, 1] * yd + K[:, 0, 2]
    v = K[:, 1, 1] * yd + K[:, 1, 2]
    return xp.stack([u, v], axis=-1)
