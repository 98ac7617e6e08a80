"""Synthetic "skilled reaching" frames in the spirit of the rodent staircase test, with exact ground truth.

A paw on a forearm reaches down from the top of the image towards a pellet lying in the well of one step of a
staircase, and back. Frames are independent samples of that continuous reach, so a training set drawn from them
is varied; each frame also gets its own background texture offset, brightness gain and pixel noise.

Painter's algorithm, back to front, one layer per object: background, the steps behind, the pellet, the paw
(forearm, palm, digits), then the lip of the pellet's step (its rim and front face), which hides the digits when
they dip into the well. Every shape is drawn into the image and, with the same call, into a coverage mask, so
each pixel records the last layer that painted it (any anti-aliased coverage counts). A keypoint is occluded when
its pixel was painted by a later layer than its own: the labels come from the rendering itself.

Pixels: (x, y) = (column, row), pixel centres at integer coordinates (OpenCV's and DeepLabCut's convention).
Shapes are placed with 1/16 pixel precision and the keypoints are exactly the drawn points (line end points,
centres), quantised the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .background import _sample
from .render import ONE, SHIFT, _fixed

REACHING_BODYPARTS: tuple[str, ...] = ("wrist", "palm", "digit1", "digit2", "digit3", "digit4", "pellet")
REACHING_SKELETON: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (1, 3), (1, 4), (1, 5))
N_DIGITS = 4

# Colours (RGB) before the per-frame gain and noise; hues far enough apart to tell the parts by colour.
BACKGROUND = (46, 40, 36)
TREAD = (84, 84, 92)  # step tops
STEP = (150, 150, 150)  # step front faces and lips (and the patches of ``occlude``)
PELLET = (240, 226, 170)
ARM = (150, 122, 104)
PAW = (230, 160, 170)
DIGIT = (200, 70, 100)

# Layers in drawing order; a pixel's layer is the last one that painted it.
LAYER_BACKGROUND, LAYER_STEPS, LAYER_PELLET, LAYER_PAW, LAYER_LIP = range(5)
KEYPOINT_LAYERS = np.array([LAYER_PAW] * (2 + N_DIGITS) + [LAYER_PELLET], dtype=np.uint8)

GAIN_RANGE = (0.85, 1.15)  # per-frame brightness gain
NOISE_SIGMA = 3.0  # per-pixel Gaussian noise, grey levels
TEXTURE_PAD = 64  # textures and noise are this much larger than a frame; each frame takes a random offset crop
MAX_TILT = np.radians(40)  # the reach at full extension is at most this far from straight down

# Paw geometry in pixels at 128 px (scaled with the image): palm ellipse semi-axes, digit length and spread.
PAW_AXES = (8.0, 5.5)
DIGIT_LENGTH = 6.5
DIGIT_ANGLES = np.array([-0.75, -0.25, 0.25, 0.75])  # fan of the digits, times the spread (radians)
DIGIT_SCALE = np.array([0.85, 1.0, 1.0, 0.85])  # outer digits are shorter
SPREAD = 1.1


@dataclass(frozen=True)
class ReachingFrames:
    """Rendered frames with ground truth; N frames, J = len(bodyparts) keypoints."""

    images: np.ndarray  # (N, H, W, 3) uint8 RGB
    keypoints: np.ndarray  # (N, J, 2) float64 x, y pixels, pixel centres at integers; NaN outside the image
    visibility: np.ndarray  # (N, J) int8: 0 outside the image, 1 occluded, 2 visible
    bodyparts: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Step:
    """One step of the staircase, in whole pixels: columns [x0, x1), tread rows [top, edge), face [edge, bottom)."""

    x0: int
    x1: int
    top: int
    edge: int
    bottom: int


class PawPose(NamedTuple):
    """Where the paw's shapes are at one instant (pixels, quantised to the drawing precision)."""

    anchor: np.ndarray  # (2,) far end of the forearm, outside the image
    wrist: np.ndarray  # (2,) forearm end, inside the palm ellipse
    palm: np.ndarray  # (2,) ellipse centre
    angle: float  # direction the paw points, radians from +x towards +y
    bases: np.ndarray  # (4, 2) digit roots, inside the ellipse
    tips: np.ndarray  # (4, 2) digit tips


