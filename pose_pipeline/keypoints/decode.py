"""Decoding model outputs to keypoints in model-input pixels, as mmpose 1.x's codecs do (batched over crops).

- SimCC (RTMPose, RTMW; mmpose ``SimCCLabel.decode`` with ``use_dark=False``, rtmlib ``get_simcc_maximum``): the
  argmax of each 1D vector ``simcc_x`` (B, J, W k) and ``simcc_y`` (B, J, H k), divided by the split ratio ``k``;
  the confidence is the smaller of the two maxima. RTMPose's heads are trained with ``normalize=False`` (unnormalised
  Gaussian labels peaking at 1), so the maxima are roughly in [0, 1] but not bounded: we clip them to [0, 1].
- Heatmaps, MSRA style (HRNet, SimpleBaseline; ``MSRAHeatmap.decode`` with ``unbiased=False``): the argmax cell,
  moved a quarter cell toward the higher neighbour on each axis (``refine_keypoints``), times the stride
  (input size / heatmap size, 4). Not DARK.
- Heatmaps, UDP (ViTPose; ``UDPHeatmap.decode``, gaussian): the argmax cell refined by DARK on the log of the
  Gaussian-blurred heatmap (``refine_keypoints_dark_udp``, blur kernel 11 for sigma 2), then scaled by
  ``(W - 1) / (W_hm - 1)``: heatmap cell 0 is input pixel 0 and the last cell the last pixel.

Heatmap confidence is the peak value, clipped to [0, 1]. Where mmpose marks a joint as not found (its maximum is
<= 0; mmpose then returns -1 as the location) x and y are NaN and the confidence 0.
"""

from __future__ import annotations

import cv2
import numpy as np

DECODERS = ("simcc", "msra", "udp")


def simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax bins (B, J, 2) and the smaller of the two maxima (B, J) of SimCC vectors (B, J, Lx), (B, J, Ly)."""
    x = np.argmax(simcc_x, axis=-1)
    y = np.argmax(simcc_y, axis=-1)
    values = np.minimum(np.max(simcc_x, axis=-1), np.max(simcc_y, axis=-1))
    return np.stack([x, y], axis=-1).astype(np.float64), values.astype(np.float64)


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = 2.0) -> np.ndarray:
    """Keypoints (B, J, 3): x, y in model-input pixels (bin / ``split_ratio``) and confidence in [0, 1]."""
    locations, values = simcc_maximum(np.asarray(simcc_x), np.asarray(simcc_y))
    return _finish(locations / split_ratio, values)


def heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax cells (B, J, 2) as x, y and peak values (B, J) of heatmaps (B, J, H, W) (first maximum wins)."""
    b, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, j, h * w)
    index = np.argmax(flat, axis=-1)
    y, x = np.unravel_index(index, (h, w))
    return np.stack([x, y], axis=-1).astype(np.float64), np.max(flat, axis=-1).astype(np.float64)


