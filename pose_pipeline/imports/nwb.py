"""NWB files with the ndx-pose extension, read by pynwb.

Each ``PoseEstimation`` is an individual, named by its ``name`` (ndx-pose keeps one per subject and camera). Its
joints are its skeleton's nodes (else its series' names); each ``PoseEstimationSeries`` holds one value per video
frame (the layout DeepLabCut's and this project's NWB writers use), so the series' length is the video's frame
count. The video size is read from the linked ``source_video`` (``dimension``) where the file has one. ndx-pose
files by DeepLabCut, SLEAP and this project put the origin at the top-left pixel's centre.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import ImportRefused, PoseFile, confidence, to_corner


def read_nwb(path, pixel_origin: str = "centre", name: str | None = None) -> PoseFile:
    """An NWB ndx-pose file as a `PoseFile`, one individual per ``PoseEstimation``."""
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
            lengths = {len(s.data) for s in series.values()}
            if len(lengths) != 1:
                raise ImportRefused(f"{what}: the series of {estimation.name!r} differ in length ({sorted(lengths)})")
            [length] = lengths
            if n_frames is not None and length != n_frames:
                raise ImportRefused(f"{what}: PoseEstimation {estimation.name!r} has {length} frames, another "
                                    f"{n_frames}")  # fmt: skip
            n_frames = length
            values = np.full((length, len(joints), 3), np.nan)
            for j, joint in enumerate(joints):
                one = series.get(joint)
                if one is None:
                    continue
                data = np.asarray(one.data[:], dtype=float).reshape(length, -1)[:, :2]
                values[:, j, :2] = to_corner(data, pixel_origin, what)
                scores = None if one.confidence is None else np.asarray(one.confidence[:], dtype=float)
                values[:, j, 2] = confidence(scores, length)
            values[~np.isfinite(values[..., :2]).all(axis=-1)] = np.nan
            keypoints[estimation.name] = values
            frames[estimation.name] = np.arange(length)
            size = size or _size(estimation)
    finally:
        io.close()
    return PoseFile(path=str(name or path), format="nwb", joints=joints, keypoints=keypoints, frames=frames,
                    joint_set_name=f"NWB:{skeleton_name}", reader="pynwb+ndx-pose",
                    reader_version=f"{pynwb.__version__}+{_version('ndx-pose')}", n_frames=n_frames, size=size,
                    bones=bones)  # fmt: skip


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
