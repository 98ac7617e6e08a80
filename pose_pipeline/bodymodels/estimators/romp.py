"""ROMP (Sun et al., ICCV 2021; PyPI ``simple-romp``, MIT code): one-stage multi-person SMPL regression from whole
frames, its output converted to the stored layout.

What ROMP gives per frame (``romp.main.ROMP.forward``, ``romp.post_parser.pack_params_dict``), one row per person
found on its 64 x 64 centre map:

- ``smpl_thetas`` (N, 72): axis-angle, SMPL's 24 joints, the root first; the network predicts 22 rotations in the
  interleaved 6D layout (SPIN's ``view(-1, 3, 2)``) and ROMP appends zeros for the two hand joints;
- ``smpl_betas`` (N, 10); ``center_preds`` (N, 2): x, y of the person's centre on ROMP's 512 x 512 input;
  ``center_confs`` (N, 1);
- ``cam`` (N, 3): a weak-perspective camera ``(s, tx, ty)`` on the input normalised to [-1, 1]: a SMPL joint X
  (smplx's joints without translation, already turned into the camera frame by ``global_orient``) lands at
  ``(s * X[:2] + (tx, ty) + 1) * P / 2 - (left, top)`` pixels of the frame, P the longer image side and
  (left, top) the padding ROMP adds to make the frame square (``romp.utils.padding_image``).

The conversion keeps the pose and shape as they are and replaces the weak-perspective camera by a full-perspective
one: for intrinsics (fx, fy, cx, cy), the translation that projects the model's z = 0 plane exactly as ROMP's
camera does is ``Tz = 2 fx / (s P)``, ``Tx = ((tx + 1) P / 2 - left - cx) Tz / fx`` and the same for y (a joint at
depth z off that plane lands (u - cx) Tz / (Tz + z) from the principal point instead: the perspective effect the
weak-perspective camera leaves out). The default intrinsics are ROMP's: a 60 degree field of
view over the padded frame, the principal point at the frame's centre, which gives ``Tx = tx / s``. (ROMP's own
``convert_cam_to_3d_trans`` returns ``2 (tx / s, ty / s, 1 / s)``, right in depth for a focal length of P but twice
too far sideways; it is not used.) Pass the user's calibration to get metric depth for that camera.

The weights (``ROMP.pkl``) and the SMPL files are the user's: ``romp_v1`` and ``smpl_neutral`` in the manifest.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import types

import numpy as np

from pose_pipeline.formats import SMPLParams
from pose_pipeline.skeletons import COCO17
from pose_pipeline.stages import SMPL

from ..fit import MISSING

WEIGHTS = "romp_v1"
INPUT_SIZE = 512  # ROMP's network input, square
FOV_DEGREES = 60.0  # ROMP's assumed field of view over the padded frame (focal 443.4 px at 512)
FITTED = 0


def romp_modules():
    """ROMP's model, pre- and post-processing modules, without running ``romp/__init__``: that imports
    ``romp.main``, which at import looks for its checkpoint under ``~/.romp`` and, when it is absent, runs
    ``pip install wget`` and tries to download it."""
    if "romp" not in sys.modules:
        spec = importlib.util.find_spec("romp")
        if spec is None:
            raise ModuleNotFoundError(
                "the romp SMPL method needs ROMP (simple-romp): uv pip install -e '.[romp]' from a checkout, or with "
                "pip, as its sdist needs Cython to build: pip install cython numpy && pip install "
                "--no-build-isolation simple-romp==1.1.4"
            )
        package = types.ModuleType("romp")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["romp"] = package
    from romp import model, post_parser, utils

    return model, post_parser, utils


def default_intrinsics(image_size) -> np.ndarray:
    """(fx, fy, cx, cy) of ROMP's assumed camera for a ``(width, height)`` frame."""
    width, height = image_size
    focal = max(width, height) / 2 / math.tan(math.radians(FOV_DEGREES) / 2)
    return np.array([focal, focal, width / 2, height / 2])


def pad_info(image_size) -> tuple[int, int]:
    """(left, top) padding ROMP adds to a ``(width, height)`` frame to make it square (``padding_image``)."""
    width, height = image_size
    side = max(width, height)
    return (side - width) // 2, (side - height) // 2


