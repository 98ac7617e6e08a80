"""Small ONNX models made here, with the interface of top-down pose exports (RTMPose SimCC, ViTPose/HRNet heatmaps).

``centroid_model`` finds bright blobs in its input crop and reports where they are, so cropping, the affine map,
normalisation and decoding can be checked against known positions. Input ``input`` float32 [N, 3, H, W] (the
normalised crop); per channel c it undoes the normalisation it expects, ``raw = x * std[c] + mean[c]``, weighs
pixels by ``w = relu(raw - threshold)`` and takes the weighted centroid ``(cx_c, cy_c)`` in input pixels and the
peak ``p_c = max(w) / (255 - threshold)``. Joint j reports channel ``j % 3``:

- ``kind="simcc"``: outputs ``simcc_x`` [N, J, W k] and ``simcc_y`` [N, J, H k], zero except bin
  ``round(cx k)`` (resp. ``round(cy k)``), whose value is ``p`` (resp. ``y_factor * p``);
- ``kind="heatmap"``: output ``heatmaps`` [N, J, H / stride, W / stride], a Gaussian of ``sigma`` cells and height
  ``p`` centred on the centroid in heatmap cells: ``cx / stride`` (MSRA) or ``cx (W_hm - 1) / (W - 1)`` (UDP).

A red blob on black is then found by joints 0, 3, ...; green by 1, 4, ...; blue by 2, 5, ... . Feeding BGR, or the
wrong mean or std, moves or mixes the centroids.

``probe_model`` reports the mean of the normalised input instead: joint j's peak value is
``scale[j] * mean(x[:, j % 3]) + offset[j]`` (``simcc_y``: plus ``y_delta[j]``), at the centre bin or cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def _save(nodes, inputs, outputs, constants, path, name) -> Path:
    import onnx
    from onnx import helper, numpy_helper

    graph = helper.make_graph(
        nodes, name, inputs, outputs, initializer=[numpy_helper.from_array(v, k) for k, v in constants.items()]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pose_pipeline tests")
    model.ir_version = 8  # readable by onnxruntime releases from 1.14 on
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path


def _input(batch, input_size, input_name="input"):
    from onnx import TensorProto, helper

    width, height = input_size
    return helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, height, width])


def _outputs(kind, batch, n_joints, input_size, split_ratio, stride, dynamic):
    from onnx import TensorProto, helper

    width, height = input_size
    if kind == "simcc":
        sizes = {"simcc_x": [n_joints, int(width * split_ratio)], "simcc_y": [n_joints, int(height * split_ratio)]}
        if dynamic:
            sizes = {"simcc_x": ["joints", "length_x"], "simcc_y": ["joints", "length_y"]}
        return [helper.make_tensor_value_info(k, TensorProto.FLOAT, [batch, *v]) for k, v in sizes.items()]
    shape = [n_joints, height // stride, width // stride] if not dynamic else ["joints", "hm_height", "hm_width"]
    return [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [batch, *shape])]


def centroid_model(
    path,
    *,
    kind: str = "simcc",
    input_size: tuple[int, int] = (192, 256),
    n_joints: int = 17,
    split_ratio: float = 2.0,
    stride: int = 4,
    udp: bool = False,
    sigma: float = 2.0,
    mean: Sequence[float] = MEAN,
    std: Sequence[float] = STD,
    threshold: float = 20.0,
    y_factor: float = 0.9,
    batch: int | str = "batch",
    dynamic_outputs: bool = False,
) -> Path:
    """Write a centroid model (see the module docstring) to ``path``; ``input_size`` is (W, H)."""
    from onnx import helper

    width, height = input_size
    gather = np.array([j % 3 for j in range(n_joints)], np.int64)
    constants = {
        "std": np.array(std, np.float32).reshape(1, 3, 1, 1),
        "mean": np.array(mean, np.float32).reshape(1, 3, 1, 1),
        "threshold": np.array([threshold], np.float32),
        "grid_x": np.arange(width, dtype=np.float32).reshape(1, 1, 1, width),
        "grid_y": np.arange(height, dtype=np.float32).reshape(1, 1, height, 1),
        "axes_hw": np.array([2, 3], np.int64),
        "eps": np.array([1e-6], np.float32),
        "peak_scale": np.array([1.0 / (255.0 - threshold)], np.float32),
        "joints": gather,
        "last": np.array([-1], np.int64),
    }
    nodes = [
        helper.make_node("Mul", ["input", "std"], ["raw0"]),
        helper.make_node("Add", ["raw0", "mean"], ["raw"]),
        helper.make_node("Sub", ["raw", "threshold"], ["shifted"]),
        helper.make_node("Relu", ["shifted"], ["w"]),
        helper.make_node("ReduceSum", ["w", "axes_hw"], ["sw0"], keepdims=0),
        helper.make_node("Add", ["sw0", "eps"], ["sw"]),
        helper.make_node("Mul", ["w", "grid_x"], ["wx"]),
        helper.make_node("Mul", ["w", "grid_y"], ["wy"]),
        helper.make_node("ReduceSum", ["wx", "axes_hw"], ["swx"], keepdims=0),
        helper.make_node("ReduceSum", ["wy", "axes_hw"], ["swy"], keepdims=0),
        helper.make_node("Div", ["swx", "sw"], ["cx3"]),  # (N, 3) input pixels
        helper.make_node("Div", ["swy", "sw"], ["cy3"]),
        helper.make_node("ReduceMax", ["w"], ["pk3"], axes=[2, 3], keepdims=0),
        helper.make_node("Gather", ["cx3", "joints"], ["cx"], axis=1),  # (N, J)
        helper.make_node("Gather", ["cy3", "joints"], ["cy"], axis=1),
        helper.make_node("Gather", ["pk3", "joints"], ["pk0"], axis=1),
        helper.make_node("Mul", ["pk0", "peak_scale"], ["peak"]),
        helper.make_node("Unsqueeze", ["peak", "last"], ["peak1"]),  # (N, J, 1)
    ]
    if kind == "simcc":
        lx, ly = int(width * split_ratio), int(height * split_ratio)
        constants |= {
            "k": np.array([split_ratio], np.float32),
            "bins_x": np.arange(lx, dtype=np.float32),
            "bins_y": np.arange(ly, dtype=np.float32),
            "y_factor": np.array([y_factor], np.float32),
        }
        for axis in ("x", "y"):
            nodes += [
                helper.make_node("Mul", [f"c{axis}", "k"], [f"b{axis}0"]),
                helper.make_node("Round", [f"b{axis}0"], [f"b{axis}"]),
                helper.make_node("Unsqueeze", [f"b{axis}", "last"], [f"b{axis}1"]),
                helper.make_node("Equal", [f"b{axis}1", f"bins_{axis}"], [f"hot{axis}"]),
                helper.make_node("Cast", [f"hot{axis}"], [f"onehot_{axis}"], to=1),
            ]
        nodes += [
            helper.make_node("Mul", ["onehot_x", "peak1"], ["simcc_x"]),
            helper.make_node("Mul", ["peak1", "y_factor"], ["peak_y"]),
            helper.make_node("Mul", ["onehot_y", "peak_y"], ["simcc_y"]),
        ]
    elif kind == "heatmap":
        hw, hh = width // stride, height // stride
        fx = (hw - 1) / (width - 1) if udp else 1 / stride
        fy = (hh - 1) / (height - 1) if udp else 1 / stride
        constants |= {
            "fx": np.array([fx], np.float32),
            "fy": np.array([fy], np.float32),
            "cells_x": np.arange(hw, dtype=np.float32).reshape(1, 1, 1, hw),
            "cells_y": np.arange(hh, dtype=np.float32).reshape(1, 1, hh, 1),
            "minus_half_over_var": np.array([-0.5 / sigma**2], np.float32),
            "last2": np.array([-1, -2], np.int64),
        }
        nodes += [
            helper.make_node("Mul", ["cx", "fx"], ["hx"]),
            helper.make_node("Mul", ["cy", "fy"], ["hy"]),
            helper.make_node("Unsqueeze", ["hx", "last2"], ["hx2"]),  # (N, J, 1, 1)
            helper.make_node("Unsqueeze", ["hy", "last2"], ["hy2"]),
            helper.make_node("Sub", ["cells_x", "hx2"], ["dx"]),
            helper.make_node("Sub", ["cells_y", "hy2"], ["dy"]),
            helper.make_node("Mul", ["dx", "dx"], ["dx2"]),
            helper.make_node("Mul", ["dy", "dy"], ["dy2"]),
            helper.make_node("Add", ["dx2", "dy2"], ["d2"]),
            helper.make_node("Mul", ["d2", "minus_half_over_var"], ["logg"]),
            helper.make_node("Exp", ["logg"], ["g"]),
            helper.make_node("Unsqueeze", ["peak", "last2"], ["peak2"]),
            helper.make_node("Mul", ["g", "peak2"], ["heatmaps"]),
        ]
    else:
        raise ValueError(f"kind must be 'simcc' or 'heatmap', got {kind!r}")
    outputs = _outputs(kind, batch, n_joints, input_size, split_ratio, stride, dynamic_outputs)
    return _save(nodes, [_input(batch, input_size)], outputs, constants, path, f"centroid_{kind}")


def probe_model(
    path,
    *,
    kind: str = "simcc",
    input_size: tuple[int, int] = (192, 256),
    n_joints: int = 3,
    scale: Sequence[float] = (0.1, 0.1, 0.1),
    offset: Sequence[float] = (0.5, 0.5, 0.5),
    y_delta: Sequence[float] | None = None,
    split_ratio: float = 2.0,
    stride: int = 4,
    batch: int | str = "batch",
    input_name: str = "input",
) -> Path:
    """Write a probe model (see the module docstring) to ``path``: its peaks report the channel means."""
    from onnx import helper

    width, height = input_size
    gather = np.array([j % 3 for j in range(n_joints)], np.int64)
    constants = {
        "joints": gather,
        "scale": np.array(scale, np.float32).reshape(1, n_joints),
        "offset": np.array(offset, np.float32).reshape(1, n_joints),
        "last": np.array([-1], np.int64),
    }
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["m3"], axes=[2, 3], keepdims=0),
        helper.make_node("Gather", ["m3", "joints"], ["m"], axis=1),
        helper.make_node("Mul", ["m", "scale"], ["v0"]),
        helper.make_node("Add", ["v0", "offset"], ["v"]),  # (N, J)
        helper.make_node("Unsqueeze", ["v", "last"], ["v1"]),
    ]
    if kind == "simcc":
        lx, ly = int(width * split_ratio), int(height * split_ratio)
        hot_x, hot_y = np.zeros(lx, np.float32), np.zeros(ly, np.float32)
        hot_x[lx // 2] = hot_y[ly // 2] = 1
        constants |= {
            "hot_x": hot_x,
            "hot_y": hot_y,
            "y_delta": np.array(y_delta if y_delta is not None else [0.0] * n_joints, np.float32).reshape(1, -1, 1),
        }
        nodes += [
            helper.make_node("Mul", ["v1", "hot_x"], ["simcc_x"]),
            helper.make_node("Add", ["v1", "y_delta"], ["vy"]),
            helper.make_node("Mul", ["vy", "hot_y"], ["simcc_y"]),
        ]
    elif kind == "heatmap":
        hot = np.zeros((height // stride, width // stride), np.float32)
        hot[hot.shape[0] // 2, hot.shape[1] // 2] = 1
        constants |= {"hot": hot}
        nodes += [
            helper.make_node("Unsqueeze", ["v1", "last"], ["v2"]),
            helper.make_node("Mul", ["v2", "hot"], ["heatmaps"]),
        ]
    else:
        raise ValueError(f"kind must be 'simcc' or 'heatmap', got {kind!r}")
    outputs = _outputs(kind, batch, n_joints, input_size, split_ratio, stride, False)
    return _save(nodes, [_input(batch, input_size, input_name)], outputs, constants, path, f"probe_{kind}")
