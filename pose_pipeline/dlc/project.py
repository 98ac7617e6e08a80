"""Labelled DeepLabCut data: read an existing project, check it, and write one for training.

A DeepLabCut project keeps its labels in ``labeled-data/<video>/CollectedData_<scorer>.h5`` (or ``.csv``): one
row per image, indexed ``("labeled-data", <video>, <file>)``, columns ``(scorer, bodyparts, coords)`` with
``coords`` x and y, NaN where a bodypart is not labelled. Pixel coordinates put the centre of the top-left pixel at
(0, 0) (the labelling GUI's convention). Only single-animal projects are handled.
"""

from __future__ import annotations

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


def _image_name(index: tuple) -> str:
    return "/".join(str(part) for part in index)


def read_dlc_project(config_path) -> LabelledFrames:
    """The labelled frames of an existing single-animal DeepLabCut project (``config.yaml`` plus its
    ``CollectedData`` files). Bodyparts and image files are checked here; `check_labels` checks the rest."""
    import cv2
    import pandas as pd
    from deeplabcut.utils import auxiliaryfunctions

    require_deeplabcut()
    config_path = Path(config_path)
    if not config_path.is_file():
        raise LabelError(f"DeepLabCut config {config_path} does not exist")
    cfg = auxiliaryfunctions.read_config(str(config_path))
    if cfg.get("multianimalproject"):
        raise LabelError(f"{config_path}: multi-animal projects are not supported (single-animal only)")
    root = config_path.parent
    scorer = cfg["scorer"]
    tables = []
    for folder in sorted((root / "labeled-data").glob("*")):
        h5, csv = folder / f"CollectedData_{scorer}.h5", folder / f"CollectedData_{scorer}.csv"
        if h5.is_file():
            tables.append(pd.read_hdf(h5))
        elif csv.is_file():
            tables.append(pd.read_csv(csv, header=[0, 1, 2], index_col=[0, 1, 2]))
    if not tables:
        raise LabelError(f"{config_path}: no labeled-data/*/CollectedData_{scorer}.h5 or .csv found")
    labels = pd.concat(tables)
    if labels.index.nlevels == 1:  # old DLC projects index rows by a single path string
        labels.index = pd.MultiIndex.from_tuples([tuple(Path(p).parts) for p in labels.index])
    labels = labels.sort_index()  # the row order DeepLabCut's create_training_dataset uses
    found = tuple(dict.fromkeys(labels.columns.get_level_values("bodyparts")))
    bodyparts = tuple(cfg["bodyparts"])
    check_bodyparts(bodyparts, found, source=str(config_path))
    xy = labels.loc[:, (slice(None), list(bodyparts), ["x", "y"])].to_numpy(float).reshape(len(labels), -1, 2)
    paths = tuple(_image_name(index) for index in labels.index)
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
