"""Benchmark: triangulation frames per second on one core, against aniposelib on the same data.

    python -m benchmarks.bench_triangulate

Synthetic rigs (`tests.multicam_scene.ring_of_cameras`: cameras on a circle, each with its own focal length and
distortion) see random points (20 joints a frame) with 1 px Gaussian noise and 10 % missing 2D points; the
process is pinned to one core (OpenBLAS, OpenMP and XLA single-threaded).

1. Plain DLT, 4 and 16 cameras: `triangulate_dlt` against aniposelib's ``CameraGroup.triangulate`` (jax, compiled
   before timing), frames/s and the largest difference of the two results.
2. Robust, 15 % outliers (2D points anywhere in the image): `triangulate_robust` (threshold 10 px) against
   aniposelib's ``triangulate_ransac`` (per point, every camera subset) on the same points: frames/s and 3D error
   (median, 90th percentile, mm) on the points both triangulated. aniposelib is timed on a slice of the frames
   (it is linear in the points); with 16 cameras it searches up to 2^16 subsets a point and is not run.
   Target: at least 100x faster at equal or better accuracy.
3. A 10 s, 100 Hz, 4-camera, 20-joint recording through the registered methods, seconds each.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import time
import warnings

import numpy as np

JOINTS = 20


def _scene(n_cameras: int, n_frames: int, outliers: float):
    from tests.multicam_scene import observe, random_points, ring_of_cameras

    cameras = ring_of_cameras(n_cameras, seed=n_cameras)
    truth = random_points(n_frames, JOINTS, seed=n_cameras).reshape(-1, 3)
    keypoints, _ = observe(cameras, truth, noise_px=1.0, missing=0.1, outliers=outliers)
    return cameras, truth, keypoints[..., :2].copy()


def _timed(function, *args, repeat: int = 1, **kwargs):
    best, result = np.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return result, best


def _errors_mm(points, truth):
    return np.linalg.norm(points - truth, axis=-1) * 1000


def plain(n_cameras: int, n_frames: int = 2000) -> dict:
    from pose_pipeline.multicam.calibration import to_aniposelib
    from pose_pipeline.multicam.triangulate import dlt, extrinsics, normalised, triangulate_dlt, usable_weights

    cameras, _, pixels = _scene(n_cameras, n_frames, 0.0)

    def bare_dlt():  # what aniposelib's triangulate does: undistort and solve, no reprojection errors
        return dlt(normalised(cameras, pixels), usable_weights(pixels, None), extrinsics(cameras))

    group = to_aniposelib(cameras)
    group.triangulate(pixels.copy())  # compile for this shape
    theirs, their_seconds = _timed(group.triangulate, pixels.copy(), repeat=3)
    ours, our_seconds = _timed(triangulate_dlt, cameras, pixels, repeat=3)
    _, bare_seconds = _timed(bare_dlt, repeat=3)
    return {
        "cameras": n_cameras,
        "ours_fps": n_frames / our_seconds,
        "ours_bare_fps": n_frames / bare_seconds,
        "aniposelib_fps": n_frames / their_seconds,
        "max_difference_m": float(np.nanmax(np.abs(ours.points - theirs))),
    }


def robust(n_cameras: int, n_frames: int = 2000, their_frames: int = 15) -> dict:
    from pose_pipeline.multicam.calibration import to_aniposelib
    from pose_pipeline.multicam.triangulate import triangulate_robust

    cameras, truth, pixels = _scene(n_cameras, n_frames, 0.15)
    ours, our_seconds = _timed(triangulate_robust, cameras, pixels, threshold=10.0, repeat=3)
    row = {"cameras": n_cameras, "ours_fps": n_frames / our_seconds}
    errors = _errors_mm(ours.points, truth)
    row.update(ours_median_mm=float(np.nanmedian(errors)), ours_p90_mm=float(np.nanpercentile(errors, 90)),
               ours_triangulated=float(np.isfinite(errors).mean()))  # fmt: skip
    if n_cameras <= 6:
        points = their_frames * JOINTS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group = to_aniposelib(cameras)
            group.triangulate(pixels[:, :1].copy())  # compile
            (theirs, *_), their_seconds = _timed(group.triangulate_ransac, pixels[:, :points].copy())
        their_errors = _errors_mm(theirs, truth[:points])
        both = np.isfinite(their_errors) & np.isfinite(errors[:points])
        row.update(
            aniposelib_fps=their_frames / their_seconds,
            speedup=(n_frames / our_seconds) / (their_frames / their_seconds),
            same_points_ours_median_mm=float(np.median(errors[:points][both])),
            same_points_ours_p90_mm=float(np.percentile(errors[:points][both], 90)),
            same_points_aniposelib_median_mm=float(np.median(their_errors[both])),
            same_points_aniposelib_p90_mm=float(np.percentile(their_errors[both], 90)),
        )
    return row


def recording() -> dict:
    """10 s at 100 Hz, 4 cameras, 20 joints of a walker-like motion, through each registered method."""
    import pose_pipeline.multicam  # noqa: F401 - registers the methods
    from pose_pipeline.skeletons import JointSet, register_joint_set
    from pose_pipeline.stages import TRIANGULATION
    from tests.multicam_scene import observe, ring_of_cameras, walker

    n_frames = 1000
    cameras = ring_of_cameras(4)
    body = walker(n_frames, fps=100.0)  # 17 COCO joints; 3 more between hips, shoulders and ankles
    extra = np.stack([body[:, [11, 12]].mean(1), body[:, [5, 6]].mean(1), body[:, [15, 16]].mean(1)], axis=1)
    truth = np.concatenate([body, extra], axis=1)
    joint_set = register_joint_set(JointSet("bench-20", tuple(f"j{i}" for i in range(JOINTS)),
                                            ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16))))  # fmt: skip
    keypoints, _ = observe(cameras, truth, noise_px=1.5, missing=0.05, outliers=0.03)
    row = {}
    for method in ("dlt", "dlt_ransac", "anipose_optim"):
        triangulator = TRIANGULATION.build(method)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, seconds = _timed(triangulator, cameras, keypoints, joint_set.name)
        errors = _errors_mm(result.keypoints, truth)
        row[method] = {"seconds": seconds, "median_mm": float(np.nanmedian(errors)),
                       "p95_mm": float(np.nanpercentile(errors, 95))}  # fmt: skip
    return row


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    failures = 0
    print("1. plain DLT, frames/s on one core (20 joints a frame)")
    for n in (4, 16):
        r = plain(n)
        print(f"   {n:2d} cameras: ours {r['ours_fps']:7.0f} (with reprojection errors), {r['ours_bare_fps']:7.0f} (DLT "
              f"only)  aniposelib triangulate {r['aniposelib_fps']:7.0f}  ratio {r['ours_bare_fps'] / r['aniposelib_fps']:4.2f}x"
              f"  max difference {r['max_difference_m']:.1e} m")  # fmt: skip
        failures += r["max_difference_m"] > 1e-6
    print("2. robust, 15 % outliers, frames/s on one core; 3D error on the points both triangulated")
    for n in (4, 16):
        r = robust(n)
        line = (f"   {n:2d} cameras: ours {r['ours_fps']:8.0f} fps, median {r['ours_median_mm']:.1f} mm, p90 "
                f"{r['ours_p90_mm']:.1f} mm, {100 * r['ours_triangulated']:.1f} % of points triangulated")  # fmt: skip
        if "aniposelib_fps" in r:
            failures += r["speedup"] < 100 or r["same_points_ours_p90_mm"] > r["same_points_aniposelib_p90_mm"]
            line += (f"\n      aniposelib triangulate_ransac {r['aniposelib_fps']:.2f} fps: ours {r['speedup']:.0f}x "
                     f"faster; same points: ours median {r['same_points_ours_median_mm']:.1f} / p90 "
                     f"{r['same_points_ours_p90_mm']:.1f} mm, aniposelib {r['same_points_aniposelib_median_mm']:.1f}"
                     f" / {r['same_points_aniposelib_p90_mm']:.1f} mm")  # fmt: skip
        else:
            line += "\n      aniposelib triangulate_ransac: not run (up to 2^16 camera subsets a point)"
        print(line)
    print("3. a 10 s, 100 Hz, 4-camera, 20-joint recording (1.5 px noise, 5 % missing, 3 % outliers)")
    for method, r in recording().items():
        print(f"   {method:14s} {r['seconds']:6.2f} s   median {r['median_mm']:.1f} mm, p95 {r['p95_mm']:.1f} mm")
        failures += method == "dlt_ransac" and r["seconds"] > 10
    if failures:
        raise SystemExit(f"{failures} target(s) missed")


if __name__ == "__main__":
    main()
