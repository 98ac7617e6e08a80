"""OpenSim marker files (``.trc``) from 3D keypoints, one marker per joint.

The layout is the one OpenSim's own ``TRCFileAdapter`` writes and reads: five tab-separated header lines ::

    PathFileType  4  (X/Y/Z)  <file name>
    DataRate  CameraRate  NumFrames  NumMarkers  Units  OrigDataRate  OrigDataStartFrame  OrigNumFrames
    <rate>  <rate>  <frames>  <markers>  <m or mm>  <rate>  1  <frames>
    Frame#  Time  <marker 1>  <tab>  <tab>  <marker 2> ...
    <tab>  <tab>  X1  Y1  Z1  X2  Y2  Z2 ...

then an empty line and one row per frame: frame number (from 1), time (seconds) and X, Y, Z of each marker,
every field followed by a tab. A missing marker (NaN) is written as three empty fields, which OpenSim reads as
NaN; the trailing tab matters, because OpenSim's tokenizer drops an empty last field, so a row ending in a missing
marker would otherwise come up one field short. Values are the stored metres, or millimetres with
``units="mm"``; axes are written as stored (OpenSim's Y is up: rotate before writing if needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..formats import Keypoints3D
from .result import ExportError, check_3d

UNITS = {"m": 1.0, "mm": 1000.0}
# Axes a 3D result can be written in, as factors on the stored camera axes (x right, y down, z forward):
# "y-up" is half a turn about x (a rotation, so left and right stay as they are), OpenSim's vertical Y.
AXES = {"camera": np.array([1.0, 1.0, 1.0]), "y-up": np.array([1.0, -1.0, -1.0])}


def write_trc(keypoints: Keypoints3D, timestamps, path, *, units: str = "m", name: str = "3D keypoints",
              data_rate: float | None = None, decimals: int = 6,
              markers: Sequence[str] | None = None) -> Path:  # fmt: skip
    """Write 3D keypoints (metres, the contract's unit) as a ``.trc`` in ``units`` (``"m"`` or ``"mm"``).

    ``timestamps`` (frames,) seconds; ``data_rate`` defaults to the median frame rate they give (a variable
    frame rate keeps its real times in the Time column). ``name`` names the result in errors. Markers are named
    by the keypoints' joint set, or by ``markers`` (one per joint) for joints that are not a registered joint
    set (a fitted skeleton's).
    """
    path = Path(path)
    if units not in UNITS:
        raise ExportError(f"{name} -> {path}: units must be one of {', '.join(UNITS)}, not {units!r}")
    timestamps = np.asarray(timestamps, dtype=float)
    joint_names = check_3d(keypoints, timestamps, name, path, markers)
    values = keypoints.keypoints.astype(float) * UNITS[units]
    n_frames, n_markers = values.shape[:2]
    if data_rate is None:
        steps = np.diff(timestamps)
        data_rate = 1.0 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 1.0
    rate = f"{data_rate:.6g}"
    names = [joint.replace("\t", " ") for joint in joint_names]
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{n_frames}\t{n_markers}\t{units}\t{rate}\t1\t{n_frames}",
        "Frame#\tTime\t" + "".join(f"{marker}\t\t\t" for marker in names),
        "\t\t" + "".join(f"X{i}\tY{i}\tZ{i}\t" for i in range(1, n_markers + 1)),
        "",
    ]
    for index in range(n_frames):
        fields = ["" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in values[index].ravel()]
        lines.append(f"{index + 1}\t{timestamps[index]:.6f}\t" + "".join(field + "\t" for field in fields))
    path.write_text("\n".join(lines) + "\n")
    return path


def read_trc(path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """A ``.trc`` as (frames x markers x 3) in metres, times, marker names and the file's declared units."""
    import pandas as pd

    path = Path(path)
    header = path.read_text().splitlines()
    settings = dict(zip(header[1].split("\t"), header[2].split("\t")))
    markers = tuple(name for name in header[3].split("\t")[2:] if name)
    table = pd.read_csv(path, sep="\t", skiprows=5, header=None, skip_blank_lines=True)
    values = table.iloc[:, 2 : 2 + 3 * len(markers)].to_numpy(dtype=float).reshape(len(table), len(markers), 3)
    return values / UNITS[settings["Units"]], table.iloc[:, 1].to_numpy(dtype=float), markers, settings["Units"]
