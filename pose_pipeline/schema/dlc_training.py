"""DeepLabCut sweeps, part 2: training every sweep member, then scoring each of its snapshots.

Sweep.Member ─► Training (+ Snapshot: files in the derived store) ─► SnapshotEvaluation (+ Split, Bodypart,
Occlusion) and InferenceBenchmark (speed and memory at 1280 x 720)

Each Training is one job: ``populate(reserve_jobs=True)`` spreads members over GPUs and machines, and a killed
worker leaves no row (the job goes back to the queue; the working directory is temporary).
"""

from __future__ import annotations

import shutil
import tempfile
import time

import datajoint as dj
import numpy as np

from .. import database
from ..dlc.engine import resolve_device
from ..dlc.evaluation import SPLITS, SnapshotPredictor, evaluate_predictions, occluded_vs_visible
from ..jsonable import jsonable
from ..keypoints.metrics import keypoint_errors
from . import nan_to_null
from .dlc_data import DLCProject, Sweep, labelled_frames, member_settings, split_frames
from .files import fetch_verified, insert_with_file

STAGE = "dlc_training"
schema = dj.Schema()

# controlled occlusion of test frames (pose_pipeline.synthetic.reaching.occlude)
OCCLUSION = {"fraction": 0.3, "radius": 4.0, "seed": 0}
# degradation (error on occluded keypoints / error on the same keypoints unoccluded) -> robustness score
OCCLUSION_SCORE_LIMITS = (1.25, 1.5, 2.0, 3.0)  # score 5 up to 1.25x, 4 up to 1.5x, 3 up to 2x, 2 up to 3x, else 1
BENCHMARK = {"width": 1280, "height": 720, "frames": 16, "warmup": 2, "batch_size": 8}
# Evaluation batches: 8 images on a GPU; on the CPU at most this many pixels per batch (8 images of 128 x 128, one of
# 640 x 480). Measured on one CPU thread (docs/deeplabcut.md, section 9): batch 8 is 1.75x faster per frame than
# batch 1 at 64 x 48 pixels, equal at 256 x 192, and 1.6x slower at 640 x 480 (DeepLabCut's evaluate_network uses 1).
EVALUATION_BATCH, EVALUATION_CPU_BATCH_PIXELS = 8, 8 * 128 * 128


