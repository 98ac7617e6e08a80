"""Joint sets in the database: stored once, refused when redefined, read back by any process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pose_pipeline.schema.joint_sets import (
    JointSet,
    JointSetConflictError,
    joint_sets_table,
    load_joint_set,
    store_joint_set,
)
from pose_pipeline.skeletons import BUILT_IN, get_joint_set
from pose_pipeline.skeletons import JointSet as Definition

pytestmark = pytest.mark.all_backends  # declarations (a part referencing a part twice), locking reads, collation


def test_built_in_sets_are_stored_at_activation_and_read_back_equal(db):
    for definition in BUILT_IN:
        assert load_joint_set(definition.name) == definition
    table = joint_sets_table()  # indexed by the primary key, the name
    assert table.loc["COCO-WholeBody-133", "num_joints"] == 133 and table.loc["H36M-17", "num_bones"] == 16
    assert table.loc["H36M-17", "num_sigmas"] == 0 and table.loc["COCO-17", "num_sigmas"] == 17


def test_storing_is_idempotent_and_a_different_definition_is_refused(db):
    made = Definition("test:Paw+Nose", ("paw", "nose", "Nose"), ((0, 1), (1, 2)), (0.1, 0.2, 0.3))
    assert store_joint_set(made) == made.name
    assert store_joint_set(made) == made.name  # again: nothing new
    assert len(JointSet.Joint & {"joint_set": made.name}) == 3  # "nose" and "Nose" are two joints
    assert load_joint_set(made.name) == made
    changed = Definition(made.name, ("paw", "nose", "ear"), made.bones, made.sigmas)
    with pytest.raises(JointSetConflictError, match="'test:Paw\\+Nose' is stored with a different definition"):
        store_joint_set(changed)
    assert load_joint_set(made.name) == made
    (JointSet & {"joint_set": made.name}).delete(prompt=False)


def test_a_fresh_process_resolves_a_stored_set_by_name(db):
    made = Definition("test:made-elsewhere", ("a", "b"), ((0, 1),), None)
    store_joint_set(made)
    code = (
        "from pose_pipeline import schema; schema.activate()\n"
        "from pose_pipeline.skeletons import get_joint_set\n"
        "s = get_joint_set('test:made-elsewhere'); print(s.joints, s.bones, s.sigmas)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=db.subprocess_env(), timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "('a', 'b') ((0, 1),) None"
    assert get_joint_set("test:made-elsewhere") == made
    (JointSet & {"joint_set": made.name}).delete(prompt=False)
    with pytest.raises(KeyError, match="unknown joint set 'test:nowhere'"):
        get_joint_set("test:nowhere")
