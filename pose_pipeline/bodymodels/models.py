"""Body models behind one interface: shape, pose, global orientation and translation in; keypoints, skeleton joints
and vertices out, in metres.

Two backends:

- ``anny``: Anny (PyPI ``anny``, NAVER; Apache-2.0 code, CC0 MakeHuman assets), shipped with its package, so the
  fit runs for every user and in CI. Its shape is 6 phenotype values in [0, 1] (gender, age, muscle, weight,
  height, proportions; 0.5 the average). Its pose is one rotation per bone of its 104-bone rig (fingers and toes
  included); the root bone is left at rest and global orientation is applied as below. Anny's own frame is z up,
  facing -y; its output is turned into the common frame here. Its keypoints come from Anny's own COCO regressor
  (23: COCO-17 and the 6 foot joints, linear in the vertices). First use builds Anny's model data (about 50 s on
  one core, 790 MB under ``~/.cache/anny``, or ``$ANNY_CACHE_DIR``) and compiles its Warp skinning kernel (about
  2 s, under ``~/.cache/warp``); later processes load both from the caches in about 0.5 s.
- ``smpl``, ``smplh``, ``smplx``: SMPL, SMPL+H and SMPL-X through the ``smplx`` package, from the user's
  chumpy-free model files (licensed: users register at smpl.is.tue.mpg.de / mano.is.tue.mpg.de /
  smpl-x.is.tue.mpg.de and download them). The files are looked for as manifest entries (``pose-pipeline
  weights`` lists them) under ``body_models/<type>/`` of every weights directory (``$POSE_PIPELINE_WEIGHTS``, then
  ``3rdparty/``), or in a folder given explicitly (``<folder>/<type>/<file>``, smplx's own layout)::

      body_models/smpl/SMPL_NEUTRAL.pkl   SMPL_MALE.pkl   SMPL_FEMALE.pkl
      body_models/smplh/SMPLH_MALE.pkl    SMPLH_FEMALE.pkl
      body_models/smplx/SMPLX_NEUTRAL.npz SMPLX_MALE.npz  SMPLX_FEMALE.npz

  Shape: ``num_betas`` betas (10 by default). Pose: SMPL 23 body joints; SMPL+H 21 body + 2 x 15 hand joints;
  SMPL-X 21 body, jaw, left eye, right eye, 2 x 15 hand joints (smplx's ``full_pose`` order without the root, hand
  poses as full axis-angle, not PCA; SMPL-X's expression is left at zero).

The common frame (every backend): y up, the body facing +z, x towards the body's left, metres. ``global_orient``
(axis-angle) rotates the posed body about its root joint (SMPL family: the pelvis joint of the shaped body; Anny:
its root bone's head, near the pelvis) and ``transl`` then moves it: smplx's convention, so stored SMPL parameters
run unchanged in smplx.

Keypoints are named (`BodyModel.keypoint_names`) so a 2D joint set maps to them by joint name (COCO-17, Halpe-26,
COCO-WholeBody-133 and BlazePose-33 share the names): SMPL family keypoints are its skeleton joints for shoulders,
elbows, wrists, hips, knees and ankles and smplx's vertex keypoints for nose, eyes, ears, toes and heels (SMPL's hip
joints sit lower and more inside than COCO's hip labels: a known offset of a few centimetres); Anny's are its COCO
regressor's.
"""

from __future__ import annotations

import functools
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..weights import CORRUPT, MISSING, WeightsError, check_weights, note_model_file, weights_dirs

MODEL_TYPES = ("anny", "smpl", "smplh", "smplx")
SMPL_FAMILY = ("smpl", "smplh", "smplx")
GENDERS = {"smpl": ("neutral", "male", "female"), "smplh": ("male", "female"), "smplx": ("neutral", "male", "female")}
FRAME = "body frame: y up, facing +z, x to the body's left"

# the names of the keypoints both backends give, in this order (COCO-17, then the feet as Halpe-26 names them)
KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel",
)  # fmt: skip

SMPL_BODY_JOINTS = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
_FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # SMPL+H / SMPL-X hand joint order, 3 joints each


def _hand(side: str) -> tuple[str, ...]:
    return tuple(f"{side}_{finger}{k}" for finger in _FINGERS for k in (1, 2, 3))


