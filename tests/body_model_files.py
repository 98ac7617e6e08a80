"""Generated SMPL / SMPL+H / SMPL-X model files: every array smplx reads, in the real shapes and the real
kinematic trees, filled with random numbers (no licensed data), written where and as smplx looks for them."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from pose_pipeline.bodymodels.models import body_model_file_name

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def _hand_parents(wrist: int, first: int) -> list[int]:
    """15 hand joints from index ``first``: five fingers of three joints, each finger's first on the wrist."""
    return [parent for finger in range(5) for parent in (wrist, first + 3 * finger, first + 3 * finger + 1)]


PARENTS = {
    "smpl": SMPL_PARENTS,
    "smplh": SMPL_PARENTS[:22] + _hand_parents(20, 22) + _hand_parents(21, 37),
    "smplx": SMPL_PARENTS[:22] + [15, 15, 15] + _hand_parents(20, 25) + _hand_parents(21, 40),
}
VERTICES = {"smpl": 6890, "smplh": 6890, "smplx": 10475}
FACES = {"smpl": 13776, "smplh": 13776, "smplx": 20908}


def model_arrays(model_type: str, seed: int = 0, num_betas: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_vertices, parents = VERTICES[model_type], PARENTS[model_type]
    n_joints = len(parents)
    kintree = np.array([parents, range(n_joints)], dtype=np.int64)
    kintree[0, 0] = 4294967295  # as in the released files
    # each joint the mean of 20 vertices; each vertex bound to one joint
    regressor = np.zeros((n_joints, n_vertices))
    for j in range(n_joints):
        regressor[j, rng.choice(n_vertices, 20, replace=False)] = 1 / 20
    weights = np.zeros((n_vertices, n_joints))
    weights[np.arange(n_vertices), rng.integers(0, n_joints, n_vertices)] = 1.0
    betas = num_betas + (10 if model_type == "smplx" else 0)  # SMPL-X keeps 10 expression components after them
    data = {
        "v_template": rng.normal(0, 0.3, (n_vertices, 3)),
        "shapedirs": rng.normal(0, 0.01, (n_vertices, 3, betas)),
        "posedirs": rng.normal(0, 0.001, (n_vertices, 3, 9 * (n_joints - 1))).astype(np.float32),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, n_vertices, (FACES[model_type], 3)).astype(np.uint32),
    }
    if model_type != "smpl":
        for side in "lr":
            data[f"hands_components{side}"] = np.linalg.qr(rng.normal(size=(45, 45)))[0]
            data[f"hands_mean{side}"] = rng.normal(0, 0.1, 45)
    if model_type == "smplx":
        data["lmk_faces_idx"] = rng.integers(0, FACES["smplx"], 51)
        data["lmk_bary_coords"] = rng.dirichlet(np.ones(3), 51)
        data["dynamic_lmk_faces_idx"] = rng.integers(0, FACES["smplx"], (79, 17))
        data["dynamic_lmk_bary_coords"] = rng.dirichlet(np.ones(3), (79, 17))
    return data


def write_model_file(folder: Path, model_type: str, gender: str, seed: int = 0) -> Path:
    """Write ``<folder>/<type>/<file>`` (a plain pickle for SMPL and SMPL+H, an .npz for SMPL-X)."""
    path = Path(folder) / model_type / body_model_file_name(model_type, gender)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model_arrays(model_type, seed)
    if path.suffix == ".npz":
        np.savez(path, **data)
    else:
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=2)
    return path
