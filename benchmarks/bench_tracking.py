"""Benchmark: TrackingBbox.populate against running the same detector and tracker directly over the same video.

    python -m benchmarks.bench_tracking

Both read the same cached 1280x720 H.264 file with the same VideoReader; the pipeline adds the database, the
job reservation and the insert. Target: populate throughput at least 0.85x the direct loop.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from benchmarks.embedded import use_embedded_database

N_FRAMES = 300
METHOD = {"tracking_method": "bytetrack", "detector": "motion"}


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="pose_bench_tracking_"))
    use_embedded_database(home, "bench_tracking")
    import cv2
    import numpy as np

    from pose_pipeline import schema
    from pose_pipeline.schema.tracking import TrackingBbox, TrackingBboxMethod
    from pose_pipeline.schema.video import VideoInfo, fetch_video, insert_local_video
    from pose_pipeline.stages import DETECTION, TRACKING
    from pose_pipeline.synthetic import crossing_scene, render_scene
    from pose_pipeline.tracking import track_video
    from pose_pipeline.video import VideoReader

    cv2.setNumThreads(1)
    schema.activate()
    video = home / "crossing_720p.mp4"
    render_scene(crossing_scene(n_people=3, width=1280, height=720, n_frames=N_FRAMES), video)
    key = insert_local_video(video, "bench")
    VideoInfo.populate(key)
    path = fetch_video(key)  # both sides read the same cached file

    direct_tracks = []

    def direct() -> float:
        start = time.perf_counter()
        with VideoReader(path) as reader:
            tracks = track_video(reader, DETECTION.build("motion"), TRACKING.build("bytetrack", {"frame_rate": 30.0}),
                                 n_frames=N_FRAMES)  # fmt: skip
        elapsed = time.perf_counter() - start
        direct_tracks.append(tracks)
        return elapsed

    def pipeline() -> float:
        (TrackingBboxMethod & key).delete(prompt=False)
        TrackingBboxMethod.insert1({**key, **METHOD})
        start = time.perf_counter()
        result = TrackingBbox.populate(key, reserve_jobs=True)
        assert result["success_count"] == 1, result
        return time.perf_counter() - start

    runs = {"direct": [], "pipeline": []}
    for _ in range(3):  # alternate, keep the best: this machine is noisy
        runs["direct"].append(direct())
        runs["pipeline"].append(pipeline())
    stored = TrackingBbox.tracks({**key, **METHOD})
    assert direct_tracks[-1].n_tracks > 0
    assert np.array_equal(stored.track_id, direct_tracks[-1].track_id), "pipeline and direct loop differ"
    assert np.allclose(stored.boxes, direct_tracks[-1].boxes, atol=1e-3), "pipeline and direct loop differ"
    best = {name: min(times) for name, times in runs.items()}
    ratio = best["direct"] / best["pipeline"]
    print(f"tracking {N_FRAMES} frames of 1280x720, motion detector + ByteTrack, one core, best of 3")
    for name, seconds in best.items():
        every = ", ".join(f"{t:.2f}" for t in runs[name])
        print(f"  {name:9s}: {seconds:6.2f} s  {N_FRAMES / seconds:7.1f} frames/s   (runs: {every} s)")
    print(f"  pipeline throughput / direct loop: {ratio:.3f}  (target >= 0.85: {'met' if ratio >= 0.85 else 'MISSED'})")
    schema.deactivate(drop=True)
    return 0 if ratio >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
