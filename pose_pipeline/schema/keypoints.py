"""2D keypoint stage: top-down keypoints of each annotated subject, and their accuracy where ground truth exists.

PersonBbox ─► TopDownMethod (which 2D method) ─► TopDownPerson (frames × joints × [x, y, confidence])
TopDownPerson × KeypointGroundTruth ─► KeypointAccuracy (PCK, OKS mAP, errors)
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from .. import keypoints as _keypoints  # noqa: F401 - registers the 2D methods
from ..formats import Keypoints2D
from ..registry import MethodCall
from ..stages import TOP_DOWN
from . import LOOKUP_DEFINITION, nan_to_null
from .joint_sets import JointSet, store_joint_set  # noqa: F401 - JointSet is named in definitions
from .requests import MethodRequest
from .runs import PROVENANCE_DEFINITION, run_stage
from .tracking import PersonBbox, PersonBboxValid, TrackingBbox
from .video import VideoInfo, fetch_video

STAGE = "keypoints"
schema = dj.Schema()


@schema
class TopDownMethodLookup(dj.Lookup):
    """One registered top-down 2D keypoint method (rows come from `pose_pipeline.stages.TOP_DOWN`)."""

    registry = TOP_DOWN
    name_attribute = "top_down_method"
    definition = LOOKUP_DEFINITION.format(name=name_attribute)


@schema
class TopDownMethod(MethodRequest, dj.Manual):
    """A request: run one 2D method with one parameter set on one annotated subject. Insert only the parameters
    you override; the defaults are merged in and the merged parameters hashed into the key."""

    methods = (("top_down_method", TOP_DOWN, "params"),)
    hash_attribute = "top_down_params_hash"
    definition = """
    -> PersonBbox
    -> TopDownMethodLookup
    top_down_params_hash     : char(32)   # hash of the merged parameters (canonical JSON)
    ---
    params                   : json       # the method's parameters, defaults merged in
    """


@schema
class TopDownPerson(dj.Computed):
    """2D keypoints of one subject by one method: frames × joints × [x, y, confidence], x and y in full-frame
    pixels of the stored video, NaN in frames where the subject has no box (an ``imported`` result keeps the
    file's keypoints wherever the file has them; `pose_pipeline.schema.imports`)."""

    definition = (
        """
    -> TopDownMethod
    ---
    keypoints                : <blob>     # (frames, joints, 3) float32
    -> JointSet
    num_frames               : int32
    """
        + PROVENANCE_DEFINITION
    )

    def make(self, key):
        from ..keypoints.run import estimate_subject
        from ..video.reader import VideoReader

        params = (TopDownMethod & key).fetch1("params")
        boxes = (PersonBbox & key).fetch1("boxes").astype(float)
        imported = {}

        def estimate(estimator):
            if not getattr(estimator, "reads_frames", True):  # a result file read, checked against the video
                result = estimator.read_subject(boxes, video_facts(key))
                imported.update(estimator.source)
                return result
            with VideoReader(fetch_video(key)) as reader:
                return Keypoints2D(estimate_subject(reader, boxes, estimator), estimator.joint_set)

        # the estimator is built (weights checked) before the video is fetched or decoded
        result, columns = run_stage(estimate, MethodCall(TOP_DOWN, key["top_down_method"], params),
                                    n_frames=len(boxes))  # fmt: skip
        if imported:  # the source file, its sha256 and the reader that read it
            columns["provenance"]["imported"] = imported
        self.insert1(
            {
                **key,
                "keypoints": result.keypoints.astype(np.float32),
                "joint_set": result.joint_set,
                "num_frames": len(boxes),
                **columns,
            }
        )


def video_facts(key):
    """What an imported result is checked against: the video's frame count, size, name and frame times."""
    from ..imports.common import VideoFacts

    n_frames, width, height, timestamps = (VideoInfo & key).fetch1("num_frames", "width", "height", "timestamps")
    return VideoFacts(int(n_frames), int(width), int(height), f"{key['video_project']}/{key['filename']}",
                      np.asarray(timestamps, dtype=float))  # fmt: skip


@schema
class KeypointGroundTruth(dj.Manual):
    """Ground-truth 2D keypoints of one annotated subject (a synthetic scene's, or a user's labels)."""

    definition = """
    -> PersonBboxValid
    ---
    keypoints                : <blob>     # (frames, joints, 2) pixels, NaN where unlabelled
    visibility               : <blob>     # (frames, joints) COCO: 0 unlabelled, 1 occluded, 2 visible
    -> JointSet
    source                   : varchar(255)
    """


@schema
class KeypointAccuracy(dj.Computed):
    """How well one method's keypoints of one subject match the ground truth (same joint set)."""

    definition = """
    -> TopDownPerson
    -> KeypointGroundTruth
    ---
    pck_5px=null             : float64    # share of labelled keypoints within 5 pixels
    pck_01_box=null          : float64    # share within 0.1 × the larger box side
    oks_ap=null              : float64    # COCO keypoint AP@[.5:.95] (pycocotools)
    oks_ap50=null            : float64
    mean_error=null          : float64    # mean Euclidean error, pixels (DeepLabCut calls this "RMSE")
    rmse=null                : float64    # root-mean-square error, pixels
    num_keypoints            : int32      # labelled keypoints compared
    per_joint                : <blob>     # (joints, 4): PCK 5 px, PCK 0.1 box, mean error, RMSE
    """

    @property
    def key_source(self):
        return (TopDownPerson * KeypointGroundTruth.proj(gt_joint_set="joint_set")) & "joint_set = gt_joint_set"

    def make(self, key):
        from ..keypoints.metrics import keypoint_accuracy

        predicted, joint_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
        truth, visibility = (KeypointGroundTruth & key).fetch1("keypoints", "visibility")
        boxes = (PersonBbox & key).fetch1("boxes")
        metrics = keypoint_accuracy(predicted, truth, visibility, boxes=boxes, joint_set=joint_set,
                                    pck_pixels=5.0, pck_fraction=0.1)  # fmt: skip
        row = nan_to_null({column: metrics[name] for column, name in ACCURACY_COLUMNS.items()})
        row["num_keypoints"] = int(metrics["n_labelled"])
        per_joint = metrics["per_joint"]
        row["per_joint"] = np.stack([per_joint[name] for name in PER_JOINT_COLUMNS], axis=1).astype(np.float32)
        self.insert1({**key, **row})


# KeypointAccuracy's columns and the keys of `keypoint_accuracy`
ACCURACY_COLUMNS = {"pck_5px": "pck_px", "pck_01_box": "pck_box", "oks_ap": "AP", "oks_ap50": "AP50",
                    "mean_error": "mean_error", "rmse": "rmse"}  # fmt: skip
PER_JOINT_COLUMNS = ("pck_px", "pck_box", "mean_error", "rmse")


def insert_keypoint_ground_truth(key: dict, keypoints: np.ndarray, visibility: np.ndarray, joint_set: str,
                                 source: str) -> None:  # fmt: skip
    """Store ground-truth keypoints for the annotated subject ``key`` (it may leave out what is unambiguous)."""
    n_frames = (TrackingBbox & key).fetch1("num_frames")
    if keypoints.shape[0] != n_frames or visibility.shape != keypoints.shape[:2]:
        raise ValueError(f"ground truth covers {keypoints.shape[0]} frames with visibility {visibility.shape}; "
                         f"the video has {n_frames}")  # fmt: skip
    [subject] = _one(PersonBboxValid & {k: v for k, v in key.items() if k in PersonBboxValid.primary_key}, key)
    row = dict(subject)
    row.update(keypoints=keypoints.astype(np.float32), visibility=visibility.astype(np.int8), joint_set=joint_set,
               source=source[:255])  # fmt: skip
    with KeypointGroundTruth.connection.transaction:
        store_joint_set(joint_set)
        KeypointGroundTruth.insert1(row)


def _one(query, key: dict) -> list[dict]:
    keys = query.keys()
    if len(keys) != 1:
        raise ValueError(f"{key} names {len(keys)} annotated subjects, not one")
    return keys


METHOD_LOOKUPS = (TopDownMethodLookup,)
METHOD_REQUESTS = (TopDownMethod,)
