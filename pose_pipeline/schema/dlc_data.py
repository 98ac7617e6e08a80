"""DeepLabCut sweeps, part 1: labelled projects, test splits, model configurations and sweep definitions.

DLCProject (+ Frame) ─► DataSplit (a test set per seed, a pool order) ─┐
ModelConfig (the nine backbones, augmentation, optimiser) ─────────────┴─► Sweep (+ Member: one training each)

Everything here is checked when it is inserted (`import_dlc_project`, `create_synthetic_project`,
`define_sweep`), so bad labels or an impossible sweep are refused before any training starts.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from ..dlc.backbones import BACKBONES
from ..dlc.project import LabelError, LabelledFrames, check_labels, check_new_pixels

STAGE = "dlc_data"
schema = dj.Schema()


@schema
class DLCProject(dj.Manual):
    """One labelled single-animal dataset: its bodyparts and skeleton (its labelled images in ``Frame``)."""

    definition = """
    dlc_project              : varchar(64)
    ---
    bodyparts                : json       # names, in label order
    skeleton                 : json       # [[bodypart, bodypart], ...]
    sigmas                   : json       # per-bodypart OKS sigmas for mAP (DeepLabCut: 0.1 each)
    scorer                   : varchar(64)
    source                   : varchar(1000)  # the config.yaml imported, or the generator and its arguments
    num_frames               : int32
    labels_outside           : int32      # labels outside the image or on its border: unlabelled, as in DeepLabCut 3
    """

    class Frame(dj.Part):
        """One labelled image and its labels."""

        definition = """
        -> master
        frame_index          : int32      # row in DeepLabCut's sorted order
        ---
        image_name           : varchar(255)  # labeled-data/<video>/<file>
        image                : <blob@derived>  # PNG bytes
        keypoints            : <blob>     # (bodyparts, 2) pixels, top-left pixel centre at (0, 0); NaN unlabelled
        visibility=null      : <blob>     # (bodyparts,) COCO 0/1/2 where the source knows it (synthetic data)
        """


@schema
class DataSplit(dj.Manual):
    """For one seed: a fixed test set and the order in which the other frames (the pool) join training sets, so
    a training set of n frames is the first n of the pool and test frames are the same for every size."""

    definition = """
    -> DLCProject
    split_seed               : int32
    ---
    test_fraction            : float64
    selection                : varchar(16)  # uniform (seeded shuffle) or kmeans (round-robin over clusters)
    test_frames              : <blob>     # frame indices
    pool_order               : <blob>     # frame indices
    """


@schema
class ModelConfig(dj.Lookup):
    """One trainable model: a backbone with its augmentation, optimiser, batch size and input size."""

    definition = """
    model_config             : varchar(64)
    ---
    backbone                 : varchar(32)  # pose_pipeline.dlc.backbones.BACKBONES
    rotation=15              : float64    # degrees, +-
    contrast=0.2             : float64    # brightness and contrast limit, +- (0.2: 20 percent)
    translation=5            : float64    # pixels, +-
    augment_p=0.5            : float64    # probability of each augmentation
    optimizer="AdamW"        : varchar(16)
    learning_rate=0.0005     : float64
    batch_size=8             : int32
    input_width=null         : int32      # training crop; NULL: the image size
    input_height=null        : int32
    description              : varchar(1000)
    """
    contents = [{"model_config": spec.name, "backbone": spec.name, "description": spec.description}  # noqa: RUF012
                for spec in BACKBONES.values()]  # fmt: skip


@schema
class Sweep(dj.Manual):
    """A grid of trainings on one project: model configurations x training-set sizes x seeds x iteration budgets,
    with a snapshot every ``snapshot_every`` iterations (one ``Member`` per training)."""

    definition = """
    sweep                    : varchar(64)
    ---
    -> DLCProject
    snapshot_every           : int32      # iterations between snapshots
    pcutoff=0.6              : float64    # likelihood cut-off for the *_pcutoff errors
    pck_pixels=5             : float64    # PCK threshold, pixels
    device="auto"            : varchar(16)  # auto, cpu or cuda[:i]
    description=""           : varchar(1000)
    """

    class Member(dj.Part):
        """One training of the sweep."""

        definition = """
        -> master
        member               : int32
        ---
        -> ModelConfig
        split_seed           : int32      # the DataSplit (test set) and the training seed
        train_size           : int32      # frames: the first train_size of the split's pool
        iterations           : int32      # budget, DeepLabCut iterations (batches)
        """


ROOT_TABLES = (Sweep, DataSplit, DLCProject)


# ------------------------------------------------------------------------------------------------ projects


def _png(image: np.ndarray) -> np.ndarray:
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise ValueError("image could not be PNG-encoded")
    return data.ravel()


def _outside_to_nan(keypoints: np.ndarray, shape) -> tuple[np.ndarray, int]:
    """Labels DeepLabCut 3 does not count as labelled, made NaN: its loader keeps a keypoint only where
    ``0 < x < width and 0 < y < height``, strictly, so a label on the border (x == 0 or width, y == 0 or height)
    is dropped too (deeplabcut/pose_estimation_pytorch/data/dlcloader.py, ``DLCLoader.to_coco``: ``is_visible``).
    Its training and ``evaluate_network`` both read labels through that loader."""
    height, width = shape[:2]
    x, y = keypoints[..., 0], keypoints[..., 1]
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(x) & np.isfinite(y) & ~((0 < x) & (x < width) & (0 < y) & (y < height))
    keypoints = keypoints.copy()
    keypoints[outside] = np.nan
    return keypoints, int(outside.sum())


def insert_project(name: str, frames: LabelledFrames, *, source: str, sigmas=None) -> dict:
    """Store labelled frames as project ``name`` (checked first: nothing is stored if they are refused)."""
    check_labels(frames, pixels=False)  # duplicate pixels are checked below, as each image is encoded
    n_joints = len(frames.bodyparts)
    sigmas = [0.1] * n_joints if sigmas is None else [float(s) for s in np.broadcast_to(sigmas, (n_joints,))]
    key = {"dlc_project": name}
    rows, outside, seen = [], 0, {}
    for i, image in enumerate(frames.images()):
        check_new_pixels(frames.image_paths[i], image, seen)
        keypoints, n_outside = _outside_to_nan(frames.keypoints[i], image.shape)
        outside += n_outside
        visibility = None if frames.visibility is None else np.where(np.isnan(keypoints[:, 0]), 0,
                                                                     frames.visibility[i]).astype(np.int8)  # fmt: skip
        rows.append({**key, "frame_index": i, "image_name": frames.image_paths[i][:255], "image": _png(image),
                     "keypoints": keypoints.astype(np.float64), "visibility": visibility})  # fmt: skip
    with DLCProject.connection.transaction:
        DLCProject.insert1({**key, "bodyparts": list(frames.bodyparts),
                            "skeleton": [list(pair) for pair in frames.skeleton], "sigmas": sigmas,
                            "scorer": frames.scorer, "source": source[:1000], "num_frames": len(frames),
                            "labels_outside": outside})  # fmt: skip
        DLCProject.Frame.insert(rows)
    return key


def import_dlc_project(config_path, name: str | None = None, *, sigmas=None) -> dict:
    """Import an existing single-animal DeepLabCut project (config.yaml and its CollectedData files)."""
    from pathlib import Path

    from ..dlc.project import read_dlc_project

    frames = read_dlc_project(config_path)
    return insert_project(name or Path(config_path).parent.name, frames, source=str(config_path), sigmas=sigmas)


def create_synthetic_project(name: str, n_frames: int = 200, *, size=(128, 128), seed: int = 0,
                             occlusion: bool = True) -> dict:  # fmt: skip
    """A project of synthetic reaching frames (`pose_pipeline.synthetic.reaching`) with exact labels."""
    from ..synthetic.reaching import render_reaching

    scene = render_reaching(n_frames, size=tuple(size), seed=seed, occlusion=occlusion)
    names = tuple(f"labeled-data/reaching/img{i:06d}.png" for i in range(n_frames))
    skeleton = tuple((scene.bodyparts[a], scene.bodyparts[b]) for a, b in scene.skeleton)
    frames = LabelledFrames(scene.bodyparts, skeleton, names, scene.keypoints, lambda i: scene.images[i],
                            visibility=scene.visibility)  # fmt: skip
    source = f"render_reaching(n_frames={n_frames}, size={tuple(size)}, seed={seed}, occlusion={occlusion})"
    return insert_project(name, frames, source=source)


def project_labels(project: str) -> np.ndarray:
    """(frames, bodyparts, 2) labels of a project, in frame order, without fetching its images."""
    return np.stack((DLCProject.Frame & {"dlc_project": project}).fetch("keypoints", order_by="frame_index"))


def labelled_frames(project) -> LabelledFrames:
    """A project's frames from the database (images decoded when loaded)."""
    import cv2

    key = {"dlc_project": project} if isinstance(project, str) else {"dlc_project": project["dlc_project"]}
    bodyparts, skeleton, scorer = (DLCProject & key).fetch1("bodyparts", "skeleton", "scorer")
    names, pngs, keypoints, visibility = (DLCProject.Frame & key).fetch(
        "image_name", "image", "keypoints", "visibility", order_by="frame_index"
    )

    def load(i: int) -> np.ndarray:
        return cv2.imdecode(np.asarray(pngs[i], np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy()

    known = all(v is not None for v in visibility)
    return LabelledFrames(tuple(bodyparts), tuple(tuple(p) for p in skeleton), tuple(names),
                          np.stack(keypoints).astype(float), load,
                          visibility=np.stack(visibility) if known and len(visibility) else None,
                          scorer=scorer)  # fmt: skip


# ------------------------------------------------------------------------------------------------ splits


def _kmeans_order(frames: LabelledFrames, pool: np.ndarray, seed: int, clusters: int) -> np.ndarray:
    """Pool frames ordered round-robin over k-means clusters of their downsampled grey images (DeepLabCut's
    frame-extraction idea), so every prefix of the order spreads over the clusters."""
    import cv2
    from sklearn.cluster import KMeans

    features = np.stack([cv2.resize(cv2.cvtColor(frames.load(int(i)), cv2.COLOR_RGB2GRAY), (24, 24),
                                    interpolation=cv2.INTER_AREA).ravel() for i in pool]).astype(np.float32)  # fmt: skip
    k = max(1, min(clusters, len(pool)))
    labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(features)
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(pool[labels == c])) for c in rng.permutation(k)]
    order = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(int(queue.pop()))
    return np.asarray(order, dtype=np.int64)


