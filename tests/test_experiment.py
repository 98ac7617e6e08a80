"""The example experiment schema (`pose_pipeline.examples.experiment`): two participants x two sessions of synthetic
walkers tied to their videos, gait measures computed by a real worker process started with ``--module``, checked
against the walkers' known step frequency; a trial naming a missing video refused by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose_pipeline import schema
from pose_pipeline.examples import experiment
from pose_pipeline.measures import gait_measures
from pose_pipeline.schema.experiments import MissingVideoError
from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
from pose_pipeline.schema.lifting import LiftingMethod, LiftingPerson
from pose_pipeline.schema.video import VideoInfo, insert_local_video
from pose_pipeline.skeletons import COCO17, get_joint_set
from pose_pipeline.synthetic.motion import stride_length
from tests.bad_videos import make_good_video
from tests.walker import tracked_walker

REPO = Path(__file__).resolve().parents[1]
N_FRAMES = 90  # 3 s at 30 fps: 3-5 steps at these speeds
SPEEDS = {("P1", 1): 0.9, ("P1", 2): 1.1, ("P2", 1): 1.0, ("P2", 2): 1.3}  # m/s per participant and session
# measured on these scenes from synthetic_pose 2D keypoints (the hips' rise and fall): cadence within 2.7 % of the
# truth; from the scenes' true 2D joints within 0.8 %
CADENCE_TOLERANCE = 0.04


def true_cadence(speed: float) -> float:
    """Steps per minute of the synthetic walker: two steps per stride (`pose_pipeline.synthetic.motion`)."""
    return 120.0 * speed / stride_length(speed)


def timestamps_of(key: dict):
    return (VideoInfo & {k: key[k] for k in VideoInfo.primary_key}).fetch1("timestamps")


@pytest.fixture
def lab(db):
    schema.activate_module(experiment)
    experiment.Subject.delete(prompt=False)
    yield experiment
    experiment.Subject.delete(prompt=False)


def test_worker_computes_gait_per_trial(lab, db, tmp_path):
    truths = {}
    for (participant, session), speed in SPEEDS.items():
        name = f"{participant}_session{session}.mp4"
        person, truth = tracked_walker(tmp_path, "gait_study", N_FRAMES, seed=session, speed=speed, name=name)
        TopDownMethod.insert1({**person, "top_down_method": "synthetic_pose"})
        lab.add_trials([{"participant": participant, "session": session, "condition": "self_paced", "trial": 1,
                         "video_project": person["video_project"], "filename": name}])  # fmt: skip
        truths[name] = (speed, truth)

    command = [sys.executable, "-m", "pose_pipeline.cli", "worker", "--module", "pose_pipeline.examples.experiment",
               "--table", "TopDownPerson", "--table", "Gait", "--idle-timeout", "1", "--poll-interval", "0.2"]  # fmt: skip
    done = subprocess.run(
        command, check=False, cwd=REPO, env=db.subprocess_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 done, 0 failed" in done.stdout, done.stdout
    status = subprocess.run([sys.executable, "-m", "pose_pipeline.cli", "status", "--module",
                             "pose_pipeline.examples.experiment"], check=False, cwd=REPO, env=db.subprocess_env(),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    gait_line = next(line for line in status.stdout.splitlines() if line.startswith("Gait "))
    assert gait_line.split()[1:3] == ["4", "0"], status.stdout  # done, to do

    rows = (lab.Gait * lab.Trial).to_dicts(order_by="participant, session")
    assert [(r["participant"], r["session"]) for r in rows] == list(SPEEDS)
    for row in rows:
        speed, truth = truths[row["filename"]]
        assert row["cadence"] == pytest.approx(true_cadence(speed), rel=CADENCE_TOLERANCE), row
        assert row["num_steps"] >= 3
        # the row holds what the measure gives on the stored keypoints (their accuracy: tests/test_measures.py)
        keypoints = (TopDownPerson & row).fetch1("keypoints")
        timestamps = timestamps_of(row)
        coords = np.where(keypoints[..., 2:3] >= lab.MIN_SCORE, keypoints[..., :2], np.nan)
        expected = gait_measures(coords, COCO17.joints, timestamps, "pelvis")
        assert {k: row[k] for k in expected} == pytest.approx(expected, nan_ok=True)

    # the study's question in one query: each participant's cadence per session, faster in session 2
    table = (lab.Trial * lab.Gait).proj("cadence").to_pandas().reset_index()
    by_session = table.pivot_table(index="participant", columns="session", values="cadence")
    assert (by_session[2] > by_session[1]).all(), by_session

    # the same measures from lifted 3D joints, in this process. No accuracy claim: synthetic_pose merges the two
    # legs of these figures (left and right ankles within 1 px), and the lifted legs inherit that
    two_d = (TopDownPerson & {"filename": "P2_session2.mp4"}).keys()[0]
    LiftingMethod.insert1({**two_d, "lifting_method": "synthetic_lifter"})
    LiftingPerson.populate(two_d)
    lab.Gait3D.populate()
    row = (lab.Gait3D & two_d).fetch1()
    points, joint_set = (LiftingPerson & two_d).fetch1("keypoints_3d", "joint_set")
    expected = gait_measures(points.astype(float), get_joint_set(joint_set).joints, timestamps_of(two_d), "ankles")
    assert {k: row[k] for k in expected} == pytest.approx(expected, nan_ok=True)


@pytest.mark.all_backends  # foreign keys and their errors differ per server
def test_trial_naming_a_missing_video_is_refused(lab):
    trial = {"participant": "P9", "session": 1, "condition": "fast", "trial": 2,
             "video_project": "gait_study", "filename": "never_imported.mp4"}  # fmt: skip
    with pytest.raises(MissingVideoError, match=r"Trial \(participant='P9', session=1, condition='fast', trial=2\) "
                                                r"names video_project='gait_study', filename='never_imported.mp4'"):  # fmt: skip
        lab.add_trials([trial])
    assert not lab.Subject() and not lab.Trial()  # nothing was inserted

    lab.Subject.insert1({"participant": "P9"})
    lab.Session.insert1({"participant": "P9", "session": 1})
    with pytest.raises(MissingVideoError, match="never_imported.mp4"):  # the table's own insert, too
        lab.Trial.insert1(trial)
    assert not lab.Trial()


def test_a_module_under_its_own_schema_prefix(db, tmp_path):
    """A lab's module with ``SCHEMA_PREFIX`` gets ``<its prefix>_<STAGE>`` on the same database; a worker process
    started with ``--module`` finds it there and computes its table from the pipeline's."""
    from pose_pipeline import database
    from tests import lab_prefix_module as visits

    schema.activate_module(visits)
    name = f"lab_{database.schema_prefix()}_visits"
    assert visits.schema.database == name and schema.module_schema_name(visits) == name
    key = insert_local_video(make_good_video(tmp_path / "visit.mp4", n_frames=12, size=(64, 48)), "visits")
    VideoInfo.populate(key)
    visits.Visit.insert1({"visit": 1, **key})
    command = [sys.executable, "-m", "pose_pipeline.cli", "worker", "--module", "tests.lab_prefix_module",
               "--table", "VisitLength", "--idle-timeout", "1", "--poll-interval", "0.2"]  # fmt: skip
    done = subprocess.run(command, check=False, cwd=REPO, env=db.subprocess_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert "1 done, 0 failed" in done.stdout, done.stdout + done.stderr
    assert visits.VisitLength.fetch1("num_frames") == 12
