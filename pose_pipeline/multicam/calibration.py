"""Calibrated camera sets: names, intrinsics, distortion, extrinsics in metres, image sizes and the world frame.

Conventions (OpenCV's, which anipose, aniposelib and Pose2Sim share): a world point ``X`` (metres) maps to camera
coordinates ``R @ X + t`` with ``R`` the Rodrigues vector ``rotation``; pixels are ``K`` applied to the distorted
normalised coordinates, distortion coefficients in OpenCV order (k1, k2, p1, p2[, k3, ...]).

Files read and written:

- anipose / aniposelib TOML (`CameraGroup.dump`): ``[cam_0]``, ``[cam_1]``, ... tables with ``name``, ``size``
  (width, height), ``matrix``, ``distortions``, ``rotation``, ``translation``, and ``[metadata]``.
  aniposelib's own ``CameraGroup.load`` orders the tables by sorting their keys as text (``cam_10`` before
  ``cam_2``); this reader orders them by number, and the pipeline matches cameras by name, never by position.
- Pose2Sim TOML: the same fields in tables named after the cameras, plus ``fisheye``; ``[metadata]`` holds
  ``adjusted`` and ``error``.
- Qualisys ``.qca.txt`` (QTM's XML export), read (and written back) as Pose2Sim's converter reads it: intrinsics in 1/64 pixel,
  distortion coefficients divided by 64 as Pose2Sim does (so both give the same cameras), camera poses in
  millimetres (camera to world, Qualisys camera axes) turned into OpenCV world-to-camera extrinsics in metres.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np


class CalibrationError(ValueError):
    """A calibration file or camera set that cannot be used; the message names the cameras."""


def distort(normal: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """OpenCV's distortion of normalised coordinates (N, 2): radial k1, k2, k3 over k4, k5, k6 (rational model),
    tangential p1, p2, thin prism s1..s4; coefficients in OpenCV order (0, 4, 5, 8 or 12 of them)."""
    k = np.zeros(12)
    k[: coefficients.size] = coefficients
    k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4 = k
    x, y = normal[:, 0], normal[:, 1]
    r2 = x * x + y * y
    r4, r6 = r2 * r2, r2 * r2 * r2
    radial = (1 + k1 * r2 + k2 * r4 + k3 * r6) / (1 + k4 * r2 + k5 * r4 + k6 * r6)
    xy2 = 2 * x * y
    xd = x * radial + p1 * xy2 + p2 * (r2 + 2 * x * x) + s1 * r2 + s2 * r4
    yd = y * radial + p1 * (r2 + 2 * y * y) + p2 * xy2 + s3 * r2 + s4 * r4
    return np.stack([xd, yd], axis=-1)


@dataclass(frozen=True, eq=False)
class CameraModel:
    """One calibrated camera (OpenCV pinhole model, or OpenCV's fisheye model when ``fisheye``)."""

    name: str
    matrix: np.ndarray  # (3, 3) K, pixels
    distortion: np.ndarray  # OpenCV coefficients (k1, k2, p1, p2[, k3 ...]); fisheye: (k1, k2, k3, k4)
    rotation: np.ndarray  # (3,) Rodrigues vector, world to camera
    translation: np.ndarray  # (3,) metres, world to camera
    size: tuple[int, int]  # (width, height) pixels the calibration is for
    fisheye: bool = False

    def __post_init__(self):
        for attribute, shape in (("matrix", (3, 3)), ("rotation", (3,)), ("translation", (3,))):
            value = np.array(getattr(self, attribute), dtype=float)
            if value.shape != shape or not np.isfinite(value).all():
                raise CalibrationError(f"camera {self.name!r}: {attribute} must be finite with shape {shape}")
            object.__setattr__(self, attribute, value)
        distortion = np.array(self.distortion, dtype=float).ravel()
        if distortion.size not in (0, 4, 5, 8, 12, 14) or not np.isfinite(distortion).all():
            raise CalibrationError(f"camera {self.name!r}: {distortion.size} distortion coefficients")
        object.__setattr__(self, "distortion", distortion)
        object.__setattr__(self, "size", (round(float(self.size[0])), round(float(self.size[1]))))
        object.__setattr__(self, "name", str(self.name))

    @property
    def R(self) -> np.ndarray:
        return cv2.Rodrigues(self.rotation)[0]

    @property
    def extrinsics(self) -> np.ndarray:
        """(3, 4) [R | t], world to camera."""
        return np.hstack([self.R, self.translation[:, None]])

    @property
    def center(self) -> np.ndarray:
        """The camera's position in the world frame, metres."""
        return -self.R.T @ self.translation

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to pixels (..., 2), distortion applied; points behind the camera are NaN."""
        points = np.asarray(points, dtype=float)
        flat = points.reshape(-1, 3)
        out = np.full((len(flat), 2), np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            out[ok] = self.project_finite(flat[ok])
            depth = flat[ok] @ self.R[2] + self.translation[2]
            out[np.flatnonzero(ok)[depth <= 0]] = np.nan
        return out.reshape(*points.shape[:-1], 2)

    def project_finite(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) finite world points to (N, 2) pixels (no depth check): OpenCV's pinhole model with up to 12
        distortion coefficients in numpy (`distort`; no per-call OpenCV overhead, which dominated reprojection
        errors with many cameras), OpenCV itself for the fisheye and tilted (14-coefficient) models."""
        points = np.ascontiguousarray(points, dtype=float).reshape(-1, 3)
        if self.fisheye or self.distortion.size > 12:
            project = cv2.fisheye.projectPoints if self.fisheye else cv2.projectPoints
            out, _ = project(points.reshape(-1, 1, 3), self.rotation, self.translation, self.matrix, self.distortion)
            return out.reshape(-1, 2)
        camera = points @ self.R.T + self.translation
        with np.errstate(divide="ignore", invalid="ignore"):
            normal = camera[:, :2] / camera[:, 2:]
        xy = distort(normal, self.distortion)
        # cv2.projectPoints uses fx, fy, cx, cy only (no skew term), and so does this
        return xy * self.matrix[[0, 1], [0, 1]] + self.matrix[[0, 1], [2, 2]]

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) to normalised image coordinates (..., 2) (x/z, y/z in the camera frame); NaN stays NaN."""
        pixels = np.asarray(pixels, dtype=float)
        flat = pixels.reshape(-1, 2)
        out = np.full_like(flat, np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            source = np.ascontiguousarray(flat[ok]).reshape(-1, 1, 2)
            if self.fisheye:
                out[ok] = cv2.fisheye.undistortPoints(source, self.matrix, self.distortion).reshape(-1, 2)
            else:
                out[ok] = cv2.undistortPoints(source, self.matrix, self.distortion).reshape(-1, 2)
        return out.reshape(pixels.shape)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": list(self.size),
            "matrix": self.matrix.tolist(),
            "distortions": self.distortion.tolist(),
            "rotation": self.rotation.tolist(),
            "translation": self.translation.tolist(),
            "fisheye": self.fisheye,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraModel:
        try:
            return cls(
                name=data["name"],
                matrix=data["matrix"],
                distortion=data.get("distortions", data.get("distortion", [])),
                rotation=data["rotation"],
                translation=data["translation"],
                size=tuple(data["size"]),
                fisheye=bool(data.get("fisheye", False)),
            )
        except KeyError as error:
            raise CalibrationError(f"camera {data.get('name', '?')!r} has no {error.args[0]!r}") from None


@dataclass(frozen=True, eq=False)
class CameraSet:
    """Calibrated cameras sharing one world frame (metres). ``world_frame`` says what that frame is (camera 0's
    axes, a floor board's, a motion-capture lab's); ``metadata`` keeps what the source file said (its error)."""

    cameras: tuple[CameraModel, ...]
    world_frame: str = "unspecified"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "cameras", tuple(self.cameras))
        if not self.cameras:
            raise CalibrationError("a camera set needs at least one camera")
        names = [camera.name for camera in self.cameras]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise CalibrationError(f"camera names must be unique; repeated: {', '.join(duplicated)}")

    @property
    def names(self) -> list[str]:
        return [camera.name for camera in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def __getitem__(self, name: str) -> CameraModel:
        for camera in self.cameras:
            if camera.name == name:
                return camera
        raise KeyError(f"no camera {name!r}; the set has {', '.join(self.names)}")

    def subset(self, names) -> CameraSet:
        """The cameras ``names`` in that order (names the set lacks are refused, naming them)."""
        missing = [name for name in names if name not in self.names]
        if missing:
            raise CalibrationError(f"the calibration has no camera(s) {', '.join(missing)}; it has "
                                   f"{', '.join(self.names)}")  # fmt: skip
        return CameraSet(tuple(self[name] for name in names), self.world_frame, dict(self.metadata))

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to pixels in every camera: (cameras, ..., 2)."""
        return np.stack([camera.project(points) for camera in self.cameras])

    def as_dict(self) -> dict[str, Any]:
        return {"cameras": [c.as_dict() for c in self.cameras], "world_frame": self.world_frame,
                "metadata": dict(self.metadata)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraSet:
        return cls(tuple(CameraModel.from_dict(c) for c in data["cameras"]), data.get("world_frame", "unspecified"),
                   dict(data.get("metadata", {})))  # fmt: skip

    def size_mismatches(self, sizes: dict[str, tuple[int, int]]) -> dict[str, str]:
        """Cameras whose decoded video size (``sizes``: name -> (width, height)) differs from the calibration's,
        each with a sentence saying how."""
        out = {}
        for name, (width, height) in sizes.items():
            expected = self[name].size
            if (int(width), int(height)) != expected:
                out[name] = (f"camera {name!r}: the video decodes as {int(width)}x{int(height)}, the calibration is "
                             f"for {expected[0]}x{expected[1]}")  # fmt: skip
        return out


# ------------------------------------------------------------------------------------------------ TOML files


def _toml():
    try:
        import tomllib as reader  # Python 3.11+
    except ImportError:  # pragma: no cover
        import tomli as reader
    return reader


def read_toml(path) -> CameraSet:
    """An anipose/aniposelib or Pose2Sim calibration TOML (the layout is recognised from the table names)."""
    path = Path(path)
    with open(path, "rb") as handle:
        data = _toml().load(handle)
    metadata = data.pop("metadata", {}) or {}
    tables = {key: value for key, value in data.items() if isinstance(value, dict) and "matrix" in value}
    if not tables:
        raise CalibrationError(f"{path}: no camera tables (with a 'matrix') found")
    anipose = all(re.fullmatch(r"cam_\d+", key) for key in tables) and not any("fisheye" in t for t in tables.values())
    keys = sorted(tables, key=lambda k: int(k[4:])) if anipose else list(tables)
    cameras = []
    for key in keys:
        table = dict(tables[key])
        table.setdefault("name", key)
        cameras.append(CameraModel.from_dict(table))
    source = "anipose_toml" if anipose else "pose2sim_toml"
    return CameraSet(tuple(cameras), world_frame=_world_frame_of(metadata, source), metadata={"source": source,
                     **metadata})  # fmt: skip


def _world_frame_of(metadata: dict, source: str) -> str:
    if "world_frame" in metadata:
        return str(metadata["world_frame"])
    return f"as in the {source.replace('_', ' ')} file"


def write_anipose_toml(cameras: CameraSet, path) -> None:
    """Write the layout aniposelib's ``CameraGroup.dump`` writes (``cam_0`` ...); it loads with ``CameraGroup.load``."""
    tables = {}
    for index, camera in enumerate(cameras.cameras):
        table = camera.as_dict()
        if not camera.fisheye:
            table.pop("fisheye")
        tables[f"cam_{index}"] = table
    tables["metadata"] = _metadata_for_file(cameras)
    Path(path).write_text(_dump_toml(tables))


def write_pose2sim_toml(cameras: CameraSet, path) -> None:
    """Write Pose2Sim's layout: one table per camera named after it, ``fisheye``, and ``[metadata]``."""
    tables = {camera.name: camera.as_dict() for camera in cameras.cameras}
    clash = [name for name in tables if name == "metadata"]
    if clash:
        raise CalibrationError("a camera named 'metadata' cannot be written to a Pose2Sim TOML")
    tables["metadata"] = {"adjusted": False, "error": 0.0, **_metadata_for_file(cameras)}
    Path(path).write_text(_dump_toml(tables))


def _metadata_for_file(cameras: CameraSet) -> dict:
    metadata = {k: v for k, v in cameras.metadata.items() if k != "source" and _toml_value_ok(v)}
    metadata["world_frame"] = cameras.world_frame
    return metadata


def _toml_value_ok(value) -> bool:
    if isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_toml_value_ok(v) for v in value)
    return False


