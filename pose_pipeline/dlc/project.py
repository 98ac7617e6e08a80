"""Labelled DeepLabCut data: read an existing project, check it, and write one for training.

A DeepLabCut project keeps its labels in ``labeled-data/<video>/CollectedData_<scorer>.h5`` (or ``.csv``): one
row per image, indexed ``("labeled-data", <video>, <file>)``, columns ``(scorer, bodyparts, coords)`` with
``coords`` x and y, NaN where a bodypart is not labelled. Pixel coordinates put the centre of the top-left pixel at
(0, 0) (the labelling GUI's convention). Only single-animal projects are handled.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .engine import require_deeplabcut


class LabelError(ValueError):
    """Labelled data that cannot be trained on, with the reason."""


@dataclass
class LabelledFrames:
    """The labelled images of one project, in DeepLabCut's sorted row order.

    ``image_paths`` are relative to the project (``labeled-data/<video>/<file>``); ``load(i)`` returns image ``i``
    as RGB uint8. ``keypoints`` (N, J, 2) are pixels with NaN where unlabelled; ``visibility`` (N, J) follows
    COCO (0 unlabelled, 1 occluded, 2 visible) when the source knows it (synthetic data), else None.
    """

    bodyparts: tuple[str, ...]
    skeleton: tuple[tuple[str, str], ...]
    image_paths: tuple[str, ...]
    keypoints: np.ndarray
    load: Callable[[int], np.ndarray] = field(repr=False)
    visibility: np.ndarray | None = None
    scorer: str = "pose_pipeline"

    def __len__(self) -> int:
        return len(self.image_paths)

    def images(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.load(i)


def read_config(config_path) -> dict:
    """A project's ``config.yaml`` as a dict, read only. DeepLabCut's own ``read_config`` writes the file back when
    ``project_path`` differs from the folder (a moved or copied project), which fails in a read-only folder."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        with open(config_path, encoding="utf-8") as file:
            cfg = YAML(typ="safe", pure=True).load(file)
    except (OSError, YAMLError, UnicodeDecodeError) as error:
        raise LabelError(f"{config_path} cannot be read as a DeepLabCut config: {error}") from error
    if not isinstance(cfg, dict):
        raise LabelError(f"{config_path} is not a DeepLabCut config (a YAML mapping)")
    missing = [k for k in ("scorer", "bodyparts") if not cfg.get(k)]
    if missing:
        raise LabelError(f"{config_path} has no {' or '.join(missing)}")
    return cfg


def read_label_csv(path, scorer: str):
    """A ``CollectedData_<scorer>.csv`` as DeepLabCut's ``convertcsv2h5`` reads it (deeplabcut/utils/
    conversioncode.py): three header rows (four with ``individuals``: multi-animal, refused here), then rows indexed
    by three columns when the first cell of a data row is ``labeled-data``, else by one path column (old projects);
    the scorer level is set to the config's scorer. Nothing is written (convertcsv2h5 writes the .h5 and rewrites
    the .csv)."""
    import pandas as pd

    with open(path, encoding="utf-8") as file:
        head = [line for _, line in zip(range(5), file, strict=False)]
    if len(head) < 4:
        raise LabelError(f"{path}: no labelled rows (a DeepLabCut label CSV has 3 header rows, then one per image)")
    if "individuals" in head[1]:
        raise LabelError(f"{path}: multi-animal labels (an individuals header row); single-animal only")
    index_col = [0, 1, 2] if head[-1].split(",")[0] == "labeled-data" else 0
    table = pd.read_csv(path, index_col=index_col, header=[0, 1, 2])
    table.columns = table.columns.set_levels([scorer], level=0)
    return table