SKELETONS = {  # every skeleton joint, root first
    "smpl": (*SMPL_BODY_JOINTS, "left_hand", "right_hand"),
    "smplh": (*SMPL_BODY_JOINTS, *_hand("left"), *_hand("right")),
    "smplx": (*SMPL_BODY_JOINTS, "jaw", "left_eye_smplhf", "right_eye_smplhf", *_hand("left"), *_hand("right")),
}
# smplx appends vertex keypoints after the skeleton joints in this order (vertex_joint_selector.py)
_SMPLX_EXTRA = ("nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
                "left_heel", "right_big_toe", "right_small_toe", "right_heel")  # fmt: skip
_FILES = {"smpl": ("SMPL_{}.pkl"), "smplh": ("SMPLH_{}.pkl"), "smplx": ("SMPLX_{}.npz")}
# what smplx reads from each file, and the leading dimensions that must agree (V vertices, J joints)
_REQUIRED = {
    "smpl": ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f"),
    "smplh": ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f",
              "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr"),
    "smplx": ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f",
              "hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr", "lmk_faces_idx",
              "lmk_bary_coords"),
}  # fmt: skip
ANNY_TO_COMMON = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # Anny (z up, facing -y) -> common


class BodyModelFilesError(WeightsError):
    """A body model's files are missing, unreadable or not what smplx expects."""


def body_model_file_name(model_type: str, gender: str) -> str:
    """The file name smplx looks for, e.g. ``SMPL_NEUTRAL.pkl``."""
    _check_type_gender(model_type, gender)
    return _FILES[model_type].format(gender.upper())


def manifest_name(model_type: str, gender: str) -> str:
    """The manifest entry of a body-model file, e.g. ``smpl_neutral``."""
    return f"{model_type}_{gender}"


def _check_type_gender(model_type: str, gender: str) -> None:
    if model_type not in SMPL_FAMILY:
        raise ValueError(f"unknown SMPL-family model type {model_type!r}; known: {', '.join(SMPL_FAMILY)}")
    if gender not in GENDERS[model_type]:
        raise ValueError(f"{model_type} has no gender {gender!r}; its files: {', '.join(GENDERS[model_type])}")


def find_body_model_file(model_type: str, gender: str, folder: str | os.PathLike | None = None) -> Path:
    """Path of the user's model file; raises `BodyModelFilesError` naming the file and the folder(s) it belongs in.

    ``folder``: a folder laid out as smplx expects (``<folder>/smpl/SMPL_NEUTRAL.pkl``); default: the manifest
    entry under ``body_models/`` of the weights directories."""
    name = body_model_file_name(model_type, gender)
    if folder is not None:
        path = Path(folder).expanduser() / model_type / name
        if not path.is_file():
            raise BodyModelFilesError(
                f"{model_type} ({gender}) needs the file {name} in {path.parent} (the folder given), which has "
                f"{_listing(path.parent)}. {_how_to_get(model_type)}"
            )
        return path
    try:
        check = check_weights(manifest_name(model_type, gender))
    except WeightsError as error:
        raise BodyModelFilesError(f"{model_type} ({gender}): {error}") from None
    if check.status in (MISSING, CORRUPT):
        searched = ", ".join(str(d / "body_models" / model_type) for d in weights_dirs())
        raise BodyModelFilesError(
            f"{model_type} ({gender}) needs the file {name}: put it in one of {searched} "
            f"(or name a folder with $POSE_PIPELINE_WEIGHTS). {_how_to_get(model_type)}"
        )
    return check.path


def _listing(folder: Path) -> str:
    if not folder.is_dir():
        return "does not exist"
    names = sorted(p.name for p in folder.iterdir())
    return f"only {', '.join(names)}" if names else "nothing in it"


def _how_to_get(model_type: str) -> str:
    site = {"smpl": "https://smpl.is.tue.mpg.de", "smplh": "https://mano.is.tue.mpg.de",
            "smplx": "https://smpl-x.is.tue.mpg.de"}[model_type]  # fmt: skip
    return (
        f"Register and download it from {site} (licence: non-commercial research); files that hold chumpy objects "
        "must be converted to plain numpy first (smplx's tools/clean_ch.py)."
    )


