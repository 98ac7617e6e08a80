"""Tests of the synthetic skilled-reaching frames: shapes, determinism, exact keypoints, visibility, occlusion."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pose_pipeline.synthetic.reaching import (
    ARM,
    DIGIT,
    GAIN_RANGE,
    LAYER_LIP,
    LAYER_PAW,
    LAYER_PELLET,
    NOISE_SIGMA,
    PAW,
    PELLET,
    REACHING_BODYPARTS,
    REACHING_SKELETON,
    STEP,
    TREAD,
    ReachingFrames,
    ReachingScene,
    occlude,
    render_reaching,
)

DIGITS = slice(2, 6)
PELLET_INDEX = REACHING_BODYPARTS.index("pellet")
# The colour each keypoint's own pixel has when visible.
KEYPOINT_COLOURS = [PAW, PAW, DIGIT, DIGIT, DIGIT, DIGIT, PELLET]
TOLERANCE = 6 * NOISE_SIGMA
GAINS = np.linspace(*GAIN_RANGE, 61)


def matches(pixel, colour) -> bool:
    """Whether ``pixel`` is ``colour`` under some allowed brightness gain, up to the pixel noise."""
    predicted = np.clip(GAINS[:, None] * np.asarray(colour, dtype=float), 0, 255)
    return bool(np.abs(predicted - np.asarray(pixel, dtype=float)).max(axis=1).min() <= TOLERANCE)


def pixel_at(image, point):
    """The pixel whose centre is nearest to (x, y): centres at integer coordinates."""
    x, y = point
    return image[int(np.floor(y + 0.5)), int(np.floor(x + 0.5))]


@pytest.fixture(scope="module")
def occluded():
    return render_reaching(300, seed=1, occlusion=True)


@pytest.fixture(scope="module")
def unoccluded():
    return render_reaching(300, seed=1, occlusion=False)


def test_constants():
    assert REACHING_BODYPARTS == ("wrist", "palm", "digit1", "digit2", "digit3", "digit4", "pellet")
    assert set(REACHING_SKELETON) == {(0, 1), (1, 2), (1, 3), (1, 4), (1, 5)}


def test_shapes_and_dtypes():
    frames = render_reaching(5, size=(160, 96), seed=3)
    assert isinstance(frames, ReachingFrames)
    assert frames.images.shape == (5, 96, 160, 3) and frames.images.dtype == np.uint8
    assert frames.keypoints.shape == (5, 7, 2) and frames.keypoints.dtype == np.float64
    assert frames.visibility.shape == (5, 7) and frames.visibility.dtype == np.int8
    assert frames.bodyparts == REACHING_BODYPARTS and frames.skeleton == REACHING_SKELETON
    assert set(np.unique(frames.visibility)) <= {0, 1, 2}
    assert render_reaching(0).images.shape == (0, 128, 128, 3)


def test_deterministic_for_a_seed_and_different_between_seeds():
    a, b, c = render_reaching(20, seed=5), render_reaching(20, seed=5), render_reaching(20, seed=6)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.visibility, b.visibility)
    assert not np.array_equal(a.images, c.images)
    assert not np.allclose(a.keypoints[:, PELLET_INDEX], c.keypoints[:, PELLET_INDEX], equal_nan=True)


def test_colours_are_told_apart():
    colours = [PAW, DIGIT, PELLET, STEP, TREAD, ARM]
    for i, first in enumerate(colours):
        for second in colours[i + 1 :]:
            assert not any(matches(np.clip(g * np.array(first), 0, 255), second) for g in GAINS)


def test_visible_keypoints_lie_on_their_colour(unoccluded):
    checked = 0
    for image, keypoints, visibility in zip(unoccluded.images, unoccluded.keypoints, unoccluded.visibility):
        for j in np.flatnonzero(visibility == 2):
            assert matches(pixel_at(image, keypoints[j]), KEYPOINT_COLOURS[j]), (REACHING_BODYPARTS[j], keypoints[j])
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("seed", [0, 7])
def test_clean_frames_are_exact(seed):
    """Without gain and noise the keypoint pixels have exactly their part's colour, and occluded digits exactly the
    step colour, painted by the lip."""
    scene = ReachingScene((128, 128), seed)
    counts = np.zeros(3, dtype=int)
    for t in np.linspace(0, 1, 201):
        image, layers, keypoints, visibility = scene.frame(t, occlusion=True)
        for j in np.flatnonzero(visibility == 2):
            np.testing.assert_array_equal(pixel_at(image, keypoints[j]), KEYPOINT_COLOURS[j])
        for j in np.flatnonzero(visibility[DIGITS] == 1) + 2:
            np.testing.assert_array_equal(pixel_at(image, keypoints[j]), STEP)
            assert pixel_at(layers, keypoints[j]) == LAYER_LIP
        if visibility[PELLET_INDEX] == 1:
            assert pixel_at(layers, keypoints[PELLET_INDEX]) in (LAYER_PAW, LAYER_LIP)
        counts += np.bincount(visibility, minlength=3)
    assert counts.min() > 0


def test_pellet_is_centred_on_its_keypoint():
    """The drawn disc's centroid is the keypoint: checks the integer pixel-centre convention to a small fraction of
    a pixel (a half-pixel convention error would be 0.5 px off)."""
    scene = ReachingScene((512, 512), seed=2)
    _, layers, keypoints, visibility = scene.frame(0.0, occlusion=False)  # the paw is far from the pellet
    assert visibility[PELLET_INDEX] == 2
    rows, cols = np.nonzero(layers == LAYER_PELLET)
    assert rows.size > 300
    np.testing.assert_allclose([cols.mean(), rows.mean()], keypoints[PELLET_INDEX], atol=0.06)


def test_lips_occlude_digits(occluded):
    inside = occluded.visibility[:, DIGITS] > 0
    hidden = occluded.visibility[:, DIGITS] == 1
    assert 0.05 <= hidden.sum() / inside.sum() <= 0.6
    for i, j in zip(*np.nonzero(hidden)):
        assert matches(pixel_at(occluded.images[i], occluded.keypoints[i, j + 2]), STEP)


def test_without_lips_only_the_pellet_is_occluded(occluded, unoccluded):
    # Same seed, same reach times: the same keypoints, only the visibility differs.
    np.testing.assert_array_equal(occluded.keypoints, unoccluded.keypoints)
    assert not (unoccluded.visibility[:, :PELLET_INDEX] == 1).any()
    paw_covers_pellet = unoccluded.visibility[:, PELLET_INDEX] == 1
    assert 0 < paw_covers_pellet.mean() < 0.5
    changed = occluded.visibility != unoccluded.visibility
    assert changed[:, DIGITS].any()
    np.testing.assert_array_equal(occluded.visibility[changed], 1)
    np.testing.assert_array_equal(unoccluded.visibility[changed], 2)


def test_outside_keypoints_are_nan_with_visibility_zero(occluded):
    outside = occluded.visibility == 0
    assert outside.any() and not outside.all()
    np.testing.assert_array_equal(np.isnan(occluded.keypoints).any(axis=-1), outside)
    np.testing.assert_array_equal(np.isnan(occluded.keypoints).all(axis=-1), outside)
    finite = occluded.keypoints[~outside]
    assert (finite >= -0.5).all() and (finite < 128 - 0.5).all()


@pytest.mark.parametrize("seed", range(4))
def test_retracted_paw_is_outside(seed):
    scene = ReachingScene((128, 128), seed)
    exact = scene.keypoints(0.0)
    _, _, keypoints, visibility = scene.frame(0.0)
    assert (exact[:2, 1] < -0.5).all()  # wrist and palm above the image
    np.testing.assert_array_equal(visibility[:2], 0)
    assert np.isnan(keypoints[:2]).all()
    np.testing.assert_array_equal(keypoints[2:][visibility[2:] > 0], exact[2:][visibility[2:] > 0])


def test_brightness_and_noise_vary(occluded):
    """A pixel of the lowest step's face, which the paw never reaches, varies from frame to frame around STEP."""
    step = ReachingScene((128, 128), 1).steps[-1]
    values = occluded.images[:, step.bottom - 1, step.x1 - 1].astype(float)
    assert 4 < values[:, 0].std() < 25
    assert abs(values.mean() - STEP[0]) < 10


