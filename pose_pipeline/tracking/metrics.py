"""Tracking accuracy: HOTA (DetA, AssA), CLEAR MOT (MOTA, IDSW, FP, FN, MT/PT/ML) and identity (IDF1) metrics.

The metrics are TrackEval's own classes (``trackeval.metrics.HOTA``, ``CLEAR``, ``Identity``) run on the data
dictionary its datasets build (contiguous ids per sequence, one IoU matrix per frame), made here from arrays: no
files, no command line. Box similarity is TrackEval's IoU on x, y, w, h boxes, as in its MOTChallenge evaluation.

Ground truth may be `Tracks`, a synthetic `GroundTruth` (converted with `groundtruth_tracks`) or MOT rows
(frame 1-based, id, x, y, w, h, ... in this package's pixel convention); predictions `Tracks` or MOT rows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from pose_pipeline.formats import Detections, Tracks

from .mot import groundtruth_tracks, mot_to_tracks

SUMMARY = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN", "MT", "ML")
DEFAULT_TRACKERS = ("bytetrack", "ocsort", "sort", "botsort")


def as_tracks(data) -> Tracks:
    """`Tracks` from `Tracks`, a synthetic `GroundTruth` or MOT rows (N, >= 6, frame 1-based)."""
    if isinstance(data, Tracks):
        data.validate()
        return data
    if hasattr(data, "visible_fraction") and hasattr(data, "track_ids"):
        return groundtruth_tracks(data)
    if isinstance(data, np.ndarray):
        return mot_to_tracks(data)
    raise TypeError(f"expected Tracks, GroundTruth or MOT rows, got {type(data).__name__}")


def _per_frame(tracks: Tracks, n_frames: int):
    """Contiguous ids (0..K-1), and each frame's contiguous ids and boxes."""
    unique, ids = np.unique(tracks.track_id, return_inverse=True)
    order = np.argsort(tracks.frame, kind="stable")
    bounds = np.searchsorted(tracks.frame[order], np.arange(n_frames + 1))
    ids, boxes = ids[order].astype(int), tracks.boxes[order]
    spans = list(pairwise(bounds))
    return len(unique), [ids[a:b] for a, b in spans], [boxes[a:b] for a, b in spans]


def sequence_data(ground_truth: Tracks, predicted: Tracks, n_frames: int | None = None) -> dict[str, Any]:
    """The per-sequence data dictionary TrackEval's metrics take (``eval_sequence``), built from two `Tracks`."""
    from trackeval.datasets._base_dataset import _BaseDataset

    last = max([int(t.frame.max()) for t in (ground_truth, predicted) if len(t.frame)], default=-1)
    if n_frames is None:
        n_frames = last + 1
    elif last >= n_frames:
        raise ValueError(f"tracks reach frame {last}, beyond n_frames={n_frames}")
    n_gt_ids, gt_ids, gt_boxes = _per_frame(ground_truth, n_frames)
    n_pred_ids, pred_ids, pred_boxes = _per_frame(predicted, n_frames)
    similarity = [
        _BaseDataset._calculate_box_ious(g, p, box_format="xywh") if len(g) and len(p) else np.zeros((len(g), len(p)))
        for g, p in zip(gt_boxes, pred_boxes)
    ]
    return {
        "num_timesteps": n_frames,
        "num_gt_ids": n_gt_ids,
        "num_tracker_ids": n_pred_ids,
        "num_gt_dets": len(ground_truth.frame),
        "num_tracker_dets": len(predicted.frame),
        "gt_ids": gt_ids,
        "tracker_ids": pred_ids,
        "similarity_scores": similarity,
    }