def _dump_toml(tables: dict[str, dict]) -> str:
    """A TOML document (tomli-w writes floats with ``repr``, so they read back bit for bit)."""
    import tomli_w

    return tomli_w.dumps(tables)


# ------------------------------------------------------------------------------------------------ Qualisys

QUALISYS_SUBPIXELS = 64  # QTM stores image coordinates in 1/64 pixel
QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])  # rotation by pi about x: Qualisys camera axes to OpenCV's


def read_qualisys(path) -> CameraSet:
    """A Qualisys QTM ``.qca.txt`` calibration (video cameras, in natural name order)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise CalibrationError(f"{path}: not a Qualisys calibration ({error})") from None
    cameras = []
    residuals = {}
    for element in root.findall("cameras/camera"):
        name = element.get("serial")
        fov, intrinsic, transform = element.find("fov_video"), element.find("intrinsic"), element.find("transform")
        if fov is None or intrinsic is None or transform is None:
            raise CalibrationError(f"{path}: camera {name!r} lacks fov_video, intrinsic or transform")
        left, top = float(fov.get("left")), float(fov.get("top"))
        size = (float(fov.get("right")) - left + 1, float(fov.get("bottom")) - top + 1)

        def value(attribute, node=intrinsic):
            return float(node.get(attribute))

        matrix = np.array(
            [
                [value("focalLengthU") / QUALISYS_SUBPIXELS, 0, value("centerPointU") / QUALISYS_SUBPIXELS - left],
                [0, value("focalLengthV") / QUALISYS_SUBPIXELS, value("centerPointV") / QUALISYS_SUBPIXELS - top],
                [0, 0, 1],
            ]
        )
        distortion = np.array([value(a) for a in ("radialDistortion1", "radialDistortion2", "tangentalDistortion1",
                                                  "tangentalDistortion2")]) / QUALISYS_SUBPIXELS  # fmt: skip
        # the r_ij attributes hold the camera-to-world rotation column by column
        camera_to_world = np.array([[value(f"r{i}{j}", transform) for j in (1, 2, 3)] for i in (1, 2, 3)]).T
        position = np.array([value(axis, transform) for axis in "xyz"]) / 1000.0
        world_to_camera = QUALISYS_TO_OPENCV @ camera_to_world.T
        translation = -world_to_camera @ position
        cameras.append(CameraModel(name, matrix, distortion, cv2.Rodrigues(world_to_camera)[0].ravel(), translation,
                                   size))  # fmt: skip
        residuals[name] = float(element.get("avg-residual", "nan"))
    if not cameras:
        raise CalibrationError(f"{path}: no cameras")
    cameras.sort(key=lambda c: _natural_key(c.name))
    return CameraSet(tuple(cameras), world_frame="Qualisys lab frame (z up)",
                     metadata={"source": "qualisys_qca", "avg_residual_mm": [residuals[c.name] for c in cameras]})  # fmt: skip


def write_qualisys(cameras: CameraSet, path) -> None:
    """Write a ``.qca.txt`` that `read_qualisys` (and Pose2Sim's converter) read back as ``cameras``: the inverse
    of the reading conventions (1/64-pixel intrinsics, distortion times 64, camera-to-world poses in millimetres,
    Qualisys camera axes). Pinhole cameras with at most (k1, k2, p1, p2) distortion only."""
    root = ET.Element("calibration", {"source": "pose_pipeline", "type": "regular"})
    ET.SubElement(root, "results", {"std-dev": "0.", "min-max-diff": "0."})
    group = ET.SubElement(root, "cameras")
    for camera in cameras.cameras:
        extra = camera.distortion[4:]
        if camera.fisheye or (extra.size and np.any(extra != 0)):
            raise CalibrationError(f"camera {camera.name!r}: only pinhole cameras with k1, k2, p1, p2 fit a .qca.txt")
        k1, k2, p1, p2 = np.pad(camera.distortion[:4], (0, 4 - min(4, camera.distortion.size)))
        element = ET.SubElement(group, "camera", {"active": "1", "serial": camera.name, "model": "none",
                                                  "avg-residual": "0.0", "viewrotation": "0"})  # fmt: skip
        width, height = camera.size
        box = {"left": "0", "top": "0", "right": str(width - 1), "bottom": str(height - 1)}
        for tag in ("fov_marker", "fov_marker_max", "fov_video", "fov_video_max"):
            ET.SubElement(element, tag, box)
        camera_to_world = (QUALISYS_TO_OPENCV @ camera.R).T
        position = camera.center * 1000.0
        transform = {f"r{i}{j}": repr(float(camera_to_world.T[i - 1, j - 1])) for i in (1, 2, 3) for j in (1, 2, 3)}
        transform.update({axis: repr(float(v)) for axis, v in zip("xyz", position)})
        ET.SubElement(element, "transform", transform)
        k = camera.matrix * QUALISYS_SUBPIXELS
        ET.SubElement(element, "intrinsic", {
            "focalLengthU": repr(float(k[0, 0])), "focalLengthV": repr(float(k[1, 1])),
            "centerPointU": repr(float(k[0, 2])), "centerPointV": repr(float(k[1, 2])),
            "radialDistortion1": repr(float(k1 * QUALISYS_SUBPIXELS)),
            "radialDistortion2": repr(float(k2 * QUALISYS_SUBPIXELS)), "radialDistortion3": "0.0",
            "tangentalDistortion1": repr(float(p1 * QUALISYS_SUBPIXELS)),
            "tangentalDistortion2": repr(float(p2 * QUALISYS_SUBPIXELS)), "skew": "0.0",
        })  # fmt: skip
    ET.ElementTree(root).write(path, encoding="ascii", xml_declaration=True)


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def read_calibration(path) -> CameraSet:
    """Any supported calibration file, by its name: ``*.toml`` (anipose or Pose2Sim) or ``*.qca.txt``."""
    name = Path(path).name.lower()
    if name.endswith(".toml"):
        return read_toml(path)
    if name.endswith((".qca.txt", ".qca")):
        return read_qualisys(path)
    raise CalibrationError(f"{path}: unknown calibration format (expected .toml or .qca.txt)")


def to_aniposelib(cameras: CameraSet):
    """The same cameras as an aniposelib ``CameraGroup`` (for its optimisers and as a test oracle)."""
    from aniposelib.cameras import CameraGroup

    return CameraGroup.from_dicts([camera.as_dict() for camera in cameras.cameras])
