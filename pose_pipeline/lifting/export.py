"""Export of the research lifters (VideoPose3D, GAST-Net, MotionBERT) to the ONNX interface the project's wrappers
take, from the user's checkout of the research code and their checkpoint (``scripts/export_lifter_onnx.py``).

The model is built with the checkout's own class (imported from the checkout's folder, nothing of it is copied
here), its hyper-parameters read from the checkpoint's weights (layer shapes), the checkpoint's state dict loaded
strictly, and the model traced to ONNX with one input ``input`` and one output ``output``, the batch dynamic:

- window models (VideoPose3D ``common/model.py: TemporalModel``, GAST-Net ``model/gast_net.py:
  SpatioTemporalModel``): ``input`` float32 [N, T, 17, 2], ``output`` [N, T - W + 1, 17, 3] (W = the model's
  receptive field; a window of W frames gives its centre frame), as `OnnxWindowLifter` takes them and runs in
  sequence mode (whole stretches at once); with ``fixed_window`` T is fixed to W (output [N, 1, 17, 3]) and the
  wrapper runs one window per frame;
- clip models (MotionBERT ``lib/model/DSTformer.py: DSTformer``): ``input`` [N, T, 17, 3] (T = the clip length,
  at most the model's ``maxlen``), ``output`` [N, T, 17, 3], as `OnnxClipLifter` takes them.

The export is then checked before it is reported: onnxruntime against the torch model on a random batch of two
(a batch size other than the traced one) and, for a window model with a dynamic length, on one sequence of
W + 40 frames (a length other than the traced one); the largest absolute difference is reported and must be under
``tolerance``; and the project's wrapper must open the file with the declared window (its interface check and
window probe) in the mode the export is for. The report carries the file's sha256 and a manifest entry (`pose_pipeline.weights` format) to
register it.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import types
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose_pipeline.weights import WeightsEntry, WeightsError, file_sha256, load_manifest

# Human3.6M-17 as GAST-Net builds its graph (parents, left and right joints): the order of `skeletons.H36M17`
H36M_PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
H36M_LEFT, H36M_RIGHT = [4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]
JOINTS = 17


class ExportError(RuntimeError):
    """The checkout, the checkpoint or the export does not fit the wrapper's interface (the message says which)."""


@dataclass(frozen=True)
class ModelSpec:
    """One research lifter: where its class lives in a checkout, the checkpoint key of its weights, its wrapper."""

    module: str  # the class's module, relative to the checkout's root
    cls: str
    kind: str  # "window" or "clip"
    method: str  # the registered lifting method that runs the export
    manifest_name: str  # "{frames}" is replaced by the window or clip length
    url: str
    license: str
    checkpoint_keys: tuple[str, ...] = ("model_pos",)


MODELS = {
    "videopose3d": ModelSpec(
        "common.model", "TemporalModel", "window", "videopose3d_onnx", "videopose3d_h36m_cpn_{frames}",
        "https://dl.fbaipublicfiles.com/video-pose-3d/pretrained_h36m_cpn.bin",
        "CC BY-NC 4.0 (facebookresearch/VideoPose3D code and weights): non-commercial use only. Trained on "
        "Human3.6M, whose licence allows academic use only.",
    ),
    "gastnet": ModelSpec(
        "model.gast_net", "SpatioTemporalModel", "window", "gastnet_onnx", "gastnet_h36m_{frames}",
        "https://github.com/fabro66/GAST-Net-3DPoseEstimation (checkpoints linked from its README)",
        "MIT (GAST-Net code); the checkpoints are trained on Human3.6M, whose licence allows academic use only.",
    ),
    "motionbert": ModelSpec(
        "lib.model.DSTformer", "DSTformer", "clip", "motionbert_onnx", "motionbert_h36m_{frames}",
        "https://github.com/Walter0807/MotionBERT (3D pose checkpoints linked from its README)",
        "Apache-2.0 (MotionBERT code and released checkpoints); the checkpoints are trained on Human3.6M "
        "(academic use only) among others.",
        checkpoint_keys=("model_pos", "model"),
    ),
}  # fmt: skip