def tracking_metrics(ground_truth, predicted, *, iou_threshold: float = 0.5, n_frames: int | None = None) -> dict:
    """HOTA, CLEAR MOT and identity metrics of ``predicted`` tracks against ``ground_truth``.

    Returns a dict: HOTA, DetA, AssA, DetRe, DetPr, AssRe, AssPr, LocA (averaged over TrackEval's IoU thresholds
    0.05..0.95), MOTA, MOTP, IDF1, IDP, IDR (at ``iou_threshold``), the counts IDSW, TP, FP, FN, IDTP, IDFP, IDFN,
    Frag, MT, PT, ML (mostly tracked > 80% of a person's frames, mostly lost < 20%), and GT_IDs, Pred_IDs, GT_Dets,
    Pred_Dets. Ids need not be contiguous or start anywhere in particular.

    Edge cases: no predictions give 0 for HOTA, MOTA and IDF1 and every ground-truth box counted FN; no ground
    truth gives HOTA = IDF1 = 0 and every prediction counted FP, with MOTA and MOTP NaN (their denominators are
    empty); neither gives NaN for every score and zero counts.
    """
    from trackeval.metrics import CLEAR, HOTA, Identity

    gt, pred = as_tracks(ground_truth), as_tracks(predicted)
    data = sequence_data(gt, pred, n_frames)
    config = {"THRESHOLD": float(iou_threshold), "PRINT_CONFIG": False}
    hota = HOTA().eval_sequence(data)
    clear = CLEAR(dict(config)).eval_sequence(data)
    identity = Identity(dict(config)).eval_sequence(data)

    out: dict[str, float | int] = {}
    for field in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA"):
        out[field] = float(np.mean(hota[field]))
    for field in ("MOTA", "MOTP"):
        out[field] = float(clear[field])
    for field in ("IDF1", "IDP", "IDR"):
        out[field] = float(identity[field])
    for field in ("IDSW", "Frag", "MT", "PT", "ML"):
        out[field] = int(clear[field])
    out["TP"], out["FP"], out["FN"] = int(clear["CLR_TP"]), int(clear["CLR_FP"]), int(clear["CLR_FN"])
    for field in ("IDTP", "IDFP", "IDFN"):
        out[field] = int(identity[field])
    out.update(GT_IDs=data["num_gt_ids"], Pred_IDs=data["num_tracker_ids"])
    out.update(GT_Dets=data["num_gt_dets"], Pred_Dets=data["num_tracker_dets"])

    if data["num_tracker_dets"] == 0:
        # TrackEval's early return leaves LocA = 1 and the derived scores unset; state them.
        out.update(LocA=float("nan"), DetPr=float("nan"), AssPr=float("nan"), MOTP=float("nan"))
        out.update(IDP=float("nan"), DetRe=0.0, AssRe=0.0, IDR=0.0)
    if data["num_gt_dets"] == 0:
        out.update(LocA=float("nan"), MOTA=float("nan"), MOTP=float("nan"), DetRe=float("nan"))
        out.update(AssRe=float("nan"), IDR=float("nan"), DetPr=0.0, AssPr=0.0, IDP=0.0)
    if data["num_gt_dets"] == 0 and data["num_tracker_dets"] == 0:
        for field in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "IDF1", "IDP", "IDR"):
            out[field] = float("nan")
    return out


