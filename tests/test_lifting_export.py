"""scripts/export_lifter_onnx.py and pose_pipeline.lifting.export on self-made checkouts of the research code
(tests/lifting_checkouts.py): the class imported by path from the folder, hyper-parameters read from the
checkpoint, ONNX verified against torch, the file accepted by the project's wrappers (and a window mismatch refused),
the manifest entry registering it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from pose_pipeline.lifting.export import ExportError, export_lifter
from pose_pipeline.lifting.onnx_clip import OnnxClipLifter
from pose_pipeline.lifting.onnx_lifter import OnnxWindowLifter, normalise
from pose_pipeline.stages import LIFTING
from pose_pipeline.weights import WeightsEntry, file_sha256
from tests.lifting_checkouts import gastnet_checkout, motionbert_checkout, videopose3d_checkout
from tests.test_lifting_wrappers import HEIGHT, WIDTH, coco_track

torch = pytest.importorskip("torch")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "export_lifter_onnx.py"


def run_script(argv):
    spec = importlib.util.spec_from_file_location("export_lifter_onnx", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def torch_model(checkout, module, cls, *args, **kwargs):
    from pose_pipeline.lifting.export import checkout_on_path, import_class

    with checkout_on_path(checkout, (module.split(".")[0],)):
        return import_class(checkout, module, cls)(*args, **kwargs)


def test_videopose3d_script_exports_verifies_and_prints_the_manifest_entry(tmp_path, capsys, monkeypatch):
    checkout, checkpoint = videopose3d_checkout(tmp_path, filter_widths=(3, 3), channels=16)
    out = tmp_path / "weights" / "lifting" / "vp3d_test.onnx"
    argv = ["videopose3d", "--checkout", str(checkout), "--checkpoint", str(checkpoint), "--out", str(out)]
    # VideoPose3D's checkpoints pickle numpy's random state: refused unless the user says they trust the file
    assert run_script(argv) == 1
    assert "--allow-pickle" in capsys.readouterr().err and not out.exists()
    assert run_script([*argv, "--allow-pickle", "--name", "vp3d_test"]) == 0
    printed = capsys.readouterr().out
    diff = float(printed.split("max abs diff ")[1].split()[0])
    assert diff < 1e-4 and f"sha256 {file_sha256(out)}" in printed
    entry = json.loads(printed.split("'models'):\n")[1])
    assert entry["sha256"] == file_sha256(out) and entry["size"] == out.stat().st_size and entry["window"] == 9
    assert entry["exported_from"]["filter_widths"] == [3, 3] and entry["exported_from"]["channels"] == 16
    assert entry["used_by"] == ["lifting/videopose3d_onnx"] and entry["path"] == "lifting/vp3d_test.onnx"
    assert "CC BY-NC" in entry["license"]
    WeightsEntry.from_dict(entry, Path("test"))

    # registered as printed, the method finds and verifies it, and lifts a subject with it
    (tmp_path / "weights" / "manifest.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("POSE_PIPELINE_MANIFEST", str(tmp_path / "weights" / "manifest.json"))
    lifter = LIFTING.build("videopose3d_onnx", {"weights": "vp3d_test", "window": 9, "flip": False})
    keypoints = coco_track(n=20)
    lifted = lifter(keypoints, "COCO-17", (WIDTH, HEIGHT))
    assert lifted.keypoints.shape == (20, 17, 3) and np.isfinite(lifted.keypoints).all()

    # window by window through onnxruntime = the torch model over the whole edge-padded sequence at once
    model = torch_model(checkout, "common.model", "TemporalModel", 17, 2, 17, [3, 3], channels=16)
    model.load_state_dict(torch.load(checkpoint, weights_only=False)["model_pos"])
    model.eval()
    from pose_pipeline.lifting.joints import coco_to_h36m_standard

    normalised = normalise(coco_to_h36m_standard(keypoints), "screen", (WIDTH, HEIGHT)).astype(np.float32)
    padded = np.pad(normalised, ((4, 4), (0, 0), (0, 0)), mode="edge")
    with torch.no_grad():
        expected = model(torch.from_numpy(padded)[None]).numpy()[0]
    np.testing.assert_allclose(lifter.lift_segment(normalised), expected, atol=1e-4)

    assert lifter.sequence  # the export's length is dynamic: whole stretches per run
    with pytest.raises(
        ValueError, match=r"window of 243 frames gave output \[1, 235, 17, 3\].*its own window is 9 frames"
    ):
        OnnxWindowLifter(out, window=243)


def test_sequence_mode_equals_window_by_window(tmp_path, monkeypatch):
    from pose_pipeline.lifting import onnx_lifter

    checkout, checkpoint = videopose3d_checkout(tmp_path, filter_widths=(3, 3), pickled_state=False)
    dynamic = export_lifter("videopose3d", checkout, checkpoint, tmp_path / "dynamic.onnx")
    fixed = export_lifter("videopose3d", checkout, checkpoint, tmp_path / "fixed.onnx", fixed_window=True)
    assert dynamic.sequence and not fixed.sequence and dynamic.max_abs_diff < 1e-4
    assert "input [N, T, 17, 2], output [N, T - 8, 17, 3]" in dynamic.entry["notes"]
    assert "input [N, 9, 17, 2], output [N, 1, 17, 3]" in fixed.entry["notes"]
    keypoints = coco_track(n=30)
    keypoints[12:15, 11] = np.nan  # two stretches, 0-11 and 15-29 (max_gap=2)
    by_window = OnnxWindowLifter(fixed.path, window=9, flip=True, max_gap=2)
    by_sequence = OnnxWindowLifter(dynamic.path, window=9, flip=True, max_gap=2)
    assert by_sequence.sequence and not by_window.sequence
    expected = by_window(keypoints, "COCO-17", (WIDTH, HEIGHT)).keypoints
    np.testing.assert_allclose(by_sequence(keypoints, "COCO-17", (WIDTH, HEIGHT)).keypoints, expected, atol=1e-5)
    monkeypatch.setattr(onnx_lifter, "CHUNK", 4)  # chunk edges inside both stretches
    np.testing.assert_allclose(by_sequence(keypoints, "COCO-17", (WIDTH, HEIGHT)).keypoints, expected, atol=1e-5)
    assert np.isnan(expected[12:15]).all() and np.isfinite(expected[:12]).all()


def test_gastnet_export_gives_its_window_and_refuses_another(tmp_path):
    checkout, checkpoint = gastnet_checkout(tmp_path, filter_widths=(3, 3, 3), channels=8)
    report = export_lifter("gastnet", checkout, checkpoint, out_dir=tmp_path / "out")
    assert report.path == tmp_path / "out" / "gastnet_h36m_27.onnx" and report.frames == 27
    assert report.max_abs_diff < 1e-4 and report.hyper == {"filter_widths": [3, 3, 3], "channels": 8, "causal": False}
    assert report.entry["name"] == "gastnet_h36m_27" and report.entry["window"] == 27
    lifter = LIFTING.build("gastnet_onnx", {"model_path": str(report.path), "sha256": report.sha256, "flip": False})
    assert lifter.window == 27 and lifter(coco_track(), "COCO-17", (WIDTH, HEIGHT)).conversion == "gastnet"
    with pytest.raises(
        ValueError, match="window of 81 frames gave output .* not one frame.*its own window is 27 frames"
    ):
        LIFTING.build("gastnet_onnx", {"model_path": str(report.path), "window": 81})
    with pytest.raises(ExportError, match="gives a window of 27 frames.*not the 81 asked for"):
        export_lifter("gastnet", checkout, checkpoint, out_dir=tmp_path / "out", expect_frames=81)


def test_motionbert_export_reads_prefixed_weights_and_its_config(tmp_path):
    checkout, checkpoint, config = motionbert_checkout(tmp_path, dim_feat=16, depth=2, num_heads=2, maxlen=27)
    report = export_lifter("motionbert", checkout, checkpoint, tmp_path / "mb.onnx", config=config, clip=27)
    assert report.max_abs_diff < 1e-4 and report.entry["clip"] == 27
    assert report.hyper == {"dim_feat": 16, "dim_rep": 32, "depth": 2, "num_heads": 2, "mlp_ratio": 2,
                            "maxlen": 27, "num_joints": 17, "att_fuse": True}  # fmt: skip
    # the export is the checkpoint's model: same output as the torch model with the user's weights
    model = torch_model(checkout, "lib.model.DSTformer", "DSTformer", dim_feat=16, dim_rep=32, depth=2, num_heads=2,
                        mlp_ratio=2, maxlen=27)  # fmt: skip
    state = torch.load(checkpoint)["model_pos"]
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    model.eval()
    import onnxruntime as ort

    x = np.random.default_rng(3).uniform(-1, 1, (3, 27, 17, 3)).astype(np.float32)
    got = ort.InferenceSession(str(report.path)).run(["output"], {"input": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(torch.from_numpy(x)).numpy(), atol=1e-4)

    lifter = LIFTING.build("motionbert_onnx", {"model_path": str(report.path), "clip": 27, "flip": False})
    lifted = lifter(coco_track(n=40), "COCO-17", (WIDTH, HEIGHT))
    assert lifted.keypoints.shape == (40, 17, 3) and np.isfinite(lifted.keypoints).all()
    with pytest.raises(ValueError, match="takes clips of 27 frames, but the method declares clip=243"):
        OnnxClipLifter(report.path, clip=243)

    config.write_text(config.read_text().replace("dim_feat: 16", "dim_feat: 512"))
    with pytest.raises(ExportError, match="dim_feat=512 but the checkpoint .* has 16"):
        export_lifter("motionbert", checkout, checkpoint, tmp_path / "mb2.onnx", config=config)
    with pytest.raises(ExportError, match="clip=243 frames: .* takes 1 to 27 frames"):
        export_lifter("motionbert", checkout, checkpoint, tmp_path / "mb2.onnx", clip=243)


def test_bad_checkouts_and_checkpoints_are_refused_naming_them(tmp_path):
    checkout, checkpoint = videopose3d_checkout(tmp_path, pickled_state=False)
    out = tmp_path / "x.onnx"
    with pytest.raises(ExportError, match=r"not the expected checkout: .*common/model\.py does not exist"):
        export_lifter("videopose3d", tmp_path, checkpoint, out)
    with pytest.raises(ExportError, match="checkout .* is not a folder"):
        export_lifter("videopose3d", tmp_path / "nowhere", checkpoint, out)
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(checkpoint.read_bytes()[:2000])
    with pytest.raises(ExportError, match=f"checkpoint {corrupt} cannot be read"):
        export_lifter("videopose3d", checkout, corrupt, out)
    other = tmp_path / "other.bin"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}, "epoch": 1}, other)
    with pytest.raises(ExportError, match=r"has none of the keys \['model_pos'\]"):
        export_lifter("videopose3d", checkout, other, out)
    # a GAST-Net checkpoint given as VideoPose3D's: its weights do not fit
    _, gast = gastnet_checkout(tmp_path)
    with pytest.raises(ExportError, match="takes 2 inputs and gives 3 outputs per frame"):
        export_lifter("videopose3d", checkout, gast, out)
    # the checkout's module is restored: nothing of the fake 'common' package stays imported
    import sys

    assert "common" not in sys.modules and "common.model" not in sys.modules
