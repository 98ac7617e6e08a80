"""Joint sets in the database: what every keypoint array's joint axis means, readable by any process.

A result row names its joint set; the set's joints (order, names, OKS sigmas) and bones are stored here, written
with the first result that uses them (`store_joint_set`, called by the stage run path) and never changed after:
a different definition under a stored name is refused. The built-in sets are stored at activation. This module
registers the database lookup `pose_pipeline.skeletons.get_joint_set` falls back to, so a worker on another
machine reads a DeepLabCut model's or a ``combined`` method's joints without having built the model.
"""

from __future__ import annotations

import datajoint as dj

from .. import resolvers
from ..skeletons import BUILT_IN, get_joint_set
from ..skeletons import JointSet as JointSetDefinition

STAGE = "joint_sets"
schema = dj.Schema()


class JointSetConflictError(ValueError):
    """A joint set is already stored under this name with a different definition."""


@schema
class JointSet(dj.Manual):
    """One named joint set: the joints a keypoint array's joint axis refers to, in order (part `Joint`), and the
    bones drawn between them (part `Bone`)."""

    definition = """
    joint_set                : varchar(64)    # name, e.g. COCO-17, DLC:reaching_best
    ---
    num_joints               : int16
    definition_sha256        : char(64)       # checksum of the canonical definition: one name, one definition
    """

    class Joint(dj.Part):
        """One joint of a joint set, at its position on the joint axis."""

        definition = """
        -> master
        joint_index          : int16          # position on the keypoint arrays' joint axis, from 0
        ---
        joint_name           : varchar(64)
        oks_sigma=null       : float64        # COCO OKS sigma; NULL where the set defines none
        """

    class Bone(dj.Part):
        """One bone: a line between two joints of the set (for drawing and bone-length checks)."""

        definition = """
        -> master
        bone_index           : int16
        ---
        -> master.Joint.proj(from_joint="joint_index")
        -> master.Joint.proj(to_joint="joint_index")
        """


ROOT_TABLES = ()  # joint sets are shared by every result; emptying the pipeline keeps them


def store_joint_set(joint_set: str | JointSetDefinition) -> str:
    """Store a joint set (by name: as this process knows it) unless stored already; returns its name.

    Idempotent, and safe when several workers store the same set at once. Raises `JointSetConflictError` when
    the name is stored with a different definition.
    """
    definition = get_joint_set(joint_set) if isinstance(joint_set, str) else joint_set
    name, sha256 = definition.name, definition.sha256()
    stored = (JointSet & {"joint_set": name}).to_arrays("definition_sha256")
    if len(stored) and stored[0] == sha256:
        return name  # master and parts are always written together
    JointSet.insert1(
        {"joint_set": name, "num_joints": len(definition), "definition_sha256": sha256}, skip_duplicates=True
    )
    # A locking read sees the latest committed row even inside a transaction whose snapshot is older (another
    # worker may have stored the name since): only then is the comparison sound.
    (current,) = JointSet.connection.query(
        f"SELECT definition_sha256 FROM {JointSet.full_table_name} WHERE joint_set = %s FOR UPDATE", args=(name,)
    ).fetchone()
    if current != sha256:
        raise JointSetConflictError(
            f"joint set {name!r} is stored with a different definition (checksum {current[:12]}..., this one "
            f"{sha256[:12]}...); give the new joints another name"
        )
    sigmas = definition.sigmas or (None,) * len(definition)
    JointSet.Joint.insert(
        [{"joint_set": name, "joint_index": i, "joint_name": joint, "oks_sigma": sigma}
         for i, (joint, sigma) in enumerate(zip(definition.joints, sigmas))],
        skip_duplicates=True,
    )  # fmt: skip
    JointSet.Bone.insert(
        [{"joint_set": name, "bone_index": i, "from_joint": a, "to_joint": b} for i, (a, b) in enumerate(definition.bones)],
        skip_duplicates=True,
    )  # fmt: skip
    return name


def load_joint_set(name: str) -> JointSetDefinition:
    """The stored joint set ``name``; `resolvers.UnresolvedError` if none is stored under it."""
    if JointSet.database is None:
        raise resolvers.UnresolvedError(f"joint set {name!r}: the pipeline's schema is not active")
    rows = (JointSet & {"joint_set": name}).to_dicts()
    if not rows:
        raise resolvers.UnresolvedError(f"no joint set {name!r} is stored")
    joints = (JointSet.Joint & {"joint_set": name}).to_dicts(order_by="joint_index")
    bones = (JointSet.Bone & {"joint_set": name}).to_dicts(order_by="bone_index")
    sigmas = [joint["oks_sigma"] for joint in joints]
    loaded = JointSetDefinition(
        name=name,
        joints=tuple(joint["joint_name"] for joint in joints),
        bones=tuple((int(bone["from_joint"]), int(bone["to_joint"])) for bone in bones),
        sigmas=None if any(s is None for s in sigmas) else tuple(float(s) for s in sigmas),
    )
    if loaded.sha256() != rows[0]["definition_sha256"]:
        raise resolvers.UnresolvedError(f"joint set {name!r}: the stored joints do not match its checksum")
    return loaded


def store_built_in() -> None:
    """Store the built-in joint sets (COCO-17, Halpe-26, COCO-WholeBody-133, H36M-17) where missing."""
    for definition in BUILT_IN:
        store_joint_set(definition)


def joint_sets_table():
    """Every stored joint set as a pandas table: name, number of joints and bones, whether it has OKS sigmas."""
    bones = JointSet.aggr(JointSet.Bone, num_bones="count(bone_index)")
    sigmas = JointSet.aggr(JointSet.Joint, num_sigmas="count(oks_sigma)")
    return (JointSet * bones * sigmas).to_pandas()


resolvers.register_resolver(resolvers.JOINT_SET, load_joint_set)

__all__ = ["JointSet", "JointSetConflictError", "joint_sets_table", "load_joint_set", "store_joint_set"]