def _quantise(points) -> np.ndarray:
    """Round to the 1/16 pixel grid OpenCV draws on, so keypoints equal the drawn points exactly."""
    return np.round(np.asarray(points, dtype=float) * ONE) / ONE


def _unit(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)])


def _paint(image: np.ndarray, layers: np.ndarray, layer: int, shapes) -> None:
    """Draw ``shapes`` ((draw, colour) pairs, ``draw(target, colour)``) into ``image`` and mark every pixel
    they touch, however faintly, as painted by ``layer``."""
    mask = np.zeros(layers.shape, dtype=np.uint8)
    for draw, colour in shapes:
        draw(image, colour)
        draw(mask, 255)
    layers[mask > 0] = layer


def _rectangle(x0: int, y0: int, x1: int, y1: int):
    """Axis-aligned block of whole pixels, columns [x0, x1) and rows [y0, y1) (no anti-aliasing: exact edges)."""

    def draw(target, colour):
        target[y0:y1, x0:x1] = colour

    return draw


def _disc(centre, radius: float):
    def draw(target, colour):
        cv2.circle(target, _fixed(centre), round(radius * ONE), colour, -1, cv2.LINE_AA, SHIFT)

    return draw


def _ellipse(centre, axes, angle: float):
    def draw(target, colour):
        half_axes = (round(axes[0] * ONE), round(axes[1] * ONE))
        cv2.ellipse(target, _fixed(centre), half_axes, np.degrees(angle), 0, 360, colour, -1, cv2.LINE_AA, SHIFT)

    return draw


def _segment(start, end, thickness: int):
    def draw(target, colour):
        cv2.line(target, _fixed(start), _fixed(end), colour, thickness, cv2.LINE_AA, SHIFT)

    return draw


def _staircase(rng: np.random.Generator, width: int, height: int) -> list[_Step]:
    """2-4 steps filling the lower part of the image, top step first, each shifted sideways a little."""
    n_steps = int(rng.integers(2, 5))
    top = height * rng.uniform(0.48, 0.58)
    rows = np.round(np.linspace(top, height, n_steps + 1)).astype(int)
    x0, x1 = width * rng.uniform(0.04, 0.18), width * rng.uniform(0.82, 0.96)
    shift = width * rng.uniform(-0.04, 0.04)
    steps = []
    for k in range(n_steps):
        tread = max(2, round(0.4 * (rows[k + 1] - rows[k])))
        left, right = (int(np.clip(round(x + k * shift), 0, width)) for x in (x0, x1))
        steps.append(_Step(left, right, int(rows[k]), int(rows[k] + tread), int(rows[k + 1])))
    return steps


