"""Body-model stage: each subject's 2D keypoints (and optionally its lifted 3D) fitted with a body model.

TopDownPerson ─► SMPLMethod (which method, which body model, which parameters) ─► SMPLPerson (shape, pose,
orientation, translation, camera, 3D joints and their reprojection)

A SMPLPerson row says what its numbers are: the model type (anny, smpl, smplh, smplx) and gender, ``betas`` (one
shape per subject: SMPL betas, or Anny's 6 phenotypes in [0, 1]), ``pose`` as axis-angle per joint in the order
``pose_joints`` names (the model's own layout, root excluded: SMPL 23, SMPL+H 51, SMPL-X 54, Anny 103 bones),
``global_orient`` and ``transl`` (the model's body frame, y up and facing +z, turned about its root joint into the
camera frame, x right, y down, z forward, metres: smplx's convention), the camera model and its parameters per
frame, COCO-17 joints in metres in the camera frame and their projection into the image. Vertices are not stored;
`smpl_vertices` recomputes them from a row.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from .. import bodymodels as _bodymodels  # noqa: F401 - registers the SMPL-stage methods
from ..bodymodels.fit import MISSING, NoUsableFramesError, UnmappableJointSetError, map_joints, usable_frames
from ..registry import MethodCall
from ..skeletons import get_joint_set
from ..stages import SMPL
from . import LOOKUP_DEFINITION
from .joint_sets import JointSet  # noqa: F401 - JointSet is named in definitions
from .keypoints import TopDownPerson
from .lifting import LiftingPerson
from .overlays import BlurredVideo, _fetch_video_field, _write_overlay  # noqa: F401 - BlurredVideo is named in a definition
from .requests import MethodRequest
from .runs import PROVENANCE_DEFINITION, run_stage
from .smpl_estimated import estimate_subject, needs_frames
from .tracking import PersonBboxValid
from .video import VideoInfo

STAGE = "smpl"
schema = dj.Schema()


@schema
class SMPLMethodLookup(dj.Lookup):
    """One registered body-model method (rows come from `pose_pipeline.stages.SMPL`)."""

    registry = SMPL
    name_attribute = "smpl_method"
    definition = LOOKUP_DEFINITION.format(name=name_attribute)


@schema
class SMPLMethod(MethodRequest, dj.Manual):
    """A request: fit one 2D result (one subject, one 2D method and parameter set) with one body-model method and
    parameter set (which model, camera, weights; ``lifting_method`` names the subject's lifted 3D to use).
    Insert only the parameters you override; the merged parameters are hashed into the key."""

    methods = (("smpl_method", SMPL, "params"),)
    hash_attribute = "smpl_params_hash"
    definition = """
    -> TopDownPerson
    -> SMPLMethodLookup
    smpl_params_hash         : char(32)   # hash of the merged parameters (canonical JSON)
    ---
    params                   : json       # the method's parameters, defaults merged in
    """


@schema
class SMPLPerson(dj.Computed):
    """A body-model fit of one subject by one method: one shape, and per frame the pose, orientation, translation
    and camera; 3D joints and their reprojection on ``joint_set``; NaN in frames without enough 2D joints."""

    definition = (
        """
    -> SMPLMethod
    ---
    model_type               : varchar(8)     # anny, smpl, smplh, smplx
    gender                   : varchar(8)     # neutral, male, female (Anny: neutral; its gender is a shape value)
    betas                    : <blob>     # (num_betas,) float64: the subject's shape
    betas_per_frame=null     : <blob>     # (frames, num_betas) where the method gives them
    pose                     : <blob>     # (frames, P, 3) float32 axis-angle per joint, pose_joints order, no root
    pose_joints              : json           # the P joint names: the model's pose layout
    global_orient            : <blob>     # (frames, 3) axis-angle: body frame (y up, facing +z) to camera frame
    transl                   : <blob>     # (frames, 3) metres, camera frame (x right, y down, z forward)
    camera_model             : varchar(20)    # perspective or weak_perspective
    camera_params            : <blob>     # (frames, 4) px: fx, fy, cx, cy (perspective) or s, s, tx, ty (weak)
    keypoints_3d             : <blob>     # (frames, joints, 3) float32 metres, camera frame
    keypoints_2d             : <blob>     # (frames, joints, 3) float32 reprojected x, y pixels and 1
    -> JointSet
    -> JointSet.proj(input_joint_set="joint_set")
    lifting_method=null      : varchar(32)    # the lifted 3D used, if any
    frame_status             : <blob>     # (frames,) int8: 0 fitted, 2 missing (NaN)
    num_frames               : int32
    num_missing              : int32
    reprojection_error=null  : float64    # mean pixels over the confident 2D joints of fitted frames
    """
        + PROVENANCE_DEFINITION
    )

    def make(self, key):
        params = (SMPLMethod & key).fetch1("params")
        keypoints, joint_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
        width, height = (VideoInfo & key).fetch1("width", "height")
        names = get_joint_set(joint_set).joints
        estimated = needs_frames(SMPL, key["smpl_method"])  # a released estimator reads frames and boxes
        if not estimated:
            _refuse_unfittable(key, keypoints, names, params)  # before a body model is built
        lifted, lifted_names = _lifted(key, params)

        def fit(fitter):
            if estimated:
                return estimate_subject(fitter, key)
            return fitter(keypoints.astype(np.float64), names, (width, height), lifted, lifted_names)

        result, columns = run_stage(fit, MethodCall(SMPL, key["smpl_method"], params), n_frames=len(keypoints))
        error = result.reprojection_error
        self.insert1(
            {
                **key,
                "model_type": result.model_type,
                "gender": result.gender,
                "betas": np.asarray(result.betas, np.float64),
                "betas_per_frame": result.betas_per_frame,
                "pose": result.pose.astype(np.float32),
                "pose_joints": list(result.pose_joints),
                "global_orient": result.global_orient.astype(np.float64),
                "transl": result.transl.astype(np.float64),
                "camera_model": result.camera,
                "camera_params": result.camera_params.astype(np.float64),
                "keypoints_3d": result.keypoints_3d.astype(np.float32),
                "keypoints_2d": result.keypoints_2d.astype(np.float32),
                "joint_set": result.joint_set,
                "input_joint_set": joint_set,
                "lifting_method": params.get("lifting_method"),
                "frame_status": result.frame_status.astype(np.int8),
                "num_frames": len(keypoints),
                "num_missing": int((result.frame_status == MISSING).sum()),
                "reprojection_error": float(error) if np.isfinite(error) else None,
                **columns,
            }
        )


@schema
class SMPLPersonVideo(dj.Computed):
    """An overlay video of one subject's body-model fit: the mesh, recomputed from the row and shaded, drawn half
    transparent over the face-blurred video through the stored camera (`pose_pipeline.bodymodels.render`)."""

    definition = """
    -> SMPLPerson
    -> BlurredVideo
    ---
    overlay                  : <object@derived>   # H.264 MP4
    sha256                   : char(64)   # of the stored file, verified whenever it is fetched
    """

    def make(self, key):
        from ..bodymodels.render import draw_mesh, project_mesh

        camera, params, status = (SMPLPerson & key).fetch1("camera_model", "camera_params", "frame_status")
        model = smpl_body_model(key)
        chunk = {"start": -(10**9), "vertices": None}

        def vertices_of(index):  # recomputed 64 frames at a time, as the overlay writer walks the video
            if not chunk["start"] <= index < chunk["start"] + 64:
                chunk["start"] = index
                chunk["vertices"] = smpl_vertices(key, np.arange(index, min(index + 64, len(status))), model=model)
            return chunk["vertices"][index - chunk["start"]]

        def draw(frame, index):
            if index < len(status) and status[index] != MISSING:
                vertices = vertices_of(index)
                draw_mesh(frame, project_mesh(vertices, camera, params[index]), vertices, model.faces)
            return frame

        _write_overlay(self, key, draw, "smpl_overlay.mp4")

    @staticmethod
    def fetch_path(key):
        """Local path of the overlay video (fetched once into the cache, checksum-verified)."""
        return _fetch_video_field(SMPLPersonVideo, key, "overlay")


def _describe(key: dict) -> str:
    subject = ", ".join(f"{name}={key[name]}" for name in PersonBboxValid.primary_key)
    return f"subject ({subject}), 2D method {key['top_down_method']!r}, SMPL method {key['smpl_method']!r}"


def _refuse_unfittable(key: dict, keypoints: np.ndarray, names, params: dict) -> None:
    try:
        source, _ = map_joints(names)
    except UnmappableJointSetError as error:
        raise UnmappableJointSetError(f"{_describe(key)}: {error}") from None
    if not usable_frames(keypoints, source, params["min_confidence"], params["min_joints"]).any():
        raise NoUsableFramesError(
            f"{_describe(key)}: no usable 2D frames to fit (none of the {len(keypoints)} frames has "
            f"{params['min_joints']} joints with confidence >= {params['min_confidence']}; the 2D result may be all NaN)"
        )


def _lifted(key: dict, params: dict):
    """The subject's lifted 3D the request names, as (keypoints, joint names), or (None, None)."""
    method = params.get("lifting_method")
    if not method:
        return None, None
    restriction = {"lifting_method": method}
    if params.get("lifting_params_hash"):
        restriction["lifting_params_hash"] = params["lifting_params_hash"]
    rows = (LiftingPerson & key & restriction).to_dicts()
    if len(rows) != 1:
        raise LookupError(
            f"{_describe(key)}: the request names the lifting {restriction}, of which {len(rows)} results exist for "
            "this subject; populate LiftingPerson first, or name lifting_params_hash when there are several"
        )
    return rows[0]["keypoints_3d"].astype(np.float64), get_joint_set(rows[0]["joint_set"]).joints


def smpl_vertices(key: dict, frames=None, device: str = "cpu", model=None) -> np.ndarray:
    """The mesh of a SMPLPerson row, recomputed: (frames, V, 3) metres in the camera frame, NaN in missing
    frames; ``frames`` selects some (indices); ``model``: the row's body model when already built
    (`smpl_body_model`, whose ``faces`` are the mesh's triangles)."""
    import torch

    row = (SMPLPerson & key).fetch1()
    model = model or smpl_body_model(key, device)
    index = np.arange(row["num_frames"]) if frames is None else np.asarray(frames)
    ok = row["frame_status"][index] != MISSING
    with torch.no_grad():
        rest = model(row["betas"][None], np.zeros((1, len(model.pose_joint_names), 3)), np.zeros((1, 3)),
                     np.zeros((1, 3)))  # fmt: skip
        vertices = np.full((len(index), rest.vertices.shape[1], 3), np.nan)
        if ok.any():
            fitted = model(row["betas"][None], row["pose"][index][ok].astype(np.float64),
                           row["global_orient"][index][ok], row["transl"][index][ok])  # fmt: skip
            vertices[ok] = fitted.vertices.cpu().numpy()
    return vertices


def smpl_body_model(key: dict, device: str = "cpu"):
    """The body model a SMPLPerson row was fitted with (`pose_pipeline.bodymodels.models.BodyModel`)."""
    from ..bodymodels.models import body_model

    model_type, gender, betas = (SMPLPerson & key).fetch1("model_type", "gender", "betas")
    params = (SMPLMethod & key).fetch1("params")
    return body_model(model_type, gender, folder=params.get("model_folder"), num_betas=len(betas), device=device)


def export_smpl_npz(key: dict, path) -> str:
    """Write a SMPLPerson row as ``.npz`` in AMASS's and smplx's layouts (`pose_pipeline.export.smpl`)."""
    from ..export.smpl import write_smpl_npz

    row = (SMPLPerson & key).fetch1()
    fps = (VideoInfo & key).fetch1("fps")
    path = write_smpl_npz(
        path,
        row["model_type"],
        row["gender"],
        row["betas"],
        row["pose"],
        row["global_orient"],
        row["transl"],
        fps=float(fps),
        pose_joints=row["pose_joints"],
        camera_model=row["camera_model"],
        camera_params=row["camera_params"],
    )
    return str(path)


METHOD_LOOKUPS = (SMPLMethodLookup,)
METHOD_REQUESTS = (SMPLMethod,)
