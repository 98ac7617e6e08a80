"""Pinhole camera with OpenCV conventions: world points to pixels and back.

World frame: metres, right-handed, z up, floor at z = 0.
Camera frame (OpenCV): x right, y down, z forward (along the optical axis).
A world point X maps to camera coordinates ``x_cam = R @ X + t`` and to pixels ``K @ x_cam`` divided by depth.
Pixel coordinates: (u, v) = (column, row); integer values are pixel centres, so the image spans
[-0.5, width - 0.5] x [-0.5, height - 0.5].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEAR = 0.05  # metres: points closer than this to the camera plane (or behind it) do not project


def _array(value, shape, name) -> np.ndarray:
    array = np.array(value, dtype=float)
    if array.shape != shape:
        raise ValueError(f"camera {name} must have shape {shape}, got {array.shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Camera:
    """A calibrated pinhole camera: intrinsics K, world-to-camera rotation R and translation t, image size.

    ``dist`` holds OpenCV distortion coefficients (k1, k2, p1, p2, k3) for compatibility with calibration
    outputs; synthetic scenes always use zero distortion and ``project`` ignores it.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    name: str = "cam0"

    def __post_init__(self):
        object.__setattr__(self, "K", _array(self.K, (3, 3), "K"))
        object.__setattr__(self, "R", _array(self.R, (3, 3), "R"))
        object.__setattr__(self, "t", _array(self.t, (3,), "t"))
        object.__setattr__(self, "dist", _array(self.dist, (5,), "dist"))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        if not np.allclose(self.R @ self.R.T, np.eye(3), atol=1e-9) or np.linalg.det(self.R) <= 0:
            raise ValueError("camera R must be a rotation matrix")

    @classmethod
    def look_at(
        cls,
        eye,
        target,
        width: int,
        height: int,
        vertical_fov_deg: float = 45.0,
        up=(0.0, 0.0, 1.0),
        name: str = "cam0",
    ) -> Camera:
        """Camera at ``eye`` (world metres) whose optical axis passes through ``target``, square pixels,
        principal point at the image centre, image rows pointing along world ``-up``."""
        eye, target, up = (np.asarray(v, dtype=float) for v in (eye, target, up))
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, up)
        if np.linalg.norm(right) < 1e-9:
            raise ValueError("look_at: viewing direction is parallel to up")
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        R = np.stack([right, down, forward])  # rows: camera axes expressed in world coordinates
        focal = (height / 2) / np.tan(np.radians(vertical_fov_deg) / 2)
        K = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]])
        return cls(K=K, R=R, t=-R @ eye, width=width, height=height, name=name)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates (metres)."""
        return -self.R.T @ self.t

    @property
    def projection_matrix(self) -> np.ndarray:
        """3x4 matrix P = K [R | t]."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    def to_camera(self, points3d) -> np.ndarray:
        """World points (..., 3) to camera coordinates (..., 3)."""
        return np.asarray(points3d, dtype=float) @ self.R.T + self.t

    def depth(self, points3d) -> np.ndarray:
        """Distance along the optical axis (camera z, metres) of world points (..., 3); negative behind."""
        return self.to_camera(points3d)[..., 2]

    def project(self, points3d) -> np.ndarray:
        """World points (..., 3) to pixels (..., 2); NaN for points behind or within NEAR of the camera plane."""
        cam = self.to_camera(points3d)
        z = cam[..., 2:3]
        with np.errstate(invalid="ignore", divide="ignore"):
            pixels = (cam @ self.K.T)[..., :2] / z
        pixels[(z[..., 0] < NEAR) | np.isnan(z[..., 0])] = np.nan
        return pixels

    def rays(self, pixels) -> np.ndarray:
        """Unit world-frame viewing directions (..., 3) through pixels (..., 2); rays start at ``center``."""
        pixels = np.asarray(pixels, dtype=float)
        homogeneous = np.concatenate([pixels, np.ones(pixels.shape[:-1] + (1,))], axis=-1)
        directions = homogeneous @ np.linalg.inv(self.K).T @ self.R
        return directions / np.linalg.norm(directions, axis=-1, keepdims=True)

    def in_image(self, pixels) -> np.ndarray:
        """Boolean (...,) mask of pixels (..., 2) inside the image; False for NaN."""
        pixels = np.asarray(pixels, dtype=float)
        u, v = pixels[..., 0], pixels[..., 1]
        with np.errstate(invalid="ignore"):
            return (u >= -0.5) & (u < self.width - 0.5) & (v >= -0.5) & (v < self.height - 0.5)

    def to_dict(self) -> dict:
        """JSON-serialisable description (lists of floats)."""
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "dist": self.dist.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Camera:
        """Inverse of ``to_dict``."""
        return cls(**{key: data[key] for key in ("K", "R", "t", "width", "height", "dist", "name")})

    def __eq__(self, other) -> bool:
        if not isinstance(other, Camera):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None


def default_camera(width: int, height: int) -> Camera:
    """The synthetic scenes' camera: 1.7 m high, 5.5 m in front of the walking area's centre (world origin),
    looking along +y slightly down at (0, 0, 0.9), 45 degree vertical field of view."""
    return Camera.look_at(eye=(0.0, -5.5, 1.7), target=(0.0, 0.0, 0.9), width=width, height=height)
