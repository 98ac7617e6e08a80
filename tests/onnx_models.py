"""Small ONNX models made here, with the interface of mmdeploy's end2end detector exports, for tests.

``probe_detector`` writes a model with input ``input`` float32 [N, 3, H, W] and outputs ``dets`` [N, K, 5] and
``labels`` [N, K] whose boxes are fixed (model-input pixels) and whose scores are computed from the input tensor:

    features = [mean of each channel over the whole input (3), mean of each channel over its top-left 8x8 (3)]
    s = sigmoid(weights . features + bias)

so channel order, normalisation, the pad value, the resized size and where the image sits in the input all change
``s``. Row k of ``dets`` has score ``s * score_scale[k] + score_offset[k]``: a row can follow ``s``, be a
constant (e.g. a confident non-person), or be an all-zero padding row like mmdeploy's. ``probe_score`` gives the
same ``s`` from the features, for expected values computed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

CORNER = 8  # the top-left CORNER x CORNER block of the input is the second feature


def probe_score(
    mean_all: Sequence[float], mean_corner: Sequence[float], weights: Sequence[float], bias: float
) -> float:
    """The probe model's ``s`` for given per-channel means (channel order as fed to the model)."""
    z = float(np.dot(weights, np.concatenate([mean_all, mean_corner]))) + bias
    return 1.0 / (1.0 + np.exp(-z))


def probe_detector(
    path,
    *,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[int],
    score_scale: Sequence[float],
    score_offset: Sequence[float],
    weights: Sequence[float] = (0.02, -0.01, 0.005, 0.03, -0.02, 0.01),
    bias: float = -1.0,
    input_size: tuple[int, int] | None = (640, 640),
    batch: int | str = "batch",
    input_name: str = "input",
    channels: int = 3,
) -> Path:
    """Write a probe detector (see the module docstring) to ``path`` and return the path.

    ``boxes`` (K, 4) x1, y1, x2, y2 in model-input pixels; ``labels`` (K,); ``input_size`` (width, height), or None
    for dynamic height and width; ``batch`` an int for a fixed batch size or a name for a dynamic one.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = len(boxes)
    if not (len(labels) == len(score_scale) == len(score_offset) == k):
        raise ValueError("boxes, labels, score_scale and score_offset need one entry per row")
    height, width = (input_size[1], input_size[0]) if input_size else ("height", "width")
    constants = {
        "w": np.array(weights, np.float32).reshape(2 * channels, 1),
        "b": np.array([bias], np.float32),
        "corner_starts": np.array([0, 0], np.int64),
        "corner_ends": np.array([CORNER, CORNER], np.int64),
        "corner_axes": np.array([2, 3], np.int64),
        "zero": np.array([0.0], np.float32),
        "shape_b11": np.array([-1, 1, 1], np.int64),
        "shape_bk1": np.array([0, k, 1], np.int64),
        "boxes": np.array(boxes, np.float32).reshape(1, k, 4),
        "scale": np.array(score_scale, np.float32).reshape(1, k),
        "offset": np.array(score_offset, np.float32).reshape(1, k),
        "labels_f": np.array(labels, np.float32).reshape(1, k),
    }
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["mean_all"], axes=[2, 3], keepdims=0),
        helper.make_node("Slice", [input_name, "corner_starts", "corner_ends", "corner_axes"], ["corner"]),
        helper.make_node("ReduceMean", ["corner"], ["mean_corner"], axes=[2, 3], keepdims=0),
        helper.make_node("Concat", ["mean_all", "mean_corner"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "w"], ["z0"]),
        helper.make_node("Add", ["z0", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["s"]),  # (N, 1)
        helper.make_node("Mul", ["s", "zero"], ["zeros_n1"]),
        helper.make_node("Reshape", ["zeros_n1", "shape_b11"], ["zeros_n11"]),
        helper.make_node("Add", ["zeros_n11", "boxes"], ["dets_boxes"]),  # (N, K, 4)
        helper.make_node("Mul", ["s", "scale"], ["s_scaled"]),
        helper.make_node("Add", ["s_scaled", "offset"], ["row_scores"]),  # (N, K)
        helper.make_node("Reshape", ["row_scores", "shape_bk1"], ["row_scores3"]),
        helper.make_node("Concat", ["dets_boxes", "row_scores3"], ["dets"], axis=2),
        helper.make_node("Add", ["zeros_n1", "labels_f"], ["labels_nk"]),
        helper.make_node("Cast", ["labels_nk"], ["labels"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes,
        "probe_detector",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, channels, height, width])],
        [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, [batch, k, 5]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [batch, k]),
        ],
        initializer=[numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pose_pipeline tests")
    model.ir_version = 8  # readable by onnxruntime releases from 1.14 on
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path
