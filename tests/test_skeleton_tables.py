"""Skeleton definitions as data in the database: the built-in ones stored on activation, a user's definition
validated before it is stored (a loop, an unknown joint, a loose marker refused by name), a name never redefined,
and another process reading the same definitions and anatomies through the resolvers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose_pipeline.skeleton_model import definitions as d

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.all_backends  # the checksum must survive each server's JSON type
def test_built_in_skeletons_are_stored_and_read_back(db):
    from pose_pipeline import resolvers
    from pose_pipeline.schema.skeleton_model import Skeleton, load_skeleton

    rows = {r["skeleton"]: r for r in Skeleton.to_dicts()}
    assert {"rat", "mouse", "human_coco17"} <= set(rows)
    human = d.human_coco17()
    assert rows["human_coco17"]["sha256"] == human.sha256()
    assert (rows["human_coco17"]["num_joints"], rows["human_coco17"]["num_markers"]) == (15, 17)
    assert (rows["rat"]["num_joints"], rows["rat"]["num_markers"]) == (29, 41)
    assert load_skeleton("rat").sha256() == d.rat().sha256()
    assert resolvers.resolve("skeleton", "human_coco17").marker_names == human.marker_names
    with pytest.raises(resolvers.UnresolvedError, match="no skeleton 'horse' is stored; stored: .*human_coco17"):
        resolvers.resolve("skeleton", "horse")


@pytest.mark.all_backends
def test_a_user_definition_is_validated_and_never_redefined(db):
    from pose_pipeline.schema.skeleton_model import Skeleton, SkeletonConflictError, insert_skeleton

    tall = d.human_coco17(height_m=1.9)
    assert insert_skeleton(tall.to_json()) == "human_coco17_1.9m" and insert_skeleton(tall) == "human_coco17_1.9m"
    assert (Skeleton & {"skeleton": tall.name}).fetch1("sha256") == tall.sha256()

    data = d.human_coco17().definition()
    looped = json.loads(json.dumps(data))
    looped["name"] = "looped"
    looped["joints"][0]["parent"] = "wrist_right"  # pelvis under a wrist: no root, and a loop
    unknown = json.loads(json.dumps(data))
    unknown["name"] = "unknown"
    unknown["joints"][4]["parent"] = "hip_middle"
    loose = json.loads(json.dumps(data))
    loose["name"] = "loose"
    loose["markers"][0]["joint"] = "nose_tip"
    for bad, message in ((looped, "exactly one root"), (unknown, "joint 'knee_left' has unknown parent 'hip_middle'"),
                         (loose, "marker 'nose' is attached to 'nose_tip', which is not a joint")):  # fmt: skip
        with pytest.raises(d.SkeletonDefinitionError, match=message):
            insert_skeleton(bad)
    cyclic = json.loads(json.dumps(data))
    cyclic["name"] = "cyclic"
    cyclic["joints"][1]["parent"] = "head"  # thorax <- head <- thorax
    with pytest.raises(
        d.SkeletonDefinitionError, match="has a loop: (thorax -> head -> thorax|head -> thorax -> head)"
    ):
        insert_skeleton(cyclic)
    assert not Skeleton & "skeleton in ('looped', 'unknown', 'loose', 'cyclic')"

    other = data | {"name": "human_coco17_1.9m"}
    with pytest.raises(SkeletonConflictError, match="'human_coco17_1.9m' is stored with another definition"):
        insert_skeleton(other)


def test_another_process_reads_skeletons_and_anatomies(db):
    from pose_pipeline.schema.skeleton_model import SubjectAnatomy

    human = d.human_coco17()
    SubjectAnatomy.insert1({"subject": "p1", "skeleton": "human_coco17", "skeleton_sha256": human.sha256(),
                            "bone_lengths": human.rest_lengths() * 1.1, "marker_offsets": human.marker_offsets(),
                            "source": {"note": "by hand"}, "frames": np.arange(3)})  # fmt: skip
    script = (
        "from pose_pipeline import schema, resolvers; schema.activate(); "
        "from pose_pipeline.skeleton_model import methods as m; "
        "s = m.get_skeleton('human_coco17'); a = m.resolve_anatomy('p1', s); "
        "print(s.sha256(), round(float(a.bone_lengths[1]), 6))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=db.subprocess_env(), capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == [human.sha256(), str(round(float(human.rest_lengths()[1] * 1.1), 6))]

    from pose_pipeline.skeleton_model import methods as m

    with pytest.raises(m.SkeletonMethodError, match="anatomy 'p1' was learned for skeleton 'human_coco17'"):
        m.resolve_anatomy("p1", d.human_coco17(height_m=1.9))


def test_a_changed_built_in_keeps_the_stored_definition(db, caplog):
    from pose_pipeline.schema.skeleton_model import Skeleton, insert_skeleton, store_built_in

    mouse = {"skeleton": "mouse"}
    old = d.mouse().definition()
    old["source"] = "an older pose_pipeline"
    (Skeleton & mouse).delete(prompt=False)
    insert_skeleton(old)
    try:
        store_built_in()  # activation does this: it must not fail
        assert "skeleton 'mouse' is stored with another definition" in caplog.text
        assert (Skeleton & mouse).fetch1("source") == "an older pose_pipeline"
    finally:
        (Skeleton & mouse).delete(prompt=False)
        store_built_in()
    assert (Skeleton & mouse).fetch1("sha256") == d.mouse().sha256()
