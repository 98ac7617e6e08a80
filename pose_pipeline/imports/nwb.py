"""NWB files with the ndx-pose extension, read by pynwb.

Each ``PoseEstimation`` is an individual, named by its ``name`` (ndx-pose keeps one per subject and camera). Its
joints are its skeleton's nodes (else its series' names). A ``PoseEstimationSeries`` may hold one sample per video
frame (this project's and DeepLabCut's writers) or only the frames where the joint was found (sleap-io's): samples
are placed on frames by their times, except that in sleap-io's modules (``SLEAP_VIDEO_...``) whole-number times
with a rate of 1 Hz or none are frame numbers (sleap-io's writer counts frames as seconds unless it is given the
video's times, and its reader ranks them). The video's frame count and size are read from the linked ``source_video``
(its timestamps and ``dimension``) where the file has one. ndx-pose
files by DeepLabCut, SLEAP and this project put the origin at the top-left pixel's centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import ImportRefused, PoseFile, confidence, to_corner

SLEAP_MODULE = "SLEAP_VIDEO_"  # sleap-io reads and writes pose estimations in processing modules named so


def read_nwb(path, pixel_origin: str = "centre", name: str | None = None,
             frame_times: np.ndarray | None = None) -> PoseFile:  # fmt: skip
    """An NWB ndx-pose file as a `PoseFile`, one individual per ``PoseEstimation``.

    Samples are placed on video frames by their times (``timestamps``, or ``starting_time`` and ``rate``) matched
    to ``frame_times``, the video's per-frame times (`VideoFacts.timestamps`), within half a frame; a sample at
    no frame's time is refused. Without ``frame_times`` every series must hold one sample per frame.
    """
    import ndx_pose  # noqa: F401 - registers the extension's types with pynwb
    import pynwb

    path = Path(path)
    what = f"{name or path} (nwb)"
    try:
        io = pynwb.NWBHDF5IO(str(path), mode="r", load_namespaces=True)
        nwbfile = io.read()
    except Exception as error:  # noqa: BLE001 - h5py and hdmf raise many kinds on a file of another format
        raise ImportRefused(f"{what}: not an NWB file ({type(error).__name__}: {error})") from None
    try:
        estimations = sorted((o for o in nwbfile.objects.values() if o.neurodata_type == "PoseEstimation"),
                             key=lambda o: o.name)  # fmt: skip
        if not estimations:
            raise ImportRefused(f"{what}: holds no ndx-pose PoseEstimation")
        joints, bones, n_frames, size = None, (), None, None
        keypoints, frames = {}, {}
        for estimation in estimations:
            series = dict(estimation.pose_estimation_series)
            skeleton = getattr(estimation, "skeleton", None)
            names = tuple(str(n) for n in skeleton.nodes[:]) if skeleton is not None else tuple(series)
            if joints is None:
                joints = names
                if skeleton is not None and skeleton.edges is not None:
                    bones = tuple((int(a), int(b)) for a, b in np.asarray(skeleton.edges[:]).reshape(-1, 2))
                skeleton_name = skeleton.name if skeleton is not None else estimation.name
            elif set(names) != set(joints):
                raise ImportRefused(f"{what}: PoseEstimation {estimation.name!r} has other joints than "
                                    f"{estimations[0].name!r}")  # fmt: skip
            by_index = estimation.parent.name.startswith(SLEAP_MODULE)
            placed = {joint: _placed(one, frame_times, what, by_index) for joint, one in series.items()
                      if joint in joints}  # fmt: skip
            rows = np.unique(np.concatenate([f for f, _ in placed.values()])) if placed else np.zeros(0, int)
            values = np.full((len(rows), len(joints), 3), np.nan)
            for joint, (at, one) in placed.items():
                j, where = joints.index(joint), np.searchsorted(rows, at)
                data = np.asarray(one.data[:], dtype=float).reshape(len(at), -1)[:, :2]
                values[where, j, :2] = to_corner(data, pixel_origin, what)
                scores = None if one.confidence is None else np.asarray(one.confidence[:], dtype=float)
                values[where, j, 2] = confidence(scores, len(at))
            values[~np.isfinite(values[..., :2]).all(axis=-1)] = np.nan
            keypoints[estimation.name] = values
            frames[estimation.name] = rows
            size = size or _size(estimation)
            n_frames = n_frames or _declared_frames(estimation)
    finally:
        io.close()
    return PoseFile(path=str(name or path), format="nwb", joints=joints, keypoints=keypoints, frames=frames,
                    joint_set_name=f"NWB:{skeleton_name}", reader="pynwb+ndx-pose",
                    reader_version=f"{pynwb.__version__}+{_version('ndx-pose')}", n_frames=n_frames, size=size,
                    bones=bones)  # fmt: skip


def _placed(series, frame_times: np.ndarray | None, what: str, by_index: bool = False) -> tuple[np.ndarray, object]:
    """The video frame of each sample of ``series`` (see `read_nwb`), and the series. ``by_index``: the series
    sits in a sleap-io module, whose writer gives frame numbers as seconds unless told the video's times."""
    length = len(series.data)
    if series.timestamps is not None:
        times = np.asarray(series.timestamps[:], dtype=float)
    elif series.rate:
        times = float(series.starting_time or 0.0) + np.arange(length) / float(series.rate)
    else:  # neither: one sample per frame
        return np.arange(length), series
    if by_index and np.all(times == np.round(times)) and (series.rate in (None, 1.0)):
        return times.astype(int), series
    if frame_times is None:
        return np.arange(length), series
    frame_times = np.asarray(frame_times, dtype=float)
    after = np.clip(np.searchsorted(frame_times, times), 0, len(frame_times) - 1)
    before = np.clip(after - 1, 0, len(frame_times) - 1)
    nearest = np.where(np.abs(frame_times[before] - times) <= np.abs(frame_times[after] - times), before, after)
    step = float(np.median(np.diff(frame_times))) if len(frame_times) > 1 else 1.0
    off = np.abs(frame_times[nearest] - times) > step / 2
    if off.any():
        first = float(times[np.argmax(off)])
        raise ImportRefused(f"{what}: {series.name!r} has a sample at {first:.3f} s, at no frame of the video (its "
                            f"frames are at {frame_times[0]:.3f}..{frame_times[-1]:.3f} s): another video's result?")  # fmt: skip
    return nearest, series


def _declared_frames(estimation) -> int | None:
    """The frame count of the source video the file links, where it gives the video's frame times."""
    video = getattr(estimation, "source_video", None)
    timestamps = getattr(video, "timestamps", None) if video is not None else None
    return None if timestamps is None else len(timestamps)


def _size(estimation) -> tuple[int, int] | None:
    video = getattr(estimation, "source_video", None)
    dimension = getattr(video, "dimension", None) if video is not None else None
    if dimension is None or len(dimension) < 2:
        return None
    return int(dimension[0]), int(dimension[1])


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
