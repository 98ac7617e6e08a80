"""SLEAP ``.slp`` files, read by sleap-io.

Tracked instances are individuals named by their track; untracked instances are one individual, ``"untracked"``,
allowed only where no frame holds more than one. Where a frame holds a user-labelled and a predicted instance of
the same individual, the user's wins (SLEAP's own rule). A file labelling several videos is read for the one whose
file name matches the database video's. sleap-io's origin is the top-left pixel's centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import ImportRefused, PoseFile, confidence, to_corner

UNTRACKED = "untracked"


def read_slp(path, pixel_origin: str = "centre", video_name: str | None = None, name: str | None = None) -> PoseFile:
    """A SLEAP ``.slp`` as a `PoseFile`; ``video_name`` picks the labelled video when the file has several."""
    import sleap_io

    path = Path(path)
    what = f"{name or path} (slp)"
    try:
        labels = sleap_io.load_slp(str(path), open_videos=False)  # the labelled video need not be here
    except Exception as error:  # noqa: BLE001 - h5py and sleap-io raise many kinds on another format
        raise ImportRefused(f"{what}: not a SLEAP file ({type(error).__name__}: {error})") from None
    if len(labels.skeletons) != 1:
        raise ImportRefused(f"{what}: has {len(labels.skeletons)} skeletons "
                            f"({[s.name for s in labels.skeletons]}); one is supported")  # fmt: skip
    [skeleton] = labels.skeletons
    video = _one_video(labels, video_name, what)
    joints = tuple(skeleton.node_names)
    node_index = {node: i for i, node in enumerate(skeleton.nodes)}
    bones = tuple((node_index[e.source], node_index[e.destination]) for e in skeleton.edges)
    chosen: dict[str, dict[int, tuple[bool, np.ndarray]]] = {}
    for frame in labels.labeled_frames:
        if frame.video is not video:
            continue
        untracked = [i for i in frame.instances if i.track is None]
        if len(untracked) > 1:
            raise ImportRefused(f"{what}: frame {frame.frame_idx} has {len(untracked)} untracked instances; "
                                "only tracked instances can be told apart")  # fmt: skip
        for instance in frame.instances:
            individual = UNTRACKED if instance.track is None else instance.track.name
            user = type(instance).__name__ == "Instance"
            earlier = chosen.setdefault(individual, {}).get(frame.frame_idx)
            if earlier is not None and (earlier[0] or not user):
                continue  # a user-labelled instance wins over a predicted one
            points = instance.numpy()
            scores = None if user else instance.numpy(scores=True)[:, 2]
            values = np.concatenate([to_corner(points, pixel_origin, what),
                                     confidence(scores, len(points))[:, None]], axis=1)  # fmt: skip
            values[~np.isfinite(points).all(axis=1)] = np.nan
            chosen[individual][frame.frame_idx] = (user, values)
    keypoints, frames = {}, {}
    for individual, by_frame in chosen.items():
        order = sorted(by_frame)
        frames[individual] = np.array(order, dtype=int)
        keypoints[individual] = np.stack([by_frame[f][1] for f in order]) if order else np.zeros((0, len(joints), 3))
    n_frames, size = _shape(video)
    return PoseFile(path=str(name or path), format="slp", joints=joints, keypoints=keypoints, frames=frames,
                    joint_set_name=f"SLEAP:{skeleton.name or 'skeleton'}", reader="sleap-io",
                    reader_version=sleap_io.__version__, n_frames=n_frames, size=size, bones=bones)  # fmt: skip


def _one_video(labels, video_name: str | None, what: str):
    videos = list(labels.videos)
    if len(videos) == 1:
        return videos[0]
    named = [v for v in videos if video_name and Path(str(v.filename)).name == Path(video_name).name]
    if len(named) == 1:
        return named[0]
    listed = ", ".join(Path(str(v.filename)).name for v in videos)
    raise ImportRefused(f"{what}: labels {len(videos)} videos ({listed}); none or several is named {video_name!r}")


def _shape(video) -> tuple[int | None, tuple[int, int] | None]:
    """The labelled video's frame count and (width, height), where the file records them."""
    shape = (getattr(video, "backend_metadata", None) or {}).get("shape")  # as the file recorded it
    if not shape or len(shape) < 3:
        return None, None
    return int(shape[0]), (int(shape[2]), int(shape[1]))