@dataclass
class ExportReport:
    """What an export produced: the ONNX file, its sha256 and size, the window or clip length, the largest
    onnxruntime-vs-torch difference, the hyper-parameters read from the checkpoint, the manifest entry and whether
    the window wrapper runs it in sequence mode."""

    path: Path
    sha256: str
    size: int
    frames: int
    max_abs_diff: float
    hyper: dict
    entry: dict = field(default_factory=dict)
    sequence: bool = False  # a window model with a dynamic length: the wrapper runs whole stretches


@contextmanager
def checkout_on_path(checkout: Path, packages: tuple[str, ...]):
    """Import from ``checkout`` (a research repository's root) while the block runs: its folder first on
    ``sys.path`` and any already imported module of the same top-level ``packages`` set aside (names such as
    ``common``, ``model`` and ``lib`` are common), restored after."""
    root = str(Path(checkout).resolve())

    def owned(name):
        return any(name == p or name.startswith(p + ".") for p in packages)

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if owned(name)}
    sys.path.insert(0, root)
    for package in packages:  # bound to the checkout's folder: an installed package of that name must not win
        folder = Path(root) / package
        if folder.is_dir() and not (folder / "__init__.py").is_file():  # the research repos' namespace packages
            module = types.ModuleType(package)
            module.__path__ = [str(folder)]
            sys.modules[package] = module
    try:
        yield
    finally:
        sys.path.remove(root)
        for name in [n for n in sys.modules if owned(n)]:
            del sys.modules[name]
        sys.modules.update(saved)


def import_class(checkout: Path, module: str, cls: str):
    """``module.cls`` imported from ``checkout`` (call inside `checkout_on_path`); a clear error when the folder is
    not such a checkout."""
    file = Path(checkout) / (module.replace(".", "/") + ".py")
    if not file.is_file():
        raise ExportError(f"{checkout} is not the expected checkout: {file} does not exist")
    try:
        found = getattr(importlib.import_module(module), cls, None)
    except ImportError as error:
        raise ExportError(f"importing {module} from {checkout} failed: {error} (install the research code's own "
                          "requirements)") from error  # fmt: skip
    if found is None:
        raise ExportError(f"{file} has no class {cls}")
    return found


def load_state_dict(checkpoint: Path, keys: tuple[str, ...], allow_pickle: bool = False) -> dict:
    """The model's weights in a research checkpoint: the first of ``keys`` present (or the file itself when it is
    a state dict), ``module.`` prefixes (``DataParallel``) removed.

    The file is read with ``weights_only=True``; a checkpoint that also pickles other Python objects (VideoPose3D's
    saves numpy's random state) needs ``allow_pickle``, which unpickles it in full: only for a file you trust.
    """
    import torch

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise ExportError(f"checkpoint {checkpoint} does not exist")
    try:
        data = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not allow_pickle:
            first = str(error).strip().splitlines()[0]
            raise ExportError(f"checkpoint {checkpoint} holds Python objects besides tensors ({first}); if you trust "
                              "the file, run again with --allow-pickle") from None  # fmt: skip
        data = _load_any(checkpoint)
    except Exception as error:  # noqa: BLE001 - torch raises several types for a damaged file
        raise ExportError(f"checkpoint {checkpoint} cannot be read (damaged or not a torch file): {error}") from None
    if not isinstance(data, dict):
        raise ExportError(f"checkpoint {checkpoint} holds a {type(data).__name__}, not a dict of weights")
    state = next((data[k] for k in keys if isinstance(data.get(k), dict)), None)
    if state is None:
        if not data or not all(hasattr(v, "shape") for v in data.values()):
            raise ExportError(f"checkpoint {checkpoint} has none of the keys {list(keys)}; it has {sorted(data)}")
        state = data
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_any(checkpoint: Path):
    import torch

    try:
        return torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - as in load_state_dict
        raise ExportError(f"checkpoint {checkpoint} cannot be read (damaged or not a torch file): {error}") from None