def load_body_model_file(path: str | os.PathLike, model_type: str) -> dict:
    """The arrays of a chumpy-free SMPL-family file (pickle or npz), checked for what smplx reads; raises
    `BodyModelFilesError` naming the file on anything else."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=True) as archive:
                data = {key: archive[key] for key in archive.files}
        else:
            with open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
    except ModuleNotFoundError as error:
        raise BodyModelFilesError(
            f"{path} holds objects of the module {error.name!r} (a chumpy pickle, as the original downloads are): "
            "convert it to plain numpy arrays first (smplx's tools/clean_ch.py)"
        ) from None
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            ImportError, zipfile.BadZipFile) as error:  # fmt: skip  # a truncated or foreign file
        raise BodyModelFilesError(f"{path} cannot be read as a {model_type} model file: {error!r}") from None
    if not isinstance(data, dict):
        raise BodyModelFilesError(f"{path} holds a {type(data).__name__}, not the dict of arrays smplx reads")
    missing = [key for key in _REQUIRED[model_type] if key not in data]
    if missing:
        raise BodyModelFilesError(f"{path} lacks {', '.join(missing)}: it is not a {model_type} model file")
    n_joints = len(SKELETONS[model_type])
    v = np.shape(data["v_template"])
    checks = {
        "v_template": (len(v) == 2 and v[1] == 3, f"(V, 3), got {v}"),
        "shapedirs": (np.shape(data["shapedirs"])[:2] == v, f"({v[0]}, 3, betas), got {np.shape(data['shapedirs'])}"),
        "J_regressor": (tuple(np.shape(data["J_regressor"])) == (n_joints, v[0]),
                        f"({n_joints}, {v[0]}), got {np.shape(data['J_regressor'])}"),
        "weights": (tuple(np.shape(data["weights"])) == (v[0], n_joints),
                    f"({v[0]}, {n_joints}), got {np.shape(data['weights'])}"),
        "kintree_table": (tuple(np.shape(data["kintree_table"])) == (2, n_joints),
                          f"(2, {n_joints}), got {np.shape(data['kintree_table'])}"),
        "posedirs": (tuple(np.shape(data["posedirs"])) == (*v, 9 * (n_joints - 1)),
                     f"({v[0]}, 3, {9 * (n_joints - 1)}), got {np.shape(data['posedirs'])}"),
    }  # fmt: skip
    wrong = [f"{key} should be {text}" for key, (ok, text) in checks.items() if not ok]
    if wrong:
        raise BodyModelFilesError(f"{path} is not a {model_type} model file: {'; '.join(wrong)}")
    return data


@dataclass
class BodyOutput:
    """One forward pass, batch first, metres in the common frame: ``keypoints`` (B, K, 3) named by the model's
    ``keypoint_names``; ``joints`` (B, J, 3) the skeleton joints (``joint_names``, root first); ``vertices``
    (B, V, 3) or None when not asked for."""

    keypoints: object
    joints: object
    vertices: object | None


class BodyModel:
    """The interface: ``model(betas, pose, global_orient, transl)`` -> `BodyOutput` (torch tensors, differentiable).

    ``betas`` (B or 1, ``num_betas``); ``pose`` (B, ``len(pose_joint_names)``, 3) axis-angle per joint, the root
    excluded; ``global_orient`` (B, 3) axis-angle; ``transl`` (B, 3) metres. Attributes: ``model_type``, ``gender``,
    ``num_betas``, ``default_betas`` (the average body), ``pose_joint_names``, ``joint_names``, ``keypoint_names``,
    ``faces`` (F, 3) int, ``dtype``, ``device``."""

    model_type: str
    gender: str
    num_betas: int
    default_betas: np.ndarray
    pose_joint_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    keypoint_names: tuple[str, ...] = KEYPOINT_NAMES
    faces: np.ndarray

    def __call__(self, betas, pose, global_orient, transl, vertices: bool = True) -> BodyOutput:
        import torch

        betas, pose, global_orient, transl = (
            x.to(self.device, self.dtype) if isinstance(x, torch.Tensor)
            else torch.tensor(np.asarray(x, dtype=np.float64), dtype=self.dtype, device=self.device)  # a copy: rows
            for x in (betas, pose, global_orient, transl)  # fetched from the database are read-only arrays
        )  # fmt: skip
        n = pose.shape[0]
        if pose.shape[1:] != (len(self.pose_joint_names), 3):
            raise ValueError(
                f"{self.model_type} pose must be (B, {len(self.pose_joint_names)}, 3), got {tuple(pose.shape)}"
            )
        if betas.ndim != 2 or betas.shape[1] != self.num_betas or betas.shape[0] not in (1, n):
            raise ValueError(f"{self.model_type} betas must be (1 or {n}, {self.num_betas}), got {tuple(betas.shape)}")
        if global_orient.shape != (n, 3) or transl.shape != (n, 3):
            raise ValueError(f"global_orient and transl must be ({n}, 3), got {tuple(global_orient.shape)}, "
                             f"{tuple(transl.shape)}")  # fmt: skip
        return self._forward(betas, pose, global_orient, transl, vertices)

    def to(self, device):
        raise NotImplementedError

    def _forward(self, betas, pose, global_orient, transl, vertices: bool) -> BodyOutput:
        raise NotImplementedError


def _rotate_about(points, pivot, rotation, transl):
    """``R (p - pivot) + pivot + t`` for (B, N, 3) points, (B, 3) pivots, (B, 3, 3) rotations, (B, 3) t."""
    return (points - pivot[:, None]) @ rotation.transpose(1, 2) + (pivot + transl)[:, None]


class SMPLFamilyModel(BodyModel):
    """SMPL, SMPL+H or SMPL-X from a user's chumpy-free file, through smplx."""

    def __init__(self, model_type: str = "smpl", gender: str = "neutral", folder=None, num_betas: int = 10,
                 device: str = "cpu"):  # fmt: skip
        import smplx
        import torch
        from smplx.utils import Struct

        path = find_body_model_file(model_type, gender, folder)
        data = load_body_model_file(path, model_type)
        note_model_file(path, name=manifest_name(model_type, gender))
        kwargs = {"gender": gender, "num_betas": num_betas, "dtype": torch.float64}
        if model_type != "smpl":
            kwargs.update(use_pca=False, flat_hand_mean=True)
        if model_type == "smplx":  # SMPL-X always reads its file itself (already checked above)
            self.model = smplx.SMPLX(model_path=str(path), ext=path.suffix[1:], **kwargs)
        else:
            cls = smplx.SMPL if model_type == "smpl" else smplx.SMPLH
            self.model = cls(model_path=str(path.parent), data_struct=Struct(**data), **kwargs)
        self.model = self.model.to(device)
        self.path = path
        self.model_type, self.gender = model_type, gender
        self.num_betas = self.model.num_betas
        self.default_betas = np.zeros(self.num_betas)
        self.joint_names = SKELETONS[model_type]
        self.pose_joint_names = self.joint_names[1:]
        self.faces = np.asarray(self.model.faces, dtype=np.int64)
        self.dtype, self.device = torch.float64, torch.device(device)
        n = len(self.joint_names)
        extra = {name: n + i for i, name in enumerate(_SMPLX_EXTRA)}
        self._keypoint_index = [
            extra[name] if name in extra else self.joint_names.index(name) for name in self.keypoint_names
        ]

    def to(self, device):
        import torch

        self.model = self.model.to(device)
        self.device = torch.device(device)
        return self

    def _forward(self, betas, pose, global_orient, transl, vertices):
        import torch

        n = pose.shape[0]
        args = {
            "betas": betas.expand(n, -1),
            "global_orient": global_orient,
            "transl": transl,
            "return_verts": vertices,
        }
        if self.model_type == "smpl":
            args["body_pose"] = pose.reshape(n, -1)
        else:
            args["body_pose"] = pose[:, :21].reshape(n, -1)
            hands = pose[:, -30:]
            args["left_hand_pose"], args["right_hand_pose"] = hands[:, :15].reshape(n, -1), hands[:, 15:].reshape(n, -1)
        if self.model_type == "smplx":
            args["jaw_pose"], args["leye_pose"], args["reye_pose"] = pose[:, 21], pose[:, 22], pose[:, 23]
            args["expression"] = torch.zeros(n, self.model.num_expression_coeffs, dtype=self.dtype, device=self.device)
        out = self.model(**args)
        n_joints = len(self.joint_names)
        return BodyOutput(out.joints[:, self._keypoint_index], out.joints[:, :n_joints],
                          out.vertices if vertices else None)  # fmt: skip


