"""SMPLify-style fit of a body model to one subject's 2D keypoint trajectory, in PyTorch (pure: no schema).

What is minimised, over every frame at once (Adam; on the GPU when there is one):

- **reprojection**: the confidence-weighted Geman-McClure error between the model's keypoints, projected through
  the camera, and the 2D keypoints (joints below ``min_confidence`` or NaN count zero). Errors are measured in
  metres at the subject (pixels divided by the subject's median pixels per metre), so the weights do not depend on
  the image size;
- **pose prior**: a zero-mean Gaussian on each fitted joint's axis-angle around the prior pose (Anny's rest A-pose;
  for SMPL-family models its T-pose with the arms lowered 1.2 rad). SMPLify's GMM prior and VPoser need
  licensed files; this one needs none, and it is weaker: it keeps joints near rest, it knows no pose statistics;
- **joint-angle limits**: squared excess beyond per-joint ranges of each axis-angle component (knees and elbows
  bend one way only, hips, spine, neck and feet within anatomical ranges; `LIMITS`);
- **shape prior**: a zero-mean Gaussian on SMPL betas (they are standardised by construction); for Anny a Gaussian
  around the average phenotype 0.5, the phenotypes kept in [0, 1] by a sigmoid;
- **temporal smoothness**: squared 3D acceleration of the keypoints (metres per frame squared) and squared pose
  velocity;
- optionally, **lifted 3D**: the root-relative distance to a lifter's 3D joints (`pose_pipeline.lifting`), which
  also initialises each frame's orientation (Kabsch on the torso and limbs).

One shape (betas) per subject; pose, global orientation and translation per frame. Only body joints are fitted
(`FIT_JOINTS`: no fingers, toes, face); the others stay at rest. Frames with fewer than ``min_joints`` confident
joints are fitted only through the priors and smoothness and reported as missing (NaN).

Cameras (stored with the fit):

- ``perspective`` (default): pinhole, fixed intrinsics ``fx = fy = focal_length`` pixels (default: the image
  diagonal, as CLIFF assumes for unknown cameras; give the real focal length when the camera is calibrated) and the
  principal point at the image centre; the body's translation is in the camera frame (x right, y down, z forward,
  metres). Parameters per frame: ``fx, fy, cx, cy``.
- ``weak_perspective``: ``u = s x + tx``, ``v = s y + ty`` with a scale ``s`` (pixels per metre) and an offset per
  frame; depth is not observed (translation z stays at 0). Parameters per frame: ``s, s, tx, ty``.

Orientation is initialised from four headings (facing the camera, away, and both sides) fitted on the torso;
each frame keeps the best, which settles the front/back ambiguity that a 2D fit alone cannot.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .models import KEYPOINT_NAMES, BodyModel
from .rotations import axis_angle_to_matrix, matrix_to_axis_angle

PERSPECTIVE, WEAK_PERSPECTIVE = "perspective", "weak_perspective"
CAMERAS = (PERSPECTIVE, WEAK_PERSPECTIVE)
FITTED, MISSING = 0, 2

# 2D joint names that name a body-model keypoint differently
ALIASES = {
    "left_foot": "left_ankle",  # H36M-17
    "right_foot": "right_ankle",
    "left_foot_index": "left_big_toe",  # BlazePose-33
    "right_foot_index": "right_big_toe",
}
TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
MIN_MAPPED = 6  # a 2D joint set must name at least this many body-model keypoints

_ANNY_FIT = ("spine05", "spine03", "spine01", "neck01", "head", "upperleg01.L", "upperleg01.R", "lowerleg01.L",
             "lowerleg01.R", "foot.L", "foot.R", "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R")  # fmt: skip
_SMPL_FIT = ("left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
             "spine3", "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow")  # fmt: skip
FIT_JOINTS = {"anny": _ANNY_FIT, "smpl": _SMPL_FIT, "smplh": _SMPL_FIT, "smplx": _SMPL_FIT}

_PI = np.pi
# (low, high) of each axis-angle component, radians, in each model's joint axes. Anny's local-ref axes and SMPL's
# are both aligned with the body at rest: x to the body's left (flexion), y up / z forward for SMPL, Anny's own
# y forward-back and z up. Knees flex about +x in both; hips flex about -x.
_GENERIC = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))
LIMITS = {
    "anny": {
        "lowerleg01.L": ((-0.1, -0.3, -0.3), (2.6, 0.3, 0.3)),
        "lowerleg01.R": ((-0.1, -0.3, -0.3), (2.6, 0.3, 0.3)),
        "upperleg01.L": ((-2.3, -0.8, -0.8), (0.7, 0.8, 0.8)),
        "upperleg01.R": ((-2.3, -0.8, -0.8), (0.7, 0.8, 0.8)),
        "foot.L": ((-0.8, -0.4, -0.5), (0.8, 0.4, 0.5)),
        "foot.R": ((-0.8, -0.4, -0.5), (0.8, 0.4, 0.5)),
        "lowerarm01.L": ((-2.6, -1.3, -1.3), (0.3, 1.3, 1.3)),
        "lowerarm01.R": ((-2.6, -1.3, -1.3), (0.3, 1.3, 1.3)),
        "upperarm01.L": ((-2.5, -2.0, -1.5), (2.5, 2.0, 1.5)),
        "upperarm01.R": ((-2.5, -2.0, -1.5), (2.5, 2.0, 1.5)),
        **{name: ((-0.6, -0.4, -0.5), (0.6, 0.4, 0.5)) for name in ("spine05", "spine03", "spine01")},
        **{name: ((-0.8, -0.6, -0.9), (0.8, 0.6, 0.9)) for name in ("neck01", "head")},
    },
    "smpl": {
        "left_knee": ((-0.1, -0.3, -0.3), (2.6, 0.3, 0.3)),
        "right_knee": ((-0.1, -0.3, -0.3), (2.6, 0.3, 0.3)),
        "left_hip": ((-2.3, -0.8, -0.8), (0.7, 0.8, 0.8)),
        "right_hip": ((-2.3, -0.8, -0.8), (0.7, 0.8, 0.8)),
        "left_elbow": ((-1.0, -2.6, -0.3), (1.0, 0.1, 0.3)),  # SMPLify: the left elbow bends about -y
        "right_elbow": ((-1.0, -0.1, -0.3), (1.0, 2.6, 0.3)),
        "left_ankle": ((-0.8, -0.5, -0.4), (0.8, 0.5, 0.4)),
        "right_ankle": ((-0.8, -0.5, -0.4), (0.8, 0.5, 0.4)),
        "left_shoulder": ((-1.5, -2.0, -2.5), (1.5, 2.0, 1.5)),
        "right_shoulder": ((-1.5, -2.0, -1.5), (1.5, 2.0, 2.5)),
        **{name: ((-0.6, -0.5, -0.4), (0.6, 0.5, 0.4)) for name in ("spine1", "spine2", "spine3")},
        **{name: ((-0.8, -0.9, -0.6), (0.8, 0.9, 0.6)) for name in ("neck", "head")},
    },
}
LIMITS["smplh"] = LIMITS["smplx"] = LIMITS["smpl"]
# prior (and initial) pose: SMPL's rest is a T-pose; lowering the arms makes the zero-mean prior sensible
PRIOR_POSE = {"smpl": {"left_shoulder": (0.0, 0.0, -1.2), "right_shoulder": (0.0, 0.0, 1.2)}}
PRIOR_POSE["smplh"] = PRIOR_POSE["smplx"] = PRIOR_POSE["smpl"]

DEFAULTS = {
    "camera": PERSPECTIVE,
    "focal_length": None,  # pixels; None: the image diagonal
    "iterations": 150,  # of the full fit, after 100 of the orientation stage (which does not evaluate the model)
    "learning_rate": 0.03,
    "min_confidence": 0.3,
    "min_joints": 6,
    "robust_scale": 0.1,  # metres at the subject: Geman-McClure's scale
    "pose_prior_weight": 2e-3,
    "limit_weight": 1.0,
    "shape_prior_weight": 1e-3,
    "smooth_weight": 1.0,
    "pose_smooth_weight": 1e-3,
    "lifting_weight": 0.1,
    "window": 600,  # frames fitted at once (Anny: about 4 MB a frame); longer subjects in overlapping windows
    "window_overlap": 30,
    "device": "auto",
}


class UnmappableJointSetError(ValueError):
    """The 2D joint set names too few of the body model's keypoints to fit."""


