"""DeepLabCut sweeps, part 3: the report of a finished sweep (statistics from `pose_pipeline.dlc.report`).

Sweep + every Training, SnapshotEvaluation and InferenceBenchmark of its members ─► SweepReport

Observations for the statistics are per test frame: the mean Euclidean error of each test frame (the same frames
for every member of a seed), averaged over seeds. Backbones are compared at the sweep's largest training set and
budget, on their last snapshots; learning curves and plateaus are per model configuration and training-set size,
with the test frames as the repeated measures across snapshots.
"""

from __future__ import annotations

import io
import warnings

import datajoint as dj
import numpy as np
import pandas as pd

from ..jsonable import jsonable
from ..keypoints.metrics import keypoint_distances
from .dlc_data import ModelConfig, Sweep, project_labels
from .dlc_training import InferenceBenchmark, SnapshotEvaluation, Training

STAGE = "dlc_report"
schema = dj.Schema()

# Table 2: metric column -> (display name, higher is better)
TABLE_METRICS = {
    "mean_error": ("Mean error (px, DLC 'RMSE')", False),
    "rmse": ("RMSE (px)", False),
    "pck": ("PCK", True),
    "oks_map": ("OKS mAP", True),
    "occlusion_score": ("Occlusion score (1-5)", True),
    "fps": ("FPS 1280x720", True),
    "peak_memory_mb": ("Peak memory (MB)", False),
}


@schema
class SweepReport(dj.Computed):
    """The report of one finished sweep: results per member, Table 2, backbone statistics, plateaus, figures."""

    definition = """
    -> Sweep
    ---
    results                  : json       # one row per member: its last snapshot's test and train metrics, cost
    table2                   : json       # one row per backbone: mean +- sd over seeds (largest size and budget)
    backbone_comparison      : json       # normality, then ANOVA + Tukey or Kruskal-Wallis + Dunn, effect sizes
    plateaus                 : json       # per model config, training-set size and split: where the error levels off
    heatmap_png              : <blob>     # normalised Table 2 metrics (1 = best)
    learning_curves_png      : <blob>     # error versus iterations, train and test
    """

    @property
    def key_source(self):
        unfinished = Sweep.Member.proj() - Training.proj()
        unevaluated = Training.Snapshot.proj() - SnapshotEvaluation.proj()
        unbenchmarked = Training.proj() - InferenceBenchmark.proj()
        return Sweep.proj() - unfinished.proj() - unevaluated.proj() - unbenchmarked.proj()

    def make(self, key):
        from ..dlc import report

        results, curves = sweep_results(key["sweep"]), sweep_curves(key["sweep"])
        final = results[
            (results.train_size == results.train_size.max()) & (results.iterations == results.iterations.max())
        ]
        table = report.backbone_table(final, group="backbone",
                                      metrics={m: name for m, (name, _) in TABLE_METRICS.items()})  # fmt: skip
        errors = frame_errors(key["sweep"], last_only=True)
        errors = errors[(errors.split == "test") & errors.member.isin(final.member)]
        comparison = _comparison(errors)
        plateaus = _plateaus(frame_errors(key["sweep"]))
        normalized = report.normalized_metrics(table, {m: better for m, (_, better) in TABLE_METRICS.items()})
        self.insert1({**key, "results": jsonable(results.to_dict("records")),
                      "table2": jsonable(table.reset_index().to_dict("records")), "backbone_comparison": comparison,
                      "plateaus": plateaus, "heatmap_png": _png(report.metric_heatmap(normalized)),
                      "learning_curves_png": _png(report.learning_curves(curves, y="mean_error",
                                                                         hue="model_config", style="split"))})  # fmt: skip


def _comparison(errors: pd.DataFrame) -> dict:
    from ..dlc import report

    if errors.backbone.nunique() < 2:
        return {"note": "fewer than two backbones: nothing to compare"}
    result = report.compare_groups(errors, "error", "backbone", subject="frame")
    return jsonable(result.to_dict())


def _plateaus(errors: pd.DataFrame) -> list[dict]:
    from ..dlc import report

    out = []
    for (config, size, split), curve in errors.groupby(["model_config", "train_size", "split"]):
        row = {"model_config": config, "train_size": int(size), "split": split}
        if curve.iterations.nunique() < 2:
            out.append({**row, "note": "one snapshot: no curve"})
            continue
        per_frame = curve.groupby(["frame", "iterations"], as_index=False).error.mean()
        plateau = report.detect_plateau(per_frame, x="iterations", y="error", subject="frame")
        out.append({**row, **jsonable(plateau.to_dict())})
    return out


