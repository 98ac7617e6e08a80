"""Benchmark: TopDownPerson.populate against the bare onnxruntime loop, and its memory against video length.

    python -m benchmarks.bench_topdown

1. Throughput, all in one run on the same cached video and the same subject boxes:
   - pipeline: ``TopDownPerson.populate`` (database, job reservation, wrapper, insert);
   - bare loop: PyAV decode, the same mmpose-style crops, ``session.run`` in batches, heatmap decoding;
   - inference alone: ``session.run`` on crops made beforehand (the model's own cost, for reference).
   Target: pipeline >= 0.85x the bare loop.
2. Peak memory (VmHWM of a fresh process) of populating a video 10x longer: at most 1.2x the short one.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from benchmarks.embedded import use_embedded_database
from benchmarks.timing import VMHWM, best_of, peak_memory_kib, print_rates, target_line

N_FRAMES = 150
METHOD = "synthetic_pose"


def setup(home: Path, n_frames: int, prefix: str) -> dict:
    """A tracked, annotated walker on the embedded database; returns the PersonBbox key."""
    use_embedded_database(home, prefix)

    from pose_pipeline import schema
    from pose_pipeline.schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, auto_annotate
    from pose_pipeline.schema.video import VideoInfo, insert_local_video
    from pose_pipeline.synthetic import render_scene, walking_scene

    schema.activate()
    video = home / f"walker_{n_frames}.mp4"
    render_scene(walking_scene(n_frames=n_frames, seed=5), video)
    key = insert_local_video(video, "bench")
    VideoInfo.populate(key)
    tracking = {**key, "tracking_method": "bytetrack", "detector": "motion"}
    TrackingBboxMethod.insert1(tracking)
    TrackingBbox.populate(key)
    [person] = auto_annotate(tracking)["annotated"]
    PersonBbox.populate(person)
    return person


def throughput() -> float:
    import numpy as np

    from pose_pipeline.keypoints.crop import make_crops, warp
    from pose_pipeline.keypoints.decode import decode_heatmaps
    from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
    from pose_pipeline.schema.tracking import PersonBbox
    from pose_pipeline.schema.video import fetch_video
    from pose_pipeline.stages import TOP_DOWN
    from pose_pipeline.video import VideoReader

    person = setup(Path(tempfile.mkdtemp(prefix="pose_bench_topdown_")), N_FRAMES, "bench_topdown")
    boxes = (PersonBbox & person).fetch1("boxes").astype(float)
    path = fetch_video(person)
    estimator = TOP_DOWN.build(METHOD)
    session, size = estimator.session, estimator.input_size  # the same model file and runtime settings
    mean, std = np.array([123.675, 116.28, 103.53], np.float32), np.array([58.395, 57.12, 57.375], np.float32)
    present = np.flatnonzero(np.all(np.isfinite(boxes), axis=1))

    def crops_of(frames, rows):
        crops = make_crops(boxes[rows], size)
        images = np.stack([warp(frame, crop, size) for frame, crop in zip(frames, crops)]).astype(np.float32)
        return ((images - mean) / std).transpose(0, 3, 1, 2), crops

    def bare() -> float:
        start = time.perf_counter()
        batch, rows = [], []
        with VideoReader(path) as reader:
            for index, frame in enumerate(reader):
                if index in set_present:
                    batch.append(frame)
                    rows.append(index)
                if len(batch) == 16 or (index == len(boxes) - 1 and batch):
                    tensor, crops = crops_of(batch, rows)
                    heatmaps = session.run(None, {session.get_inputs()[0].name: tensor})[0]
                    decoded = decode_heatmaps(heatmaps, size, mode=estimator.decoder)
                    for crop, points in zip(crops, decoded):
                        crop.to_frame(points[:, :2])
                    batch, rows = [], []
        return time.perf_counter() - start

    set_present = set(present.tolist())
    with VideoReader(path) as reader:
        frames = {i: f for i, f in enumerate(reader) if i in set_present}
    tensors = [crops_of([frames[i] for i in present[k : k + 16]], present[k : k + 16])[0]
               for k in range(0, len(present), 16)]  # fmt: skip

    def inference_only() -> float:
        start = time.perf_counter()
        for tensor in tensors:
            session.run(None, {session.get_inputs()[0].name: tensor})
        return time.perf_counter() - start

    def pipeline() -> float:
        (TopDownMethod & person).delete(prompt=False)
        TopDownMethod.insert1({**person, "top_down_method": METHOD})
        start = time.perf_counter()
        assert TopDownPerson.populate(person, reserve_jobs=True)["success_count"] == 1
        return time.perf_counter() - start

    best = best_of({"bare loop": bare, "pipeline": pipeline, "inference only": inference_only})
    print(f"TopDownPerson: {len(present)} frames with a box of {N_FRAMES}, model {METHOD}, one core, best of 3")
    print_rates(best, len(present))
    ratio = best["bare loop"] / best["pipeline"]
    print("  " + target_line("pipeline / bare loop", ratio, 0.85))
    print(f"  pipeline / inference only : {best['inference only'] / best['pipeline']:.3f}  (reference)")
    return ratio


SETUP = """
import json, sys
from pathlib import Path
from benchmarks.bench_topdown import setup
print(json.dumps(setup(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])))
"""

POPULATE = f"""
import json, os, sys
from pose_pipeline import schema
schema.activate()
from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
person = json.loads(sys.argv[1])
TopDownMethod.insert1({{**person, "top_down_method": sys.argv[2]}})
TopDownPerson.populate(person)
{VMHWM}
"""


def peak_memory(n_frames: int) -> int:
    """VmHWM (KiB) of a fresh process that does nothing but populate TopDownPerson for a video of ``n_frames``
    (the video is rendered, imported, tracked and annotated beforehand by another process)."""
    return peak_memory_kib(SETUP, POPULATE, [str(n_frames)], [METHOD], f"bench_memory_{n_frames}")


def main() -> int:
    ratio = throughput()
    short, long = peak_memory(N_FRAMES), peak_memory(10 * N_FRAMES)
    memory_ratio = long / short
    print(
        f"\npeak memory populating TopDownPerson: {N_FRAMES} frames {short / 1024:.0f} MiB, "
        f"{10 * N_FRAMES} frames {long / 1024:.0f} MiB; " + target_line("ratio", memory_ratio, 1.2, at_most=True)
    )
    return 0 if ratio >= 0.85 and memory_ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