def evaluation_batch_size(device: str, image_shape) -> int:
    """Images per inference batch of `SnapshotEvaluation` on ``device`` for images of ``image_shape`` (H, W, ...)."""
    if device.startswith("cuda"):
        return EVALUATION_BATCH
    return int(np.clip(EVALUATION_CPU_BATCH_PIXELS // max(1, image_shape[0] * image_shape[1]), 1, EVALUATION_BATCH))


@schema
class Training(dj.Computed):
    """One trained sweep member: how it was trained, its learning curve and its cost (snapshots in ``Snapshot``)."""

    definition = """
    -> Sweep.Member
    ---
    device                   : varchar(32)
    seconds                  : float64    # wall time of DeepLabCut's train_network
    peak_memory_mb           : float64    # peak GPU memory allocated by torch, or the rise in resident memory on the CPU
    iterations_per_epoch     : int32      # ceil(train frames / batch size)
    epochs                   : int32      # DeepLabCut epochs for the iteration budget
    plan                     : json       # the iteration -> epoch conversion (pose_pipeline.dlc.training)
    pytorch_config           : json       # DeepLabCut's pytorch_config.yaml as trained
    weight_init              : json       # initial weights: source, seed, sha256 (never hub weights)
    learning_curve           : json       # learning_stats.csv rows (one per epoch)
    train_frames             : <blob>     # frame indices
    test_frames              : <blob>
    deeplabcut_version       : varchar(16)
    torch_version            : varchar(32)
    """

    class Snapshot(dj.Part):
        """One saved snapshot of the training."""

        definition = """
        -> master
        epoch                : int32
        ---
        iterations           : int32      # epoch x iterations per epoch
        snapshot             : <object@derived>  # DeepLabCut .pt file
        sha256               : char(64)
        """

    def make(self, key):
        import torch

        from ..dlc.engine import require_deeplabcut
        from ..dlc.training import TrainingPlan, TrainingSettings, train_model

        deeplabcut = require_deeplabcut()
        member = (Sweep.Member * Sweep & key).fetch1()
        settings = TrainingSettings(**member_settings(key))
        train, test = split_frames(member["dlc_project"], member["split_seed"], member["train_size"])
        plan = TrainingPlan(iterations=member["iterations"], snapshot_every=member["snapshot_every"],
                            train_frames=len(train), batch_size=settings.batch_size)  # fmt: skip
        frames = labelled_frames(member["dlc_project"])
        workdir = tempfile.mkdtemp(prefix=f"train_{key['sweep']}_{key['member']}_", dir=_work_root())
        try:
            run = train_model(frames, workdir, train_indices=train, test_indices=test, settings=settings, plan=plan,
                              seed=member["split_seed"], device=member["device"])  # fmt: skip
            init = {k: v for k, v in run.weight_init.items() if k != "weight_init"}
            self.insert1({**key, "device": run.device, "seconds": run.seconds, "peak_memory_mb": run.peak_memory_mb,
                          "iterations_per_epoch": plan.iterations_per_epoch, "epochs": plan.epochs,
                          "plan": plan.to_dict(), "pytorch_config": jsonable(run.pytorch_config),
                          "weight_init": init, "learning_curve": jsonable(run.learning_stats.to_dict("records")),
                          "train_frames": np.asarray(train, np.int64), "test_frames": np.asarray(test, np.int64),
                          "deeplabcut_version": deeplabcut.__version__, "torch_version": torch.__version__})  # fmt: skip
            for epoch, path in run.snapshots.items():
                row = {**key, "epoch": epoch, "iterations": epoch * plan.iterations_per_epoch}
                insert_with_file(Training.Snapshot, row, "snapshot", path)  # sha256 computed while copying
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _work_root():
    root = database.cache_dir() / "dlc_work"
    root.mkdir(parents=True, exist_ok=True)
    return str(root)


def fetch_snapshot(key) -> tuple[dict, str]:
    """(pytorch_config, local snapshot path) of one Training.Snapshot, fetched once into the cache and verified."""
    ref, sha256 = (Training.Snapshot & key).fetch1("snapshot", "sha256")
    config = (Training & key).fetch1("pytorch_config")
    return config, str(fetch_verified(ref, sha256, f"DeepLabCut snapshot {key}"))


@schema
class SnapshotEvaluation(dj.Computed):
    """One snapshot scored on its training and test frames (per split in ``Split``, per bodypart in ``Bodypart``,
    under controlled occlusion in ``Occlusion``); the model is loaded once for all of them."""

    definition = """
    -> Training.Snapshot
    ---
    predictions              : <blob>     # (frames, bodyparts, 3) x, y, likelihood for every project frame
    seconds                  : float64
    """

    class Split(dj.Part):
        """Accuracy on the training or the test frames."""

        definition = """
        -> master
        split                : varchar(8)  # train or test
        ---
        mean_error=null      : float64    # mean Euclidean error, pixels (DeepLabCut's "rmse")
        rmse=null            : float64    # root-mean-square error, pixels
        mean_error_pcutoff=null : float64  # the same over predictions with likelihood >= pcutoff
        rmse_pcutoff=null    : float64
        pck=null             : float64    # share of keypoints within pck_pixels
        oks_map=null         : float64    # COCO OKS mAP@[.5:.95] (pycocotools), per-bodypart sigmas
        oks_map50=null       : float64
        num_keypoints        : int32      # labelled keypoints scored
        num_pcutoff          : int32      # of which with likelihood >= pcutoff
        mean_error_occluded=null : float64  # on keypoints the labels mark occluded (synthetic data)
        mean_error_visible=null  : float64
        """

    class Bodypart(dj.Part):
        """Accuracy of one bodypart on one split."""

        definition = """
        -> master
        split                : varchar(8)
        bodypart             : varchar(64)
        ---
        mean_error=null      : float64
        rmse=null            : float64
        mean_error_pcutoff=null : float64
        rmse_pcutoff=null    : float64
        pck=null             : float64
        num_keypoints        : int32
        """

    class Occlusion(dj.Part):
        """Robustness to controlled synthetic occlusion of the test frames (``OCCLUSION``)."""

        definition = """
        -> master
        ---
        error_occluded=null  : float64    # mean error on keypoints covered by an occluder
        error_unoccluded=null : float64   # the same keypoints in the clean images
        error_others=null    : float64    # keypoints left uncovered in the occluded images
        degradation=null     : float64    # error_occluded / error_unoccluded
        score                : int32      # 1 (poor) to 5 (robust) from the degradation (OCCLUSION_SCORE_LIMITS)
        num_occluded         : int32
        """

    def make(self, key):
        config, snapshot = fetch_snapshot(key)
        sweep = (Sweep & key).fetch1()
        project = (DLCProject & {"dlc_project": sweep["dlc_project"]}).fetch1()
        frames = labelled_frames(sweep["dlc_project"])
        splits = dict(zip(SPLITS, (Training & key).fetch1("train_frames", "test_frames"), strict=True))
        started = time.perf_counter()
        device = resolve_device(sweep["device"])
        predictor = SnapshotPredictor(config, snapshot, device=device,
                                      batch_size=evaluation_batch_size(device, frames.load(0).shape))  # fmt: skip
        test = np.asarray(splits["test"], dtype=int)
        test_images = {}  # kept from the pass over every frame, for the occlusion test

        def every_image():
            for i, image in enumerate(frames.images()):
                if i in test_set:
                    test_images[i] = image
                yield image

        test_set = set(test.tolist())
        predictions = predictor.predict(every_image())
        metrics = evaluate_predictions(predictions, frames, splits, pcutoff=sweep["pcutoff"],
                                       pck_pixels=sweep["pck_pixels"], sigmas=project["sigmas"])  # fmt: skip
        covered, mask = occlude_by_size([test_images[i] for i in test], frames.keypoints[test])
        occluded = predictor.predict(iter(covered))
        seconds = time.perf_counter() - started

        self.insert1({**key, "predictions": predictions.astype(np.float32), "seconds": seconds})
        for split in SPLITS:
            m = metrics[split]
            natural = occluded_vs_visible(predictions, frames, splits[split])
            self.Split.insert1(nan_to_null({**key, "split": split, "mean_error": m["mean_error"], "rmse": m["rmse"],
                "mean_error_pcutoff": m["mean_error_pcutoff"], "rmse_pcutoff": m["rmse_pcutoff"], "pck": m["pck_px"],
                "oks_map": m["AP"], "oks_map50": m["AP50"], "num_keypoints": m["n_labelled"],
                "num_pcutoff": m["n_pcutoff"], "mean_error_occluded": natural["mean_error_occluded"],
                "mean_error_visible": natural["mean_error_visible"]}))  # fmt: skip
            per = m["per_joint"]
            self.Bodypart.insert([nan_to_null({**key, "split": split, "bodypart": name,
                "mean_error": float(per["mean_error"][j]), "rmse": float(per["rmse"][j]),
                "mean_error_pcutoff": float(per["mean_error_pcutoff"][j]),
                "rmse_pcutoff": float(per["rmse_pcutoff"][j]), "pck": float(per["pck_px"][j]),
                "num_keypoints": int(per["n_labelled"][j])}) for j, name in enumerate(frames.bodyparts)])  # fmt: skip
        self.Occlusion.insert1(nan_to_null({**key, **occlusion_scores(predictions[test], occluded,
                                                                     frames.keypoints[test], mask)}))  # fmt: skip


def occlude_by_size(images: list[np.ndarray], keypoints: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """`occlude` (``OCCLUSION``) applied to each group of equal-size images (one group when a project's images share
    a size); returns the occluded images in the given order and the (N, J) occluded mask."""
    from ..synthetic.reaching import occlude

    covered, mask = list(images), np.zeros(keypoints.shape[:2], dtype=bool)
    for shape in dict.fromkeys(image.shape for image in images):
        group = [i for i, image in enumerate(images) if image.shape == shape]
        out, group_mask = occlude(np.stack([images[i] for i in group]), keypoints[group], **OCCLUSION)
        for i, image in zip(group, out, strict=True):
            covered[i] = image
        mask[group] = group_mask
    return covered, mask


def occlusion_scores(clean: np.ndarray, occluded: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    """Errors of predictions on clean and occluded copies of the same frames, and the 1-5 robustness score."""
    covered = keypoint_errors(occluded, truth, mask)
    unoccluded = keypoint_errors(clean, truth, mask)
    others = keypoint_errors(occluded, truth, ~mask)
    error_occluded, error_unoccluded = covered["mean_error"], unoccluded["mean_error"]
    degradation = error_occluded / error_unoccluded if error_unoccluded > 0 else np.nan
    score = 1 + sum(degradation <= limit for limit in OCCLUSION_SCORE_LIMITS) if np.isfinite(degradation) else 1
    return {"error_occluded": error_occluded, "error_unoccluded": error_unoccluded,
            "error_others": others["mean_error"], "degradation": degradation, "score": int(score),
            "num_occluded": covered["n_labelled"]}  # fmt: skip


@schema
class InferenceBenchmark(dj.Computed):
    """Speed and memory of a trained member's last snapshot on 1280 x 720 frames (``BENCHMARK``)."""

    definition = """
    -> Training
    ---
    epoch                    : int32      # the snapshot measured (the last)
    width                    : int32
    height                   : int32
    batch_size               : int32
    num_frames               : int32      # timed frames (after warm-up)
    fps                      : float64    # frames per second, preprocessing + model + decoding
    peak_memory_mb           : float64    # peak GPU memory allocated by torch, or the rise in resident memory on the CPU
    device                   : varchar(32)
    """

    def make(self, key):
        from ..dlc.benchmark import benchmark_inference

        epoch = max((Training.Snapshot & key).fetch("epoch"))
        config, snapshot = fetch_snapshot({**key, "epoch": epoch})
        device = (Sweep & key).fetch1("device")
        result = benchmark_inference(config, snapshot, device=device, **BENCHMARK)
        self.insert1({**key, "epoch": int(epoch), **result})


ROOT_TABLES = ()