def _row_path(entry) -> tuple[str, ...] | None:
    """An index entry (a tuple such as ``("labeled-data", video, image)``, or one path string as old projects and
    Windows write it) as path parts with forward slashes, as DeepLabCut's ``guarantee_multiindex_rows`` normalises
    it; None when it is neither."""
    if isinstance(entry, str) and entry.startswith("(") and entry.endswith(")"):
        with contextlib.suppress(ValueError, SyntaxError):  # a tuple row of a mixed table, as to_csv writes it
            entry = ast.literal_eval(entry)
    if not isinstance(entry, tuple | str):
        return None
    parts = entry if isinstance(entry, tuple) else (entry,)
    if not parts or not all(isinstance(p, str | int | np.integer) and not isinstance(p, bool) for p in parts):
        return None
    path = "/".join(str(p) for p in parts).replace("\\", "/")
    out = tuple(p for p in path.split("/") if p not in ("", "."))
    if not out or ".." in out or ":" in out[0]:  # outside the project, or a Windows drive: not a project image
        return None
    return out


def normalise_rows(table, source) -> list[tuple[str, ...]]:
    """Each row's image as path parts (`_row_path`); rows that are not image paths are refused by position."""
    rows, bad = [], []
    for position, entry in enumerate(table.index):
        path = _row_path(entry)
        (bad.append(f"row {position}: {entry!r}") if path is None else rows.append(path))
    if bad:
        raise LabelError(f"{source}: {len(bad)} row(s) not indexed by an image path under labeled-data "
                         f"(labeled-data, video, image) or 'labeled-data/video/image': {', '.join(bad[:5])}")  # fmt: skip
    return rows


def read_dlc_project(config_path) -> LabelledFrames:
    """The labelled frames of an existing single-animal DeepLabCut project (``config.yaml`` plus its
    ``CollectedData`` files), read without writing anything (a read-only folder works). Bodyparts and image files
    are checked here; `check_labels` checks the rest.

    Like DeepLabCut 3: the ``.h5`` is read where there is one, else the ``.csv`` as ``convertcsv2h5`` converts it;
    image paths written on Windows (backslashes) or as single strings by old versions are normalised; rows are
    sorted as ``merge_annotateddatasets`` sorts them.
    """
    import cv2
    import pandas as pd

    require_deeplabcut()
    config_path = Path(config_path)
    if not config_path.is_file():
        raise LabelError(f"DeepLabCut config {config_path} does not exist")
    cfg = read_config(config_path)
    if cfg.get("multianimalproject"):
        raise LabelError(f"{config_path}: multi-animal projects are not supported (single-animal only)")
    root = config_path.parent
    scorer = cfg["scorer"]
    bodyparts = tuple(cfg["bodyparts"])
    rows, blocks = [], []
    for folder in sorted((root / "labeled-data").glob("*")):
        h5, csv = folder / f"CollectedData_{scorer}.h5", folder / f"CollectedData_{scorer}.csv"
        if h5.is_file():
            path, table = h5, pd.read_hdf(h5)
        elif csv.is_file():
            path, table = csv, read_label_csv(csv, scorer)
        else:
            continue
        if not isinstance(table, pd.DataFrame) or table.columns.nlevels != 3:
            raise LabelError(f"{path}: not a single-animal DeepLabCut label table (scorer, bodyparts, coords)")
        found = tuple(dict.fromkeys(table.columns.get_level_values(1)))
        check_bodyparts(bodyparts, found, source=str(path))
        rows += normalise_rows(table, path)
        xy = table.loc[:, (slice(None), list(bodyparts), ["x", "y"])]
        blocks.append(xy.apply(pd.to_numeric, errors="coerce").to_numpy(float).reshape(len(table), -1, 2))
    if not blocks:
        raise LabelError(f"{config_path}: no labeled-data/*/CollectedData_{scorer}.h5 or .csv found")
    order = sorted(range(len(rows)), key=rows.__getitem__)  # the row order DeepLabCut's create_training_dataset uses
    xy = np.concatenate(blocks)[order]
    paths = tuple("/".join(rows[i]) for i in order)
    missing = [p for p in paths if not (root / p).is_file()]
    if missing:
        raise LabelError(f"{config_path}: {len(missing)} labelled image(s) missing, e.g. {missing[:3]}")

    def load(i: int) -> np.ndarray:
        image = cv2.imread(str(root / paths[i]), cv2.IMREAD_COLOR)
        if image is None:
            raise LabelError(f"{root / paths[i]} cannot be read as an image")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    skeleton = tuple(tuple(pair) for pair in cfg.get("skeleton") or () if len(pair) == 2)
    return LabelledFrames(bodyparts, skeleton, paths, xy, load, scorer=scorer)


