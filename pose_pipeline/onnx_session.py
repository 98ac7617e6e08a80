"""Opening ONNX models with onnxruntime, the same way for every wrapper: CUDA when present, CPU otherwise."""

from __future__ import annotations

from pathlib import Path


def open_session(model_path: Path, device: str = "auto", threads: int = 0):
    """An ``onnxruntime.InferenceSession`` for ``model_path`` and the provider it runs on.

    ``device``: ``"auto"`` (CUDA if onnxruntime offers it, else CPU), ``"cpu"`` or ``"cuda"`` (an error if CUDA is
    not there or the session falls back to the CPU). ``threads`` > 0 sets intra-op threads.
    """
    import onnxruntime as ort  # heavy: only when a model is opened

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
    provider = session.get_providers()[0]
    if device == "cuda" and provider != "CUDAExecutionProvider":
        raise RuntimeError(f"device='cuda' but onnxruntime fell back to {provider} for {model_path}")
    return session, provider
