"""Small ONNX models made here with the interface of windowed lifter exports (VideoPose3D-style).

``probe_lifter`` reads its input back out, so normalisation, padding and flip can be checked by hand: input
``input`` float32 [N, W, 17, 2] (W fixed, or dynamic with ``dynamic=True``); output ``output`` [N, 1, 17, 3] with,
for each joint, x, y = the centre frame's input times ``scale`` and z = ``scale`` times the mean over the window
of the input x. ``sequence_lifter`` returns one frame per input frame ([N, W, 17, 3]): a model made for whole
clips, which the windowed wrapper must refuse.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(nodes, inputs, outputs, constants, path) -> Path:
    import onnx
    from onnx import helper, numpy_helper

    graph = helper.make_graph(
        nodes, "lifter", inputs, outputs, initializer=[numpy_helper.from_array(v, k) for k, v in constants.items()]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pose_pipeline tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return Path(path)


def probe_lifter(path, window: int = 5, scale: float = 1.0, dynamic: bool = False) -> Path:
    from onnx import TensorProto, helper

    frames = "frames" if dynamic else window
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", frames, 17, 2])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, 17, 3])]
    constants = {
        "centre": np.array(window // 2, np.int64),
        "x_start": np.array([0], np.int64),
        "x_end": np.array([1], np.int64),
        "x_axis": np.array([2], np.int64),  # the channel axis of the [N, 17, 2] window mean
        "scale": np.array(scale, np.float32),
        "unsqueeze_axes": np.array([1], np.int64),
    }
    nodes = [
        helper.make_node("Gather", ["input", "centre"], ["centre_frame"], axis=1),  # [N, 17, 2]
        helper.make_node("ReduceMean", ["input"], ["window_mean"], axes=[1], keepdims=0),  # [N, 17, 2]
        helper.make_node("Slice", ["window_mean", "x_start", "x_end", "x_axis"], ["z"]),  # [N, 17, 1]
        helper.make_node("Concat", ["centre_frame", "z"], ["joints"], axis=2),  # [N, 17, 3]
        helper.make_node("Mul", ["joints", "scale"], ["scaled"]),
        helper.make_node("Unsqueeze", ["scaled", "unsqueeze_axes"], ["output"]),
    ]
    return _save(nodes, inputs, outputs, constants, path)


def sequence_lifter(path) -> Path:
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "frames", 17, 2])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", "frames", 17, 3])]
    constants = {"pads": np.array([0, 0, 0, 0, 0, 0, 0, 1], np.int64)}
    nodes = [helper.make_node("Pad", ["input", "pads"], ["output"])]
    return _save(nodes, inputs, outputs, constants, path)


def expected_probe(normalised_segment: np.ndarray, window: int, scale: float = 1.0) -> np.ndarray:
    """What `probe_lifter` returns for each frame of a normalised segment (frames, 17, 2), by explicit loops."""
    pad = window // 2
    n = len(normalised_segment)
    out = np.zeros((n, 17, 3))
    for t in range(n):
        idx = [min(max(i, 0), n - 1) for i in range(t - pad, t + pad + 1)]  # edge padding
        out[t, :, :2] = normalised_segment[t]
        out[t, :, 2] = normalised_segment[idx, :, 0].mean(axis=0)
    return out * scale


def identity_clip_lifter(path, clip: int = 9) -> Path:
    """A whole-clip model that returns its input: [N, clip, 17, 3] -> the same (x, y normalised, confidence as z)."""
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", clip, 17, 3])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", clip, 17, 3])]
    return _save([helper.make_node("Identity", ["input"], ["output"])], inputs, outputs, {}, path)
