"""DeepLabCut's analysis files: ``.h5`` and ``.csv`` with the scorer / bodyparts / coords column index.

The layout is the one DeepLabCut 3's ``analyze_videos`` writes for a single animal: one row per frame (index 0,
1, ...), columns ``(scorer, bodypart, coord)`` with coords ``x``, ``y``, ``likelihood``, the table stored under
the HDF5 key ``df_with_missing`` in PyTables "table" format. Coordinates are moved to DeepLabCut's pixel-centre
origin (x - 0.5, y - 0.5; see `pose_pipeline.export.result`). Frames where the subject is absent keep NaN.
DeepLabCut finds a video's results by file name: ``<video stem><scorer>.h5`` next to the video.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .result import Result2D, from_pixel_centre, to_pixel_centre

if TYPE_CHECKING:
    import pandas as pd

HDF_KEY = "df_with_missing"


def dlc_table(result: Result2D, scorer: str | None = None) -> pd.DataFrame:
    """The result as DeepLabCut's table (pixel-centre coordinates); ``scorer`` defaults to ``DLC_<method>``."""
    import pandas as pd  # here, not at module level: importing the estimators stays light

    result.check()
    scorer = scorer or f"DLC_{result.method or 'pose_pipeline'}"
    keypoints = result.keypoints.keypoints.astype(float)
    values = np.concatenate([to_pixel_centre(keypoints[..., :2]), keypoints[..., 2:3]], axis=-1)
    columns = pd.MultiIndex.from_product([[scorer], list(result.joint_set.joints), ["x", "y", "likelihood"]],
                                         names=["scorer", "bodyparts", "coords"])  # fmt: skip
    return pd.DataFrame(values.reshape(len(values), -1), columns=columns, index=range(len(values)))


def write_dlc_h5(result: Result2D, path, scorer: str | None = None) -> Path:
    """Write the result as a DeepLabCut ``.h5`` (what ``pd.read_hdf`` and aniposelib's ``load_pose2d_fnames``
    read); returns the path."""
    path = Path(path)
    result.check(path)
    dlc_table(result, scorer).to_hdf(path, key=HDF_KEY, format="table", mode="w")
    return path


def write_dlc_csv(result: Result2D, path, scorer: str | None = None) -> Path:
    """Write the result as a DeepLabCut ``.csv`` (three header rows; read it with
    ``pd.read_csv(path, header=[0, 1, 2], index_col=0)``); returns the path."""
    path = Path(path)
    result.check(path)
    dlc_table(result, scorer).to_csv(path)
    return path


def read_dlc(path) -> tuple[np.ndarray, tuple[str, ...], str]:
    """A DeepLabCut single-animal ``.h5`` or ``.csv`` as (frames x joints x [x, y, likelihood]) in this project's
    pixel convention, the bodyparts and the scorer (for round trips and comparisons)."""
    import pandas as pd

    path = Path(path)
    table = pd.read_csv(path, header=[0, 1, 2], index_col=0) if path.suffix == ".csv" else pd.read_hdf(path)
    scorer = table.columns.get_level_values("scorer")[0]
    bodyparts = tuple(dict.fromkeys(table.columns.get_level_values("bodyparts")))
    values = table.to_numpy(dtype=float).reshape(len(table), len(bodyparts), 3)
    values[..., :2] = from_pixel_centre(values[..., :2])
    return values, bodyparts, scorer