def check_bodyparts(expected, found, *, source: str) -> None:
    """Refuse labels whose bodyparts differ from the configuration's."""
    if tuple(expected) != tuple(found):
        only_config = [b for b in expected if b not in found]
        only_labels = [b for b in found if b not in expected]
        detail = f"only in config: {only_config}; only in labels: {only_labels}"
        if not only_config and not only_labels:
            detail = f"same bodyparts in another order: config {list(expected)}, labels {list(found)}"
        raise LabelError(f"{source}: the labels' bodyparts differ from the config's ({detail})")


def check_labels(frames: LabelledFrames, *, pixels: bool = True) -> None:
    """Refuse duplicate images (by name, and with ``pixels`` by content), malformed label arrays and projects
    without a label. A caller that decodes every image anyway passes ``pixels=False`` and `check_new_pixels` each.

    NaN labels are kept: DeepLabCut leaves unlabelled bodyparts out of training and of its metrics, and so do we.
    """
    n, j = len(frames), len(frames.bodyparts)
    if frames.keypoints.shape != (n, j, 2):
        raise LabelError(f"labels have shape {frames.keypoints.shape}; expected ({n}, {j}, 2)")
    if len(set(frames.image_paths)) != n:
        seen, dupes = set(), []
        for path in frames.image_paths:
            (dupes.append(path) if path in seen else seen.add(path))
        raise LabelError(f"duplicate labelled images: {dupes[:5]}")
    if n == 0 or np.isnan(frames.keypoints).all():
        raise LabelError("no labelled keypoints")
    if pixels:
        seen: dict[str, str] = {}
        for path, image in zip(frames.image_paths, frames.images(), strict=True):
            check_new_pixels(path, image, seen)


def check_new_pixels(path: str, image: np.ndarray, seen: dict[str, str]) -> None:
    """Refuse ``image`` if an earlier one (``seen``: digest -> path, updated here) has the same pixels."""
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    if digest in seen:
        raise LabelError(f"duplicate frames: {path} has the same pixels as {seen[digest]}")
    seen[digest] = path


def write_dlc_project(frames: LabelledFrames, root, *, task: str = "pose_pipeline", video: str = "frames") -> Path:
    """Write ``frames`` as a DeepLabCut 3 (PyTorch engine) project under ``root`` and return its config path.

    Images go to ``labeled-data/<video>/`` as PNG (named ``img<index>.png`` so DeepLabCut's sorted row order is
    the frames' order), labels to ``CollectedData_<scorer>.h5`` and ``.csv``.
    """
    import cv2
    import pandas as pd

    require_deeplabcut()
    from deeplabcut.utils import auxiliaryfunctions

    root = Path(root)
    folder = root / "labeled-data" / video
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"img{i:06d}.png" for i in range(len(frames))]
    for name, image in zip(names, frames.images(), strict=True):
        if not cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {folder / name}")
    columns = pd.MultiIndex.from_product(
        [[frames.scorer], list(frames.bodyparts), ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    index = pd.MultiIndex.from_tuples([("labeled-data", video, name) for name in names])
    table = pd.DataFrame(frames.keypoints.reshape(len(frames), -1), index=index, columns=columns)
    table.to_hdf(folder / f"CollectedData_{frames.scorer}.h5", key="df_with_missing", mode="w")
    table.to_csv(folder / f"CollectedData_{frames.scorer}.csv")

    cfg, _ = auxiliaryfunctions.create_config_template(False)
    cfg.update(
        Task=task,
        scorer=frames.scorer,
        date="pose_pipeline",
        project_path=str(root.resolve()),
        video_sets={str((root / "videos" / f"{video}.mp4").resolve()): {"crop": "0, 1, 0, 1"}},
        bodyparts=list(frames.bodyparts),
        skeleton=[list(pair) for pair in frames.skeleton],
        TrainingFraction=[0.9],
        engine="pytorch",
        iteration=0,
    )
    config = root / "config.yaml"
    auxiliaryfunctions.write_config(str(config), cfg)
    return config