class AnnyModel(BodyModel):
    """Anny (``anny`` package): the default rig and topology, local-ref pose parameters, float64."""

    model_type = "anny"
    gender = "neutral"  # Anny's gender is its first shape value, fitted with the others

    def __init__(self, device: str = "cpu"):
        import warp

        if warp.config.log_level == warp.LOG_INFO:  # Warp's banner and a line per kernel load would fill worker logs
            warp.config.log_level = warp.LOG_WARNING

        import anny
        import torch
        from anny.paths import get_anny_root_dir

        self.model = anny.Anny().to(device)
        self.regressor = anny.KeypointsRegressor.coco(self.model).to(device)
        # provenance: the package's version and its keypoint regressor (the mesh data ships inside the package)
        self.files = {
            get_anny_root_dir() / "data" / "keypoints" / "coco.pth": f"anny {anny.__version__} COCO keypoint regressor"
        }
        if tuple(self.regressor.labels) != KEYPOINT_NAMES:
            raise RuntimeError(f"anny's COCO regressor names {self.regressor.labels}, expected {KEYPOINT_NAMES}")
        self.dtype, self.device = self.model.dtype, torch.device(device)
        self.joint_names = tuple(self.model.bone_labels)
        self.pose_joint_names = self.joint_names[1:]
        self.num_betas = len(self.model.phenotype_labels)
        self.beta_names = tuple(self.model.phenotype_labels)
        self.default_betas = np.full(self.num_betas, 0.5)
        self.faces = self.model.get_triangular_faces().cpu().numpy().astype(np.int64)
        self._axes = torch.as_tensor(ANNY_TO_COMMON, dtype=self.dtype, device=self.device)

    def to(self, device):
        import torch

        self.model = self.model.to(device)
        self.regressor = self.regressor.to(device)
        self.device = torch.device(device)
        self._axes = self._axes.to(device)
        return self

    def _forward(self, betas, pose, global_orient, transl, vertices):
        import torch

        from .rotations import axis_angle_to_matrix

        n = pose.shape[0]
        transforms = torch.eye(4, dtype=self.dtype, device=self.device).repeat(n, self.model.bone_count, 1, 1)
        transforms[:, 1:, :3, :3] = axis_angle_to_matrix(pose)
        out = self.model(pose_parameters=transforms, phenotype_kwargs=betas)
        axes = self._axes.T
        keypoints = self.regressor(out) @ axes
        joints = out["bone_poses"][:, :, :3, 3] @ axes
        pivot = out["rest_bone_heads"][:, 0] @ axes
        rotation = axis_angle_to_matrix(global_orient)
        mesh = _rotate_about(out["vertices"] @ axes, pivot, rotation, transl) if vertices else None
        return BodyOutput(_rotate_about(keypoints, pivot, rotation, transl),
                          _rotate_about(joints, pivot, rotation, transl), mesh)  # fmt: skip


@functools.lru_cache(maxsize=2)
def _anny(device: str) -> AnnyModel:
    """One Anny per process and device: a worker fitting many subjects builds it once (0.5 s from Anny's caches)."""
    return AnnyModel(device)


def body_model(model_type: str = "anny", gender: str = "neutral", folder=None, device: str = "cpu",
               num_betas: int = 10) -> BodyModel:  # fmt: skip
    """Build a body model: ``"anny"`` or an SMPL-family type with the user's files (``folder``, else the manifest's
    ``body_models/`` entries); every missing or unreadable file is reported before anything is built."""
    if model_type == "anny":
        model = _anny(device)
        for path, name in model.files.items():
            note_model_file(path, name=name)
        return model
    if model_type not in SMPL_FAMILY:
        raise ValueError(f"unknown body model {model_type!r}; known: {', '.join(MODEL_TYPES)}")
    return SMPLFamilyModel(model_type, gender, folder, num_betas, device)
