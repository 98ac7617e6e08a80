"""Tests of the DeepLabCut top-down method: crops and coordinates, batching, joint sets, model folders, the factory.

One tiny model (MobileNetV2, 20 iterations on synthetic reaching frames) is trained once for the module; it is barely
trained, so the tests check how its predictions are mapped, never their accuracy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose_pipeline.dlc.estimator import (
    DLCEstimator,
    crop_bounds,
    folder_model_name,
    load_model_folder,
    skeleton_bones,
    snapshot_epoch,
)
from pose_pipeline.formats import Keypoints2D
from pose_pipeline.skeletons import get_joint_set
from pose_pipeline.stages import TOP_DOWN
from pose_pipeline.synthetic.reaching import REACHING_SKELETON, render_reaching

PATCH = 64
CANVAS = (120, 160)  # height, width


# --- no model needed ------------------------------------------------------------------------------------------------


def test_crop_bounds_whole_pixels_padding_and_clipping():
    assert crop_bounds((10, 20, 64, 64), 1.0, 160, 120) == (10, 20, 74, 84)
    # float noise in the centre must not add a row or column
    assert crop_bounds((10 + 1e-14, 20 - 1e-14, 64, 64), 1.0, 160, 120) == (10, 20, 74, 84)
    assert crop_bounds((10, 20, 64, 64), 1.25, 160, 120) == (2, 12, 82, 92)  # 8 pixels more on each side
    assert crop_bounds((10.5, 20.25, 3, 2), 1.0, 160, 120) == (10, 20, 14, 23)  # every pixel touched
    assert crop_bounds((0, 0, 64, 64), 1.5, 160, 120) == (0, 0, 80, 80)  # clipped at the top-left corner
    assert crop_bounds((130, 100, 40, 30), 1.0, 160, 120) == (130, 100, 160, 120)  # and at the bottom-right
    assert crop_bounds((200, 10, 20, 20), 1.25, 160, 120) is None  # outside the frame
    assert crop_bounds((np.nan, 10, 20, 20), 1.25, 160, 120) is None
    assert crop_bounds((10, 10, 0, 20), 1.25, 160, 120) is None


def test_skeleton_bones_from_names_or_indices():
    parts = ("a", "b", "c")
    assert skeleton_bones([["a", "b"], ["b", "c"]], parts) == ((0, 1), (1, 2))
    assert skeleton_bones([[0, 2], ["a", "zz"], [5, 0]], parts) == ((0, 2),)
    assert skeleton_bones(None, parts) == ()


def _fake_folder(folder: Path, names) -> Path:
    folder.mkdir(parents=True)
    (folder / "pytorch_config.yaml").write_text("method: bu\n")
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


def test_load_model_folder_picks_snapshots(tmp_path):
    names = ["snapshot-002.pt", "snapshot-010.pt", "snapshot-best-007.pt", "snapshot-detector-050.pt", "notes.pt"]
    folder = _fake_folder(tmp_path / "shuffle1" / "train", names)
    config = folder / "pytorch_config.yaml"
    assert load_model_folder(folder) == (config, folder / "snapshot-010.pt")  # highest epoch, not best/detector
    assert load_model_folder(folder, "best") == (config, folder / "snapshot-best-007.pt")
    assert load_model_folder(folder, 2) == (config, folder / "snapshot-002.pt")
    assert load_model_folder(folder, "7") == (config, folder / "snapshot-best-007.pt")  # only as best
    assert load_model_folder(folder, "snapshot-002") == (config, folder / "snapshot-002.pt")
    assert load_model_folder(folder.parent) == (config, folder / "snapshot-010.pt")  # the shuffle folder
    assert load_model_folder(config) == (config, folder / "snapshot-010.pt")  # the config file
    assert snapshot_epoch("snapshot-best-007.pt") == (7, True) and snapshot_epoch("x.pt") is None
    assert folder_model_name(folder) == "shuffle1"
    with pytest.raises(FileNotFoundError, match="no snapshot '3'.*snapshot-002.pt"):
        load_model_folder(folder, 3)


def test_load_model_folder_errors_name_the_folder(tmp_path):
    empty = _fake_folder(tmp_path / "empty", ["snapshot-detector-001.pt"])
    with pytest.raises(FileNotFoundError, match=f"{empty}.*no snapshot-\\*.pt"):
        load_model_folder(empty)
    only_best = _fake_folder(tmp_path / "only_best", ["snapshot-best-004.pt"])
    with pytest.raises(FileNotFoundError, match=f"{only_best}.*other than the best"):
        load_model_folder(only_best)
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    (no_config / "snapshot-001.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=f"{no_config}.*pytorch_config.yaml"):
        load_model_folder(no_config)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model_folder(tmp_path / "missing")


def test_folder_names_fit_the_joint_set_column(tmp_path):
    long = tmp_path / ("x" * 80)
    name = folder_model_name(long)
    assert len(f"DLC:{name}") == 64 and name != folder_model_name(tmp_path / "y" / ("x" * 80))


def test_factory_refuses_a_missing_model():
    with pytest.raises(ValueError, match="needs a model"):
        TOP_DOWN.build("dlc", {})
    with pytest.raises(ValueError, match="needs a model"):
        TOP_DOWN.build("dlc", {"model": "  "})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TOP_DOWN.build("dlc", {"model": "/nonexistent/dlc/model"})


def test_registration_imports_no_deeplabcut():
    code = (
        "import sys, pose_pipeline.keypoints\n"
        "from pose_pipeline.stages import TOP_DOWN\n"
        "spec = TOP_DOWN.get('dlc')\n"
        "print('torch' in sys.modules, 'deeplabcut' in sys.modules, spec.requires, spec.device)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "('dlc',)", "any"]


# --- one trained model ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_dlc_model):
    return tiny_dlc_model


@pytest.fixture(scope="module")
def estimator(trained):
    latest = trained.snapshots[max(trained.snapshots)]
    return DLCEstimator(trained.pytorch_config, latest, name="test-reaching", device="cpu", batch_size=4, padding=1.0)


@pytest.fixture(scope="module")
def patches():
    return render_reaching(4, size=(PATCH, PATCH), seed=7).images


def _canvas(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*CANVAS, 3), dtype=np.uint8)


def _expected(estimator, image: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """The predictor's own prediction on ``image``, moved to the frame (offset) and the pipeline convention."""
    points = estimator.predictor.predict([image])[0].copy()
    points[:, :2] += np.array([x0, y0]) + 0.5
    points[:, 2] = np.clip(points[:, 2], 0, 1)
    return points