def _weight(state: dict, key: str, checkpoint) -> tuple[int, ...]:
    if key not in state:
        raise ExportError(f"checkpoint {checkpoint}: no weight {key!r}; is it a checkpoint of this model?")
    return tuple(state[key].shape)


def _temporal_filters(state: dict, checkpoint, dense: bool) -> tuple[int, list[int]]:
    """Channels and filter widths of a VideoPose3D-style temporal network from its convolutions' kernels
    (``expand_conv`` then every other ``layers_conv``); with ``dense`` the kernels span their block's receptive
    field (VideoPose3D's dense ablation) and are converted back to filter widths."""
    expand = _weight(state, "expand_conv.weight", checkpoint)
    widths, dilation, i = [expand[2]], expand[2], 0
    while f"layers_conv.{2 * i}.weight" in state:
        kernel = state[f"layers_conv.{2 * i}.weight"].shape[2]
        width = (kernel - 1) // dilation + 1 if dense else kernel
        widths.append(width)
        dilation *= width
        i += 1
    return expand[0], widths


def build_videopose3d(checkout, checkpoint, allow_pickle: bool = False, dense: bool = False):
    """VideoPose3D's ``TemporalModel`` from ``checkout`` with the checkpoint's weights (key ``model_pos``), in
    eval mode; returns (model, receptive field, hyper-parameters)."""
    spec = MODELS["videopose3d"]
    state = load_state_dict(checkpoint, spec.checkpoint_keys, allow_pickle)
    channels, widths = _temporal_filters(state, checkpoint, dense)
    inputs = _weight(state, "expand_conv.weight", checkpoint)[1]
    outputs = _weight(state, "shrink.weight", checkpoint)[0]
    if inputs != JOINTS * 2 or outputs != JOINTS * 3:
        raise ExportError(f"checkpoint {checkpoint} takes {inputs} inputs and gives {outputs} outputs per frame; the "
                          f"wrapper needs 17 joints x 2 in and 17 x 3 out (Human3.6M-17)")  # fmt: skip
    hyper = {"filter_widths": widths, "channels": channels, "dense": dense, "causal": False}
    with checkout_on_path(checkout, ("common",)):
        cls = import_class(checkout, spec.module, spec.cls)
        model = cls(JOINTS, 2, JOINTS, filter_widths=widths, causal=False, dropout=0.25, channels=channels,
                    dense=dense)  # fmt: skip
    _load_weights(model, state, checkpoint)
    return model, int(model.receptive_field()), hyper


def build_gastnet(checkout, checkpoint, allow_pickle: bool = False):
    """GAST-Net's ``SpatioTemporalModel`` on the Human3.6M-17 graph (built by the checkout's ``Skeleton`` and
    ``adj_mx_from_skeleton``) with the checkpoint's weights (key ``model_pos``); (model, receptive field, hyper)."""
    spec = MODELS["gastnet"]
    state = load_state_dict(checkpoint, spec.checkpoint_keys, allow_pickle)
    channels, widths = _temporal_filters(state, checkpoint, dense=False)
    in_features = _weight(state, "expand_conv.weight", checkpoint)[1]
    if in_features != 2:
        raise ExportError(f"checkpoint {checkpoint} takes {in_features} features per joint; the wrapper gives 2 (x, y)")
    hyper = {"filter_widths": widths, "channels": channels, "causal": False}
    with checkout_on_path(checkout, ("common", "model")):
        cls = import_class(checkout, spec.module, spec.cls)
        skeleton = import_class(checkout, "common.skeleton", "Skeleton")(H36M_PARENTS, H36M_LEFT, H36M_RIGHT)
        adj = importlib.import_module("common.graph_utils").adj_mx_from_skeleton(skeleton)
        model = cls(adj, JOINTS, 2, JOINTS, filter_widths=widths, causal=False, dropout=0.05, channels=channels)
    _load_weights(model, state, checkpoint)
    return model, int(model.receptive_field()), hyper


