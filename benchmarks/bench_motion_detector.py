"""Benchmark of the `motion` person detector on 1280x720 video, on one core.

Run from the repository root:  python -m benchmarks.bench_motion_detector   (or  python benchmarks/bench_motion_detector.py)

Renders a synthetic 1280x720 H.264 video (three people crossing), decodes it once into memory, then times, on the
same frames and with one thread (OMP_NUM_THREADS=1, ``cv2.setNumThreads(1)``):

- the registered `motion` detector (``DETECTION.build("motion")``), batches of 30 frames, primed as a stage would;
- the bare OpenCV subtractor it is built on (``BackgroundSubtractorMOG2.apply`` with the same settings) on the
  full-size frames, and on frames already shrunk to the detector's processing size.

Reports frames/s and the ratios. Target: the detector runs at >= 30 frames/s. Exits with status 1 if missed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pose_pipeline.detection  # noqa: F401  (registers the detectors)
from pose_pipeline.stages import DETECTION
from pose_pipeline.synthetic import crossing_scene, render_scene
from pose_pipeline.video import VideoReader

TARGET_FPS = 30.0
BATCH = 30


def best_of(repeats: int, func) -> float:
    """Shortest wall time of ``repeats`` calls (seconds): the least disturbed run."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crossing_720p.mp4"
        render_scene(crossing_scene(3, width=1280, height=720, n_frames=args.frames), path)
        with VideoReader(path) as reader:
            frames = list(reader)
    print(f"{len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, one thread, best of {args.repeats}")

    detector = DETECTION.build("motion")
    spec_params = DETECTION.merged_params("motion", None)
    n_boxes = []

    def run_detector():
        detector.reset()
        detector.prime(frames[:: max(1, len(frames) // 25)])
        n_boxes.clear()
        for start in range(0, len(frames), BATCH):
            n_boxes.extend(len(b) for b in detector(frames[start : start + BATCH]))

    def bare(inputs):
        def run():
            subtractor = cv2.createBackgroundSubtractorMOG2(
                history=spec_params["history"],
                varThreshold=spec_params["var_threshold"],
                detectShadows=spec_params["detect_shadows"],
            )
            for frame in inputs:
                subtractor.apply(frame)

        return run

    t_detector = best_of(args.repeats, run_detector)
    small_size = detector.processing_size
    small = [cv2.resize(f, small_size, interpolation=cv2.INTER_AREA) for f in frames]
    t_bare_full = best_of(args.repeats, bare(frames))
    t_bare_small = best_of(args.repeats, bare(small))

    n = len(frames)
    fps_detector, fps_full, fps_small = n / t_detector, n / t_bare_full, n / t_bare_small
    rows = [
        (
            f"motion detector (processing at {small_size[0]}x{small_size[1]}, incl. priming)",
            f"{fps_detector:.1f} frames/s",
        ),
        ("bare MOG2 on the full-size frames", f"{fps_full:.1f} frames/s"),
        ("bare MOG2 on frames already at the processing size", f"{fps_small:.1f} frames/s"),
        ("ratio detector / bare MOG2, full size", f"{fps_detector / fps_full:.2f}x"),
        ("ratio detector / bare MOG2, processing size", f"{fps_detector / fps_small:.2f}x"),
        ("boxes per frame (3 people crossing)", f"{np.mean(n_boxes):.2f}"),
    ]
    for label, value in rows:
        print(f"{label:<62} {value:>16}")
    ok = fps_detector >= TARGET_FPS
    print(f"target >= {TARGET_FPS:.0f} frames/s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
