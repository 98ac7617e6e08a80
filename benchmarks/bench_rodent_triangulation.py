"""Benchmark: the synthetic rodent scene seen by 4 and 8 cameras, triangulated by the registered methods.

    python -m benchmarks.bench_rodent_triangulation

The scene is `pose_pipeline.skeleton_model.synthetic.scene` (a rat of `definitions.rat()` moving along a curved
path, 41 markers, overhead ring cameras with OpenCV distortion, 1280 x 1024): detections with 2 px noise,
occlusion episodes (15 % of detections missing, low confidence) and 2 % detector-like outliers (left/right swaps,
jumps to another marker, random spots, all with high confidence). Every marker of every frame is triangulated with
`dlt` and `dlt_ransac` (2D points below confidence 0.6 left out) and compared with the true marker positions: 3D
error (median and 95th percentile, mm), the share of points triangulated, and seconds. Not a test: generating the
scene compiles the JAX kinematics (about 20 s).
"""

from __future__ import annotations

import time

import cv2
import numpy as np

FRAMES, RATE_HZ, SIZE = 200, 100.0, (1280, 1024)


def camera_set(cameras):
    from pose_pipeline.multicam.calibration import CameraModel, CameraSet

    return CameraSet(tuple(CameraModel(name, cameras.K[i], cameras.dist[i], cv2.Rodrigues(cameras.R[i])[0].ravel(),
                                       cameras.t[i], SIZE) for i, name in enumerate(cameras.names)),
                     "synthetic arena: z up")  # fmt: skip


def main() -> None:
    import pose_pipeline.multicam  # noqa: F401 - registers the triangulation methods
    from pose_pipeline.skeleton_model import definitions, synthetic
    from pose_pipeline.stages import TRIANGULATION

    rat = definitions.rat()
    for count in (4, 8):
        cameras = synthetic.ring_cameras(count)
        scene = synthetic.scene(rat, frames=FRAMES, rate_hz=RATE_HZ, cameras=cameras, seed=0)
        # (cameras, frames, markers, 3): x, y, confidence
        keypoints = np.concatenate([np.moveaxis(scene.pixels, 1, 0), np.moveaxis(scene.confidence, 1, 0)[..., None]],
                                   axis=-1)  # fmt: skip
        outliers = scene.outlier.mean()
        for method in ("dlt", "dlt_ransac"):
            triangulate = TRIANGULATION.build(method, {"min_confidence": 0.6})
            start = time.perf_counter()
            result = triangulate(camera_set(cameras), keypoints, "rat markers")
            seconds = time.perf_counter() - start
            error = np.linalg.norm(result.keypoints - scene.markers, axis=-1) * 1000
            print(f"{count} cameras, {outliers:.1%} outliers, {method:10s}: median {np.nanmedian(error):5.2f} mm, "
                  f"95th percentile {np.nanpercentile(error, 95):6.2f} mm, max {np.nanmax(error):7.1f} mm, "
                  f"triangulated {np.isfinite(error).mean():.1%}, {seconds:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
