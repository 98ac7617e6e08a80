"""Export a research lifter from your checkout of its code and your checkpoint to the ONNX file the pipeline runs.

    python scripts/export_lifter_onnx.py videopose3d --checkout ~/src/VideoPose3D \\
        --checkpoint ~/src/VideoPose3D/checkpoint/pretrained_h36m_cpn.bin --allow-pickle
    python scripts/export_lifter_onnx.py gastnet --checkout ~/src/GAST-Net-3DPoseEstimation \\
        --checkpoint ~/src/GAST-Net-3DPoseEstimation/checkpoint/gastnet/27_frame_model.bin
    python scripts/export_lifter_onnx.py motionbert --checkout ~/src/MotionBERT \\
        --checkpoint ~/src/MotionBERT/checkpoint/pose3d/FT_MB_release_MB_ft_h36m/best_epoch.bin \\
        --config ~/src/MotionBERT/configs/pose3d/MB_ft_h36m.yaml

The model is built with the checkout's own class (facebookresearch/VideoPose3D ``common/model.py``,
fabro66/GAST-Net-3DPoseEstimation ``model/gast_net.py``, Walter0807/MotionBERT ``lib/model/DSTformer.py``) and the
hyper-parameters its checkpoint's weights imply, exported with the input/output names, shapes and window the
wrappers take, compared with torch through onnxruntime (max abs diff printed) and opened by the project's wrapper.
It prints the file's sha256 and the manifest entry to put in ``3rdparty/manifest.json`` (it replaces the entry of
the same name, whose sha256 is null until you do). Needs torch and the research code's own imports (e.g. scipy for
GAST-Net, PyYAML for --config). Nothing of the research code or its weights is copied into the project:
VideoPose3D's are CC BY-NC (non-commercial use only).

The default output is ``3rdparty/lifting/<entry name>.onnx``, where the manifest looks for it (``.gitignore`` keeps
it out of commits).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_pipeline.lifting.export import MODELS, ExportError, export_lifter


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="model", required=True)
    for model in MODELS:
        p = sub.add_parser(model, help=f"export {MODELS[model].cls} ({MODELS[model].kind} model)")
        p.add_argument("--checkout", required=True, help="root of your checkout of the research code")
        p.add_argument("--checkpoint", required=True, help="the checkpoint file (.bin)")
        p.add_argument("--out", help="the ONNX file to write (default 3rdparty/lifting/<name>.onnx)")
        p.add_argument("--name", help="the manifest entry's name (default: the project's name for this model)")
        p.add_argument(
            "--allow-pickle",
            action="store_true",
            help="read a checkpoint that pickles Python objects besides tensors (only a file you trust)",
        )
        p.add_argument("--tolerance", type=float, default=1e-4, help="largest onnxruntime-vs-torch difference")
        if MODELS[model].kind == "window":
            p.add_argument("--window", type=int, help="refuse unless the checkpoint's receptive field is this")
            p.add_argument(
                "--fixed-window",
                action="store_true",
                help="fix the input to one window (the wrapper then runs one window per frame, slower)",
            )
        if model == "videopose3d":
            p.add_argument("--dense", action="store_true", help="the checkpoint was trained with --dense")
        if model == "motionbert":
            p.add_argument("--clip", type=int, help="clip length (default: the model's maxlen, 243)")
            p.add_argument("--config", help="the checkout's YAML config of the checkpoint (for num_heads)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    options = {"dense": getattr(args, "dense", False), "clip": getattr(args, "clip", None),
               "config": getattr(args, "config", None), "expect_frames": getattr(args, "window", None),
               "fixed_window": getattr(args, "fixed_window", False)}  # fmt: skip
    try:
        report = export_lifter(args.model, args.checkout, args.checkpoint, args.out, name=args.name,
                               allow_pickle=args.allow_pickle, tolerance=args.tolerance, **options)  # fmt: skip
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    kind = "window" if MODELS[args.model].kind == "window" else "clip"
    print(f"wrote {report.path} ({report.size} bytes, {kind} {report.frames} frames, {report.hyper})")
    longer = f" and a sequence of {report.frames + 40} frames" if report.sequence else ""
    print(f"onnxruntime vs torch on a random batch of 2{longer}: max abs diff {report.max_abs_diff:.3g}")
    mode = " (sequence mode: whole stretches per run)" if report.sequence else ""
    print(f"the project's {MODELS[args.model].method} wrapper accepts it{mode}")
    print(f"sha256 {report.sha256}")
    print("manifest entry (3rdparty/manifest.json, 'models'):")
    print(json.dumps(report.entry, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
