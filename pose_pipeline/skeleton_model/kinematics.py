"""Forward kinematics of a skeleton definition in JAX: state -> joints, markers and pixels in every camera.

State of one frame (a flat vector): global translation (3, metres), global rotation (3, a rotation vector), then
one unbounded parameter per free bone-rotation axis (joints in definition order, axes x, y, z; fixed axes have no
parameter). A bounded axis maps its parameter ``u`` to the angle ``mid + half * tanh(u / half)``: slope one at the
middle of the range, never outside ``(low, high)``, so the smoother and the optimisers work on an unconstrained
space while the skeleton stays within its limits (the study used error functions of the same shape). A free axis
(no limit) uses the angle itself.

Anatomy (per subject): bone lengths (joints,), metres, the root's unused; marker offsets (markers, 3), metres, in
the body frame at rest, from the joint each marker is attached to.

Importing this module turns on JAX's 64-bit mode: the smoother's covariances need it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp
import numpy as np

from . import camera as camera_module
from .definitions import SkeletonDefinition


def _local_frames(directions: np.ndarray) -> np.ndarray:
    """(J, 3, 3) rest frames, columns (x, y, z): z along the bone, x the body's lateral axis made orthogonal."""
    frames = np.tile(np.eye(3), (len(directions), 1, 1))
    for i, z in enumerate(directions):
        if not np.any(z):
            continue
        lateral = np.array([0.0, 1.0, 0.0])
        if abs(z @ lateral) > 0.95:  # a bone along the lateral axis (clavicle, pelvis): use the forward axis
            lateral = np.array([1.0, 0.0, 0.0])
        x = lateral - (lateral @ z) * z
        x /= np.linalg.norm(x)
        frames[i] = np.stack([x, np.cross(z, x), z], axis=1)
    return frames


@dataclass(frozen=True, eq=False)
class KinematicModel:
    """A skeleton definition compiled to arrays for one regime (with or without angle limits)."""

    skeleton: SkeletonDefinition
    relaxed: bool
    parents: tuple[int, ...]
    directions: np.ndarray  # (J, 3) unit rest directions
    frames: np.ndarray  # (J, 3, 3)
    free: np.ndarray  # (J, 3) bool: axis has a state parameter
    low: np.ndarray  # (F,) radians, -inf where unbounded
    high: np.ndarray  # (F,)
    marker_joints: np.ndarray  # (M,)

    @property
    def n_angles(self) -> int:
        return int(self.free.sum())

    @property
    def n_state(self) -> int:
        return 6 + self.n_angles

    @property
    def bounded(self) -> np.ndarray:
        return np.isfinite(self.low)


_COMPILED: dict[tuple[str, bool], KinematicModel] = {}


def compile_model(skeleton: SkeletonDefinition, relax: bool = False) -> KinematicModel:
    """Arrays for `forward`. ``relax``: drop all angle limits but fixed axes (the study's unconstrained regimes).
    The same definition (by checksum) gives the same model object in a process, so the functions JAX compiled
    for it (cached per model) are reused by every later fit, e.g. the next recording a worker takes."""
    key = (skeleton.sha256(), bool(relax))
    if key not in _COMPILED:
        if len(_COMPILED) >= 32:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = _compile_model(skeleton, bool(relax))
    return _COMPILED[key]


def _compile_model(skeleton: SkeletonDefinition, relax: bool) -> KinematicModel:
    vectors = skeleton.rest_vectors()
    lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
    directions = np.divide(vectors, lengths, out=np.zeros_like(vectors), where=lengths > 0)
    limits = skeleton.angle_limits(relax=relax)
    fixed = limits[..., 0] == limits[..., 1]  # NaN (free) compares False
    free = ~fixed
    free[0] = False  # the root's rotation is the global rotation
    low = limits[..., 0][free]
    high = limits[..., 1][free]
    return KinematicModel(
        skeleton=skeleton,
        relaxed=relax,
        parents=tuple(int(p) for p in skeleton.parents),
        directions=directions,
        frames=_local_frames(directions),
        free=free,
        low=np.where(np.isnan(low), -np.inf, low),
        high=np.where(np.isnan(high), np.inf, high),
        marker_joints=skeleton.marker_joints(),
    )


