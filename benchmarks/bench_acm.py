"""Benchmark: the anatomically constrained skeleton model (pose_pipeline.skeleton_model) on one core.

    python -m benchmarks.bench_acm [--seconds 10] [--rate 100] [--em 10]

A synthetic rat (28 bones, 52 state variables, 41 markers) walks for ``--seconds`` at ``--rate`` Hz in front of
four cameras with OpenCV distortion; detections carry 2 px noise, occlusion episodes (15 %) and outliers (3 %),
and low-confidence entries are masked. Reported, with XLA and BLAS on one thread:
1. the unscented RTS smoother alone: state frames per second (after compilation; compile time printed apart);
2. one EM iteration (smoother + M-step): state frames per second;
3. the whole inference of the sequence: first-frame fit, ``--em`` EM iterations, final smoothing (wall time).
Target: the 10 s / 100 Hz / 4-camera sequence completes in minutes on one core (the study's code needs about
2 h for 10 s on a cluster node).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--em", type=int, default=10, help="EM iterations for the whole inference")
    parser.add_argument("--target-minutes", type=float, default=15.0)
    args = parser.parse_args()

    import jax
    import numpy as np

    from pose_pipeline.skeleton_model import definitions, regimes, synthetic, ukf
    from pose_pipeline.skeleton_model import kinematics as kin

    frames = round(args.seconds * args.rate)
    rat = definitions.rat()
    scene = synthetic.scene(rat, frames=frames, rate_hz=args.rate, seed=0, noise_px=2.0, occlusion=0.15, outliers=0.03)
    model = kin.compile_model(rat)
    y, mask, _present = regimes.observations(scene.pixels, scene.confidence)
    print(f"sequence: {frames} frames, {len(scene.cameras)} cameras, {len(rat.markers)} markers, state {model.n_state}, "
          f"observations {y.shape[1]} per frame ({mask.mean():.0%} kept)")  # fmt: skip
    h = kin.emission_function(model, scene.anatomy, scene.cameras)
    params = regimes.initial_params(model, scene.states[0], y.shape[1])

    smoother = jax.jit(lambda p, yy, mm: ukf.unscented_smoother(lambda x: x, h, p, yy, mm))
    started = time.perf_counter()
    jax.block_until_ready(smoother(params, y, mask))
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    jax.block_until_ready(smoother(params, y, mask))
    smooth_s = time.perf_counter() - started
    print(
        f"smoother: {frames / smooth_s:,.0f} state frames/s on one core ({smooth_s:.2f} s; compile {compile_s:.1f} s)"
    )

    step = ukf.make_em_step(lambda x: x, h)
    jax.block_until_ready(step(params, y, mask))
    started = time.perf_counter()
    jax.block_until_ready(step(params, y, mask))
    em_s = time.perf_counter() - started
    print(f"one EM iteration: {frames / em_s:,.0f} state frames/s ({em_s:.2f} s)")

    started = time.perf_counter()
    result = regimes.full_model(
        scene.pixels, scene.cameras, rat, scene.anatomy, scene.confidence, em_iterations=args.em
    )
    total_s = time.perf_counter() - started
    errors = regimes.position_errors(result, scene.joints) * 1000
    print(f"whole inference ({result.info['em_iterations']} EM iterations, compile included): {total_s:.1f} s; "
          f"joint error median {np.median(errors):.1f} mm, 95th percentile {np.percentile(errors, 95):.1f} mm")  # fmt: skip
    ok = total_s <= args.target_minutes * 60
    print(f"target {args.target_minutes:g} min: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