def weak_to_perspective(cam, image_size, intrinsics) -> np.ndarray:
    """ROMP's (N, 3) weak-perspective cameras (s, tx, ty) -> (N, 3) translations in metres for ``intrinsics``."""
    cam = np.asarray(cam, np.float64).reshape(-1, 3)
    fx, fy, cx, cy = np.asarray(intrinsics, np.float64)
    side = max(image_size)
    left, top = pad_info(image_size)
    s, tx, ty = cam.T
    tz = 2 * fx / (s * side)
    return np.stack([((tx + 1) * side / 2 - left - cx) * tz / fx, ((ty + 1) * side / 2 - top - cy) * tz / fy, tz], -1)


def centres_in_image(center_preds, image_size) -> np.ndarray:
    """ROMP's (N, 2) person centres on its 512 input -> pixels of the frame."""
    left, top = pad_info(image_size)
    return np.asarray(center_preds, np.float64) * max(image_size) / INPUT_SIZE - [left, top]


def pick_person(outputs: dict | None, box, image_size) -> int | None:
    """The row of ROMP's ``outputs`` that is the subject: the person whose centre lies in the subject's box
    ``(x, y, width, height)``, the nearest to the box's centre when several do; None when none does."""
    if outputs is None or box is None or not np.isfinite(box).all():
        return None
    centres = centres_in_image(outputs["center_preds"], image_size)
    x, y, w, h = box
    inside = (centres[:, 0] >= x) & (centres[:, 0] <= x + w) & (centres[:, 1] >= y) & (centres[:, 1] <= y + h)
    if not inside.any():
        return None
    distance = np.linalg.norm(centres - [x + w / 2, y + h / 2], axis=1)
    return int(np.argmin(np.where(inside, distance, np.inf)))


def convert_person(outputs: dict, index: int, image_size, intrinsics) -> dict:
    """One person of ROMP's per-frame ``outputs`` in the stored layout: ``global_orient`` (3,), ``pose`` (23, 3)
    axis-angle (SMPL's body joints after the root), ``betas`` (10,), ``transl`` (3,) metres for ``intrinsics``."""
    thetas = np.asarray(outputs["smpl_thetas"][index], np.float64).reshape(24, 3)
    return {
        "global_orient": thetas[0],
        "pose": thetas[1:],
        "betas": np.asarray(outputs["smpl_betas"][index], np.float64),
        "transl": weak_to_perspective(outputs["cam"][index], image_size, intrinsics)[0],
    }


def romp_to_smpl_params(per_frame: list[dict | None], body_model, image_size, intrinsics=None) -> SMPLParams:
    """Frames of converted persons (`convert_person`, None where the subject was not found) -> `SMPLParams`:
    one shape (the mean of the per-frame betas, which are kept as ``betas_per_frame``), COCO-17 joints from the
    SMPL model with that shape, and their perspective projection."""
    import torch

    intrinsics = default_intrinsics(image_size) if intrinsics is None else np.asarray(intrinsics, np.float64)
    n = len(per_frame)
    found = np.array([p is not None for p in per_frame], bool)
    if not found.any():
        raise ValueError(f"ROMP found the subject in none of the {n} frames")
    pose = np.full((n, 23, 3), np.nan)
    orient, transl, betas = np.full((n, 3), np.nan), np.full((n, 3), np.nan), np.full((n, 10), np.nan)
    for i, person in enumerate(per_frame):
        if person is not None:
            pose[i], orient[i], transl[i], betas[i] = person["pose"], person["global_orient"], person["transl"], \
                person["betas"]  # fmt: skip
    shape = betas[found].mean(0)
    coco = [body_model.keypoint_names.index(name) for name in COCO17.joints]
    keypoints_3d = np.full((n, len(coco), 3), np.nan)
    with torch.no_grad():
        out = body_model(shape[None], pose[found], orient[found], transl[found], vertices=False)
    keypoints_3d[found] = out.keypoints[:, coco].cpu().numpy()
    fx, fy, cx, cy = intrinsics
    z = keypoints_3d[..., 2]
    keypoints_2d = np.stack([fx * keypoints_3d[..., 0] / z + cx, fy * keypoints_3d[..., 1] / z + cy,
                             np.where(np.isfinite(z), 1.0, np.nan)], -1)  # fmt: skip
    return SMPLParams(
        model_type="smpl",
        gender=body_model.gender,
        betas=shape,
        betas_per_frame=betas,
        pose=pose,
        pose_joints=tuple(body_model.pose_joint_names),
        global_orient=orient,
        transl=transl,
        camera="perspective",
        camera_params=np.tile(intrinsics, (n, 1)),
        keypoints_3d=keypoints_3d,
        keypoints_2d=keypoints_2d,
        joint_set=COCO17.name,
        frame_status=np.where(found, FITTED, MISSING).astype(np.int8),
    )


