"""DeepLabCut projects as labs have them: variants of the project the DLC tests use (`write_dlc_project` with
DeepLabCut's own config template) written on Windows, with mixed row formats, as old CSV-only projects, with labels
on the image border, and in a read-only folder. Each is imported as DeepLabCut 3 reads it, or refused by name."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose_pipeline.dlc.project import LabelError, read_dlc_project, write_dlc_project
from tests.test_dlc_data import reaching_frames, unique

SIZE = 64  # reaching_frames' images are 64 x 64


@pytest.fixture
def project(tmp_path):
    """(config path, the labels table DeepLabCut wrote) of a 12-frame project."""
    config = write_dlc_project(reaching_frames(), tmp_path / "project")
    h5 = next(config.parent.glob("labeled-data/*/CollectedData_*.h5"))
    return config, pd.read_hdf(h5)


def label_files(config):
    folder = next(config.parent.glob("labeled-data/*"))
    return folder / "CollectedData_pose_pipeline.h5", folder / "CollectedData_pose_pipeline.csv"


def rewrite(config, table, *, csv_only=False):
    h5, csv = label_files(config)
    h5.unlink(missing_ok=True)
    csv.unlink(missing_ok=True)
    if csv_only:
        table.to_csv(csv)
    else:
        table.to_hdf(h5, key="df_with_missing", mode="w")


def as_single_strings(table, separator):
    out = table.copy()
    out.index = pd.Index([separator.join(index) for index in table.index], tupleize_cols=False)
    return out


def test_windows_paths_imported_as_deeplabcut_normalises_them(project):
    from deeplabcut.utils.conversioncode import guarantee_multiindex_rows

    config, table = project
    reference = read_dlc_project(config)
    windows = as_single_strings(table, "\\")  # labeled-data\frames\img000000.png, as DLC 2 wrote on Windows
    rewrite(config, windows)
    frames = read_dlc_project(config)
    assert frames.image_paths == reference.image_paths
    np.testing.assert_array_equal(frames.keypoints, reference.keypoints)
    dlc = pd.read_hdf(label_files(config)[0])
    guarantee_multiindex_rows(dlc)  # DeepLabCut's own normalisation of such a file gives the same images
    assert tuple("/".join(index) for index in dlc.sort_index().index) == frames.image_paths


def test_mixed_row_formats_imported_without_type_error(project):
    config, table = project
    reference = read_dlc_project(config)
    rows = [index if i % 3 == 0 else "/".join(index) if i % 3 == 1 else "\\".join(index)
            for i, index in enumerate(table.index)]  # fmt: skip
    mixed = table.copy()
    mixed.index = pd.Index(rows, tupleize_cols=False)
    with pytest.raises(TypeError):  # what DeepLabCut's merge_annotateddatasets does with it (sort_index)
        mixed.sort_index()
    for csv_only in (False, True):  # the .h5, and the .csv pandas writes of it (tuples as their repr)
        rewrite(config, mixed.iloc[::-1], csv_only=csv_only)
        frames = read_dlc_project(config)
        assert frames.image_paths == reference.image_paths
        np.testing.assert_array_equal(frames.keypoints, reference.keypoints)


def test_rows_that_are_not_image_paths_refused_by_file_and_row(project):
    config, table = project
    bad = table.copy()
    bad.index = pd.Index([*bad.index[:4], 17, *bad.index[5:9], ("labeled-data", "..", "x.png"), *bad.index[10:]],
                         tupleize_cols=False)  # fmt: skip
    rewrite(config, bad)
    with pytest.raises(LabelError, match=r"CollectedData_pose_pipeline.h5: 2 row\(s\) not indexed by an image path.*"
                                         r"row 4: 17, row 9: \('labeled-data', '..', 'x.png'\)"):  # fmt: skip
        read_dlc_project(config)


def test_old_csv_only_project_imported_as_convertcsv2h5_converts_it(project, tmp_path):
    import deeplabcut

    config, table = project
    reference = read_dlc_project(config)
    rewrite(config, as_single_strings(table, "/"), csv_only=True)  # DLC 2.0: one path column, no .h5
    frames = read_dlc_project(config)
    assert frames.image_paths == reference.image_paths
    np.testing.assert_array_equal(frames.keypoints, reference.keypoints)
    assert not label_files(config)[0].exists()  # nothing written

    converted = tmp_path / "converted"
    shutil.copytree(config.parent, converted)
    deeplabcut.convertcsv2h5(str(converted / "config.yaml"), userfeedback=False)
    h5 = label_files(converted / "config.yaml")[0]
    by_dlc = pd.read_hdf(h5).sort_index()
    np.testing.assert_array_equal(frames.keypoints, by_dlc.to_numpy(float).reshape(frames.keypoints.shape))
    assert tuple("/".join(index) for index in by_dlc.index) == frames.image_paths


def test_multi_animal_csv_refused_by_name(project):
    config, table = project
    multi = table.copy()
    multi.columns = pd.MultiIndex.from_tuples([(s, "mouse1", b, c) for s, b, c in table.columns],
                                              names=["scorer", "individuals", "bodyparts", "coords"])  # fmt: skip
    rewrite(config, multi, csv_only=True)
    with pytest.raises(LabelError, match="CollectedData_pose_pipeline.csv: multi-animal labels"):
        read_dlc_project(config)


def dlc_labelled_count(config) -> int:
    """Labelled keypoints as DeepLabCut 3's loader counts them (DLCLoader.to_coco: visibility 2)."""
    from deeplabcut.pose_estimation_pytorch.data import DLCLoader
    from deeplabcut.pose_estimation_pytorch.data.base import PoseDatasetParameters

    table = pd.read_hdf(label_files(config)[0])
    bodyparts = list(dict.fromkeys(table.columns.get_level_values("bodyparts")))
    coco = DLCLoader.to_coco(str(config.parent), table, PoseDatasetParameters(bodyparts, [], ["animal"]))
    return int(sum((np.asarray(a["keypoints"])[:, 2] == 2).sum() for a in coco["annotations"]))