def test_occlude_covers_exactly_the_masked_keypoints(occluded):
    images, keypoints = occluded.images[:50], occluded.keypoints[:50]
    images_before, keypoints_before = images.copy(), keypoints.copy()
    radius = 3.0
    out, mask = occlude(images, keypoints, fraction=0.3, radius=radius, seed=4)
    np.testing.assert_array_equal(images, images_before)
    np.testing.assert_array_equal(keypoints, keypoints_before)
    assert out.shape == images.shape and out.dtype == images.dtype and mask.shape == keypoints.shape[:2]
    labelled = ~np.isnan(keypoints).any(axis=-1)
    assert not (mask & ~labelled).any()
    for i in range(len(images)):
        n_labelled = labelled[i].sum()
        if n_labelled:
            assert mask[i].sum() >= max(1, round(0.3 * n_labelled))
        for j in np.flatnonzero(labelled[i]):
            if mask[i, j]:
                np.testing.assert_array_equal(pixel_at(out[i], keypoints[i, j]), STEP)
            else:
                np.testing.assert_array_equal(pixel_at(out[i], keypoints[i, j]), pixel_at(images[i], keypoints[i, j]))
        # Every changed pixel is step-coloured and within a patch's reach of a masked keypoint.
        rows, cols = np.nonzero((out[i] != images[i]).any(axis=-1))
        np.testing.assert_array_equal(out[i][rows, cols], np.broadcast_to(STEP, (rows.size, 3)))
        if rows.size:
            masked = keypoints[i][mask[i]]
            distance = np.abs(np.stack([cols, rows], axis=1)[:, None] - masked[None]).max(axis=-1).min(axis=1)
            assert (distance <= 1.5 * radius + 0.5).all()


def test_occlude_is_deterministic_and_seeded(occluded):
    images, keypoints = occluded.images[:30], occluded.keypoints[:30]
    a, b, c = (occlude(images, keypoints, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_occlude_without_labels_changes_nothing():
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    keypoints = np.full((2, 7, 2), np.nan)
    keypoints[1, 3] = (40.0, 5.0)  # outside the image: not labelled either
    out, mask = occlude(images, keypoints, fraction=1.0)
    assert not mask.any()
    np.testing.assert_array_equal(out, images)


def test_render_is_fast():
    render_reaching(2)
    start = time.perf_counter()
    render_reaching(200, size=(128, 128), seed=9)
    assert time.perf_counter() - start < 3.0