def build_motionbert(checkout, checkpoint, allow_pickle: bool = False, clip: int | None = None, config=None):
    """MotionBERT's ``DSTformer`` with the checkpoint's weights (key ``model_pos``, ``module.`` prefixes removed);
    its sizes are read from the weights, its number of attention heads (not visible in them) from ``config`` (the
    checkout's YAML, e.g. ``configs/pose3d/MB_ft_h36m.yaml``) or 8, the value of every released configuration.
    Returns (model, clip length, hyper)."""
    import torch

    spec = MODELS["motionbert"]
    state = load_state_dict(checkpoint, spec.checkpoint_keys, allow_pickle)
    dim_feat, dim_in = _weight(state, "joints_embed.weight", checkpoint)
    hyper = {
        "dim_feat": dim_feat,
        "dim_rep": _weight(state, "pre_logits.fc.weight", checkpoint)[0],
        "depth": len({k.split(".")[1] for k in state if k.startswith("blocks_st.")}),
        "num_heads": 8,
        "mlp_ratio": _weight(state, "blocks_st.0.mlp_s.fc1.weight", checkpoint)[0] / dim_feat,
        "maxlen": _weight(state, "temp_embed", checkpoint)[1],
        "num_joints": _weight(state, "pos_embed", checkpoint)[1],
        "att_fuse": "ts_attn.0.weight" in state,
    }
    if float(hyper["mlp_ratio"]).is_integer():
        hyper["mlp_ratio"] = int(hyper["mlp_ratio"])
    dim_out = _weight(state, "head.weight", checkpoint)[0]
    if dim_in != 3 or dim_out != 3 or hyper["num_joints"] != JOINTS:
        raise ExportError(f"checkpoint {checkpoint} maps {hyper['num_joints']} joints x {dim_in} to x {dim_out}; the "
                          "wrapper needs 17 joints x 3 (x, y, confidence) in and x 3 out")  # fmt: skip
    if config is not None:
        hyper.update(_config_hyper(config, hyper, checkpoint))
    clip = int(clip or hyper["maxlen"])
    if not 1 <= clip <= hyper["maxlen"]:
        raise ExportError(f"clip={clip} frames: the checkpoint {checkpoint} takes 1 to {hyper['maxlen']} frames")
    with checkout_on_path(checkout, ("lib",)):
        cls = import_class(checkout, spec.module, spec.cls)
        kwargs = {k: hyper[k] for k in ("dim_feat", "dim_rep", "depth", "num_heads", "mlp_ratio", "maxlen",
                                        "num_joints", "att_fuse")}  # fmt: skip
        model = cls(dim_in=3, dim_out=3, norm_layer=_layer_norm(torch), **kwargs)
    _load_weights(model, state, checkpoint)
    return model, clip, hyper


def _layer_norm(torch):
    from functools import partial

    return partial(torch.nn.LayerNorm, eps=1e-6)  # MotionBERT's load_backbone


