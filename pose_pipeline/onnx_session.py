"""Opening ONNX models with onnxruntime, the same way for every wrapper: CUDA when present, CPU otherwise."""

from __future__ import annotations

from pathlib import Path


def open_session(model_path: Path, device: str = "auto", threads: int = 0):
    """An ``onnxruntime.InferenceSession`` for ``model_path`` and the provider it runs on.

    ``device``: ``"auto"`` (CUDA if onnxruntime offers it, else CPU), ``"cpu"`` or ``"cuda"`` (an error if CUDA is
    not there or the session falls back to the CPU). ``threads`` > 0 sets intra-op threads.
    """
    import onnxruntime as ort  # heavy: only when a model is opened

    from .weights import note_model_file

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = int(threads)
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise RuntimeError(f"device='cuda' but onnxruntime offers only {available} (install onnxruntime-gpu)")
    use_cuda = device != "cpu" and "CUDAExecutionProvider" in available
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types for unreadable models
        raise ValueError(f"cannot load ONNX model {model_path}: {error}") from error
    note_model_file(model_path)
    provider = session.get_providers()[0]
    if device == "cuda" and provider != "CUDAExecutionProvider":
        raise RuntimeError(f"device='cuda' but onnxruntime fell back to {provider} for {model_path}")
    return session, provider


def static_dim(dim) -> int | None:
    """A tensor dimension as an int when the model fixes it, None when it is symbolic (e.g. a dynamic batch)."""
    return dim if isinstance(dim, int) and dim > 0 else None


def input_geometry(shape, model_path, input_size=None, fallback=None) -> tuple[int | None, tuple[int, int]]:
    """The fixed batch size (None: dynamic) and (width, height) of an NCHW image input of shape ``shape``.

    A size fixed by the model wins (a different ``input_size`` is an error); a dynamic one takes ``input_size``,
    else ``fallback``.
    """
    height, width = static_dim(shape[2]), static_dim(shape[3])
    if height and width:
        if input_size is not None and tuple(input_size) != (width, height):
            raise ValueError(f"ONNX model {model_path} has a fixed input of {width}x{height}, input_size={input_size}")
        return static_dim(shape[0]), (width, height)
    size = input_size or fallback
    return static_dim(shape[0]), (int(size[0]), int(size[1]))