class NoUsableFramesError(ValueError):
    """No frame has enough confident 2D joints to fit."""


@dataclass
class BodyFit:
    """One subject's fit. Per frame: ``pose`` (frames, P, 3) axis-angle in the model's pose layout,
    ``global_orient`` (frames, 3), ``transl`` (frames, 3) metres in the camera frame, ``camera_params`` (frames, 4)
    (``camera`` says which kind), ``keypoints_3d`` (frames, K, 3) the model's keypoints in the camera frame and
    ``keypoints_2d`` (frames, K, 2) their projection in pixels, named by ``keypoint_names``; ``frame_status``
    (0 fitted, 2 missing: NaN). ``betas`` (num_betas,) the subject's one shape. ``losses``: the final terms."""

    model_type: str
    gender: str
    betas: np.ndarray
    pose: np.ndarray
    pose_joint_names: tuple[str, ...]
    global_orient: np.ndarray
    transl: np.ndarray
    camera: str
    camera_params: np.ndarray
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    frame_status: np.ndarray
    keypoint_names: tuple[str, ...] = KEYPOINT_NAMES
    reprojection_error: float = float("nan")  # mean pixels over the confident joints of fitted frames
    losses: dict = field(default_factory=dict)
    iterations: int = 0
    seconds: float = 0.0


