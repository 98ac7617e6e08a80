"""Unscented RTS smoother and EM: against dynamax on a nonlinear toy, and exact Kalman/RTS on a linear model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

import jax.numpy as jnp

from pose_pipeline.skeleton_model import ukf

DT = 0.05


def pendulum(x):
    return jnp.array([x[0] + x[1] * DT, x[1] - 9.81 * jnp.sin(x[0]) * DT])


def sensors(x):
    return jnp.array([jnp.sin(x[0]), jnp.cos(x[0]) * x[1], x[0] ** 2])


def _simulate(f, h, x0, Q, R, steps, rng):
    xs, ys = [np.asarray(x0, float)], []
    for t in range(steps):
        if t:
            xs.append(np.asarray(f(jnp.asarray(xs[-1]))) + rng.multivariate_normal(np.zeros(len(x0)), Q))
        ys.append(np.asarray(h(jnp.asarray(xs[-1]))) + rng.normal(0, np.sqrt(R)))
    return np.array(xs), np.array(ys)


def test_matches_dynamax_unscented_smoother():
    dynamax_ukf = pytest.importorskip("dynamax.nonlinear_gaussian_ssm")
    rng = np.random.default_rng(0)
    Q, R = np.diag([1e-4, 4e-3]), np.array([0.01, 0.02, 0.015])
    _, ys = _simulate(pendulum, sensors, [1.0, 0.0], Q, R, 60, rng)
    params = ukf.SSMParams(jnp.array([0.9, 0.1]), jnp.eye(2) * 0.1, jnp.asarray(Q), jnp.asarray(R))
    ours = ukf.unscented_smoother(pendulum, sensors, params, ys, np.ones_like(ys, bool))
    reference = dynamax_ukf.unscented_kalman_smoother(
        dynamax_ukf.ParamsNLGSSM(
            initial_mean=params.mu0,
            initial_covariance=params.V0,
            dynamics_function=pendulum,
            dynamics_covariance=params.Q,
            emission_function=sensors,
            emission_covariance=jnp.diag(params.R),
        ),
        jnp.asarray(ys),
        dynamax_ukf.UKFHyperParams(),  # alpha sqrt(3), beta 2, kappa 1: SigmaParams' defaults
    )
    np.testing.assert_allclose(ours.filtered_means, reference.filtered_means, atol=1e-6)
    np.testing.assert_allclose(ours.smoothed_means, reference.smoothed_means, atol=1e-6)
    np.testing.assert_allclose(ours.smoothed_covs, reference.smoothed_covariances, atol=1e-6)
    assert float(ours.loglik) == pytest.approx(float(reference.marginal_loglik), abs=1e-6)


def _exact_kalman_rts(A, H, mu0, V0, Q, R, ys, mask):
    """Textbook Kalman filter and RTS smoother in numpy, masked rows removed from each update."""
    T, _n = len(ys), len(mu0)
    m, P = mu0.copy(), V0.copy()
    mf, Pf, mp, Pp = [], [], [], []
    ll = 0.0
    for t in range(T):
        o = mask[t]
        if o.any():
            Ho, e = H[o], ys[t, o] - H[o] @ m
            S = Ho @ P @ Ho.T + np.diag(R[o])
            K = P @ Ho.T @ np.linalg.inv(S)
            ll += -0.5 * (e @ np.linalg.solve(S, e) + np.linalg.slogdet(S)[1] + o.sum() * np.log(2 * np.pi))
            m, P = m + K @ e, P - K @ S @ K.T
        mf.append(m)
        Pf.append(P)
        m, P = A @ m, A @ P @ A.T + Q
        mp.append(m)
        Pp.append(P)
    ms, Ps, G = [mf[-1]], [Pf[-1]], []
    for t in range(T - 2, -1, -1):
        g = Pf[t] @ A.T @ np.linalg.inv(Pp[t])
        ms.insert(0, mf[t] + g @ (ms[0] - mp[t]))
        Ps.insert(0, Pf[t] + g @ (Ps[0] - Pp[t]) @ g.T)
        G.insert(0, g)
    lag = [Ps[t + 1] @ G[t].T for t in range(T - 1)]
    return np.array(mf), np.array(ms), np.array(Ps), np.array(G), np.array(lag), ll


def test_linear_gaussian_equals_exact_kalman_with_masked_rows():
    rng = np.random.default_rng(1)
    n, d, T = 3, 5, 40
    A = np.eye(n) + 0.05 * rng.normal(size=(n, n))
    H = rng.normal(size=(d, n))
    Q, R = np.diag([0.01, 0.02, 0.005]), rng.uniform(0.05, 0.2, d)
    _xs, ys = _simulate(lambda x: jnp.asarray(A) @ x, lambda x: jnp.asarray(H) @ x, np.ones(n), Q, R, T, rng)
    mask = rng.random((T, d)) > 0.3
    mask[7] = False  # one step with nothing observed
    ys_nan = np.where(mask, ys, np.nan)
    mu0, V0 = np.zeros(n), np.eye(n)
    params = ukf.SSMParams(*(jnp.asarray(a) for a in (mu0, V0, Q, R)))
    ours = ukf.unscented_smoother(lambda x: A @ x, lambda x: H @ x, params, ys_nan, mask)
    mf, ms, Ps, G, lag, ll = _exact_kalman_rts(A, H, mu0, V0, Q, R, ys, mask)
    np.testing.assert_allclose(ours.filtered_means, mf, atol=1e-9)
    np.testing.assert_allclose(ours.smoothed_means, ms, atol=1e-9)
    np.testing.assert_allclose(ours.smoothed_covs, Ps, atol=1e-9)
    np.testing.assert_allclose(ours.gains, G, atol=1e-9)
    np.testing.assert_allclose(ours.lag_one_covs, lag, atol=1e-9)
    assert float(ours.loglik) == pytest.approx(ll, abs=1e-8)
    assert np.isfinite(np.asarray(ours.smoothed_means)).all()


def test_em_raises_the_likelihood_and_learns_the_noise():
    rng = np.random.default_rng(2)
    n, d, T = 2, 4, 400
    H = rng.normal(size=(d, n))
    Q_true, R_true = np.diag([0.02, 0.05]), np.array([0.1, 0.2, 0.05, 0.15])
    _, ys = _simulate(lambda x: x, lambda x: jnp.asarray(H) @ x, np.zeros(n), Q_true, R_true, T, rng)
    mask = rng.random((T, d)) > 0.2
    params = ukf.SSMParams(jnp.zeros(n), jnp.eye(n), jnp.eye(n) * 0.5, jnp.ones(d))
    result = ukf.fit_em(lambda x: x, lambda x: H @ x, params, np.where(mask, ys, np.nan), mask, iterations=40, tol=0)
    logliks = np.array(result.logliks)
    assert (np.diff(logliks) > -1e-6).all()  # EM never lowers the likelihood (exact for a linear model)
    truth = ukf.SSMParams(jnp.zeros(n), jnp.eye(n), jnp.asarray(Q_true), jnp.asarray(R_true))
    at_truth = ukf.unscented_smoother(lambda x: x, lambda x: H @ x, truth, np.where(mask, ys, np.nan), mask).loglik
    assert float(result.smoothed.loglik) >= float(at_truth)  # the learned noise explains the data at least as well
    np.testing.assert_allclose(np.diag(result.params.Q), np.diag(Q_true), rtol=0.6)  # 400 steps: MLE within sampling
    np.testing.assert_allclose(result.params.R, R_true, rtol=0.6)


def test_masked_frames_padded_after_the_end_change_nothing():
    """`padded_length` padding (masked frames after the end, left out of the M-step's Q) gives the unpadded
    sequence's smoothed states, log-likelihoods and learned noise, so sequences of other lengths share a compile."""
    rng = np.random.default_rng(5)
    n, d, T = 2, 3, 37
    H = rng.normal(size=(d, n))
    _, ys = _simulate(lambda x: x, lambda x: jnp.asarray(H) @ x, np.zeros(n), np.diag([0.02, 0.05]),
                      np.array([0.1, 0.2, 0.05]), T, rng)  # fmt: skip
    mask = rng.random((T, d)) > 0.2
    ys = np.where(mask, ys, np.nan)
    params = ukf.SSMParams(jnp.zeros(n), jnp.eye(n), jnp.eye(n) * 0.5, jnp.ones(d))
    plain = ukf.fit_em(lambda x: x, lambda x: H @ x, params, ys, mask, iterations=5, tol=0)

    padded = ukf.padded_length(T)
    assert padded == 40 and ukf.padded_length(1000) == 1024 and ukf.padded_length(1025) == 1152
    weights = jnp.asarray(np.arange(padded) < T, dtype=float)

    def step(p, y, m):
        return ukf.em_step(lambda x: x, lambda x: H @ x, p, y, m, frame_weights=weights)

    long_y = np.concatenate([ys, np.full((padded - T, d), np.nan)])
    long_mask = np.concatenate([mask, np.zeros((padded - T, d), bool)])
    result = ukf.fit_em(None, None, params, long_y, long_mask, iterations=5, tol=0, step=step)
    np.testing.assert_allclose(result.logliks, plain.logliks, rtol=1e-10)
    np.testing.assert_allclose(result.smoothed.smoothed_means[:T], plain.smoothed.smoothed_means, atol=1e-10)
    np.testing.assert_allclose(result.smoothed.smoothed_covs[:T], plain.smoothed.smoothed_covs, atol=1e-10)
    for learned, expected in zip(result.params, plain.params, strict=True):
        np.testing.assert_allclose(learned, expected, atol=1e-10)
    # without the weights the padding's transitions would shrink Q: the test can tell
    unweighted = ukf.fit_em(lambda x: x, lambda x: H @ x, params, long_y, long_mask, iterations=5, tol=0)
    assert not np.allclose(unweighted.params.Q, plain.params.Q, atol=1e-6)