@dataclass(frozen=True, eq=False)
class Anatomy:
    """One subject's bone lengths (J,) and marker offsets (M, 3), metres."""

    bone_lengths: np.ndarray
    marker_offsets: np.ndarray

    def to_dict(self) -> dict:
        return {"bone_lengths": self.bone_lengths.tolist(), "marker_offsets": self.marker_offsets.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Anatomy:
        return cls(np.asarray(data["bone_lengths"], float), np.asarray(data["marker_offsets"], float).reshape(-1, 3))


def rest_anatomy(skeleton: SkeletonDefinition) -> Anatomy:
    """The definition's own bone lengths and marker offsets."""
    return Anatomy(skeleton.rest_lengths(), skeleton.marker_offsets())


def angles_to_params(model: KinematicModel, angles):
    """Free-axis angles (F,) radians -> unbounded parameters (inverse of the reparameterisation); angles on or
    beyond a limit are pulled just inside it."""
    angles = np.asarray(angles, dtype=float)
    bounded = model.bounded
    low, high = np.where(bounded, model.low, -1.0), np.where(bounded, model.high, 1.0)
    mid, half = np.where(bounded, (low + high) / 2, 0.0), np.where(bounded, (high - low) / 2, 1.0)
    ratio = np.clip((angles - mid) / half, -1 + 1e-9, 1 - 1e-9)
    return np.where(bounded, half * np.arctanh(ratio), angles)


def params_to_angles(model: KinematicModel, params):
    """Unbounded parameters (..., F) -> angles (..., F) radians within the limits."""
    bounded = model.bounded
    low, high = np.where(bounded, model.low, -1.0), np.where(bounded, model.high, 1.0)
    mid, half = jnp.asarray((low + high) / 2), jnp.asarray((high - low) / 2)
    return jnp.where(bounded, mid + half * jnp.tanh(params / half), params)


def unsaturate(model: KinematicModel, states, limit: float = 2.5) -> np.ndarray:
    """States (..., S) with every bounded parameter pulled back to ``|u| <= limit * half`` (angles move by at most
    1.3 % of their range): deep in a tanh's flat end the gradient vanishes and an optimiser started there stays."""
    states = np.array(states, dtype=float)
    half = np.where(
        model.bounded, (np.where(model.bounded, model.high, 1.0) - np.where(model.bounded, model.low, -1.0)) / 2, np.inf
    )
    states[..., 6:] = np.clip(states[..., 6:], -limit * half, limit * half)
    return states


def make_state(model: KinematicModel, translation=(0, 0, 0), rotvec=(0, 0, 0), angles=None) -> np.ndarray:
    """A state vector from a translation, a global rotation vector and free-axis angles (radians; rest if None)."""
    angles = np.zeros(model.n_angles) if angles is None else np.asarray(angles, dtype=float)
    return np.concatenate([np.asarray(translation, float), np.asarray(rotvec, float), angles_to_params(model, angles)])


def rotvec_to_matrix(r):
    """Rodrigues: rotation vector (3,) -> matrix, smooth at zero (gradients included)."""
    theta2 = r @ r
    small = theta2 < 1e-12
    safe = jnp.where(small, 1.0, theta2)
    theta = jnp.sqrt(safe)
    a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
    b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / safe)
    k = jnp.array([[0.0, -r[2], r[1]], [r[2], 0.0, -r[0]], [-r[1], r[0], 0.0]])
    return jnp.eye(3) + a * k + b * (k @ k)