def refine_quarter(locations: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move each argmax cell a quarter cell toward its higher neighbour on each axis (mmpose ``refine_keypoints``).

    mmpose's bounds are kept as they are: x is refined only where ``1 < x < W - 1`` and ``0 < y``, y only where
    ``1 < y < H - 1`` and ``0 < x`` (so cell 1 and anything on row or column 0 is not moved); a tie moves nothing.
    """
    b, j, h, w = heatmaps.shape
    x = locations[..., 0].astype(int)
    y = locations[..., 1].astype(int)
    bi, ji = np.meshgrid(np.arange(b), np.arange(j), indexing="ij")
    ok_x = (x > 1) & (x < w - 1) & (y > 0)
    ok_y = (y > 1) & (y < h - 1) & (x > 0)
    xc, yc = np.clip(x, 1, w - 2), np.clip(y, 1, h - 2)
    dx = heatmaps[bi, ji, y, xc + 1] - heatmaps[bi, ji, y, xc - 1]
    dy = heatmaps[bi, ji, yc + 1, x] - heatmaps[bi, ji, yc - 1, x]
    shift = np.stack([np.where(ok_x, np.sign(dx), 0.0), np.where(ok_y, np.sign(dy), 0.0)], axis=-1)
    return locations + 0.25 * shift


def gaussian_blur(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """mmpose's ``gaussian_blur``: each (H, W) map blurred with zero padding, rescaled to keep its maximum."""
    border = (kernel - 1) // 2
    out = np.empty(heatmaps.shape, np.float32)
    for index in np.ndindex(heatmaps.shape[:-2]):
        heatmap = heatmaps[index].astype(np.float32)
        peak = heatmap.max()
        padded = np.pad(heatmap, border)
        blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[border:-border, border:-border]
        top = blurred.max()
        out[index] = blurred * (peak / top) if top != 0 else blurred
    return out


def refine_dark_udp(locations: np.ndarray, heatmaps: np.ndarray, blur_kernel_size: int = 11) -> np.ndarray:
    """DARK refinement for UDP heatmaps (mmpose ``refine_keypoints_dark_udp``): one Newton step on the log of the
    blurred heatmap (clipped to [1e-3, 50]) from the argmax cell, with edge-padded finite differences."""
    b, j, h, w = heatmaps.shape
    logs = np.log(np.clip(gaussian_blur(heatmaps, blur_kernel_size), 1e-3, 50.0)).astype(np.float64)
    padded = np.pad(logs, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    x = np.clip(locations[..., 0].astype(int), 0, w - 1) + 1
    y = np.clip(locations[..., 1].astype(int), 0, h - 1) + 1
    bi, ji = np.meshgrid(np.arange(b), np.arange(j), indexing="ij")

    def at(dy: int, dx: int) -> np.ndarray:
        return padded[bi, ji, y + dy, x + dx]

    centre = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = at(0, 1) - 2 * centre + at(0, -1)
    dyy = at(1, 0) - 2 * centre + at(-1, 0)
    dxy = 0.5 * (at(1, 1) - at(0, 1) - at(1, 0) + 2 * centre - at(0, -1) - at(-1, 0) + at(-1, -1))
    hessian = np.stack([np.stack([dxx, dxy], -1), np.stack([dxy, dyy], -1)], -2)
    hessian = hessian + np.finfo(np.float32).eps * np.eye(2)
    step = np.linalg.solve(hessian, np.stack([dx, dy], -1)[..., None])[..., 0]
    return locations - step


def decode_heatmaps(
    heatmaps: np.ndarray, input_size: tuple[int, int], mode: str = "msra", blur_kernel_size: int = 11
) -> np.ndarray:
    """Keypoints (B, J, 3): x, y in model-input pixels and confidence in [0, 1], from heatmaps (B, J, H, W).

    ``mode``: ``"msra"`` (argmax + quarter shift, times input / heatmap size) or ``"udp"`` (argmax + DARK-UDP, times
    (input - 1) / (heatmap - 1)); ``input_size`` is the model input's (W, H).
    """
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    h, w = heatmaps.shape[-2:]
    locations, values = heatmap_maximum(heatmaps)
    if mode == "msra":
        locations = refine_quarter(locations, heatmaps) * [input_size[0] / w, input_size[1] / h]
    elif mode == "udp":
        locations = refine_dark_udp(locations, heatmaps, blur_kernel_size)
        locations = locations * [(input_size[0] - 1) / (w - 1), (input_size[1] - 1) / (h - 1)]
    else:
        raise ValueError(f"unknown heatmap decoder {mode!r}; use 'msra' or 'udp'")
    return _finish(locations, values)


def _finish(locations: np.ndarray, values: np.ndarray) -> np.ndarray:
    found = values > 0
    keypoints = np.empty((*values.shape, 3))
    keypoints[..., :2] = np.where(found[..., None], locations, np.nan)
    keypoints[..., 2] = np.where(found, np.clip(values, 0.0, 1.0), 0.0)
    return keypoints