def simulate_detections(
    ground_truth,
    *,
    seed: int = 0,
    miss_rate: float = 0.1,
    jitter: float = 0.03,
    false_positives: float = 0.2,
    min_visible: float = 0.3,
    score_range: tuple[float, float] = (0.6, 0.95),
    n_frames: int | None = None,
) -> list[np.ndarray]:
    """A stand-in detector's output made from ground truth, to test and compare trackers without a detector.

    Per frame: each true box is missed with probability ``miss_rate``, and always when less than ``min_visible``
    of the person is visible (synthetic `GroundTruth` only); kept boxes get Gaussian noise of ``jitter`` times
    their width (x, w) and height (y, h) and a score drawn from ``score_range`` times the square root of the
    visible fraction (partly hidden people score lower); then a Poisson(``false_positives``) number of random
    person-sized boxes inside the image, scored 0.1-0.5. Returns one (N, 5) array x, y, w, h, score per frame.
    """
    rng = np.random.default_rng(seed)
    if isinstance(ground_truth, Tracks):
        n_frames = int(ground_truth.frame.max()) + 1 if n_frames is None and len(ground_truth.frame) else n_frames
        n_frames = n_frames or 0
        extent = ground_truth.boxes[:, :2] + ground_truth.boxes[:, 2:] if len(ground_truth.frame) else np.ones((1, 2))
        width, height = extent.max(axis=0)
        ids = np.unique(ground_truth.track_id)
        boxes = np.full((n_frames, len(ids), 4), np.nan)
        boxes[ground_truth.frame, np.searchsorted(ids, ground_truth.track_id)] = ground_truth.boxes
        visible = np.where(np.isfinite(boxes[..., 0]), 1.0, 0.0)
    else:
        boxes = ground_truth.boxes.copy()
        boxes[..., :2] += 0.5  # synthetic boxes put pixel centres at integers; ours put pixel edges there
        visible = np.nan_to_num(ground_truth.visible_fraction, nan=0.0)
        width, height = ground_truth.camera.width, ground_truth.camera.height
    out = []
    for frame_boxes, frame_visible in zip(boxes, visible):
        keep = np.isfinite(frame_boxes).all(axis=1) & (frame_visible >= min_visible)
        keep &= rng.random(len(frame_boxes)) >= miss_rate
        kept, kept_visible = frame_boxes[keep], frame_visible[keep]
        noisy = kept + rng.normal(0.0, jitter, kept.shape) * np.tile(kept[:, 2:], 2)
        noisy[:, 2:] = np.maximum(noisy[:, 2:], 1.0)
        scores = rng.uniform(*score_range, len(kept)) * np.sqrt(kept_visible)
        n_false = rng.poisson(false_positives)
        w = np.minimum(rng.uniform(0.05, 0.15, n_false) * width, width)
        h = np.minimum(rng.uniform(0.15, 0.4, n_false) * height, height)
        false = np.column_stack(
            [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h, rng.uniform(0.1, 0.5, n_false)]
        )
        out.append(np.concatenate([np.column_stack([noisy, scores]), false]).reshape(-1, 5))
    return out


def compare_trackers(
    detections: Sequence[np.ndarray] | Detections,
    ground_truth,
    names: Sequence[str] = DEFAULT_TRACKERS,
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    iou_threshold: float = 0.5,
    columns: Sequence[str] = SUMMARY,
):
    """Run each registered tracker in ``names`` on the same detections and score it; one row per tracker.

    ``detections``: one (N, 5) array x, y, w, h, score per frame (or a `Detections`); ``ground_truth`` as in
    `tracking_metrics`; ``params``: per-tracker parameter overrides, e.g. ``{"bytetrack": {"frame_rate": 25}}``.
    Returns a pandas DataFrame indexed by tracker name with ``columns`` (any key of `tracking_metrics`), plus
    ``tracks`` (number of predicted ids) and ``fps`` (association speed, frames per second).
    """
    import pandas as pd

    from pose_pipeline.stages import TRACKING

    from . import trackers as _registers  # noqa: F401  (importing registers the trackers)
    from .run import track_detections

    params = dict(params or {})
    unknown = set(params) - set(names)
    if unknown:
        raise ValueError(f"params given for trackers not compared: {sorted(unknown)}")
    boxes = detections.boxes if isinstance(detections, Detections) else list(detections)
    gt = as_tracks(ground_truth)
    rows = {}
    for name in names:
        tracker = TRACKING.build(name, dict(params.get(name, {})))
        start = time.perf_counter()
        tracks = track_detections(boxes, tracker)
        seconds = time.perf_counter() - start
        scores = tracking_metrics(gt, tracks, iou_threshold=iou_threshold)
        row = {column: scores[column] for column in columns}
        row["tracks"] = scores["Pred_IDs"]
        row["fps"] = len(boxes) / seconds if seconds > 0 else float("inf")
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "tracker"
    return frame
