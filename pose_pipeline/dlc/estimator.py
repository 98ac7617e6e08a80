"""A trained DeepLabCut model as a top-down 2D keypoint method of the pipeline (``TOP_DOWN`` method ``"dlc"``).

The pipeline gives boxes (from its detector and tracker); each box, padded, is cut out of the frame at native scale
and read by the DeepLabCut snapshot (a bottom-up single-animal model, through `SnapshotPredictor`). Nothing is
resized: a DeepLabCut model is trained at the scale of its images, and the crop only narrows where it looks.

Pixel convention: DeepLabCut, like OpenCV, puts pixel ``i``'s centre at coordinate ``i``; the pipeline at
``i + 0.5`` (`pose_pipeline.keypoints.crop`). Boxes are in pipeline pixels, and keypoints come back as
``crop offset + DeepLabCut coordinate + 0.5``.

DeepLabCut's inference runner stacks the images of a batch into one tensor, so only crops of equal size can share
a batch: the crops of one call are grouped by size and each group goes through the model in batches of
``batch_size``.

Only this module's factory needs DeepLabCut (and torch), and imports them when it builds an estimator;
`pose_pipeline.keypoints` imports this module to register the method.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import resolvers
from ..keypoints.crop import PIXEL_CENTRE, estimator_inputs, valid_boxes
from ..skeletons import JointSet, register_joint_set
from ..stages import TOP_DOWN
from ..weights import note_model_file

DLC_SIGMA = 0.1  # DeepLabCut's default per-bodypart OKS sigma
JOINT_SET_PREFIX = "DLC:"
MAX_JOINT_SET_NAME = 64  # the database's joint_set column is varchar(64)
CONFIG_FILE = "pytorch_config.yaml"
_SNAPSHOT = re.compile(r"snapshot-(?:(best)-)?(\d+)\.pt")


class DLCEstimator:
    """A DeepLabCut 3 snapshot as a pipeline top-down estimator.

    ``pytorch_config`` is the model's ``pytorch_config.yaml`` (its path, or the loaded dict), ``snapshot_path`` its
    ``snapshot-*.pt``. The model's bodyparts become the joint set ``"DLC:<name>"``, registered here with OKS sigmas
    0.1 each (DeepLabCut's) and bones from ``skeleton`` (pairs of bodypart names or indices) or, when that is None,
    from `project_skeleton` (DeepLabCut 3's ``pytorch_config.yaml`` has no skeleton; its project's ``config.yaml``
    does).

    ``estimator(frames, boxes)``: ``frames`` RGB uint8 (H, W, 3) images, ``boxes`` one (N_i, 4) array of x, y, w, h
    (pipeline pixels) per frame; returns one (N_i, J, 3) array per frame: x, y in full-frame pipeline pixels and
    the DeepLabCut likelihood clipped to [0, 1]. Each box is enlarged ``padding`` times about its centre, clipped to
    the frame and cut at whole pixels (`crop_bounds`); boxes that are not finite, have no area or fall outside the
    frame give NaN rows.

    Attributes: ``joint_set`` (name), ``n_joints``, ``bodyparts``, ``predictor`` (the `SnapshotPredictor`),
    ``device``, ``padding``, ``snapshot_path``.
    """

    def __init__(
        self,
        pytorch_config,
        snapshot_path,
        *,
        name: str,
        device: str = "auto",
        batch_size: int = 8,
        padding: float = 1.25,
        skeleton=None,
    ):
        from .engine import require_deeplabcut
        from .evaluation import SnapshotPredictor

        require_deeplabcut()  # the install hint, offline hub, the project's backbones; before any DLC import
        from deeplabcut.pose_estimation_pytorch.config import PoseConfig

        if not name:
            raise ValueError("a DeepLabCut estimator needs a name (its joint set is 'DLC:<name>')")
        joint_set_name = f"{JOINT_SET_PREFIX}{name}"
        if len(joint_set_name) > MAX_JOINT_SET_NAME:
            raise ValueError(f"joint set name {joint_set_name!r} is longer than {MAX_JOINT_SET_NAME} characters")
        if not padding > 0 or int(batch_size) < 1:
            raise ValueError(f"need padding > 0 and batch_size >= 1, got {padding} and {batch_size}")
        self.snapshot_path = Path(snapshot_path)
        if not self.snapshot_path.is_file():
            raise FileNotFoundError(f"DeepLabCut snapshot {self.snapshot_path} does not exist")
        if isinstance(pytorch_config, str | Path) and not Path(pytorch_config).is_file():
            raise FileNotFoundError(f"DeepLabCut model configuration {pytorch_config} does not exist")
        self.padding = float(padding)
        self.predictor = SnapshotPredictor(pytorch_config, self.snapshot_path, device=device, batch_size=batch_size)
        self.device = self.predictor.device
        self.bodyparts = self.predictor.bodyparts
        if skeleton is None:
            skeleton = project_skeleton(PoseConfig.from_any(pytorch_config)["metadata"].get("project_path"))
        joints = JointSet(
            name=joint_set_name,
            joints=tuple(self.bodyparts),
            bones=skeleton_bones(skeleton, self.bodyparts),
            sigmas=(DLC_SIGMA,) * len(self.bodyparts),
        )
        self.joint_set = register_joint_set(joints).name
        self.n_joints = len(self.bodyparts)

    def __call__(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Keypoints of the people in ``boxes`` (one (N_i, 4) x, y, w, h array per frame), one (N_i, J, 3) array
        per frame: x, y full-frame pixels, confidence in [0, 1]; NaN for boxes that cannot be read."""
        frames, boxes = estimator_inputs(frames, boxes)
        results = [np.full((len(b), self.n_joints, 3), np.nan) for b in boxes]

        groups: dict[tuple[int, int], list[tuple[int, int, int, int]]] = {}  # crop (h, w) -> (frame, box, x0, y0)
        for i, (frame, frame_boxes) in enumerate(zip(frames, boxes)):
            height, width = frame.shape[:2]
            for n in np.flatnonzero(valid_boxes(frame_boxes)):
                bounds = crop_bounds(frame_boxes[n], self.padding, width, height)
                if bounds is not None:
                    x0, y0, x1, y1 = bounds
                    groups.setdefault((y1 - y0, x1 - x0), []).append((i, int(n), x0, y0))

        for (h, w), items in groups.items():
            crops = (np.ascontiguousarray(frames[i][y0 : y0 + h, x0 : x0 + w]) for i, _, x0, y0 in items)
            predictions = self.predictor.predict(crops)
            if len(predictions) != len(items):
                raise RuntimeError(f"DeepLabCut returned {len(predictions)} predictions for {len(items)} crops")
            for (i, n, x0, y0), points in zip(items, predictions):
                results[i][n, :, 0] = points[:, 0] + x0 + PIXEL_CENTRE
                results[i][n, :, 1] = points[:, 1] + y0 + PIXEL_CENTRE
                results[i][n, :, 2] = np.clip(points[:, 2], 0.0, 1.0)
        return results


def crop_bounds(box: Sequence[float], padding: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The pixel bounds ``(x0, y0, x1, y1)`` (end-exclusive) of one x, y, w, h box (pipeline pixels) enlarged
    ``padding`` times about its centre, clipped to a ``width`` x ``height`` image; None if nothing is left.

    Every pixel the padded box touches is included (pixel ``i`` spans ``[i, i + 1)`` in pipeline coordinates).
    """
    x, y, w, h = (float(v) for v in box)
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        return None
    cx, cy, half_w, half_h = x + w / 2, y + h / 2, w * padding / 2, h * padding / 2
    eps = 1e-6  # float rounding must not add a pixel row or column to a box on whole pixels
    x0, y0 = max(0, math.floor(cx - half_w + eps)), max(0, math.floor(cy - half_h + eps))
    x1, y1 = min(int(width), math.ceil(cx + half_w - eps)), min(int(height), math.ceil(cy + half_h - eps))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def project_skeleton(project_path) -> list:
    """The ``skeleton`` (pairs of bodypart names) of the DeepLabCut project at ``project_path`` (its
    ``config.yaml``), or ``[]`` when there is no such project any more (a model copied elsewhere) or no skeleton."""
    import yaml

    if not project_path:
        return []
    config = Path(project_path) / "config.yaml"
    try:
        skeleton = (yaml.safe_load(config.read_text()) or {}).get("skeleton")
    except (OSError, yaml.YAMLError, AttributeError):
        return []  # the skeleton only draws the joints: a project that cannot be read leaves it out
    return list(skeleton or [])


def skeleton_bones(skeleton, bodyparts: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Index pairs of a skeleton given as pairs of bodypart names or of indices; unknown names are left out."""
    bones = []
    for pair in skeleton or ():
        if len(pair) != 2:
            continue
        ends = []
        for end in pair:
            if isinstance(end, int | np.integer) and 0 <= end < len(bodyparts):
                ends.append(int(end))
            elif isinstance(end, str) and end in bodyparts:
                ends.append(list(bodyparts).index(end))
        if len(ends) == 2:
            bones.append((ends[0], ends[1]))
    return tuple(bones)


def snapshot_epoch(path) -> tuple[int, bool] | None:
    """``(epoch, is_best)`` of a DeepLabCut 3 pose snapshot file name (``snapshot-005.pt``,
    ``snapshot-best-020.pt``); None for other files (detector snapshots, anything else)."""
    match = _SNAPSHOT.fullmatch(Path(path).name)
    if match is None:
        return None
    return int(match.group(2)), match.group(1) is not None


def load_model_folder(path, snapshot: str | int | None = None) -> tuple[Path, Path]:
    """The ``(pytorch_config.yaml, snapshot)`` paths of a DeepLabCut 3 model folder.

    ``path`` is a folder holding ``pytorch_config.yaml`` and ``snapshot-*.pt`` files (an exported model, or a
    project's ``dlc-models-pytorch/iteration-*/<shuffle>/train`` folder), the shuffle folder above such a ``train``
    folder, or the ``pytorch_config.yaml`` itself. ``snapshot``: None or ``""`` for the highest epoch among the
    snapshots not marked best; ``"best"`` for the best snapshot; an epoch (``20`` or ``"20"``); or a file name in
    the folder (``"snapshot-020.pt"``, with or without ``.pt``).
    """
    folder = Path(path).expanduser()
    if folder.is_file() and folder.name == CONFIG_FILE:
        folder = folder.parent
    if not folder.is_dir():
        what = "is not a folder nor a pytorch_config.yaml" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"DeepLabCut model folder {folder} {what}")
    if not (folder / CONFIG_FILE).is_file() and (folder / "train" / CONFIG_FILE).is_file():
        folder = folder / "train"
    config = folder / CONFIG_FILE
    if not config.is_file():
        raise FileNotFoundError(f"DeepLabCut model folder {folder} has no {CONFIG_FILE}")
    snapshots = {p: snapshot_epoch(p) for p in folder.glob("snapshot-*.pt")}
    snapshots = {p: found for p, found in snapshots.items() if found is not None}
    if not snapshots:
        raise FileNotFoundError(f"DeepLabCut model folder {folder} has no snapshot-*.pt pose snapshots")

    choice = "" if snapshot is None else str(snapshot).strip()
    if choice in ("", "best"):
        candidates = [p for p, (_, best) in snapshots.items() if best == (choice == "best")]
        if not candidates:
            kind = "best snapshot (snapshot-best-*.pt)" if choice == "best" else "snapshot other than the best"
            raise FileNotFoundError(f"DeepLabCut model folder {folder} has no {kind}")
        return config, max(candidates, key=lambda p: snapshots[p][0])
    if choice.isdigit():
        matches = [p for p, (epoch, best) in snapshots.items() if epoch == int(choice) and not best]
        matches = matches or [p for p, (epoch, _) in snapshots.items() if epoch == int(choice)]
    else:
        name = choice if choice.endswith(".pt") else f"{choice}.pt"
        matches = [p for p in snapshots if p.name == name]
    if not matches:
        known = ", ".join(sorted(p.name for p in snapshots))
        raise FileNotFoundError(f"DeepLabCut model folder {folder} has no snapshot {choice!r}; it has {known}")
    return config, matches[0]


def folder_model_name(folder) -> str:
    """The joint-set name of a model folder: its name, or its shuffle folder's for a ``train`` folder, shortened
    with a hash of the path when ``"DLC:<name>"`` would not fit the database's 64 characters."""
    folder = Path(folder).resolve()
    name = folder.parent.name if folder.name == "train" else folder.name
    room = MAX_JOINT_SET_NAME - len(JOINT_SET_PREFIX)
    if len(name) > room:
        digest = hashlib.sha1(str(folder).encode()).hexdigest()[:8]
        name = f"{name[: room - 9]}-{digest}"
    return name


@TOP_DOWN.register(
    "dlc",
    version="1.0",
    params={"model": "", "snapshot": "", "device": "auto", "batch_size": 8, "padding": 1.25},
    requires=("dlc",),
    device="any",
    description="A trained DeepLabCut 3 model (bottom-up, single animal) read in each box: the box padded "
    "`padding` times and cut out at native scale, no resizing; joint set 'DLC:<model>' from its bodyparts. "
    "`model` is a model folder (pytorch_config.yaml + snapshot-*.pt) or the name of a model registered in the "
    "database (DLCModel); `snapshot` picks one (default the latest epoch).",
)
def dlc(model: str = "", snapshot: str = "", device: str = "auto", batch_size: int = 8, padding: float = 1.25):
    """Build a `DLCEstimator` from a model folder (`load_model_folder`) or a model registered in the database
    (looked up through `pose_pipeline.resolvers`; the schema's ``dlc_models`` module registers the lookup)."""
    model = str(model or "").strip()
    if not model:
        raise ValueError("the 'dlc' method needs a model: a DeepLabCut model folder or a registered model's name")
    path = Path(model).expanduser()
    if path.exists():
        config, snapshot_path = load_model_folder(path, snapshot or None)
        name = folder_model_name(config.parent)
    elif "/" in model or "\\" in model:
        raise FileNotFoundError(f"DeepLabCut model folder {model} does not exist")
    else:
        if snapshot:
            raise ValueError(
                f"snapshot {snapshot!r} given for registered model {model!r}: a registered model names its snapshot; "
                "snapshot applies to model folders only"
            )
        stored = resolvers.resolve(resolvers.DLC_MODEL, model)  # the schema layer's registered models
        config, snapshot_path, name = stored.config, stored.weights, model
        note_model_file(snapshot_path, stored.sha256, name=f"dlc_model:{model}")
    note_model_file(snapshot_path)
    return DLCEstimator(config, snapshot_path, name=name, device=device, batch_size=batch_size, padding=padding)