def define_split(project: str, seed: int, *, test_fraction: float = 0.1, selection: str = "uniform",
                 clusters: int = 10) -> dict:  # fmt: skip
    """Create (or check) the test split of ``project`` for ``seed``; the same seed always gives the same split."""
    key = {"dlc_project": project, "split_seed": int(seed)}
    existing = DataSplit & key
    if existing:
        fraction, method = existing.fetch1("test_fraction", "selection")
        if not np.isclose(fraction, test_fraction) or method != selection:
            raise ValueError(f"{project} seed {seed} already has a split with test_fraction {fraction} and "
                             f"selection {method!r}; not {test_fraction} and {selection!r}")  # fmt: skip
        return key
    if selection not in ("uniform", "kmeans"):
        raise ValueError(f"selection must be 'uniform' or 'kmeans', not {selection!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction}")
    n = int((DLCProject & {"dlc_project": project}).fetch1("num_frames"))
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction))
    test, pool = np.sort(order[:n_test]), order[n_test:]
    if selection == "kmeans":
        pool = _kmeans_order(labelled_frames(project), pool, seed, clusters)
    DataSplit.insert1({**key, "test_fraction": float(test_fraction), "selection": selection,
                       "test_frames": test.astype(np.int64), "pool_order": pool.astype(np.int64)})  # fmt: skip
    return key


