"""DeepLabCut, imported offline and ready for the project's backbones.

DeepLabCut is an optional extra (``pip install "pose_pipeline[dlc]"``; the install route is in docs/deeplabcut.md).
It is imported here and nowhere at module level, so the rest of the pipeline runs without it. Importing it sets
``HF_HUB_OFFLINE``: training must never fetch hub weights (every model here gets an explicit ``weight_init``).
"""

from __future__ import annotations

import os

INSTALL_HINT = 'DeepLabCut is not installed: pip install -e ".[dlc]" (see docs/deeplabcut.md)'


def require_deeplabcut():
    """Import and return ``deeplabcut`` with hub downloads disabled and the project's timm backbone registered."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import deeplabcut
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    from .backbones import register_timm_backbone

    register_timm_backbone()
    return deeplabcut


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` is the first CUDA GPU when torch sees one, else the CPU; ``"cuda"`` without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch sees no CUDA GPU (torch {torch.__version__})")
    return device


class PeakMemory:
    """Peak memory of the work inside the block on ``device``: GPU memory allocated by torch (its own counter), or
    on the CPU the rise of this process's peak resident memory over its level at entry. Linux resets the peak
    (``VmHWM``) when "5" is written to /proc/self/clear_refs, which costs nothing while the work runs; where that
    is refused, /proc is sampled every 50 ms instead (a sampling thread slows training measurably)."""

    def __init__(self, device: str, interval: float = 0.05):
        self.device, self.interval, self.mb = device, interval, float("nan")

    def __enter__(self):
        import threading

        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._base = _status_bytes("VmRSS")
        self._thread = None
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
        except OSError:
            self._peak = self._base
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _status_bytes("VmRSS"))

    def __exit__(self, *exc):
        if self.device.startswith("cuda"):
            import torch

            self.mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        elif self._thread is None:
            self.mb = (_status_bytes("VmHWM") - self._base) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.mb = (max(self._peak, _status_bytes("VmRSS")) - self._base) / 2**20
        return False


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise OSError(f"/proc/self/status has no {field}")