def test_crops_are_read_at_native_scale_and_mapped_back_exactly(estimator, patches):
    frame_a, frame_b, frame_c = _canvas(0), _canvas(1), _canvas(2)
    frame_a[20:84, 10:74] = patches[0]
    frame_a[40:104, 90:154] = patches[1]
    frame_b[50:114, 30:94] = patches[2]
    boxes = [
        np.array([[10, 20, 64, 64], [np.nan, 0, 10, 10], [90, 40, 64, 64], [5, 5, 0, 8]]),
        np.array([[30, 50, 64, 64], [100, 10, 48, 40]]),  # two crop sizes in one call
        np.zeros((0, 4)),
    ]
    result = estimator([frame_a, frame_b, frame_c], boxes)

    assert [r.shape for r in result] == [(4, 7, 3), (2, 7, 3), (0, 7, 3)]
    np.testing.assert_allclose(result[0][0], _expected(estimator, patches[0], 10, 20), atol=1e-4)
    np.testing.assert_allclose(result[0][2], _expected(estimator, patches[1], 90, 40), atol=1e-4)
    np.testing.assert_allclose(result[1][0], _expected(estimator, patches[2], 30, 50), atol=1e-4)
    np.testing.assert_allclose(result[1][1], _expected(estimator, frame_b[10:50, 100:148], 100, 10), atol=1e-4)
    assert np.isnan(result[0][1]).all() and np.isnan(result[0][3]).all()  # unreadable boxes, in their places
    # the same patch at another place in another frame gives the same keypoints, moved by the offset
    frame_c[0:64, 96:160] = patches[0]
    moved = estimator([frame_c], [[96, 0, 64, 64]])[0][0]
    np.testing.assert_allclose(moved[:, :2] - result[0][0][:, :2], [[86, -20]] * 7, atol=1e-3)
    np.testing.assert_allclose(moved[:, 2], result[0][0][:, 2], atol=1e-4)


def test_padding_clips_at_the_borders(trained, estimator, patches):
    padded = DLCEstimator(trained.pytorch_config, estimator.snapshot_path, name="test-reaching", device="cpu",
                          padding=1.5)  # fmt: skip
    frame = _canvas(3)
    frame[0:64, 0:64] = patches[3]
    boxes = np.array([[0, 0, 64, 64], [120, 90, 40, 30], [300, 300, 10, 10]])
    result = padded([frame], [boxes])[0]
    # (0, 0, 64, 64) padded 1.5 times is -16 .. 80, clipped to 0 .. 80; (120, 90, 40, 30) is 110 .. 170, 82 .. 112
    np.testing.assert_allclose(result[0], _expected(padded, frame[0:80, 0:80], 0, 0), atol=1e-4)
    np.testing.assert_allclose(result[1], _expected(padded, frame[82:120, 110:160], 110, 82), atol=1e-4)
    assert np.isnan(result[2]).all()  # entirely outside the frame
    assert padded.joint_set == estimator.joint_set  # the same joints registered twice