class ReachingScene:
    """One staircase, pellet and reach trajectory, fixed by the image size (width, height) and the seed.

    ``pose(t)`` and ``frame(t)`` take the time within the reach, ``t`` in [0, 1]: the paw starts retracted at
    t = 0 (above the image or at its top edge), is fully extended over the pellet at t = 0.5 and is back at t = 1.
    """

    def __init__(self, size: tuple[int, int] = (128, 128), seed: int = 0):
        width, height = (int(v) for v in size)
        if width < 16 or height < 16:
            raise ValueError(f"size must be at least 16 x 16 pixels, got {size}")
        self.width, self.height = width, height
        rng = np.random.default_rng([seed, 0x5EA])
        scale = min(width, height) / 128
        self.steps = _staircase(rng, width, height)
        self.target = int(rng.integers(len(self.steps)))
        step = self.steps[self.target]
        rise = max(1, round(2 * scale))  # the rim of the well stands this far above the tread's front edge
        self.lip = (step.x0, step.edge - rise, step.x1, step.bottom)

        self.pellet_radius = 3.0 * scale
        span = step.x1 - step.x0
        pellet_x = rng.uniform(step.x0 + 0.3 * span, step.x1 - 0.3 * span)
        # The pellet's centre pixel stays above the rim (so only the paw can hide it); its bottom sits in the well.
        pellet_y = step.edge - rise - 1 - rng.uniform(0, 0.5) * self.pellet_radius
        self.pellet = _quantise([pellet_x, pellet_y])

        self.paw_axes = (PAW_AXES[0] * scale, PAW_AXES[1] * scale)
        self.digit_length = DIGIT_LENGTH * scale
        self.digit_thickness = max(3, round(2.5 * scale))
        self.arm_thickness = max(3, round(1.3 * self.paw_axes[1]))
        self._plan_reach(rng)

        self._texture = _texture(rng, width + TEXTURE_PAD, height + TEXTURE_PAD, scale)

    def _plan_reach(self, rng: np.random.Generator) -> None:
        """Draw the trajectory: start, sideways wobble, turning, digit flexing, and the fully extended pose, whose
        digit tips dip a little below the rim of the well."""
        side = rng.choice([-1.0, 1.0])
        self.start = np.array(
            [self.pellet[0] + side * self.width * rng.uniform(0.15, 0.35), self.height * rng.uniform(-0.25, -0.05)]
        )
        self.wobble = self.width * rng.uniform(0.03, 0.08)
        self.turn = rng.uniform(-0.4, 0.4)
        self.phases = rng.uniform(0, 2 * np.pi, 3)
        lip_top = self.lip[1]
        reach_tips = np.array(
            [
                self.pellet[0] + rng.uniform(-0.3, 0.3) * self.digit_length,
                lip_top + rng.uniform(0.25, 0.6) * self.digit_length,
            ]
        )
        towards = reach_tips - self.start
        tilt = np.clip(np.arctan2(towards[0], towards[1]), -MAX_TILT, MAX_TILT)
        self.reach_angle = np.pi / 2 - tilt
        self.anchor = _quantise(self.start - _unit(self.reach_angle) * 0.8 * self.height)
        _, _, tips = self._paw_offsets(self._angle(0.5), self._flex(0.5))
        self.target_palm = reach_tips - tips.mean(axis=0)

    def _angle(self, t: float) -> float:
        reach = np.sin(np.pi * t) ** 2
        return self.reach_angle + self.turn * (1 - reach) + 0.15 * np.sin(4 * np.pi * t + self.phases[1])

    def _flex(self, t: float) -> float:
        """How far the digits are curled, 0-1: more at full extension (grasping), with a slow flutter."""
        return 0.55 * np.sin(np.pi * t) ** 2 + 0.225 * (1 + np.sin(6 * np.pi * t + self.phases[2]))

    def _paw_offsets(self, angle: float, flex: float):
        """Wrist, digit roots and tips relative to the palm centre for a paw pointing along ``angle``."""
        forward, across = _unit(angle), _unit(angle + np.pi / 2)
        a, b = self.paw_axes
        wrist = -0.75 * a * forward
        fan = DIGIT_ANGLES * SPREAD * (1 - 0.35 * flex)
        bases = 0.7 * a * np.cos(fan)[:, None] * forward + 0.7 * b * np.sin(fan)[:, None] * across
        directions = np.stack([_unit(angle + 0.8 * f) for f in fan])
        lengths = self.digit_length * DIGIT_SCALE * (1 - 0.3 * flex)
        return wrist, bases, bases + lengths[:, None] * directions

    def pose(self, t: float) -> PawPose:
        """The paw at time ``t`` in [0, 1] of the reach."""
        reach = np.sin(np.pi * t) ** 2
        sideways = _unit(self.reach_angle + np.pi / 2)
        # The wobble vanishes at both ends and at full extension, and differs on the way out and back.
        wobble = self.wobble * 4 * reach * (1 - reach) * np.sin(2 * np.pi * t + self.phases[0])
        palm = self.start + reach * (self.target_palm - self.start) + wobble * sideways
        angle = self._angle(t)
        wrist, bases, tips = self._paw_offsets(angle, self._flex(t))
        return PawPose(
            self.anchor,
            _quantise(palm + wrist),
            _quantise(palm),
            float(angle),
            _quantise(palm + bases),
            _quantise(palm + tips),
        )

    def keypoints(self, t: float) -> np.ndarray:
        """(J, 2) exact keypoints at time ``t``, wherever they are (also outside the image)."""
        return self._keypoints(self.pose(t))

    def _keypoints(self, pose: PawPose) -> np.ndarray:
        return np.vstack([pose.wrist, pose.palm, pose.tips, self.pellet])

    def background(self, offset=(0, 0)) -> np.ndarray:
        """The background (H, W, 3) uint8: the crop of the scene's texture at integer ``offset`` (x, y), each in
        [0, TEXTURE_PAD]."""
        dx, dy = (int(v) for v in offset)
        if not (0 <= dx <= TEXTURE_PAD and 0 <= dy <= TEXTURE_PAD):
            raise ValueError(f"texture offset must lie in [0, {TEXTURE_PAD}], got {offset}")
        return self._texture[dy : dy + self.height, dx : dx + self.width].copy()

    def frame(self, t: float, *, occlusion: bool = True, texture_offset=(0, 0)):
        """Render time ``t`` without gain or noise: (image (H, W, 3) uint8, layers (H, W) uint8 (the last layer
        that painted each pixel), keypoints (J, 2) with NaN outside the image, visibility (J,) int8).

        ``occlusion=False`` draws the lip with the other steps, behind the paw.
        """
        image = self.background(texture_offset)
        layers = np.zeros(image.shape[:2], dtype=np.uint8)
        lip = (_rectangle(*self.lip), STEP)
        behind = []
        for step in self.steps:
            behind.append((_rectangle(step.x0, step.top, step.x1, step.edge), TREAD))
            behind.append((_rectangle(step.x0, step.edge, step.x1, step.bottom), STEP))
        if not occlusion:
            behind.append(lip)
        _paint(image, layers, LAYER_STEPS, behind)
        _paint(image, layers, LAYER_PELLET, [(_disc(self.pellet, self.pellet_radius), PELLET)])
        pose = self.pose(t)
        paw = [
            (_segment(pose.anchor, pose.wrist, self.arm_thickness), ARM),
            (_ellipse(pose.palm, self.paw_axes, pose.angle), PAW),
        ]
        paw += [(_segment(base, tip, self.digit_thickness), DIGIT) for base, tip in zip(pose.bases, pose.tips)]
        _paint(image, layers, LAYER_PAW, paw)
        if occlusion:
            _paint(image, layers, LAYER_LIP, [lip])
        keypoints, visibility = label_keypoints(self._keypoints(pose), layers)
        return image, layers, keypoints, visibility


