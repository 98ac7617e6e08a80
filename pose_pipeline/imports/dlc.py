"""DeepLabCut analysis files (``.h5`` and ``.csv``), single- and multi-animal.

Single-animal tables have the column levels scorer / bodyparts / coords, multi-animal ones scorer / individuals /
bodyparts / coords (a multi-animal project's unique bodyparts sit under the individual ``single``). Coords are
x, y, likelihood; one row per video frame, in order. DeepLabCut's origin is the top-left pixel's centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import ImportRefused, PoseFile, confidence, to_corner

COORDS = ("x", "y", "likelihood")


def read_table(path: Path):
    import pandas as pd

    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", errors="replace") as f:
            head = [f.readline().split(",", 1)[0].strip() for _ in range(4)]
        levels = 4 if head[1] == "individuals" else 3
        if head[0] != "scorer" or head[levels - 2] != "bodyparts" or head[levels - 1] != "coords":
            raise ValueError(f"its header rows start {head[:levels]}, not scorer, [individuals,] bodyparts, coords")
        return pd.read_csv(path, header=list(range(levels)), index_col=0)
    return pd.read_hdf(path)


def read_dlc(path, pixel_origin: str = "centre", name: str | None = None) -> PoseFile:
    """A DeepLabCut ``.h5`` or ``.csv`` as a `PoseFile` (individuals by name; ``"single"`` for a single-animal file)."""
    import pandas as pd

    path = Path(path)
    what = f"{name or path} (dlc)"
    try:
        table = read_table(path)
    except Exception as error:  # noqa: BLE001 - pandas, PyTables and the csv parser raise many kinds
        raise ImportRefused(f"{what}: not a DeepLabCut table ({type(error).__name__}: {error})") from None
    names = list(getattr(table.columns, "names", []))
    if not isinstance(table, pd.DataFrame) or names[-2:] != ["bodyparts", "coords"] or names[0] != "scorer":
        raise ImportRefused(f"{what}: not a DeepLabCut table (column levels {names}, expected scorer, "
                            "[individuals,] bodyparts, coords)")  # fmt: skip
    scorer = str(table.columns.get_level_values("scorer")[0])
    individuals = (list(dict.fromkeys(table.columns.get_level_values("individuals"))) if "individuals" in names
                   else ["single"])  # fmt: skip
    joints = tuple(dict.fromkeys(table.columns.get_level_values("bodyparts")))
    keypoints, frames = {}, {}
    n = len(table)
    for individual in individuals:
        part = table.xs(individual, axis=1, level="individuals") if "individuals" in names else table
        values = np.full((n, len(joints), 3), np.nan)
        for j, joint in enumerate(joints):
            if joint not in part.columns.get_level_values("bodyparts"):
                continue
            columns = part.xs(joint, axis=1, level="bodyparts")
            got = [c for c in COORDS if c in columns.columns.get_level_values("coords")]
            if got != list(COORDS):
                raise ImportRefused(f"{what}: bodypart {joint!r} has coords {got}, not x, y, likelihood")
            xy = (
                columns.xs("x", axis=1, level="coords").to_numpy(float)[:, 0],
                columns.xs("y", axis=1, level="coords").to_numpy(float)[:, 0],
            )
            values[:, j, :2] = to_corner(np.stack(xy, axis=1), pixel_origin, what)
            values[:, j, 2] = confidence(columns.xs("likelihood", axis=1, level="coords").to_numpy(float)[:, 0], n)
        missing = ~np.isfinite(values[..., :2]).all(axis=-1)
        values[missing] = np.nan
        keypoints[str(individual)] = values
        frames[str(individual)] = np.arange(n)
    return PoseFile(path=str(name or path), format="dlc", joints=joints, keypoints=keypoints, frames=frames,
                    joint_set_name=f"DLC:{scorer}", reader="pandas", reader_version=pd.__version__,
                    n_frames=n)  # fmt: skip
