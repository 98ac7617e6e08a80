"""Benchmark: BlazePose through the pipeline against a bare onnxruntime loop on the same crops, on the real
Sports2D clip; frames per second on one core.

    python -m benchmarks.bench_blazepose

The subject is the walking woman of ``3rdparty/data/sports2d/sports2d_demo.mp4`` (tracked with the motion detector
and ByteTrack, chosen as in tests/test_blazepose_stage.py). Everything runs on one core (``OMP_NUM_THREADS=1``,
onnxruntime ``threads=1``), on the same session settings and the same boxes, best of 3:

- pipeline: ``TopDownPerson.populate`` with ``blazepose`` (database, job reservation, video fetch and decode,
  wrapper, contract check, insert);
- bare loop: PyAV decode of the same file, the same square crops with ``cv2.warpAffine``, ``session.run`` one crop
  at a time (the model's batch is 1), landmarks back to the frame and sigmoid of the visibility;
- wrapper alone vs the bare per-crop loop on frames decoded beforehand (no decoding in either);
- inference alone: ``session.run`` on crops made beforehand (the model's own cost, for reference).

Target: pipeline >= 0.85x the bare loop, and the wrapper alone >= 0.85x the bare per-crop loop.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from benchmarks.embedded import use_embedded_database
from benchmarks.timing import best_of, print_rates, target_line

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "3rdparty" / "data" / "sports2d" / "sports2d_demo.mp4"
PARAMS = {"threads": 1}
REPEATS = 3


def setup(home: Path) -> dict:
    """The clip imported and tracked on a fresh embedded database; returns the walker's PersonBbox key."""
    import json

    import numpy as np

    use_embedded_database(home, "bench_blazepose")
    from pose_pipeline import schema
    from pose_pipeline.schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, annotate
    from pose_pipeline.schema.video import VideoInfo, insert_local_video
    from pose_pipeline.tracking.subject import iou

    schema.activate()
    key = insert_local_video(CLIP, "bench")
    VideoInfo.populate(key)
    tracking = {**key, "tracking_method": "bytetrack", "detector": "motion"}
    TrackingBboxMethod.insert1(tracking)
    TrackingBbox.populate(key)
    labels = json.loads((ROOT / "tests" / "data" / "sports2d_blazepose_labels.json").read_text())["frames"]
    tracks = TrackingBbox.tracks(tracking)
    at = tracks.frame == 115
    walker = int(tracks.track_id[at][np.argmax(iou(tracks.boxes[at], np.array(labels["115"]["box"], float)))])
    person = annotate(tracking, 0, [walker], annotator="bench")
    PersonBbox.populate(person)
    return person


def main() -> int:
    import cv2
    import numpy as np

    from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
    from pose_pipeline.schema.tracking import PersonBbox
    from pose_pipeline.schema.video import fetch_video
    from pose_pipeline.stages import TOP_DOWN
    from pose_pipeline.video import VideoReader

    person = setup(Path(tempfile.mkdtemp(prefix="pose_bench_blazepose_")))
    boxes = (PersonBbox & person).fetch1("boxes").astype(float)
    path = fetch_video(person)
    estimator = TOP_DOWN.build("blazepose", PARAMS)
    session = estimator.session  # the same model file and runtime settings as the pipeline's
    input_name = session.get_inputs()[0].name
    present = np.flatnonzero(np.all(np.isfinite(boxes), axis=1))
    wanted = set(present.tolist())

    def bare_crop(frame, box):
        side = max(box[2], box[3]) * 1.25
        left, top = box[0] + box[2] / 2 - side / 2, box[1] + box[3] / 2 - side / 2
        k = 256 / side
        matrix = np.array([[k, 0, k * (0.5 - left) - 0.5], [0, k, k * (0.5 - top) - 0.5]])
        crop = cv2.warpAffine(frame, matrix, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return crop, left, top, side

    def bare_person(frame, box):
        crop, left, top, side = bare_crop(frame, box)
        tensor = (crop.astype(np.float32) / 255).transpose(2, 0, 1)[None]
        landmarks = session.run(["Identity"], {input_name: tensor})[0].reshape(39, 5)[:33]
        xy = np.array([left, top]) + landmarks[:, :2] * (side / 256)
        return np.column_stack([xy, 1 / (1 + np.exp(-landmarks[:, 3]))])

    def bare_loop() -> float:
        start = time.perf_counter()
        with VideoReader(path) as reader:
            for index, frame in enumerate(reader):
                if index in wanted:
                    bare_person(frame, boxes[index])
        return time.perf_counter() - start

    def pipeline() -> float:
        (TopDownMethod & person).delete(prompt=False)
        TopDownMethod.insert1({**person, "top_down_method": "blazepose", "params": PARAMS})
        start = time.perf_counter()
        assert TopDownPerson.populate(person, reserve_jobs=True)["success_count"] == 1
        return time.perf_counter() - start

    with VideoReader(path) as reader:
        frames = {i: f for i, f in enumerate(reader) if i in wanted}
    crops = [(bare_crop(frames[i], boxes[i])[0].astype(np.float32) / 255).transpose(2, 0, 1)[None] for i in present]

    def wrapper_alone() -> float:
        start = time.perf_counter()
        for i in present:
            estimator([frames[i]], [boxes[i][None]])
        return time.perf_counter() - start

    def bare_per_crop() -> float:
        start = time.perf_counter()
        for i in present:
            bare_person(frames[i], boxes[i])
        return time.perf_counter() - start

    def inference_only() -> float:
        start = time.perf_counter()
        for tensor in crops:
            session.run(None, {input_name: tensor})
        return time.perf_counter() - start

    best = best_of(
        {
            "bare loop": bare_loop,
            "pipeline": pipeline,
            "bare per crop": bare_per_crop,
            "wrapper alone": wrapper_alone,
            "inference only": inference_only,
        },
        REPEATS,
    )
    n = len(present)
    print(f"BlazePose on the Sports2D clip: {n} frames with the walker's box of {len(boxes)}, one core, best of 3")
    print_rates(best, n)
    ratios = {
        "pipeline / bare loop": best["bare loop"] / best["pipeline"],
        "wrapper / bare per crop": best["bare per crop"] / best["wrapper alone"],
    }
    for name, ratio in ratios.items():
        print("  " + target_line(name, ratio, 0.85))
    print(f"  pipeline / inference only : {best['inference only'] / best['pipeline']:.3f}  (reference)")
    return 0 if min(ratios.values()) >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