def _texture(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """Dark value noise (height, width, 3) uint8: a coarse and a fine octave of random lattices."""
    lattices = rng.random((2, 32, 32), dtype=np.float32)
    x, y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    coarse = _sample(lattices[0], x, y, 14 * scale, smooth=True)
    fine = _sample(lattices[1], x, y, 3 * scale, smooth=True)
    shade = 0.45 + 0.8 * coarse + 0.35 * fine
    return np.clip(np.rint(shade[..., None] * np.array(BACKGROUND, dtype=np.float32)), 0, 255).astype(np.uint8)


def label_keypoints(keypoints: np.ndarray, layers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Visibility of reaching keypoints (J, 2) from a layer map (H, W): 0 (and NaN coordinates) outside the image,
    1 where a later layer than the keypoint's own painted its pixel, 2 otherwise."""
    height, width = layers.shape
    pixels = np.floor(keypoints + 0.5)  # the pixel whose centre is nearest; ties go right/down
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
    visibility = np.zeros(len(keypoints), dtype=np.int8)
    cover = layers[pixels[inside, 1].astype(int), pixels[inside, 0].astype(int)]
    visibility[inside] = np.where(cover > KEYPOINT_LAYERS[inside], 1, 2)
    keypoints = np.where(inside[:, None], keypoints, np.nan)
    return keypoints, visibility


def _gain_and_noise(image: np.ndarray, gain: float, noise: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * np.float32(gain) + noise), 0, 255).astype(np.uint8)


def render_reaching(
    n_frames: int, *, size: tuple[int, int] = (128, 128), seed: int = 0, occlusion: bool = True
) -> ReachingFrames:
    """Render ``n_frames`` frames of size (width, height) with exact keypoints and visibility.

    Frames are independent samples of one continuous reach (random times in it), each with its own background
    offset, brightness gain and pixel noise, so that a training set drawn from them is varied; the same seed gives
    the same frames. ``occlusion=False`` draws no step lips in front of the paw: every keypoint inside the image is
    then visible unless the paw covers the pellet.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    scene = ReachingScene(size, seed)
    rng = np.random.default_rng([seed, 0xF4A])
    times = rng.random(n_frames)
    offsets = rng.integers(0, TEXTURE_PAD + 1, (n_frames, 2, 2))  # background and noise crops
    gains = rng.uniform(*GAIN_RANGE, n_frames)
    # One noise field, cropped at a random offset per frame: cheap per-frame noise (as in ``scene``).
    noise = rng.standard_normal((scene.height + TEXTURE_PAD, scene.width + TEXTURE_PAD, 3), dtype=np.float32)
    noise *= np.float32(NOISE_SIGMA)
    n_joints = len(REACHING_BODYPARTS)
    images = np.empty((n_frames, scene.height, scene.width, 3), dtype=np.uint8)
    keypoints = np.empty((n_frames, n_joints, 2))
    visibility = np.empty((n_frames, n_joints), dtype=np.int8)
    for i in range(n_frames):
        image, _, keypoints[i], visibility[i] = scene.frame(times[i], occlusion=occlusion, texture_offset=offsets[i, 0])
        (dx, dy) = offsets[i, 1]
        images[i] = _gain_and_noise(image, gains[i], noise[dy : dy + scene.height, dx : dx + scene.width])
    return ReachingFrames(images, keypoints, visibility, REACHING_BODYPARTS, REACHING_SKELETON)


def _patch(x: float, y: float, radius: float, rng: np.random.Generator, width: int, height: int):
    """Pixel bounds (x0, y0, x1, y1), end-exclusive and clipped to the image, of a square of half-size ``radius``
    centred within radius / 2 of (x, y) and always containing the pixel of (x, y)."""
    cx, cy = np.array([x, y]) + rng.uniform(-0.5, 0.5, 2) * radius
    col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    x0, x1 = min(int(np.ceil(cx - radius)), col), max(int(np.floor(cx + radius)), col) + 1
    y0, y1 = min(int(np.ceil(cy - radius)), row), max(int(np.floor(cy + radius)), row) + 1
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def occlude(images, keypoints, *, fraction: float = 0.3, radius: float = 4.0, seed: int = 0):
    """Cover a random ``fraction`` of each image's labelled keypoints with step-coloured squares.

    ``images`` (N, H, W, 3) uint8, ``keypoints`` (N, J, 2) x, y pixels (NaN or outside the image: unlabelled).
    Per image, round(fraction x labelled) keypoints (at least one when any is labelled) each get a square patch of
    half-size ``radius`` px centred near the keypoint and covering its pixel. Returns (occluded copies of the
    images, occluded (N, J) bool): the keypoints whose pixel is covered by a patch, which includes any keypoint
    that another keypoint's patch happens to cover. The inputs are not modified; the same seed gives the same result.
    """
    images, keypoints = np.asarray(images), np.asarray(keypoints, dtype=float)
    if images.ndim != 4 or images.shape[-1] != 3 or keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise ValueError(f"need images (N, H, W, 3) and keypoints (N, J, 2), got {images.shape}, {keypoints.shape}")
    if len(images) != len(keypoints):
        raise ValueError(f"{len(images)} images but {len(keypoints)} keypoint sets")
    if not 0 <= fraction <= 1 or radius < 0:
        raise ValueError(f"need 0 <= fraction <= 1 and radius >= 0, got {fraction}, {radius}")
    rng = np.random.default_rng([seed, 0x0CC])
    height, width = images.shape[1:3]
    out = images.copy()
    with np.errstate(invalid="ignore"):
        pixels = np.floor(keypoints + 0.5)
    labelled = (pixels[..., 0] >= 0) & (pixels[..., 0] < width) & (pixels[..., 1] >= 0) & (pixels[..., 1] < height)
    occluded = np.zeros(labelled.shape, dtype=bool)
    for i in range(len(images)):
        candidates = np.flatnonzero(labelled[i])
        if candidates.size == 0:
            continue
        count = max(1, round(fraction * candidates.size))
        covered = np.zeros((height, width), dtype=bool)
        for j in rng.choice(candidates, count, replace=False):
            x0, y0, x1, y1 = _patch(*keypoints[i, j], radius, rng, width, height)
            out[i, y0:y1, x0:x1] = STEP
            covered[y0:y1, x0:x1] = True
        rows, cols = pixels[i, candidates, 1].astype(int), pixels[i, candidates, 0].astype(int)
        occluded[i, candidates] = covered[rows, cols]
    return out, occluded