def _png(figure) -> np.ndarray:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


# ------------------------------------------------------------------------------------------------ queries


def _members(sweep: str) -> pd.DataFrame:
    members = (Sweep.Member * ModelConfig.proj("backbone") & {"sweep": sweep}).to_pandas().reset_index()
    return members[["sweep", "member", "model_config", "backbone", "split_seed", "train_size", "iterations"]]


def sweep_curves(sweep: str) -> pd.DataFrame:
    """Every evaluated snapshot of a sweep: one row per member, snapshot and split, with its metrics."""
    splits = (SnapshotEvaluation.Split * Training.Snapshot.proj(snapshot_iterations="iterations")
              & {"sweep": sweep}).to_pandas().reset_index()  # fmt: skip
    curves = splits.merge(_members(sweep), on=["sweep", "member"])
    return curves.drop(columns=["iterations"]).rename(columns={"snapshot_iterations": "iterations"})


def sweep_results(sweep: str) -> pd.DataFrame:
    """One row per member: its last snapshot's test metrics (and train error), occlusion score and speed."""
    curves = sweep_curves(sweep)
    last = curves.groupby("member").epoch.transform("max") == curves.epoch
    test = curves[last & (curves.split == "test")].set_index("member")
    train = curves[last & (curves.split == "train")].set_index("member")
    occlusion = (SnapshotEvaluation.Occlusion & {"sweep": sweep}).to_pandas().reset_index()
    bench = (InferenceBenchmark & {"sweep": sweep}).to_pandas().reset_index().set_index("member")
    training = (Training & {"sweep": sweep}).proj("seconds", train_peak_mb="peak_memory_mb").to_pandas()
    results = _members(sweep).set_index("member")
    results["epoch"] = test.epoch
    for column in ("mean_error", "rmse", "mean_error_pcutoff", "rmse_pcutoff", "pck", "oks_map", "oks_map50",
                   "mean_error_occluded", "mean_error_visible"):  # fmt: skip
        results[column] = test[column]
    results["train_mean_error"] = train.mean_error
    occlusion = occlusion.merge(test.reset_index()[["member", "epoch"]], on=["member", "epoch"]).set_index("member")
    results["occlusion_score"] = occlusion.score
    results["occlusion_degradation"] = occlusion.degradation
    results["fps"], results["peak_memory_mb"] = bench.fps, bench.peak_memory_mb
    results["train_seconds"] = training.reset_index().set_index("member").seconds
    return results.reset_index()


def frame_errors(sweep: str, last_only: bool = False) -> pd.DataFrame:
    """Mean Euclidean error of every frame of every evaluated snapshot (rows: member, snapshot, split, frame)."""
    project = (Sweep & {"sweep": sweep}).fetch1("dlc_project")
    truth = project_labels(project)
    members = _members(sweep).set_index("member")
    rows = []
    evaluations = (SnapshotEvaluation * Training.Snapshot.proj(snapshot_iterations="iterations")
                   & {"sweep": sweep}).fetch(as_dict=True)  # fmt: skip
    last = {}
    for row in evaluations:
        last[row["member"]] = max(last.get(row["member"], 0), row["epoch"])
    splits = {m: dict(zip(("train", "test"), (Training & {"sweep": sweep, "member": m}).fetch1("train_frames",
                                                                                            "test_frames"),
                          strict=True)) for m in last}  # fmt: skip
    for row in evaluations:
        if last_only and row["epoch"] != last[row["member"]]:
            continue
        distance = keypoint_distances(row["predictions"], truth)
        member = members.loc[row["member"]]
        for split, frames in splits[row["member"]].items():
            with warnings.catch_warnings():  # a frame without labels: NaN, left out below
                warnings.simplefilter("ignore", RuntimeWarning)
                per_frame = np.nanmean(distance[frames], axis=1)
            for frame, error in zip(frames, per_frame, strict=True):
                if np.isfinite(error):
                    rows.append({"member": row["member"], "model_config": member.model_config,
                                 "backbone": member.backbone, "train_size": member.train_size,
                                 "seed": member.split_seed, "epoch": row["epoch"],
                                 "iterations": row["snapshot_iterations"], "split": split, "frame": int(frame),
                                 "error": float(error)})  # fmt: skip
    return pd.DataFrame(rows)


ROOT_TABLES = ()