def _config_hyper(config, hyper: dict, checkpoint) -> dict:
    """``num_heads`` from a MotionBERT YAML config, and its other sizes checked against the weights'."""
    import yaml

    try:
        values = yaml.safe_load(Path(config).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ExportError(f"config {config} cannot be read: {error}") from None
    for key in ("dim_feat", "dim_rep", "depth", "mlp_ratio", "maxlen", "num_joints", "att_fuse"):
        if key in values and values[key] != hyper[key]:
            raise ExportError(f"config {config} says {key}={values[key]!r} but the checkpoint {checkpoint} has "
                              f"{hyper[key]!r}: they are not from the same model")  # fmt: skip
    if values.get("no_conf"):
        raise ExportError(f"config {config} has no_conf: the wrapper gives x, y and the 2D confidence")
    return {"num_heads": int(values.get("num_heads", hyper["num_heads"]))}


def _load_weights(model, state: dict, checkpoint) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ExportError(f"the weights of {checkpoint} do not fit the model built from them: {error}") from None
    model.eval()


def example_input(kind: str, frames: int, batch: int, seed: int = 0):
    """A random input of the wrapper's interface: normalised x, y in [-1, 1] (and a confidence in [0, 1] for
    clip models), (batch, frames, 17, 2 or 3) float32."""
    import torch

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(batch, frames, JOINTS, 2))
    if kind == "clip":
        x = np.concatenate([x, rng.uniform(0, 1, size=(batch, frames, JOINTS, 1))], axis=-1)
    return torch.from_numpy(x.astype(np.float32))


def export_onnx(model, kind: str, frames: int, path: Path, dynamic_frames: bool = False, opset: int = 17) -> Path:
    """Trace ``model`` to ``path``: ``input`` (N, frames, 17, C) -> ``output``, N dynamic (and the number of
    frames with ``dynamic_frames``)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        # the TorchScript exporter: the torch.export-based one needs onnxscript, which the project does not install
        torch.onnx.export(model, (example_input(kind, frames, 1),), str(path), dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes=_dynamic_axes(dynamic_frames))  # fmt: skip
    return path


def _dynamic_axes(dynamic_frames: bool) -> dict:
    if dynamic_frames:
        return {"input": {0: "N", 1: "frames"}, "output": {0: "N", 1: "frames_out"}}
    return {"input": {0: "N"}, "output": {0: "N"}}


def verify(model, path: Path, kind: str, frames: int, tolerance: float, sequence: bool = False) -> float:
    """The largest absolute difference between onnxruntime and torch on a random batch of two (and with
    ``sequence`` on one sequence of ``frames + 40`` frames); raises when it is over ``tolerance`` or when the
    project's wrapper refuses the file or would not run it in sequence mode."""
    import onnxruntime as ort
    import torch

    from .onnx_clip import OnnxClipLifter
    from .onnx_lifter import OnnxWindowLifter

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diff = 0.0
    for x in [example_input(kind, frames, batch=2, seed=1)] + ([example_input(kind, frames + 40, 1, 2)] * sequence):
        with torch.no_grad():
            expected = model(x).numpy()
        try:
            got = session.run(["output"], {"input": x.numpy()})[0]
        except Exception as error:  # noqa: BLE001 - onnxruntime's own error types
            raise ExportError(f"{path}: onnxruntime cannot run an input {list(x.shape)}: {error}" + _FIXED) from None
        if got.shape != expected.shape:
            raise ExportError(f"{path}: onnxruntime gives shape {got.shape}, torch {expected.shape}" + _FIXED)
        diff = max(diff, float(np.abs(got - expected).max()))
    if not diff <= tolerance:
        raise ExportError(f"{path}: onnxruntime differs from torch by up to {diff:.3g} (tolerance {tolerance:g})")
    try:
        if kind == "window":
            lifter = OnnxWindowLifter(path, window=frames, device="cpu", threads=1)
            if lifter.sequence != sequence:
                raise ExportError(f"the project's window wrapper would run {path} with sequence={lifter.sequence}")
        else:
            OnnxClipLifter(path, clip=frames, device="cpu", threads=1)
    except (ValueError, WeightsError) as error:
        raise ExportError(f"the project's {kind} wrapper refuses the export: {error}") from None
    return diff


_FIXED = " (a window model that does not trace to any length: export it again with --fixed-window)"