def test_joint_set_and_outputs(trained, estimator, patches):
    joints = get_joint_set("DLC:test-reaching")
    bodyparts = tuple(trained.pytorch_config["metadata"]["bodyparts"])
    assert estimator.joint_set == "DLC:test-reaching" and estimator.n_joints == len(bodyparts) == 7
    assert joints.joints == bodyparts == estimator.bodyparts
    assert joints.sigmas == (0.1,) * 7
    assert joints.bones == tuple(REACHING_SKELETON)  # from the training project's config.yaml
    frame = _canvas(4)
    frame[10:74, 10:74] = patches[0]
    points = estimator([frame], [[10, 10, 64, 64]])[0]
    assert np.isfinite(points).all() and ((points[..., 2] >= 0) & (points[..., 2] <= 1)).all()
    Keypoints2D(points, estimator.joint_set).validate()
    with pytest.raises(ValueError, match="one \\(N, 4\\) array per frame"):
        estimator([frame, frame], [[10, 10, 64, 64]])
    with pytest.raises(ValueError, match="uint8 RGB"):
        estimator([frame[..., 0]], [[10, 10, 64, 64]])


def test_skeleton_given_or_missing(trained, estimator, tmp_path):
    given = DLCEstimator(trained.pytorch_config, estimator.snapshot_path, name="test-reaching-skeleton",
                         device="cpu", skeleton=[["wrist", "palm"], ["palm", "pellet"], ["palm", "tail"]])  # fmt: skip
    assert get_joint_set(given.joint_set).bones == ((0, 1), (1, 6))
    # a model whose project is gone (copied elsewhere) has no bones
    config = {**trained.pytorch_config, "metadata": {**trained.pytorch_config["metadata"]}}
    config["metadata"]["project_path"] = str(tmp_path / "gone")
    moved = DLCEstimator(config, estimator.snapshot_path, name="test-reaching-moved", device="cpu")
    assert get_joint_set(moved.joint_set).bones == ()
    with pytest.raises(ValueError, match="already registered with different joints"):
        DLCEstimator(config, estimator.snapshot_path, name="test-reaching", device="cpu")


def test_factory_builds_from_a_model_folder(trained, estimator, patches):
    built = TOP_DOWN.build("dlc", {"model": str(trained.model_folder), "device": "cpu", "padding": 1.0})
    assert isinstance(built, DLCEstimator)
    assert built.snapshot_path == trained.snapshots[max(trained.snapshots)]  # the latest snapshot
    assert built.joint_set == f"DLC:{trained.model_folder.parent.name}"
    frame = _canvas(5)
    frame[30:94, 40:104] = patches[1]
    np.testing.assert_allclose(
        built([frame], [[40, 30, 64, 64]])[0], estimator([frame], [[40, 30, 64, 64]])[0], atol=1e-4
    )
    first = min(trained.snapshots)
    older = TOP_DOWN.build("dlc", {"model": str(trained.model_folder), "snapshot": str(first), "device": "cpu"})
    assert older.snapshot_path == trained.snapshots[first]


def test_factory_resolves_a_registered_model(trained, monkeypatch):
    """The wrapper asks the resolver the schema layer registers; it never imports the schema itself."""
    from pose_pipeline import resolvers
    from pose_pipeline.video.probe import file_sha256
    from pose_pipeline.weights import recording_model_files

    config, snapshot = load_model_folder(trained.model_folder)
    asked = []

    def resolver(name):
        asked.append(name)
        return resolvers.StoredModel(name, weights=snapshot, config=config, sha256=file_sha256(snapshot))

    monkeypatch.setitem(resolvers._resolvers, resolvers.DLC_MODEL, resolver)
    with recording_model_files() as files:
        built = TOP_DOWN.build("dlc", {"model": "reaching-v1", "device": "cpu"})
    assert asked == ["reaching-v1"] and built.joint_set == "DLC:reaching-v1" and built.snapshot_path == snapshot
    [noted] = files.values()  # the snapshot, with its checksum, for the result's provenance
    assert noted["sha256"] == file_sha256(snapshot) and noted["name"] == "dlc_model:reaching-v1"
    with pytest.raises(ValueError, match="snapshot applies to model folders only"):
        TOP_DOWN.build("dlc", {"model": "reaching-v1", "snapshot": "best"})
