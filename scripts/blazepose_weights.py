"""Reproduce the shipped BlazePose files (3rdparty/blazepose/) from the public mediapipe 0.10.21 wheel.

``pose_landmark_full.tflite`` is copied out of the wheel (``mediapipe/modules/pose_landmark/``) and converted once
to ONNX with tflite2onnx 0.4.1, so the pipeline runs it on onnxruntime like its other models. Two fixes make the
conversion work and repeatable:

- tflite2onnx converts each Pad operator's padding constant in place; this model shares one constant between
  several Pad operators, so the second conversion failed (``IndexError`` in ``Padding.transform``). A constant
  already converted is now left alone (all Pad operators sharing it have the same layout here, and the outputs
  match, see tests/test_blazepose.py).
- tflite2onnx emits the initializers in a set's order, which changes from run to run; they are sorted by name
  (and so are the value infos) before saving, so the file's sha256 is the same on every run.

The float16 weights of the TFLite file are dequantised into float32 constants by the converter (it warns "Data
type float16 not supported/tested yet"; the test compares the outputs with the TFLite interpreter's).

Usage (``pip install '.[blazepose-convert]'``)::

    pip download --no-deps mediapipe==0.10.21 -d /tmp/wheel     # any of its wheels: the models are the same
    python scripts/blazepose_weights.py /tmp/wheel/mediapipe-0.10.21-*.whl
    python scripts/blazepose_weights.py path/to/pose_landmark_full.tflite   # or the TFLite file itself

It writes ``3rdparty/blazepose/pose_landmark_full.tflite`` and ``pose_landmark_full.onnx`` (``--out`` elsewhere)
and checks both against the sha256 in ``3rdparty/manifest.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEEL_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
TFLITE_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
MANIFEST_NAMES = {"pose_landmark_full.tflite": "blazepose_full_tflite", "pose_landmark_full.onnx": "blazepose_full"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extract_tflite(source: Path, out: Path) -> Path:
    """The landmark model from a mediapipe wheel (or the .tflite file itself), written to ``out``."""
    target = out / "pose_landmark_full.tflite"
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            target.write_bytes(wheel.read(WHEEL_MEMBER))
    else:
        target.write_bytes(source.read_bytes())
    if sha256(target) != TFLITE_SHA256:
        raise SystemExit(f"{source}: pose_landmark_full.tflite has sha256 {sha256(target)}, expected {TFLITE_SHA256}")
    return target


def _patch_shared_pads() -> None:
    from tflite2onnx.op import padding

    original = padding.Padding.transform

    def transform(self):
        if len(self.inputs[1].shape) == 1:  # a shared padding constant another Pad operator converted already
            return
        original(self)

    padding.Padding.transform = transform


def convert(tflite: Path, onnx_path: Path) -> Path:
    """tflite2onnx with the two fixes of the module docstring."""
    import onnx
    import tflite2onnx

    _patch_shared_pads()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        tflite2onnx.convert(str(tflite), str(raw))
        model = onnx.load(raw)
    for field in ("initializer", "value_info"):
        items = sorted(getattr(model.graph, field), key=lambda item: item.name)
        del getattr(model.graph, field)[:]
        getattr(model.graph, field).extend(items)
    onnx.checker.check_model(model)
    onnx.save(model, onnx_path)
    return onnx_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a mediapipe 0.10.21 wheel or pose_landmark_full.tflite")
    parser.add_argument("--out", type=Path, default=ROOT / "3rdparty" / "blazepose")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tflite = extract_tflite(args.source, args.out)
    onnx_path = convert(tflite, args.out / "pose_landmark_full.onnx")

    from pose_pipeline.weights import load_manifest

    entries = load_manifest()
    ok = True
    for path in (tflite, onnx_path):
        expected = entries[MANIFEST_NAMES[path.name]].sha256
        digest = sha256(path)
        ok &= digest == expected
        print(
            f"{path}: {path.stat().st_size} bytes, sha256 {digest} ({'matches' if digest == expected else 'DIFFERS from'} the manifest)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
