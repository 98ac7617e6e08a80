"""The study's regimes on a synthetic rat seen by four cameras, with occlusions and outlier detections."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from pose_pipeline.skeleton_model import definitions as d
from pose_pipeline.skeleton_model import kinematics as kin
from pose_pipeline.skeleton_model import regimes
from pose_pipeline.skeleton_model import synthetic as syn

THRESHOLD_M = 0.01  # share of joint positions more than 1 cm off (the study used 4 cm on real rats)


@pytest.fixture(scope="module")
def scene():
    return syn.scene(d.rat(), frames=60, rate_hz=100.0, seed=5, noise_px=2.0, occlusion=0.15, outliers=0.03)


def test_observations_mask_low_confidence_and_missing(scene):
    y, mask, present = regimes.observations(scene.pixels, scene.confidence, threshold=0.9)
    assert y.shape == mask.shape == (60, 4 * 41 * 2)
    assert not present[scene.occluded].any()
    assert (present == (np.isfinite(scene.pixels).all(-1) & (scene.confidence >= 0.9))).all()
    assert np.isnan(y[~mask]).all() and np.isfinite(y[mask]).all()


@pytest.mark.slow
def test_full_model_has_fewer_large_errors_than_the_naive_fit(scene):
    rat = d.rat()
    full = regimes.full_model(
        scene.pixels, scene.cameras, rat, scene.anatomy, scene.confidence, em_iterations=3, gate=4.0
    )
    naive = regimes.naive(scene.pixels, scene.cameras, rat, scene.anatomy, scene.confidence)
    full_errors = regimes.position_errors(full, scene.joints)
    naive_errors = regimes.position_errors(naive, scene.joints)
    assert full.state_covs.shape == (60, full.states.shape[1], full.states.shape[1])
    assert np.all(np.diff(full.info["logliks"]) > 0)  # EM raised the likelihood
    share_full, share_naive = (full_errors > THRESHOLD_M).mean(), (naive_errors > THRESHOLD_M).mean()
    assert share_full < share_naive, (share_full, share_naive)
    assert np.median(full_errors) < 0.005


def test_bad_detections_are_named(scene):
    rat = d.rat()
    with pytest.raises(ValueError, match="4 cameras, 41 markers"):
        regimes.full_model(scene.pixels[:, :3], scene.cameras, rat, scene.anatomy)
    pixels = scene.pixels.copy()
    pixels[:, :, rat.marker_names.index("tail_5")] = np.nan
    _, _, present = regimes.observations(pixels)
    flags = regimes.check_detections(pixels, scene.cameras, rat, present)
    assert flags == {"markers_never_detected": ["tail_5"]}


def test_the_em_step_compiles_once_for_another_subject_and_other_cameras():
    """The anatomy and cameras are traced arguments of the cached jitted EM step, not constants baked into it, and
    a recording of another length reuses it."""
    rat = d.rat()
    damage = {"noise_px": 1.0, "occlusion": 0.1, "outliers": 0.0}
    first = syn.scene(rat, frames=6, seed=11, **damage)
    # another length too: both are padded to one compiled length (ukf.padded_length)
    other = syn.scene(rat, frames=9, seed=12, cameras=syn.ring_cameras(radius=0.7, height=0.8), **damage)
    assert not np.allclose(first.anatomy.bone_lengths, other.anatomy.bone_lengths)
    compiles = []

    def count(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles[-1] += 1

    results = []
    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        for s in (first, other):
            compiles.append(0)
            results.append(regimes.full_model(s.pixels, s.cameras, rat, s.anatomy, s.confidence, em_iterations=1))
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert compiles[1] == 0, compiles  # the second subject and cameras reuse everything the first call compiled
    step = regimes.jitted_em_step(kin.compile_model(rat), regimes.ukf.DEFAULT_SIGMA, regimes.GATE)
    assert step._cache_size() >= 1  # the cached step is the one the regime ran
    for s, result in zip((first, other), results):
        assert np.median(regimes.position_errors(result, s.joints)) < 0.005  # each fits its own scene