READ_BOTH = """
import sys
from deeplabcut.utils import auxiliaryfunctions
from pose_pipeline.dlc.project import read_dlc_project
print(len(read_dlc_project(sys.argv[1])))
try:
    auxiliaryfunctions.read_config(sys.argv[1])
    print("read")
except PermissionError:
    print("PermissionError")
"""


def run_without_write_permission(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that file modes apply to: as root, without the capabilities that let
    root ignore them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    command = [sys.executable, "-c", code, *args]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    out = subprocess.run(command, check=False, capture_output=True, text=True, cwd=Path(__file__).parents[1],
                         timeout=300)  # fmt: skip
    if out.returncode != 0 and out.stderr.startswith("setpriv:"):  # a container without CAP_SETPCAP
        pytest.skip(f"capabilities cannot be dropped here: {out.stderr.strip()}")
    return out


@pytest.mark.parametrize("project_layout", ["writable", "read-only"])
def test_border_labels_and_read_only_folder(backend, project, project_layout):
    """Labels on the right or top border are unlabelled as in DeepLabCut 3; a read-only, moved project imports."""
    from deeplabcut.utils import auxiliaryfunctions

    from pose_pipeline.schema.dlc_data import DLCProject, import_dlc_project, labelled_frames

    config, table = project
    border = table.copy()
    x, y = border.columns.get_level_values("coords") == "x", border.columns.get_level_values("coords") == "y"
    border.iloc[0, np.flatnonzero(x)[0]] = SIZE  # x == width
    border.iloc[1, np.flatnonzero(y)[1]] = 0.0  # y == 0
    border.iloc[2, np.flatnonzero(x)[2]] = SIZE - 0.5  # inside: kept
    border.iloc[3, np.flatnonzero(x)[3]] = 0.0  # x == 0
    rewrite(config, border)
    border.to_csv(label_files(config)[1])
    labelled_in_file = int(np.isfinite(border.to_numpy(float).reshape(len(border), -1, 2)).all(-1).sum())
    if project_layout == "read-only":
        text = config.read_text()
        auxiliaryfunctions.edit_config(str(config), {"project_path": "/elsewhere/moved-project"})
        moved = config.read_text()
        assert moved != text
        for path in [config, *config.parent.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        config.parent.chmod(0o555)
        mtime = config.stat().st_mtime_ns
    name = unique("border")
    try:
        import_dlc_project(config, name)
        stored = labelled_frames(name)
        labelled = int(np.isfinite(stored.keypoints).all(-1).sum())
        assert labelled == dlc_labelled_count(config)
        outside = (DLCProject & {"dlc_project": name}).fetch1("labels_outside")
        assert outside == labelled_in_file - labelled and outside >= 3  # the three border labels at least
        assert stored.keypoints[2, 2, 0] == SIZE - 0.5
        if project_layout == "read-only":
            assert config.read_text() == moved and config.stat().st_mtime_ns == mtime  # never written back
            out = run_without_write_permission(READ_BOTH, str(config))
            assert out.returncode == 0, out.stderr[-2000:]
            assert out.stdout.split() == [str(len(table)), "PermissionError"]  # ours reads, DeepLabCut's writes back
    finally:
        (DLCProject & {"dlc_project": name}).delete(prompt=False)
        config.parent.chmod(0o755)


def test_images_of_several_sizes_predicted_and_occluded(tiny_dlc_model):
    """Projects labelled on videos of several resolutions: DeepLabCut's runner stacks each batch into one tensor,
    so the predictor sends each run of equal-size images separately; occlusion is drawn per size."""
    from pose_pipeline.dlc.evaluation import SnapshotPredictor
    from pose_pipeline.schema.dlc_training import OCCLUSION, occlude_by_size
    from pose_pipeline.synthetic.reaching import occlude, render_reaching

    small, large = render_reaching(3, size=(64, 64), seed=5), render_reaching(2, size=(96, 80), seed=6)
    images = [small.images[0], large.images[0], small.images[1], small.images[2], large.images[1]]
    keypoints = np.stack([small.keypoints[0], large.keypoints[0], *small.keypoints[1:], large.keypoints[1]])
    predictor = SnapshotPredictor(tiny_dlc_model.pytorch_config, tiny_dlc_model.snapshots[max(tiny_dlc_model.snapshots)],
                                  device="cpu", batch_size=4)  # fmt: skip
    together = predictor.predict(iter(images))
    one_by_one = np.concatenate([predictor.predict([image]) for image in images])
    np.testing.assert_allclose(together, one_by_one, atol=1e-4)

    covered, mask = occlude_by_size(images, keypoints)
    assert [c.shape for c in covered] == [i.shape for i in images] and mask.shape == keypoints.shape[:2]
    same, same_mask = occlude(np.stack(small.images), small.keypoints, **OCCLUSION)
    only_small, only_small_mask = occlude_by_size(list(small.images), small.keypoints)
    np.testing.assert_array_equal(np.stack(only_small), same)  # one size: exactly the former single call
    np.testing.assert_array_equal(only_small_mask, same_mask)


def test_evaluation_batch_size_by_device_and_image_size():
    from pose_pipeline.schema.dlc_training import evaluation_batch_size

    assert evaluation_batch_size("cuda", (1080, 1920, 3)) == 8
    assert evaluation_batch_size("cpu", (64, 64, 3)) == 8  # small images: batches pay on the CPU
    assert evaluation_batch_size("cpu", (256, 256, 3)) == 2
    assert evaluation_batch_size("cpu", (480, 640, 3)) == 1  # large: one at a time, as evaluate_network
