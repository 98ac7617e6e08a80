"""DeepLabCut projects in the database: import, synthetic creation, splits, and bad input refused before training."""

from __future__ import annotations

import uuid

import cv2
import numpy as np
import pandas as pd
import pytest

from pose_pipeline.dlc.project import LabelError, LabelledFrames, write_dlc_project
from pose_pipeline.synthetic.reaching import render_reaching


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def reaching_frames(n=12, seed=0) -> LabelledFrames:
    scene = render_reaching(n, size=(64, 64), seed=seed)
    skeleton = tuple((scene.bodyparts[a], scene.bodyparts[b]) for a, b in scene.skeleton)
    return LabelledFrames(scene.bodyparts, skeleton, tuple(f"img{i}" for i in range(n)), scene.keypoints,
                          lambda i: scene.images[i], visibility=scene.visibility)  # fmt: skip


@pytest.fixture
def dlc_project(tmp_path):
    frames = reaching_frames()
    frames.keypoints[0, 2] = np.nan  # an unlabelled bodypart, as DeepLabCut stores it
    return write_dlc_project(frames, tmp_path / "project"), frames


def collected_data(config):
    return next(config.parent.glob("labeled-data/*/CollectedData_*.h5"))


@pytest.mark.all_backends  # labelled images into a store (<blob@derived>), names in json columns
def test_import_existing_project(backend, dlc_project):
    from pose_pipeline.schema.dlc_data import DLCProject, import_dlc_project, labelled_frames

    config, frames = dlc_project
    name = unique("imported")
    import_dlc_project(config, name)
    try:
        stored = labelled_frames(name)
        assert stored.bodyparts == frames.bodyparts and stored.skeleton == frames.skeleton
        inside = (frames.keypoints > 0).all(axis=-1) & (frames.keypoints < 64).all(axis=-1)
        expected = np.where(inside[..., None], frames.keypoints, np.nan)  # outside or on the border: as DLC 3
        np.testing.assert_allclose(stored.keypoints, expected, atol=1e-9)
        assert np.isnan(stored.keypoints[0, 2]).all()
        np.testing.assert_array_equal(stored.load(3), frames.load(3))
        row = (DLCProject & {"dlc_project": name}).fetch1()
        assert row["num_frames"] == 12 and row["labels_outside"] == int(
            (~inside & np.isfinite(frames.keypoints).all(-1)).sum()
        )
    finally:
        (DLCProject & {"dlc_project": name}).delete(prompt=False)


def test_bodyparts_differing_from_config_refused(backend, dlc_project):
    from deeplabcut.utils import auxiliaryfunctions

    from pose_pipeline.schema.dlc_data import DLCProject, import_dlc_project

    config, frames = dlc_project
    auxiliaryfunctions.edit_config(str(config), {"bodyparts": [*frames.bodyparts[:-1], "tail"]})
    name = unique("bad")
    with pytest.raises(LabelError, match=r"only in config: \['tail'\]; only in labels: \['pellet'\]"):
        import_dlc_project(config, name)
    assert not DLCProject & {"dlc_project": name}


def test_missing_image_refused(backend, dlc_project):
    from pose_pipeline.schema.dlc_data import import_dlc_project

    config, _ = dlc_project
    next(config.parent.glob("labeled-data/*/img000005.png")).unlink()
    with pytest.raises(LabelError, match="1 labelled image.*missing.*img000005.png"):
        import_dlc_project(config, unique("bad"))


def test_duplicate_frames_refused(backend, dlc_project):
    from pose_pipeline.schema.dlc_data import import_dlc_project

    config, _ = dlc_project
    folder = collected_data(config).parent
    cv2.imwrite(str(folder / "img000007.png"), cv2.imread(str(folder / "img000002.png")))
    with pytest.raises(LabelError, match="img000007.png has the same pixels as .*img000002.png"):
        import_dlc_project(config, unique("bad"))


def test_duplicate_rows_refused(backend, dlc_project):
    from pose_pipeline.schema.dlc_data import import_dlc_project

    config, _ = dlc_project
    h5 = collected_data(config)
    table = pd.read_hdf(h5)
    pd.concat([table, table.iloc[[4]]]).to_hdf(h5, key="df_with_missing", mode="w")
    with pytest.raises(LabelError, match="duplicate labelled images.*img000004.png"):
        import_dlc_project(config, unique("bad"))


def test_splits_nested_and_fixed(backend):
    from pose_pipeline.schema.dlc_data import (
        DataSplit,
        DLCProject,
        create_synthetic_project,
        define_split,
        split_frames,
    )

    name = unique("split")
    create_synthetic_project(name, 30, size=(48, 48), seed=1)
    try:
        define_split(name, 0, test_fraction=0.2)
        small, test = split_frames(name, 0, 8)
        large, test_again = split_frames(name, 0, 20)
        assert set(small) < set(large) and not set(large) & set(test)
        np.testing.assert_array_equal(test, test_again)
        assert len(test) == 6
        define_split(name, 1, selection="kmeans")
        pool = (DataSplit & {"dlc_project": name, "split_seed": 1}).fetch1("pool_order")
        assert sorted(pool) == sorted(set(range(30)) - set(split_frames(name, 1, 1)[1]))
        with pytest.raises(ValueError, match="already has a split with test_fraction 0.2"):
            define_split(name, 0, test_fraction=0.1)
        with pytest.raises(ValueError, match="training-set size 25 is larger than the pool"):
            split_frames(name, 0, 25)
    finally:
        (DLCProject & {"dlc_project": name}).delete(prompt=False)


def test_impossible_sweeps_refused_before_anything_is_stored(backend):
    from pose_pipeline.schema.dlc_data import DLCProject, Sweep, create_synthetic_project, define_sweep

    name = unique("refuse")
    create_synthetic_project(name, 20, size=(48, 48), seed=2)
    try:
        with pytest.raises(ValueError, match=r"training-set size\(s\) \[19\] impossible: .* 20 frames, 18 outside"):
            define_sweep(name, name, model_configs=["resnet_50"], train_sizes=[8, 19])
        with pytest.raises(ValueError, match=r"unknown model configuration\(s\) \['resnet_9000'\]"):
            define_sweep(name, name, model_configs=["resnet_9000"], train_sizes=[8])
        with pytest.raises(ValueError, match="below the batch size"):
            define_sweep(name, name, model_configs=["resnet_50"], train_sizes=[4])
        assert not Sweep & {"sweep": name}
        define_sweep(name, name, model_configs=["resnet_50", "efficientnet_b3"], train_sizes=[8, 16], seeds=[0, 1],
                     iterations=[100, 200])  # fmt: skip
        assert len(Sweep.Member & {"sweep": name}) == 2 * 2 * 2 * 2
    finally:
        (DLCProject & {"dlc_project": name}).delete(prompt=False)


def test_nine_backbones_are_model_configurations(backend):
    from pose_pipeline.schema.dlc_data import ModelConfig

    names = set(ModelConfig.to_pandas().index)
    assert {"resnet_50", "resnet_101", "resnet_152", "mobilenet_v2_1.0", "efficientnet_b0", "efficientnet_b3",
            "dlcrnet_ms5", "dlcrnet_stride16_ms5", "dlcrnet_stride32_ms5"} <= names  # fmt: skip
    row = (ModelConfig & {"model_config": "resnet_50"}).fetch1()
    assert (row["rotation"], row["contrast"], row["translation"]) == (15, 0.2, 5)
