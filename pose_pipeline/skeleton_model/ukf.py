"""Unscented Rauch-Tung-Striebel smoother with masked observations, and EM for its noise covariances (JAX).

Model: ``x_0 ~ N(mu0, V0)``, ``x_t = f(x_{t-1}) + w``, ``w ~ N(0, Q)``, ``y_t = h(x_t) + v``, ``v ~ N(0, diag(R))``.
Observation entries whose mask is False are dropped from that step's update: their rows of the innovation and
columns of the cross-covariance are zeroed and their block of the innovation covariance replaced by the identity,
which is algebraically the update with those rows removed (the log-likelihood counts only observed entries).
Sigma points and weights are the standard scaled unscented transform (Julier; Särkkä 2008) with dynamax's
conventions, so with the same ``alpha, beta, kappa`` and every entry observed the results equal dynamax's.

The smoother returns, besides smoothed means and covariances, the smoother gains ``G_t`` and the lag-one
covariances ``Cov(x_{t+1}, x_t | y_{0:T-1}) = P_{t+1|T} G_t^T`` that the M-step needs. The M-step (for a linear
transition ``f(x) = A x``, the identity by default as in the study) updates ``mu0``, ``V0``, the full ``Q`` and the
diagonal ``R`` in closed form; ``R`` per entry averages only over the steps where that entry was observed.
Everything is a ``lax.scan`` over time inside ``jax.jit``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import cho_factor, cho_solve

from . import kinematics  # noqa: F401  (turns on 64-bit mode before any array is made)


class SigmaParams(NamedTuple):
    """Scaled unscented transform parameters (dynamax's defaults)."""

    alpha: float = 3.0**0.5
    beta: float = 2.0
    kappa: float = 1.0


DEFAULT_SIGMA = SigmaParams()


class SSMParams(NamedTuple):
    """Initial state mean (n,) and covariance (n, n), process noise Q (n, n), measurement noise variances R (d,)."""

    mu0: jax.Array
    V0: jax.Array
    Q: jax.Array
    R: jax.Array


class Smoothed(NamedTuple):
    filtered_means: jax.Array  # (T, n)
    filtered_covs: jax.Array  # (T, n, n)
    smoothed_means: jax.Array  # (T, n)
    smoothed_covs: jax.Array  # (T, n, n)
    gains: jax.Array  # (T-1, n, n): G_t
    lag_one_covs: jax.Array  # (T-1, n, n): Cov(x_{t+1}, x_t | all observations)
    loglik: jax.Array  # scalar: log p(observed entries)
    used: jax.Array  # (T, d) bool: the entries the filter used (the mask, less any gated out)


def _weights(n: int, sigma: SigmaParams):
    lam = sigma.alpha**2 * (n + sigma.kappa) - n
    w = jnp.full(2 * n + 1, 1.0 / (2 * (n + lam)))
    wm = w.at[0].set(lam / (n + lam))
    wc = w.at[0].set(lam / (n + lam) + 1 - sigma.alpha**2 + sigma.beta)
    return lam, wm, wc


def _sigma_points(mean, cov, lam):
    n = mean.shape[0]
    root = jnp.sqrt(n + lam) * jnp.linalg.cholesky(cov)
    return jnp.concatenate([mean[None], mean + root.T, mean - root.T])


def _transform(fn, mean, cov, lam, wm, wc):
    """Unscented transform: the sigma points, their images, the image mean and the centred images."""
    points = _sigma_points(mean, cov, lam)
    images = jax.vmap(fn)(points)
    image_mean = wm @ images
    return points, images - image_mean, image_mean


def _symmetric(a):
    return (a + a.T) / 2


def unscented_smoother(
    f, h, params: SSMParams, observations, mask, sigma: SigmaParams = DEFAULT_SIGMA, gate: float | None = None
) -> Smoothed:
    """Filter and smooth. ``observations`` (T, d) (NaN allowed where masked), ``mask`` (T, d) bool: True where
    the entry is used. ``f`` and ``h`` map one state (n,) to (n,) and (d,); they must be JAX-traceable.
    ``gate``: also drop, step by step, entries whose innovation exceeds ``gate`` predicted standard deviations
    (outlier rejection; None, the study's formulation, keeps every unmasked entry)."""
    observations = jnp.asarray(observations)
    mask = jnp.asarray(mask, dtype=bool)
    n = params.mu0.shape[0]
    lam, wm, wc = _weights(n, sigma)
    used = mask.astype(observations.dtype)
    y = jnp.where(mask, observations, 0.0)

    def filter_step(carry, inputs):
        m_pred, P_pred, ll = carry
        y_t, used_t = inputs
        points, centred, y_hat = _transform(h, m_pred, P_pred, lam, wm, wc)
        S = (centred.T * wc) @ centred + jnp.diag(params.R)
        if gate is not None:
            used_t = used_t * (jnp.abs(y_t - y_hat) <= gate * jnp.sqrt(jnp.diag(S)))
        S = S * jnp.outer(used_t, used_t) + jnp.diag(1.0 - used_t)  # masked rows dropped
        C = ((points - m_pred).T * wc) @ centred * used_t[None, :]
        e = (y_t - y_hat) * used_t
        factor = cho_factor(S, lower=True)
        K = cho_solve(factor, C.T).T
        m = m_pred + K @ e
        P = _symmetric(P_pred - K @ S @ K.T)
        logdet = 2 * jnp.sum(jnp.log(jnp.diag(factor[0])))
        ll = ll - 0.5 * (e @ cho_solve(factor, e) + logdet + used_t.sum() * jnp.log(2 * jnp.pi))
        # predict the next step, keeping the cross-covariance for the smoother gain
        points, centred, m_next = _transform(f, m, P, lam, wm, wc)
        P_next = _symmetric((centred.T * wc) @ centred + params.Q)
        D = ((points - m).T * wc) @ centred
        return (m_next, P_next, ll), (m, P, m_next, P_next, D, used_t > 0)

    (_, _, loglik), (m_f, P_f, m_p, P_p, D, used) = lax.scan(filter_step, (params.mu0, params.V0, 0.0), (y, used))

    def smooth_step(carry, inputs):
        m_next_s, P_next_s = carry
        m, P, m_pred, P_pred, cross = inputs
        G = cho_solve(cho_factor(P_pred, lower=True), cross.T).T
        m_s = m + G @ (m_next_s - m_pred)
        P_s = _symmetric(P + G @ (P_next_s - P_pred) @ G.T)
        return (m_s, P_s), (m_s, P_s, G, P_next_s @ G.T)

    _, (m_s, P_s, G, lag) = lax.scan(
        smooth_step, (m_f[-1], P_f[-1]), (m_f[:-1], P_f[:-1], m_p[:-1], P_p[:-1], D[:-1]), reverse=True
    )
    m_s = jnp.concatenate([m_s, m_f[-1:]])
    P_s = jnp.concatenate([P_s, P_f[-1:]])
    return Smoothed(m_f, P_f, m_s, P_s, G, lag, loglik, used)


def m_step(
    h,
    smoothed: Smoothed,
    observations,
    mask,
    params: SSMParams,
    sigma=DEFAULT_SIGMA,
    A=None,
    min_variance=1e-8,
    frame_weights=None,
) -> SSMParams:
    """Closed-form updates of mu0, V0, Q (linear transition ``A``, identity if None) and diagonal R.
    ``frame_weights`` (T,): 1 for the sequence's frames, 0 for padding after its end (see `padded_length`), whose
    transitions then do not count in Q (their observations are masked, so R ignores them anyway)."""
    m, P, lag = smoothed.smoothed_means, smoothed.smoothed_covs, smoothed.lag_one_covs
    n = m.shape[1]
    A = jnp.eye(n) if A is None else jnp.asarray(A)
    w = jnp.ones(m.shape[0] - 1) if frame_weights is None else jnp.asarray(frame_weights, m.dtype)[1:]
    d = m[1:] - m[:-1] @ A.T
    # E[(x_t - A x_{t-1})(x_t - A x_{t-1})^T] with lag[t-1] = Cov(x_t, x_{t-1}), over the weighted transitions
    terms = (
        jnp.einsum("t,ti,tj->ij", w, d, d)
        + jnp.einsum("t,tij->ij", w, P[1:])
        - jnp.einsum("t,tij,kj->ik", w, lag, A)
        - jnp.einsum("ij,t,tkj->ik", A, w, lag)
        + jnp.einsum("ij,t,tjk,lk->il", A, w, P[:-1], A)
    )
    Q = _symmetric(terms / jnp.maximum(w.sum(), 1.0)) + min_variance * jnp.eye(n)
    lam, wm, wc = _weights(n, sigma)

    observations = jnp.asarray(observations)
    mask = jnp.asarray(mask, dtype=bool)
    # every step's sigma points in one batch (a vmap of h inside a vmap over time trips XLA's simplifier)
    points = jax.vmap(lambda mean, cov: _sigma_points(mean, cov, lam))(m, P)  # (T, 2n+1, n)
    images = jax.vmap(h)(points.reshape(-1, n)).reshape(points.shape[0], points.shape[1], -1)
    y_hat = jnp.einsum("k,tkd->td", wm, images)
    variance = jnp.einsum("k,tkd->td", wc, (images - y_hat[:, None]) ** 2)
    sq = (jnp.where(mask, observations, 0.0) - y_hat) ** 2 + variance
    count = mask.sum(0)
    R = jnp.where(count > 0, jnp.where(mask, sq, 0.0).sum(0) / jnp.maximum(count, 1), params.R)
    return SSMParams(m[0], P[0] + min_variance * jnp.eye(n), Q, jnp.maximum(R, min_variance))


def padded_length(frames: int, minimum: int = 16, per_octave: int = 8) -> int:
    """The length a sequence of ``frames`` is padded to (masked frames after its end) so that sequences of similar
    lengths share one compiled smoother: ``minimum``, else the next multiple of 2**k / ``per_octave`` (k the
    octave of ``frames``), at most 1 / ``per_octave`` longer than the sequence. Masked frames at the end change
    nothing before them: with no observation the filter only predicts, and the smoother's backward pass returns
    the filtered estimates unchanged from there (the M-step leaves their transitions out, `m_step`)."""
    if frames <= minimum:
        return minimum
    step = max(1, 2 ** (int(frames - 1).bit_length() - 1) // per_octave)
    return -(-frames // step) * step


class EMResult(NamedTuple):
    params: SSMParams
    smoothed: Smoothed
    logliks: list  # log-likelihood before each M-step


def em_step(
    f,
    h,
    params: SSMParams,
    observations,
    mask,
    sigma=DEFAULT_SIGMA,
    A=None,
    learn=("mu0", "V0", "Q", "R"),
    gate=None,
    frame_weights=None,
):
    """One EM iteration ``-> (new params, smoothed)``, traceable; parameters not named in ``learn`` stay as given;
    ``frame_weights`` as `m_step` takes them."""
    smoothed = unscented_smoother(f, h, params, observations, mask, sigma, gate)
    new = m_step(h, smoothed, observations, smoothed.used, params, sigma, A, frame_weights=frame_weights)
    new = SSMParams(*(getattr(new, k) if k in learn else getattr(params, k) for k in SSMParams._fields))
    return new, smoothed


def make_em_step(f, h, sigma: SigmaParams = DEFAULT_SIGMA, A=None, learn=("mu0", "V0", "Q", "R"), gate=None):
    """A jitted ``(params, observations, mask) -> (new params, smoothed)`` iteration. It compiles anew for each
    ``f``/``h``: callers running many subjects or cameras should jit `em_step` with those as traced arguments."""
    return jax.jit(lambda params, observations, mask: em_step(f, h, params, observations, mask, sigma, A, learn, gate))


def fit_em(
    f,
    h,
    params: SSMParams,
    observations,
    mask,
    iterations=20,
    tol=1e-4,
    sigma=DEFAULT_SIGMA,
    A=None,
    learn=("mu0", "V0", "Q", "R"),
    gate=None,
    step=None,
) -> EMResult:
    """EM: alternate smoothing and closed-form M-steps until the log-likelihood gains less than ``tol`` per
    observed entry, then smooth once more with the learned parameters. ``step``: a prebuilt
    ``(params, observations, mask) -> (new params, smoothed)`` iteration (e.g. a cached jitted `em_step`) used
    instead of ``make_em_step(f, h, sigma, A, learn, gate)``; it must implement the same model."""
    step = make_em_step(f, h, sigma, A, learn, gate) if step is None else step
    observations, mask = jnp.asarray(observations), jnp.asarray(mask, dtype=bool)
    observed = max(int(mask.sum()), 1)
    logliks = []
    for _ in range(iterations):
        new, smoothed = step(params, observations, mask)
        logliks.append(float(smoothed.loglik))
        params = new
        if len(logliks) > 1 and abs(logliks[-1] - logliks[-2]) < tol * observed:
            break
    _, smoothed = step(params, observations, mask)  # the same compiled step: its M-step output is unused
    return EMResult(params, smoothed, logliks)