def manifest_entry(model: str, path: Path, frames: int, hyper: dict, checkpoint, name: str | None = None,
                   sequence: bool = False) -> dict:  # fmt: skip
    """The manifest entry registering an export: the project manifest's entry of that name (licence, url, notes)
    when it has one, with the file's sha256, size, window or clip length and the hyper-parameters read."""
    spec = MODELS[model]
    name = name or spec.manifest_name.format(frames=frames)
    path = Path(path)
    try:
        known = load_manifest().get(name)
    except WeightsError:
        known = None
    size_param = "window" if spec.kind == "window" else "clip"
    if sequence:
        shapes = f"input [N, T, 17, 2], output [N, T - {frames - 1}, 17, 3] (run whole stretches: sequence mode)"
    else:
        channels = 2 if spec.kind == "window" else 3
        shapes = f"input [N, {frames}, 17, {channels}], output [N, {1 if spec.kind == 'window' else frames}, 17, 3]"
    entry = {
        "name": name,
        "path": f"lifting/{path.name}",
        "url": known.url if known else spec.url,
        "sha256": file_sha256(path),
        "size": path.stat().st_size,
        "license": known.license if known else spec.license,
        "used_by": [f"lifting/{spec.method}"],
        size_param: frames,
        "exported_from": {"checkpoint": Path(checkpoint).name, "class": f"{spec.module}.{spec.cls}", **hyper},
        "notes": f"Exported by scripts/export_lifter_onnx.py {model} from your checkout and checkpoint: input "
        f"{shapes}. Not shipped: place the file under 3rdparty/ or a "
        f"directory in POSE_PIPELINE_WEIGHTS. Use with params {{'weights': '{name}', '{size_param}': {frames}}}.",
    }
    WeightsEntry.from_dict(entry, Path("<export>"))  # the manifest's own checks
    return entry


def export_lifter(model: str, checkout, checkpoint, out=None, *, name: str | None = None, allow_pickle: bool = False,
                  tolerance: float = 1e-4, dense: bool = False, clip: int | None = None, config=None,
                  expect_frames: int | None = None, out_dir=None, fixed_window: bool = False) -> ExportReport:  # fmt: skip
    """Build ``model`` ("videopose3d", "gastnet" or "motionbert") from ``checkout`` and ``checkpoint``, export it
    to ``out`` (default ``<out_dir or 3rdparty/lifting>/<manifest name>.onnx``), verify it and report.
    ``expect_frames``: the window the user means to declare; an export with another receptive field is refused.
    ``fixed_window``: a window model's input fixed to its window (module docstring)."""
    if model not in MODELS:
        raise ExportError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    checkout = Path(checkout).expanduser()
    if not checkout.is_dir():
        raise ExportError(f"checkout {checkout} is not a folder")
    import torch

    torch.manual_seed(0)
    if model == "videopose3d":
        net, frames, hyper = build_videopose3d(checkout, checkpoint, allow_pickle, dense)
    elif model == "gastnet":
        net, frames, hyper = build_gastnet(checkout, checkpoint, allow_pickle)
    else:
        net, frames, hyper = build_motionbert(checkout, checkpoint, allow_pickle, clip, config)
    if expect_frames is not None and frames != expect_frames:
        raise ExportError(f"checkpoint {checkpoint} gives a {MODELS[model].kind} of {frames} frames "
                          f"({hyper}), not the {expect_frames} asked for")  # fmt: skip
    spec = MODELS[model]
    if out is None:
        from pose_pipeline.weights import THIRD_PARTY

        out = Path(out_dir or THIRD_PARTY / "lifting") / f"{name or spec.manifest_name.format(frames=frames)}.onnx"
    sequence = spec.kind == "window" and not fixed_window
    path = export_onnx(net, spec.kind, frames, Path(out), dynamic_frames=sequence)
    diff = verify(net, path, spec.kind, frames, tolerance, sequence)
    entry = manifest_entry(model, path, frames, hyper, checkpoint, name, sequence)
    return ExportReport(path, entry["sha256"], entry["size"], frames, diff, hyper, entry, sequence)