class ROMPEstimator:
    """ROMP's network and the user's SMPL model; ``estimator(frames, boxes, image_size, intrinsics=None)`` runs
    ROMP on each RGB frame, keeps the person inside the subject's box (PersonBbox's ``(x, y, width, height)``,
    NaN where the subject has none) and returns `SMPLParams`. ``intrinsics`` (fx, fy, cx, cy) pixels: the user's
    calibration (given here or at the call), else ROMP's assumed camera."""

    needs_frames = True

    def __init__(self, network, body_model, center_thresh: float = 0.25, device: str = "cpu", intrinsics=None):
        self.network, self.body_model, self.device = network, body_model, device
        self.intrinsics = None if intrinsics is None else np.asarray(intrinsics, np.float64).reshape(4)
        _, post_parser, _ = romp_modules()
        self.centermap_parser = post_parser.CenterMap(conf_thresh=center_thresh)

    def detect(self, frame: np.ndarray) -> dict | None:
        """ROMP's parsed output of one RGB frame (numpy arrays), as ``ROMP.single_image_forward`` makes it, plus
        its ``cam_trans``; None when nobody is found."""
        import torch

        _, post_parser, utils = romp_modules()
        image, _ = utils.img_preprocess(np.ascontiguousarray(frame[..., ::-1]), INPUT_SIZE)  # ROMP reads BGR
        with torch.no_grad():
            center_maps, params_maps = self.network(image.to(self.device))
            params_maps[:, 0] = torch.pow(1.1, params_maps[:, 0])  # ROMP's scale is predicted as a log
            outputs = post_parser.parsing_outputs(center_maps, params_maps, self.centermap_parser)
            if outputs is None:
                return None
            outputs["cam_trans"] = post_parser.convert_cam_to_3d_trans(outputs["cam"])
        return {key: value.cpu().numpy() for key, value in outputs.items()}

    def __call__(self, frames, boxes, image_size, intrinsics=None) -> SMPLParams:
        intrinsics = self.intrinsics if intrinsics is None else intrinsics
        intrinsics = default_intrinsics(image_size) if intrinsics is None else np.asarray(intrinsics, np.float64)
        boxes = np.asarray(boxes, np.float64)
        per_frame = []
        for i, frame in enumerate(frames):
            if i >= len(boxes):
                raise ValueError(f"more frames than the {len(boxes)} boxes")
            outputs = self.detect(frame) if np.isfinite(boxes[i]).all() else None
            index = pick_person(outputs, boxes[i], image_size)
            per_frame.append(None if index is None else convert_person(outputs, index, image_size, intrinsics))
        if len(per_frame) != len(boxes):
            raise ValueError(f"{len(per_frame)} frames but {len(boxes)} boxes")
        return romp_to_smpl_params(per_frame, self.body_model, image_size, intrinsics)


def load_network(path, device: str = "cpu"):
    """ROMP v1 (HRNet-32) with the checkpoint at ``path`` (a state dict, as released)."""
    import torch

    model, _, _ = romp_modules()
    network = model.ROMPv1().eval()
    network.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return network.to(device)


@SMPL.register(
    "romp",
    version="1.0",
    params={"center_thresh": 0.25, "intrinsics": None, "model_folder": None, "device": "auto"},
    description="ROMP (ICCV 2021, simple-romp, MIT code): one-stage SMPL regression from whole frames; the person "
    "whose centre falls in the subject's box is kept; its weak-perspective camera converted to a perspective "
    "translation for the given (or ROMP's 60 degree) intrinsics. Needs the user's ROMP.pkl and SMPL_NEUTRAL.pkl.",
    requires=("romp",),
    device="any",
)
def romp(center_thresh=0.25, intrinsics=None, model_folder=None, device: str = "auto") -> ROMPEstimator:
    """Check and load the user's ROMP checkpoint and neutral SMPL model. ``intrinsics``: the camera's (fx, fy,
    cx, cy) in pixels, or None for ROMP's assumed 60 degree camera; ``device``: auto, cpu, cuda."""
    import torch

    from pose_pipeline.weights import require_weights

    from ..models import body_model

    romp_modules()  # the package first: a clear message when the extra is not installed
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    path = require_weights(WEIGHTS)
    smpl = body_model("smpl", "neutral", folder=model_folder, num_betas=10, device=device)
    return ROMPEstimator(load_network(path, device), smpl, center_thresh, device, intrinsics)


romp.needs_frames = True  # SMPLPerson gives it the video's frames and the subject's boxes, not 2D keypoints
