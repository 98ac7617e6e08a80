"""Static textured background: the inside of a box-shaped room seen through the scene camera.

The room is centred on the world origin: floor z = 0, ceiling z = height, walls at x = +-half_x and
y = +-half_y. Every pixel's viewing ray is intersected with the room's planes; the nearest hit decides the
surface and its texture (floor tiles, wall panels with a skirting board, a rail and posters, a plain ceiling).
All textures are functions of world coordinates drawn from the seed, so the background is deterministic and
geometrically consistent with the camera (floor tiles converge to the horizon).
The camera is expected to be inside the room.
"""

from __future__ import annotations

import cv2
import numpy as np

from .camera import Camera

TILE = 0.5  # floor tile size, metres
PANEL = 1.2  # wall panel width, metres

# Muted palettes so that clothing colours stand out, as in most real footage.
FLOOR_COLOURS = ((128, 132, 136), (140, 128, 112), (112, 122, 128), (120, 116, 108))
WALL_COLOURS = ((170, 176, 168), (182, 172, 156), (150, 162, 170), (176, 168, 176), (160, 170, 150))
CEILING_COLOUR = (205, 205, 200)


def _sample(table: np.ndarray, x: np.ndarray, y: np.ndarray, cell: float, smooth: bool) -> np.ndarray:
    """Texture lookup at world coordinates (x, y) with lattice spacing ``cell`` metres, tiling ``table``:
    nearest cell (piecewise constant, e.g. per-tile tints) or bilinear (smooth value noise)."""
    map_x, map_y = np.floor(x / cell) if not smooth else x / cell, np.floor(y / cell) if not smooth else y / cell
    interpolation = cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST
    return cv2.remap(
        table, map_x.astype(np.float32), map_y.astype(np.float32), interpolation, borderMode=cv2.BORDER_WRAP
    )


def render_background(camera: Camera, seed: int = 0, room=(8.0, 6.0, 3.0)) -> np.ndarray:
    """RGB uint8 image (height, width, 3) of the room seen by ``camera``; ``room`` = (half_x, half_y, height)."""
    rng = np.random.default_rng([seed, 0xB6])
    half_x, half_y, room_height = room
    u = np.arange(camera.width, dtype=np.float32)[None, :, None]
    v = np.arange(camera.height, dtype=np.float32)[:, None, None]
    # Ray directions d = R^T K^-1 (u, v, 1), built by broadcasting (float32: this runs on millions of pixels).
    columns = (camera.R.T @ np.linalg.inv(camera.K)).astype(np.float32)
    d = u * columns[:, 0] + v * columns[:, 1] + columns[:, 2]
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    o = camera.center.astype(np.float32)

    # Along each axis only one of the two walls lies ahead; the nearest of the three hits is the visible surface.
    low = np.array([-half_x, -half_y, 0.0], dtype=np.float32)
    high = np.array([half_x, half_y, room_height], dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        hits = np.where(d > 0, high - o, low - o) / d
    hits = np.where(np.isfinite(hits) & (hits > 0), hits, np.inf)
    axis = np.argmin(hits, axis=-1)
    dist = np.take_along_axis(hits, axis[..., None], axis=-1)[..., 0]
    dist = np.where(np.isfinite(dist), dist, 50.0)
    ahead = np.take_along_axis(d, axis[..., None], axis=-1)[..., 0] > 0
    # Surfaces: 0 floor, 1 ceiling, 2 / 3 walls x = -half_x / +half_x, 4 / 5 walls y = -half_y / +half_y.
    surface = np.where(axis == 2, ahead.astype(np.int64), 2 + 2 * axis + ahead)
    p = o + d * dist[..., None]
    x, y, z = p[..., 0], p[..., 1], p[..., 2]

    image = np.empty(x.shape + (3,), dtype=np.float32)
    lattice = rng.random((64, 64), dtype=np.float32)

    # Floor: tiles with per-tile brightness, dark grout lines and smooth dirt.
    floor = surface == 0
    tile_tint = 0.85 + 0.3 * rng.random((64, 64), dtype=np.float32)
    grout = (np.mod(x, TILE) < 0.015) | (np.mod(y, TILE) < 0.015)
    floor_shade = _sample(tile_tint, x, y, TILE, smooth=False) * np.where(grout, 0.6, 1.0)
    floor_shade *= 0.85 + 0.3 * _sample(lattice, x, y, 0.7, smooth=True)
    floor_colour = np.array(FLOOR_COLOURS[rng.integers(len(FLOOR_COLOURS))], dtype=np.float32)
    np.copyto(image, floor_shade[..., None] * floor_colour, where=floor[..., None])

    # Walls: one colour each, panels, skirting board, rail, and a few posters.
    along = np.where(axis == 0, y, x)  # horizontal coordinate along the wall
    panel_tint = 0.9 + 0.2 * rng.random((1, 64), dtype=np.float32)
    wall_shade = _sample(panel_tint, along, np.zeros_like(along), PANEL, smooth=False)
    wall_shade *= np.where(np.mod(along, PANEL) < 0.02, 0.75, 1.0)
    wall_shade *= np.where(z < 0.12, 0.55, 1.0) * np.where(np.abs(z - 1.0) < 0.03, 0.7, 1.0)
    wall_shade *= 0.9 + 0.2 * _sample(lattice, along, z, 0.9, smooth=True)
    flat_image, flat_surface = image.reshape(-1, 3), surface.ravel()
    for wall in range(2, 6):
        pixels = np.flatnonzero(flat_surface == wall)  # work on this wall's pixels only
        w_along, w_z = along.ravel()[pixels], z.ravel()[pixels]
        colour = np.array(WALL_COLOURS[rng.integers(len(WALL_COLOURS))], dtype=np.float32)
        values = wall_shade.ravel()[pixels, None] * colour
        span = half_y if wall in (2, 3) else half_x
        for _ in range(rng.integers(2, 5)):
            width, height = rng.uniform(0.4, 1.2), rng.uniform(0.4, 0.9)
            left, bottom = rng.uniform(-span + 0.2, span - 0.2 - width), rng.uniform(1.2, 2.6 - height)
            poster = (w_along > left) & (w_along < left + width) & (w_z > bottom) & (w_z < bottom + height)
            base = rng.uniform(60, 200, 3)
            stripes = 0.8 + 0.2 * np.mod(np.floor((w_z[poster] - bottom) / rng.uniform(0.05, 0.2)), 2)
            values[poster] = stripes[:, None] * (0.7 * base + 0.3 * base.mean())
        flat_image[pixels] = values

    np.copyto(image, np.array(CEILING_COLOUR, dtype=np.float32), where=(surface == 1)[..., None])

    image *= (1.1 / (1.0 + 0.015 * dist))[..., None]  # gentle fall-off with distance
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
