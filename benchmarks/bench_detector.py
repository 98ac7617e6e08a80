"""Benchmark of the real person detector (``yolox_raw_onnx``, the shipped YOLOX-Nano) on the real Sports2D clip:
the pipeline's wrapper against a bare onnxruntime loop on the same frames, and frames per second per core.

Run from the repository root:  python -m benchmarks.bench_detector   (or  python benchmarks/bench_detector.py)

On one core (the process is pinned to it; onnxruntime with one intra-op thread on both sides):

- wrapper: ``DETECTION.build("yolox_raw_onnx")`` called on batches of 8 RGB frames, as `detect_and_track` calls it;
- bare: the loop of YOLOX's own ONNX demo (``demo/ONNXRuntime/onnx_inference.py``): ``preproc`` (letterbox, 114
  pad), ``session.run`` one frame at a time, grid decoding, person boxes with score >= 0.1, OpenCV NMS at 0.45.

Both see the same ``--frames`` frames spread over the clip (decoded once, beforehand) and must find the same boxes
(checked). They run side by side, batch by batch (wrapper first in even runs, bare first in odd ones),
``--repeats`` times; each batch's fastest time counts, so other processes on a busy machine slow both alike.
Then the whole pipeline path (decode with `VideoReader`, detect, ByteTrack) runs once over the full clip on the
same core. Target: wrapper >= 0.85 x bare. Exits with status 1 if it is missed.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pose_pipeline.detection
import pose_pipeline.tracking  # noqa: F401  (registers the trackers)
from pose_pipeline.stages import DETECTION, TRACKING
from pose_pipeline.tracking import detect_and_track
from pose_pipeline.video import VideoReader
from pose_pipeline.weights import require_data, require_weights

TARGET_RATIO = 0.85
BATCH = 8  # frames per detector call in `detect_and_track`
SCORE, NMS_IOU, SIZE = 0.1, 0.45, (416, 416)


class BareYolox:
    """YOLOX's ONNX demo loop, person class only: what a user would write around onnxruntime alone."""

    def __init__(self, model_path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        grids, strides = [], []
        for stride in (8, 16, 32):
            xs, ys = np.meshgrid(np.arange(SIZE[0] // stride), np.arange(SIZE[1] // stride))
            grids.append(np.stack((xs, ys), 2).reshape(-1, 2))
            strides.append(np.full((grids[-1].shape[0], 1), stride))
        self.grids, self.strides = np.concatenate(grids), np.concatenate(strides)

    def __call__(self, frame_rgb: np.ndarray) -> np.ndarray:
        padded = np.full((SIZE[1], SIZE[0], 3), 114, np.uint8)
        ratio = min(SIZE[1] / frame_rgb.shape[0], SIZE[0] / frame_rgb.shape[1])
        resized = cv2.resize(frame_rgb, (int(frame_rgb.shape[1] * ratio), int(frame_rgb.shape[0] * ratio)))
        padded[: resized.shape[0], : resized.shape[1]] = resized[..., ::-1]  # YOLOX reads BGR
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32)[None]
        out = self.session.run(None, {self.input_name: blob})[0][0]
        centre = (out[:, :2] + self.grids) * self.strides
        size = np.exp(out[:, 2:4]) * self.strides
        classes = out[:, 5:]
        best = classes.argmax(1)
        scores = out[:, 4] * classes[np.arange(len(best)), best]
        keep = (best == 0) & (scores >= SCORE)
        xywh = np.column_stack([centre[keep] - size[keep] / 2, size[keep]]) / ratio
        kept = cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), 0.0, NMS_IOU)
        return np.column_stack([xywh[kept], scores[keep][kept]]).reshape(-1, 5)


def decode_frames(path, count: int) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        indices = np.linspace(0, len(reader) - 1, count).round().astype(int)
        return [reader[int(i)] for i in indices]


def same_boxes(wrapper_out: list[np.ndarray], bare_out: list[np.ndarray], frame_shape) -> bool:
    """The wrapper's boxes equal the bare loop's once those are clipped to the frame (the wrapper clips)."""
    height, width = frame_shape[:2]
    for ours, theirs in zip(wrapper_out, bare_out):
        low = np.clip(theirs[:, :2], 0, [width, height])
        high = np.clip(theirs[:, :2] + theirs[:, 2:4], 0, [width, height])
        clipped = np.column_stack([low, high - low, theirs[:, 4]])
        if ours.shape != clipped.shape or not np.allclose(ours, clipped, atol=0.05):
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="frames spread over the clip for the comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-pipeline", action="store_true", help="skip the full-clip pipeline pass")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    clip = require_data("sports2d_demo")
    frames = decode_frames(clip, args.frames)
    wrapper = DETECTION.build("yolox_raw_onnx", {"threads": 1, "device": "cpu"})
    bare = BareYolox(require_weights("yolox_nano_coco"))
    wrapper(frames[:2]), bare(frames[0])  # warm-up

    batches = [frames[i : i + BATCH] for i in range(0, len(frames), BATCH)]
    best_wrapper = np.full(len(batches), np.inf)
    best_bare = np.full(len(batches), np.inf)
    clock = time.perf_counter
    for repeat in range(args.repeats):
        wrapper_out, bare_out = [], []
        for b, batch in enumerate(batches):
            for side in ("wrapper", "bare") if repeat % 2 == 0 else ("bare", "wrapper"):
                start = clock()
                if side == "wrapper":
                    wrapper_out.extend(wrapper(batch))
                    best_wrapper[b] = min(best_wrapper[b], clock() - start)
                else:
                    bare_out.extend(bare(frame) for frame in batch)
                    best_bare[b] = min(best_bare[b], clock() - start)
    wrapper_fps, bare_fps = len(frames) / best_wrapper.sum(), len(frames) / best_bare.sum()
    identical = same_boxes(wrapper_out, bare_out, frames[0].shape)
    ratio = wrapper_fps / bare_fps
    print(
        f"yolox_raw_onnx (YOLOX-Nano 416, onnxruntime CPU, 1 thread) on {len(frames)} frames of the Sports2D clip "
        f"({frames[0].shape[1]}x{frames[0].shape[0]}), one core, each batch's best of {args.repeats}"
    )
    print(f"{'':<9} {'frames/s':>9} {'ms/frame':>9}")
    print(f"{'wrapper':<9} {wrapper_fps:>9.1f} {1000 / wrapper_fps:>9.1f}")
    print(f"{'bare':<9} {bare_fps:>9.1f} {1000 / bare_fps:>9.1f}")
    print(f"wrapper/bare {ratio:.2f} (target >= {TARGET_RATIO}); same boxes: {'yes' if identical else 'NO'}")

    if not args.no_pipeline:
        tracker = TRACKING.build("bytetrack", {"frame_rate": 30.0})
        with VideoReader(clip) as reader:
            start = clock()
            n = len(reader)
            result = detect_and_track(reader, wrapper, tracker, n_frames=n)
            seconds = clock() - start
        print(
            f"pipeline path (decode + detect + ByteTrack), full clip: {n} frames in {seconds:.1f} s = "
            f"{n / seconds:.1f} frames/s per core; {result.tracks.n_tracks} tracklets"
        )

    failed = []
    if ratio < TARGET_RATIO:
        failed.append(f"wrapper/bare {ratio:.2f} < {TARGET_RATIO}")
    if not identical:
        failed.append("the wrapper's boxes differ from the bare loop's")
    if failed:
        print("FAILED: " + "; ".join(failed))
        return 1
    print("target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