def split_frames(project: str, seed: int, train_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(train frames, test frames) of one sweep member."""
    test, pool = (DataSplit & {"dlc_project": project, "split_seed": seed}).fetch1("test_frames", "pool_order")
    if train_size > len(pool):
        raise ValueError(f"training-set size {train_size} is larger than the pool of {project} seed {seed} "
                         f"({len(pool)} frames)")  # fmt: skip
    return np.sort(pool[:train_size]), test


# ------------------------------------------------------------------------------------------------ sweeps


def define_sweep(
    name: str,
    project: str,
    *,
    model_configs,
    train_sizes,
    seeds=(0,),
    iterations=(1000,),
    snapshot_every: int = 250,
    test_fraction: float = 0.1,
    selection: str = "uniform",
    pcutoff: float = 0.6,
    pck_pixels: float = 5.0,
    device: str = "auto",
    description: str = "",
) -> dict:
    """Define a sweep: one member per (model config, training-set size, seed, iteration budget).

    Refused before anything is stored: unknown project or model configurations, a training-set size larger than
    a seed's pool, a size smaller than the batch size, budgets or snapshot intervals below 1.
    """
    if not DLCProject & {"dlc_project": project}:
        raise ValueError(f"no DLC project named {project!r}")
    model_configs, train_sizes = list(model_configs), [int(s) for s in train_sizes]
    seeds, iterations = [int(s) for s in seeds], [int(i) for i in iterations]
    if not (model_configs and train_sizes and seeds and iterations):
        raise ValueError("a sweep needs at least one model config, training-set size, seed and budget")
    unknown = [c for c in model_configs if not ModelConfig & {"model_config": c}]
    if unknown:
        raise ValueError(f"unknown model configuration(s) {unknown}; known: {ModelConfig.fetch('model_config')}")
    if min(iterations) < 1 or snapshot_every < 1:
        raise ValueError("iteration budgets and snapshot_every must be at least 1")
    n_frames = int((DLCProject & {"dlc_project": project}).fetch1("num_frames"))
    pool_size = n_frames - max(1, round(n_frames * test_fraction))
    too_large = [s for s in train_sizes if s > pool_size or s < 1]
    if too_large:
        raise ValueError(f"training-set size(s) {too_large} impossible: {project} has {n_frames} frames, "
                         f"{pool_size} outside the test set (test_fraction {test_fraction})")  # fmt: skip
    batch = dict(zip(*ModelConfig.fetch("model_config", "batch_size"), strict=True))
    small = [(c, s) for c in model_configs for s in train_sizes if s < batch[c]]
    if small:
        raise ValueError(f"training-set size below the batch size for {small}")
    if Sweep & {"sweep": name}:
        raise ValueError(f"a sweep named {name!r} exists already")
    members = [{"sweep": name, "member": i, "model_config": c, "split_seed": seed, "train_size": size,
                "iterations": budget}
               for i, (c, size, seed, budget) in enumerate(
                   (c, size, seed, budget) for c in model_configs for size in train_sizes for seed in seeds
                   for budget in iterations)]  # fmt: skip
    with Sweep.connection.transaction:
        for seed in seeds:
            define_split(project, seed, test_fraction=test_fraction, selection=selection)
        Sweep.insert1({"sweep": name, "dlc_project": project, "snapshot_every": int(snapshot_every),
                       "pcutoff": float(pcutoff), "pck_pixels": float(pck_pixels), "device": device,
                       "description": description[:1000]})  # fmt: skip
        Sweep.Member.insert(members)
    return {"sweep": name}


def member_settings(key) -> dict:
    """The `pose_pipeline.dlc.training.TrainingSettings` arguments of a sweep member's model configuration."""
    row = (ModelConfig * Sweep.Member & key).fetch1()
    size = (row["input_width"], row["input_height"])
    return {"backbone": row["backbone"], "rotation": row["rotation"], "contrast": row["contrast"],
            "translation": row["translation"], "augment_p": row["augment_p"], "optimizer": row["optimizer"],
            "learning_rate": row["learning_rate"], "batch_size": int(row["batch_size"]),
            "input_size": None if None in size else tuple(int(v) for v in size)}  # fmt: skip


__all__ = ["DLCProject", "DataSplit", "LabelError", "ModelConfig", "Sweep", "create_synthetic_project",
           "define_split", "define_sweep", "import_dlc_project", "labelled_frames", "project_labels", "split_frames"]  # fmt: skip