def euler_xyz(angles):
    """Intrinsic x-y-z rotations Rx(a) @ Ry(b) @ Rz(c) for angles (..., 3) -> (..., 3, 3)."""
    c, s = jnp.cos(angles), jnp.sin(angles)
    cx, cy, cz = c[..., 0], c[..., 1], c[..., 2]
    sx, sy, sz = s[..., 0], s[..., 1], s[..., 2]
    rows = [
        [cy * cz, -cy * sz, sy],
        [sx * sy * cz + cx * sz, -sx * sy * sz + cx * cz, -sx * cy],
        [-cx * sy * cz + sx * sz, cx * sy * sz + sx * cz, cx * cy],
    ]
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def joint_angles(model: KinematicModel, state):
    """(J, 3) bone-rotation angles (radians) of one state; zeros on fixed axes and for the root."""
    angles = params_to_angles(model, state[6:])
    full = jnp.zeros((len(model.parents), 3))
    return full.at[np.nonzero(model.free)].set(angles)


def _levels(parents: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Joints grouped by depth (root excluded), with their parents: one batched step per level."""
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    levels = []
    for level in range(1, max(depth) + 1):
        idx = np.array([j for j in range(len(parents)) if depth[j] == level])
        levels.append((idx, np.array([parents[j] for j in idx])))
    return levels


def forward(model: KinematicModel, bone_lengths, marker_offsets, state):
    """One frame: joint positions (J, 3) and marker positions (M, 3), metres, world frame."""
    frames = jnp.asarray(model.frames)
    local = frames @ euler_xyz(joint_angles(model, state)) @ jnp.swapaxes(frames, 1, 2)  # (J, 3, 3)
    bones = bone_lengths[:, None] * jnp.asarray(model.directions)  # (J, 3) rest bone vectors
    rotations = jnp.zeros((len(model.parents), 3, 3)).at[0].set(rotvec_to_matrix(state[3:6]))
    positions = jnp.zeros((len(model.parents), 3)).at[0].set(state[:3])
    for idx, parent in _levels(model.parents):
        rotation = jnp.einsum("jab,jbc->jac", rotations[parent], local[idx])
        rotations = rotations.at[idx].set(rotation)
        positions = positions.at[idx].set(positions[parent] + jnp.einsum("jab,jb->ja", rotation, bones[idx]))
    joints = jnp.asarray(model.marker_joints)
    markers = positions[joints] + jnp.einsum("mij,mj->mi", rotations[joints], marker_offsets)
    return positions, markers


@functools.lru_cache(maxsize=64)
def _sequence_fn(model: KinematicModel):
    return jax.jit(jax.vmap(lambda s, lengths, offsets: forward(model, lengths, offsets, s), in_axes=(0, None, None)))


def forward_sequence(model: KinematicModel, anatomy: Anatomy, states):
    """States (T, S) -> joints (T, J, 3) and markers (T, M, 3)."""
    return _sequence_fn(model)(
        jnp.asarray(states), jnp.asarray(anatomy.bone_lengths), jnp.asarray(anatomy.marker_offsets)
    )


def pixels(model: KinematicModel, bone_lengths, marker_offsets, camera_arrays, state):
    """One state -> (C * M * 2,) pixels of every marker in every camera, ordered (camera, marker, u/v)."""
    _, markers = forward(model, bone_lengths, marker_offsets, state)
    return jnp.swapaxes(camera_module.project(camera_arrays, markers), 0, 1).reshape(-1)


def emission_function(model: KinematicModel, anatomy: Anatomy, cameras: camera_module.Cameras):
    """h(state) -> (C * M * 2,) pixels, with this subject's anatomy and these cameras fixed."""
    lengths, offsets = jnp.asarray(anatomy.bone_lengths), jnp.asarray(anatomy.marker_offsets)
    arrays = cameras.arrays()
    return lambda state: pixels(model, lengths, offsets, arrays, state)


@functools.lru_cache(maxsize=64)
def _pixels_fn(model: KinematicModel):
    return jax.jit(jax.vmap(functools.partial(pixels, model), in_axes=(None, None, None, 0)))


def project_sequence(model: KinematicModel, anatomy: Anatomy, cameras: camera_module.Cameras, states):
    """States (T, S) -> marker pixels (T, C, M, 2)."""
    flat = _pixels_fn(model)(
        jnp.asarray(anatomy.bone_lengths), jnp.asarray(anatomy.marker_offsets), cameras.arrays(), jnp.asarray(states)
    )
    return flat.reshape(len(states), len(cameras), len(model.marker_joints), 2)
