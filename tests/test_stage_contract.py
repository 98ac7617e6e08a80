"""The stage contract across processes: what one worker writes, a fresh worker on another machine can read.

One worker process populates 2D keypoints with joint sets made at run time (a DeepLabCut model's bodyparts and a
``combined`` method's joints); another, fresh process then populates their overlays and accuracy. The same subject
run with two parameter sets of one method gives two rows, each recording its own parameters, version and model.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pose_pipeline.skeletons import COCO17
from pose_pipeline.synthetic import render_scene, walking_scene

N_FRAMES = 12
COMBINED_SET = "test:COCO-17+wrist"


def worker(backend, *tables: str) -> subprocess.CompletedProcess:
    """A fresh `pose-pipeline worker` process over ``tables``, as on another machine."""
    args = [sys.executable, "-m", "pose_pipeline.cli", "worker", "--idle-timeout", "1", "--poll-interval", "0.2"]
    for table in tables:
        args += ["--table", table]
    return subprocess.run(args, capture_output=True, text=True, env=backend.subprocess_env(), timeout=300, check=False)


@pytest.fixture
def subject(db, tmp_path):
    from pose_pipeline.schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, auto_annotate
    from pose_pipeline.schema.video import VideoInfo, insert_local_video

    truth = render_scene(walking_scene(n_frames=N_FRAMES, seed=3), tmp_path / "walker.mp4")
    key = insert_local_video(tmp_path / "walker.mp4", "contract")
    VideoInfo.populate(key)
    TrackingBboxMethod.insert1({**key, "tracking_method": "bytetrack", "detector": "motion"})
    TrackingBbox.populate(key)
    [person] = auto_annotate(key)["annotated"]
    PersonBbox.populate(person)
    return person, truth


@pytest.fixture
def dlc_models(db, tiny_dlc_model):
    """The tiny model's two snapshots registered as two DeepLabCut models."""
    from pose_pipeline.schema import dlc_models

    first, last = min(tiny_dlc_model.snapshots), max(tiny_dlc_model.snapshots)
    dlc_models.import_model_folder(tiny_dlc_model.model_folder, "contract-early", snapshot=str(first))
    dlc_models.import_model_folder(tiny_dlc_model.model_folder, "contract-late", snapshot=str(last))
    yield "contract-early", "contract-late"
    dlc_models.DLCModel.delete(prompt=False)


def test_run_time_joint_sets_are_read_by_a_fresh_process(db, subject, dlc_models, monkeypatch):
    from pose_pipeline.schema.joint_sets import JointSet
    from pose_pipeline.schema.keypoints import (
        KeypointAccuracy,
        TopDownMethod,
        TopDownPerson,
        insert_keypoint_ground_truth,
    )
    from pose_pipeline.schema.overlays import BlurMethod, TopDownPersonVideo
    from pose_pipeline.skeletons import JOINT_SETS

    person, truth = subject
    early = dlc_models[0]
    for name in (f"DLC:{early}", COMBINED_SET):  # as if this process had never built either model
        monkeypatch.delitem(JOINT_SETS, name, raising=False)
    dlc = {"model": early, "device": "cpu", "batch_size": 4}
    combined = {
        "base": {"method": "synthetic_pose"},
        "extra": {"method": "dlc", "params": dlc},
        "joints": {"wrist": "dlc_wrist"},  # the DLC model's wrist, appended after the COCO-17 joints
        "joint_set": COMBINED_SET,
    }
    TopDownMethod.insert1({**person, "top_down_method": "dlc", "params": dlc})
    TopDownMethod.insert1({**person, "top_down_method": "combined", "params": combined})
    BlurMethod.insert1(
        {**{k: person[k] for k in BlurMethod.primary_key if k in person}, "face_method": "synthetic_pose"}
    )

    first = worker(db, "TopDownPerson", "BlurredVideo")
    assert first.returncode == 0, first.stderr[-3000:]
    rows = {row["top_down_method"]: row for row in (TopDownPerson & person).to_dicts()}
    assert rows["dlc"]["joint_set"] == f"DLC:{early}" and rows["combined"]["joint_set"] == COMBINED_SET
    assert rows["combined"]["keypoints"].shape == (N_FRAMES, 18, 3)
    # the workers built the models, this process did not: the joint sets are known here only from the database
    assert f"DLC:{early}" not in JOINT_SETS and COMBINED_SET not in JOINT_SETS
    assert len(JointSet & [{"joint_set": f"DLC:{early}"}, {"joint_set": COMBINED_SET}]) == 2

    labels = np.concatenate([truth.keypoints2d[:, 0], truth.keypoints2d[:, 0, [COCO17.index("left_wrist")]]], 1)
    visible = np.concatenate([truth.visibility[:, 0], truth.visibility[:, 0, [COCO17.index("left_wrist")]]], 1)
    insert_keypoint_ground_truth(person, labels, visible, COMBINED_SET, "synthetic, left wrist as the extra joint")

    second = worker(db, "KeypointAccuracy", "TopDownPersonVideo")
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(TopDownPersonVideo & person) == 2  # both run-time joint sets drawn by the fresh process
    accuracy = (KeypointAccuracy & person).fetch1()
    assert accuracy["top_down_method"] == "combined" and accuracy["per_joint"].shape == (18, 4)
    assert accuracy["num_keypoints"] > 0
    for table in (TopDownPerson, KeypointAccuracy, TopDownPersonVideo):
        assert not len(table.jobs.errors), table.jobs.errors.to_dicts()


def test_two_parameter_sets_give_two_rows_with_their_own_provenance(db, subject, dlc_models):
    from pose_pipeline.schema.dlc_models import DLCModel
    from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson

    person, _ = subject
    for model in dlc_models:
        TopDownMethod.insert1({**person, "top_down_method": "dlc", "params": {"model": model, "device": "cpu"}})
    TopDownPerson.populate(person)
    rows = TopDownPerson.to_dicts()
    assert len(rows) == 2 and rows[0]["top_down_params_hash"] != rows[1]["top_down_params_hash"]
    for row in rows:
        [method] = row["provenance"]["methods"]
        model = method["params"]["model"]
        assert method["method"] == "dlc" and method["version"] == "1.0"
        assert method["params"] == {"model": model, "device": "cpu", "snapshot": "", "batch_size": 8, "padding": 1.25}
        [model_file] = method["model_files"]
        assert model_file["sha256"] == (DLCModel & {"dlc_model": model}).fetch1("sha256")
        assert model_file["name"] == f"dlc_model:{model}"
    assert rows[0]["provenance"]["methods"][0]["model_files"] != rows[1]["provenance"]["methods"][0]["model_files"]
