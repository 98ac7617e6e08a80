"""Benchmark: the cost of the SMPLify-style body-model fit per frame, on one CPU core (and the GPU when there is one).

    python -m benchmarks.bench_smpl_fit [--frames 300] [--iterations 150] [--device cpu|cuda|auto]

The input is a synthetic Anny gait (`pose_pipeline.synthetic.bodymodel`) projected through a known camera with 2 px
of noise and 10 % of the joints missing. Reported: seconds of the whole fit (wall and CPU), milliseconds per frame
and per frame-iteration, the 300-frame subject's projected time, and the accuracy against the truth (MPJPE,
PA-MPJPE after mid-hip alignment, reprojection error). Target: a 300-frame subject in minutes on one core.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    import numpy as np
    import torch

    from pose_pipeline.bodymodels.fit import fit_body_model
    from pose_pipeline.bodymodels.models import body_model
    from pose_pipeline.lifting.metrics import lifting_accuracy
    from pose_pipeline.skeletons import COCO17
    from pose_pipeline.synthetic.bodymodel import body_model_sequence

    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)

    started = time.perf_counter()
    model = body_model("anny")
    print(f"Anny loaded in {time.perf_counter() - started:.1f} s (from its caches after the first use)")
    sequence = body_model_sequence(model, args.frames, seed=0)
    wall, cpu = time.perf_counter(), time.process_time()
    fit = fit_body_model(model, sequence.keypoints_2d, COCO17.joints, sequence.image_size,
                         focal_length=sequence.focal_length, iterations=args.iterations, device=args.device)  # fmt: skip
    if args.device != "cpu" and torch.cuda.is_available():
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    coco = [fit.keypoint_names.index(name) for name in COCO17.joints]

    def relative(points):
        return points - 0.5 * (points[:, [11]] + points[:, [12]])

    accuracy = lifting_accuracy(relative(fit.keypoints_3d[:, coco]), relative(sequence.coco_3d), bones=COCO17.bones,
                                root=None)  # fmt: skip
    per_frame = wall / args.frames
    print(f"device {args.device}, {args.frames} frames, {args.iterations} iterations: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU")  # fmt: skip
    # on a shared machine the CPU time is the one-core cost; the wall time includes waiting for the core
    print(f"  {1000 * per_frame:.1f} ms per frame wall, {1000 * cpu / args.frames:.1f} ms CPU, "
          f"{1e3 * cpu / args.frames / args.iterations:.2f} ms CPU per frame-iteration; a 300-frame subject: "
          f"{300 * per_frame / 60:.1f} min wall, {300 * cpu / args.frames / 60:.1f} min of one core")  # fmt: skip
    print(f"  MPJPE {accuracy['mpjpe']:.0f} mm, PA-MPJPE {accuracy['pa_mpjpe']:.0f} mm, reprojection "
          f"{fit.reprojection_error:.2f} px")  # fmt: skip
    print(f"  final loss terms: { {k: round(v, 6) for k, v in fit.losses.items()} }")
    np.testing.assert_array_less(accuracy["pa_mpjpe"], 60)


if __name__ == "__main__":
    main()
