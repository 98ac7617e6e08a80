"""Left/right diagnosis of a COCO-17 ONNX heatmap model on held-out synthetic scenes: per joint, the distance to
the truth, the swap rate and the collapse rate, for side views (people walking along the world's x axis, seen in
profile by the camera) and for other headings.

- swap: the prediction lies nearer to the other side's truth than to its own (only counted where the two truths
  are more than 5 px apart, so that a swap means something);
- collapse: a left/right pair of predictions within 3 px of each other while their truths are more than 10 px
  apart (both joints of the pair put on the same limb).

Scenes: single walkers in profile (``walking_scene``, seeds 501-504) and random scenes (the training script's
``random_scene`` at 640x480, seeds 600-609); every 5th frame; every scene seed is below 10**6, so none was used in
training. Boxes are the ground-truth boxes and the model runs through the pipeline's own wrapper
(`OnnxTopDownEstimator`, decoder ``msra``).

    python scripts/diagnose_synthetic_pose_sides.py [model.onnx]
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from pose_pipeline.keypoints.onnx_topdown import OnnxTopDownEstimator
from pose_pipeline.skeletons import COCO17
from pose_pipeline.synthetic import PALETTE, SceneRenderer, walking_scene

ROOT = Path(__file__).resolve().parents[1]
SWAP_MIN_PX = 5.0
COLLAPSE_PRED_PX = 3.0
COLLAPSE_TRUTH_PX = 10.0
SIDE_TOLERANCE_DEG = 20.0
MIRROR = [COCO17.index(j.replace("left", "#").replace("right", "left").replace("#", "right")) for j in COCO17.joints]


def _training_module():
    spec = importlib.util.spec_from_file_location("train_synthetic_pose", ROOT / "scripts" / "train_synthetic_pose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def instances(frame_step: int = 5):
    """(instance, is_side_view) pairs of the held-out diagnosis scenes."""
    train = _training_module()
    rng = np.random.default_rng([20261203, 0x51DE])
    configs = [
        walking_scene(seed=501, n_frames=120),
        walking_scene(seed=502, n_frames=90, scale=0.85, color=PALETTE[2]),
        walking_scene(seed=503, n_frames=150, scale=1.15, color=PALETTE[4], speed=0.7),
        walking_scene(seed=504, n_frames=120, color=PALETTE[1], speed=1.0),
    ] + [train.random_scene(rng, size=(640, 480), seed=600 + i) for i in range(10)]
    out = []
    for config in configs:
        renderer = SceneRenderer(config)
        side = {}
        for k, person in enumerate(config.people):
            off_axis = np.degrees(abs(np.arctan2(np.sin(person.heading), np.cos(person.heading))))
            side[k] = min(off_axis, 180 - off_axis) <= SIDE_TOLERANCE_DEG and person.speed > 0
        for index in range(0, len(renderer), frame_step):
            frame = renderer.frame(index)
            found = train.frame_instances(renderer, index)
            # frame_instances keeps people in order; match them back by box to know their heading.
            for inst in found:
                k = int(np.nanargmin(np.abs(frame.labels.boxes - (inst.box - [0.5, 0.5, 0, 0])).sum(axis=1)))
                out.append((inst, side[k]))
    return out


def table(truth, predicted, visible):
    """Rows per joint: n, median error, PCK@5px, swap rate, collapse rate (pairs only)."""
    error = np.linalg.norm(predicted - truth, axis=-1)
    error_mirror = np.linalg.norm(predicted - truth[:, MIRROR], axis=-1)
    truth_gap = np.linalg.norm(truth - truth[:, MIRROR], axis=-1)
    pred_gap = np.linalg.norm(predicted - predicted[:, MIRROR], axis=-1)
    rows = {}
    for j, name in enumerate(COCO17.joints):
        mask = visible[:, j]
        if not mask.any():
            continue
        row = {
            "n": int(mask.sum()),
            "median_px": float(np.median(error[mask, j])),
            "pck5": float(np.mean(error[mask, j] <= 5)),
        }
        if MIRROR[j] != j:
            both = mask & visible[:, MIRROR[j]]
            apart = both & (truth_gap[:, j] > SWAP_MIN_PX)
            row["swap"] = float(np.mean(error_mirror[apart, j] < error[apart, j])) if apart.any() else float("nan")
            far = both & (truth_gap[:, j] > COLLAPSE_TRUTH_PX)
            row["collapse"] = float(np.mean(pred_gap[far, j] < COLLAPSE_PRED_PX)) if far.any() else float("nan")
            row["n_far"] = int(far.sum())
        rows[name] = row
    return rows


def report(model: Path) -> dict:
    estimator = OnnxTopDownEstimator(model, joint_set=COCO17.name, decoder="msra", device="cpu", threads=2)
    pairs = instances()
    insts = [inst for inst, _ in pairs]
    side = np.array([s for _, s in pairs])
    results = estimator([i.image for i in insts], [i.box[None] for i in insts])
    predicted = np.stack([r[0, :, :2] for r in results])
    truth = np.stack([i.keypoints for i in insts])
    visible = np.stack([i.visibility for i in insts]) == 2
    return {
        "side view": table(truth[side], predicted[side], visible[side]),
        "other headings": table(truth[~side], predicted[~side], visible[~side]),
        "n_people": {"side view": int(side.sum()), "other headings": int((~side).sum())},
    }


def format_report(tables: dict) -> str:
    lines = []
    for group in ("side view", "other headings"):
        lines.append(f"{group} ({tables['n_people'][group]} people, visible joints)")
        lines.append(f"{'joint':<16}{'n':>5}{'median':>8}{'PCK@5':>7}{'swap':>7}{'collapse':>9}{'(n apart)':>10}")
        for name, row in tables[group].items():
            extra = ""
            if "swap" in row:
                extra = f"{row['swap']:>7.3f}{row['collapse']:>9.3f}{row['n_far']:>10}"
            lines.append(f"{name:<16}{row['n']:>5}{row['median_px']:>8.2f}{row['pck5']:>7.3f}{extra}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    model = Path(argv[0]) if argv else ROOT / "3rdparty" / "synthetic_pose" / "synthetic_pose.onnx"
    print(format_report(report(model)))


if __name__ == "__main__":
    main()