def map_joints(joint_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(2D indices, body-model keypoint indices) of the joints a 2D joint set shares with the body models, by name
    (`ALIASES` for H36M-17 and BlazePose-33); raises `UnmappableJointSetError` under `MIN_MAPPED`."""
    source, target = [], []
    for index, name in enumerate(joint_names):
        name = ALIASES.get(name, name)
        if name in KEYPOINT_NAMES:
            source.append(index)
            target.append(KEYPOINT_NAMES.index(name))
    if len(source) < MIN_MAPPED:
        raise UnmappableJointSetError(
            f"the 2D joints ({', '.join(joint_names[:8])}{', ...' if len(joint_names) > 8 else ''}) name only "
            f"{len(source)} of the body model's keypoints ({', '.join(KEYPOINT_NAMES)}); the fit needs {MIN_MAPPED}"
        )
    return np.array(source), np.array(target)


def usable_frames(keypoints: np.ndarray, joints: np.ndarray, min_confidence: float, min_joints: int) -> np.ndarray:
    """(frames,) bool: frames with at least ``min_joints`` of ``joints`` finite and confident."""
    picked = keypoints[:, joints]
    ok = np.isfinite(picked[..., :2]).all(-1) & (np.nan_to_num(picked[..., 2]) >= min_confidence)
    return ok.sum(1) >= min_joints


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _gmof(squared, scale: float):
    return squared / (squared + scale**2)


def _project(points, camera: str, params):
    """(T, K, 3) camera-frame points -> (T, K, 2) pixels; ``params`` (T, 4) as `BodyFit.camera_params`."""
    import torch

    if camera == PERSPECTIVE:
        z = points[..., 2:3].clamp(min=1e-3)
        return points[..., :2] / z * params[:, None, :2] + params[:, None, 2:]
    return points[..., :2] * params[:, None, :2] + params[:, None, 2:] + torch.zeros_like(points[..., :2])


def _heading(yaw: float) -> np.ndarray:
    """Axis-angle of the body frame (y up, facing +z) turned to stand in the camera frame (y down) facing the
    camera, then turned by ``yaw`` about the vertical."""
    from scipy.spatial.transform import Rotation

    upright = Rotation.from_rotvec([np.pi, 0.0, 0.0])  # y up -> y down; facing +z -> facing -z, the camera
    return (upright * Rotation.from_rotvec([0.0, yaw, 0.0])).as_rotvec()


def _kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) best taking centred ``source`` (N, 3) onto centred ``target`` (no reflection)."""
    s, t = source - source.mean(0), target - target.mean(0)
    u, _, vt = np.linalg.svd(s.T @ t)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return (u @ np.diag([1.0, 1.0, d]) @ vt).T


def fit_body_model(
    model: BodyModel,
    keypoints: np.ndarray,
    joint_names: Sequence[str],
    image_size: tuple[int, int],
    *,
    lifted: np.ndarray | None = None,
    lifted_names: Sequence[str] | None = None,
    betas: np.ndarray | None = None,
    progress=None,
    **params,
) -> BodyFit:
    """Fit ``model`` to ``keypoints`` (frames, joints, 3: x, y pixels, confidence) named by ``joint_names`` in an
    image of ``image_size`` (width, height). ``lifted`` (frames, joints, 3) metres, camera axes, named by
    ``lifted_names``, adds a 3D term and initialises the orientation. ``betas``: a known shape, kept fixed.
    ``params`` override `DEFAULTS`. Refuses an unmappable joint set and a subject without usable frames before any
    work.

    A subject longer than ``window`` frames is fitted in windows of ``window`` frames overlapping by
    ``window_overlap``: first the shape, on up to ``window`` usable frames spread over the whole subject (without
    the smoothness terms, which need consecutive frames), then every window with that shape fixed; each frame is
    taken from the window in which it lies furthest from an edge."""
    import torch

    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown fit parameters {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    if p["camera"] not in CAMERAS:
        raise ValueError(f"camera must be one of {CAMERAS}, got {p['camera']!r}")
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1] != len(joint_names) or keypoints.shape[2] < 3:
        raise ValueError(f"keypoints must be (frames, {len(joint_names)}, 3), got {keypoints.shape}")
    source, target = map_joints(joint_names)
    usable = usable_frames(keypoints, source, p["min_confidence"], p["min_joints"])
    if not usable.any():
        raise NoUsableFramesError(
            f"no frame of {len(keypoints)} has {p['min_joints']} joints with confidence >= {p['min_confidence']} "
            "among those the body model can use; the 2D result may be all NaN"
        )
    if len(keypoints) > p["window"]:
        return _fit_windows(model, keypoints, joint_names, image_size, usable, lifted, lifted_names, betas, progress, p)
    started = time.perf_counter()
    device = _device(p["device"])
    model.to(device)
    dtype = model.dtype
    n_frames, n_keypoints = len(keypoints), len(KEYPOINT_NAMES)
    width, height = image_size

    # observations on the model's keypoints; unusable frames observe nothing
    observed = np.full((n_frames, n_keypoints, 2), 0.0)
    weight = np.zeros((n_frames, n_keypoints))
    xy, conf = keypoints[:, source, :2], keypoints[:, source, 2]
    good = np.isfinite(xy).all(-1) & (np.nan_to_num(conf) >= p["min_confidence"]) & usable[:, None]
    observed[:, target] = np.where(good[..., None], xy, 0.0)
    weight[:, target] = np.where(good, np.nan_to_num(conf), 0.0)
    obs = torch.as_tensor(observed, dtype=dtype, device=device)
    w = torch.as_tensor(weight, dtype=dtype, device=device)

    # the rest body: its size in metres and its root
    pose_names = model.pose_joint_names
    fit_index = [pose_names.index(name) for name in FIT_JOINTS[model.model_type]]
    prior = np.zeros((len(fit_index), 3))
    for name, value in PRIOR_POSE.get(model.model_type, {}).items():
        prior[FIT_JOINTS[model.model_type].index(name)] = value
    limits = LIMITS[model.model_type]
    low = np.array([limits.get(name, _GENERIC)[0] for name in FIT_JOINTS[model.model_type]])
    high = np.array([limits.get(name, _GENERIC)[1] for name in FIT_JOINTS[model.model_type]])
    full_rest = np.zeros((1, len(pose_names), 3))
    full_rest[0, fit_index] = prior
    shape = model.default_betas if betas is None else np.asarray(betas, dtype=np.float64)
    with torch.no_grad():
        rest = model(shape[None], full_rest, np.zeros((1, 3)), np.zeros((1, 3)), vertices=False)
    rest_kp = rest.keypoints[0].cpu().numpy()
    root = rest.joints[0, 0].cpu().numpy()
    k = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
    mid = lambda a, b: (a + b) / 2
    torso_m = np.linalg.norm(mid(rest_kp[k["left_shoulder"]], rest_kp[k["right_shoulder"]])
                             - mid(rest_kp[k["left_hip"]], rest_kp[k["right_hip"]]))  # fmt: skip

    # the subject's scale in pixels: median torso (else the keypoints' extent) over usable frames
    full = np.full((n_frames, n_keypoints, 2), np.nan)
    full[:, target] = np.where(good[..., None], xy, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without a torso or any joint: NaN, handled below
        torso_px = np.linalg.norm(np.nanmean(full[:, [k["left_shoulder"], k["right_shoulder"]]], 1)
                                  - np.nanmean(full[:, [k["left_hip"], k["right_hip"]]], 1), axis=-1)  # fmt: skip
        extent_px = np.nanmax(full[..., 1], 1) - np.nanmin(full[..., 1], 1)
        per_frame_px = np.where(np.isfinite(torso_px), torso_px / torso_m, extent_px / 1.5)
        pixels_per_metre = float(np.nanmedian(per_frame_px[usable]))
        centre_px = np.nanmean(full, 1)
        centre_px = np.where(np.isfinite(centre_px), centre_px, np.nanmedian(centre_px[usable], 0))
    if not np.isfinite(pixels_per_metre) or pixels_per_metre <= 0:
        raise NoUsableFramesError("the 2D keypoints have no extent to scale the body by")
    per_frame_px = np.where(np.isfinite(per_frame_px) & (per_frame_px > 0), per_frame_px, pixels_per_metre)

    # camera and initial translation (the root lands on the keypoints' centre)
    focal = float(p["focal_length"] or np.hypot(width, height))
    if p["camera"] == PERSPECTIVE:
        depth = focal / per_frame_px
        centre_m = np.stack([(centre_px[:, 0] - width / 2) * depth / focal,
                             (centre_px[:, 1] - height / 2) * depth / focal, depth], -1)  # fmt: skip
        camera_init = np.tile([focal, focal, width / 2, height / 2], (n_frames, 1))
    else:
        centre_m = np.zeros((n_frames, 3))
        camera_init = np.stack([per_frame_px, per_frame_px, centre_px[:, 0], centre_px[:, 1]], -1)
    transl_init = centre_m - root

    # orientation: from the lifted 3D where given, else four headings tried on the torso
    lifted_t = None
    if lifted is not None:
        lifted = np.asarray(lifted, dtype=np.float64)
        lift_src, lift_dst = map_joints(lifted_names)
        lifted_kp = np.full((n_frames, n_keypoints, 3), np.nan)
        lifted_kp[:, lift_dst] = lifted[:, lift_src]
        orient_init = np.tile(_heading(0.0), (n_frames, 1))
        for t in range(n_frames):
            ok = np.isfinite(lifted_kp[t]).all(-1)
            if ok.sum() >= 4:
                rotation = _kabsch(rest_kp[ok] - root, lifted_kp[t, ok])
                orient_init[t] = matrix_to_axis_angle(rotation)
        lifted_t = torch.as_tensor(np.nan_to_num(lifted_kp), dtype=dtype, device=device)
        lifted_w = torch.as_tensor(np.isfinite(lifted_kp).all(-1).astype(float), dtype=dtype, device=device)
    else:
        orient_init = None

    def tensor(x, grad=True):
        return torch.tensor(np.asarray(x), dtype=dtype, device=device, requires_grad=grad)

    anny = model.model_type == "anny"
    scale = torch.as_tensor(per_frame_px, dtype=dtype, device=device)  # pixels per metre, per frame

    def reprojection(points, camera_params):
        residual = (_project(points, p["camera"], camera_params) - obs) / scale[:, None, None]
        return (w * _gmof((residual**2).sum(-1), p["robust_scale"])).sum() / w.sum().clamp(min=1)

    def betas_of(raw):
        return torch.sigmoid(raw) if anny else raw

    def full_pose(fitted, n):
        pose = torch.zeros((n, len(pose_names), 3), dtype=dtype, device=device)
        pose[:, fit_index] = fitted
        return pose

    def camera_of(cam_raw):
        if p["camera"] == PERSPECTIVE:
            return cam_raw.detach()
        return torch.cat([cam_raw[:, :1].exp(), cam_raw[:, :1].exp(), cam_raw[:, 1:]], -1)

    def camera_raw(init):
        if p["camera"] == PERSPECTIVE:
            return tensor(init, grad=False)
        return tensor(np.concatenate([np.log(init[:, :1]), init[:, 2:]], -1))

    if betas is None:
        betas_raw = tensor(np.zeros((1, model.num_betas)))  # sigmoid(0) = 0.5: Anny's average; SMPL's mean shape
    else:  # fixed: the raw value that gives it
        fixed = np.clip(shape, 1e-6, 1 - 1e-6) if anny else shape
        betas_raw = tensor((np.log(fixed / (1 - fixed)) if anny else fixed)[None], grad=False)
    prior_t = torch.as_tensor(prior, dtype=dtype, device=device)

    # stage 1: orientation and translation on the torso, from several headings unless the lifted 3D gave one
    headings = [orient_init] if orient_init is not None else [np.tile(_heading(y), (n_frames, 1))
                                                              for y in (0.0, _PI / 2, _PI, -_PI / 2)]  # fmt: skip
    n_try = len(headings)
    torso = torch.zeros(n_keypoints, dtype=dtype, device=device)
    torso[[k[name] for name in TORSO]] = 1.0
    orient = tensor(np.concatenate(headings))
    transl = tensor(np.tile(transl_init, (n_try, 1)))
    cam = camera_raw(np.tile(camera_init, (n_try, 1)))
    # pose and shape stay at rest here, so the body is its rest keypoints turned and moved: no model evaluation
    rest_rel = torch.as_tensor(rest_kp - root, dtype=dtype, device=device)
    root_t = torch.as_tensor(root, dtype=dtype, device=device)
    optimiser = torch.optim.Adam([orient, transl] + ([cam] if cam.requires_grad else []), lr=p["learning_rate"])
    obs_all, w_all, scale_all = obs.repeat(n_try, 1, 1), (w * torso).repeat(n_try, 1), scale.repeat(n_try)
    for _ in range(100):
        optimiser.zero_grad()
        points = rest_rel @ axis_angle_to_matrix(orient).transpose(1, 2) + (root_t + transl)[:, None]
        residual = (_project(points, p["camera"], camera_of(cam)) - obs_all) / scale_all[:, None, None]
        per_frame = (w_all * _gmof((residual**2).sum(-1), p["robust_scale"])).sum(-1)
        per_frame.sum().backward()
        optimiser.step()
    best = per_frame.detach().reshape(n_try, n_frames).argmin(0).cpu().numpy()
    pick = best * n_frames + np.arange(n_frames)
    orient = tensor(orient.detach().cpu().numpy()[pick])
    transl = tensor(transl.detach().cpu().numpy()[pick])
    cam = camera_raw(camera_of(cam).detach().cpu().numpy()[pick])

    # stage 2: everything
    fitted = tensor(np.tile(prior, (n_frames, 1, 1)))
    variables = [fitted, orient, transl] + [x for x in (betas_raw, cam) if x.requires_grad]
    optimiser = torch.optim.Adam(variables, lr=p["learning_rate"])
    low_t, high_t = (torch.as_tensor(x, dtype=dtype, device=device) for x in (low, high))
    beta_centre = 0.0
    losses = {}
    for iteration in range(int(p["iterations"])):
        optimiser.zero_grad()
        betas = betas_of(betas_raw)
        out = model(betas, full_pose(fitted, n_frames), orient, transl, vertices=False)
        points = out.keypoints
        terms = {
            "reprojection": reprojection(points, camera_of(cam)),
            "pose_prior": p["pose_prior_weight"] * ((fitted - prior_t) ** 2).sum(-1).mean(),
            "limits": p["limit_weight"]
            * ((torch.relu(fitted - high_t) + torch.relu(low_t - fitted)) ** 2).sum((-1, -2)).mean(),
            "shape_prior": p["shape_prior_weight"] * (((betas - 0.5) if anny else (betas - beta_centre)) ** 2).sum(),
        }
        if n_frames >= 3:
            terms["smooth"] = p["smooth_weight"] * ((points[2:] - 2 * points[1:-1] + points[:-2]) ** 2).sum(-1).mean()
        if n_frames >= 2:
            terms["pose_smooth"] = p["pose_smooth_weight"] * ((fitted[1:] - fitted[:-1]) ** 2).sum(-1).mean()
        if lifted_t is not None:
            rel = points - 0.5 * (points[:, [k["left_hip"]]] + points[:, [k["right_hip"]]])
            lrel = lifted_t - 0.5 * (lifted_t[:, [k["left_hip"]]] + lifted_t[:, [k["right_hip"]]])
            lw = lifted_w * lifted_w[:, [k["left_hip"]]] * lifted_w[:, [k["right_hip"]]]
            terms["lifting"] = p["lifting_weight"] * (lw * ((rel - lrel) ** 2).sum(-1)).sum() / lw.sum().clamp(min=1)
        loss = sum(terms.values())
        loss.backward()
        optimiser.step()
        losses = {name: float(value.detach()) for name, value in terms.items()}
        if progress is not None:
            progress(iteration, losses)

    with torch.no_grad():
        betas = betas_of(betas_raw)
        pose = full_pose(fitted, n_frames)
        out = model(betas, pose, orient, transl, vertices=False)
        camera_params = camera_of(cam)
        projected = _project(out.keypoints, p["camera"], camera_params)
    projected = projected.cpu().numpy()
    missing = ~usable
    error = np.linalg.norm(projected - observed, axis=-1)[weight > 0]

    def nan_missing(x):
        x = np.array(x, dtype=np.float64)
        x[missing] = np.nan
        return x

    return BodyFit(
        model_type=model.model_type,
        gender=model.gender,
        betas=betas[0].detach().cpu().numpy().astype(np.float64),
        pose=nan_missing(pose.detach().cpu().numpy()),
        pose_joint_names=tuple(pose_names),
        global_orient=nan_missing(orient.detach().cpu().numpy()),
        transl=nan_missing(transl.detach().cpu().numpy()),
        camera=p["camera"],
        camera_params=nan_missing(camera_params.detach().cpu().numpy()),
        keypoints_3d=nan_missing(out.keypoints.cpu().numpy()),
        keypoints_2d=nan_missing(projected),
        frame_status=np.where(missing, MISSING, FITTED).astype(np.int8),
        reprojection_error=float(error.mean()) if error.size else float("nan"),
        losses=losses,
        iterations=int(p["iterations"]),
        seconds=time.perf_counter() - started,
    )


def _fit_windows(model, keypoints, joint_names, image_size, usable, lifted, lifted_names, betas, progress, p):
    """`fit_body_model` of a long subject in overlapping windows with one shape (see its docstring)."""
    started = time.perf_counter()
    window, overlap = int(p["window"]), int(p["window_overlap"])
    if not 0 <= overlap < window:
        raise ValueError(f"window_overlap must be in [0, window), got {overlap} for window {window}")
    inner = {k: v for k, v in p.items()}
    if betas is None:
        sample = np.flatnonzero(usable)
        sample = sample[np.linspace(0, len(sample) - 1, min(window, len(sample))).round().astype(int)]
        shape_fit = fit_body_model(
            model, keypoints[sample], joint_names, image_size,
            lifted=None if lifted is None else np.asarray(lifted)[sample], lifted_names=lifted_names,
            **{**inner, "smooth_weight": 0.0, "pose_smooth_weight": 0.0},
        )  # fmt: skip
        betas = shape_fit.betas
    n = len(keypoints)
    starts = list(range(0, max(n - overlap, 1), window - overlap))
    pieces = []
    for index, start in enumerate(starts):
        end = min(start + window, n)
        first = 0 if index == 0 else start + overlap // 2  # the frames this window keeps
        last = n if index == len(starts) - 1 else end - (overlap - overlap // 2)
        if not usable[start:end].any():
            pieces.append((first, last, start, None))
            continue
        fit = fit_body_model(
            model, keypoints[start:end], joint_names, image_size, betas=betas, progress=progress,
            lifted=None if lifted is None else np.asarray(lifted)[start:end], lifted_names=lifted_names, **inner,
        )  # fmt: skip
        pieces.append((first, last, start, fit))
        if last >= n:
            break
    template = next(fit for *_, fit in pieces if fit is not None)

    def stitched(name):
        shape = getattr(template, name).shape[1:]
        out = np.full((n, *shape), np.nan)
        for first, last, start, fit in pieces:
            if fit is not None:
                out[first:last] = getattr(fit, name)[first - start : last - start]
        return out

    status = np.full(n, MISSING, dtype=np.int8)
    for first, last, start, fit in pieces:
        if fit is not None:
            status[first:last] = fit.frame_status[first - start : last - start]
    points = stitched("keypoints_2d")
    observed = np.full((n, len(KEYPOINT_NAMES), 2), np.nan)
    source, target = map_joints(joint_names)
    confident = np.isfinite(keypoints[:, source, :2]).all(-1) & (
        np.nan_to_num(keypoints[:, source, 2]) >= p["min_confidence"]
    )
    observed[:, target] = np.where(confident[..., None], keypoints[:, source, :2], np.nan)
    error = np.linalg.norm(points - observed, axis=-1)
    error = error[np.isfinite(error) & (status == FITTED)[:, None]]
    return dataclasses.replace(
        template,
        betas=np.asarray(betas, dtype=np.float64),
        pose=stitched("pose"),
        global_orient=stitched("global_orient"),
        transl=stitched("transl"),
        camera_params=stitched("camera_params"),
        keypoints_3d=stitched("keypoints_3d"),
        keypoints_2d=points,
        frame_status=status,
        reprojection_error=float(error.mean()) if error.size else float("nan"),
        seconds=time.perf_counter() - started,
    )
