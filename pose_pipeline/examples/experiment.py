"""An example experiment schema: a lab's participants, sessions, conditions and trials tied to the pipeline's
videos, and a study measure (gait cadence, knee and elbow range of motion) computed from the stored pose results.

    Subject ─► Session ─► Trial ◄─ Condition          (Manual / Lookup: the lab's own bookkeeping)
                            │
                            └─ -> Video               (the recording of this trial: one video)
    Trial × TopDownPerson  ─► Gait                    (from the 2D keypoints of the video's primary subject)
    Trial × LiftingPerson  ─► Gait3D                  (the same measures from the lifted 3D joints)

Activated after the pipeline, on the same database, as the schema ``<prefix>_experiment``:

>>> from pose_pipeline import schema
>>> from pose_pipeline.examples import experiment
>>> schema.activate_module(experiment)

and computed by any worker started with ``pose-pipeline worker --module pose_pipeline.examples.experiment``.

The lab's participant is ``participant``, not ``subject_id``: the pipeline's ``subject_id`` numbers the people
tracked in one video (0 the primary subject), and a shared name would join the two. Copy this module, rename
``STAGE``, and change the tables to the study's.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from ..measures import gait_measures
from ..schema.experiments import MissingVideoError, ReferencesVideo
from ..schema.keypoints import TopDownPerson
from ..schema.lifting import LiftingPerson
from ..schema.video import Video, VideoInfo  # noqa: F401 - Video is named in a definition
from ..skeletons import get_joint_set

STAGE = "experiment"
schema = dj.Schema()

PRIMARY_SUBJECT = 0  # the pipeline's subject_id of the person a trial is about
MIN_SCORE = 0.3  # 2D keypoints less confident than this are treated as missing

MEASURES = """
    cadence=null             : float64    # steps per minute (NULL: fewer than two ankle crossings seen)
    num_steps                : int32      # steps the cadence is measured over
    knee_rom_left=null       : float64    # range of the knee flexion angle, degrees
    knee_rom_right=null      : float64
    elbow_rom_left=null      : float64    # range of the elbow flexion angle, degrees
    elbow_rom_right=null     : float64
    """


@schema
class Subject(dj.Manual):
    """One participant of the study."""

    definition = """
    participant              : varchar(32)    # the lab's code for the participant
    ---
    height=null              : float64        # metres
    note=""                  : varchar(255)
    """


@schema
class Session(dj.Manual):
    """One visit of a participant to the lab."""

    definition = """
    -> Subject
    session                  : int16          # 1, 2, ... per participant
    ---
    session_date=null        : date
    note=""                  : varchar(255)
    """


@schema
class Condition(dj.Lookup):
    """One walking condition of the protocol."""

    definition = """
    condition                : varchar(32)
    ---
    description              : varchar(255)
    """
    contents = (
        {"condition": "self_paced", "description": "walk at a comfortable speed"},
        {"condition": "fast", "description": "walk as fast as is safe"},
    )


@schema
class Trial(ReferencesVideo, dj.Manual):
    """One recorded walk: a participant, in a session, under a condition, is one video of the pipeline.
    A row naming a video the pipeline does not have is refused naming the row and the video
    (`pose_pipeline.schema.experiments.MissingVideoError`)."""

    definition = """
    -> Session
    -> Condition
    trial                    : int16          # repeat within the session and condition
    ---
    -> Video
    """


@schema
class Gait(dj.Computed):
    """Gait measures of one trial from one 2D result of its video's primary subject (`pose_pipeline.measures`):
    cadence from the rise and fall of the hips in the image (blind to left/right leg swaps, which 2D models make
    in side views), angles in the image plane, so the camera must see the walk from the side."""

    definition = (
        """
    -> Trial
    -> TopDownPerson
    ---
    """
        + MEASURES
    )

    @property
    def key_source(self):
        return (Trial * TopDownPerson.proj() & {"subject_id": PRIMARY_SUBJECT}).proj()

    def make(self, key):
        keypoints, joint_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
        coords = np.where(keypoints[..., 2:3] >= MIN_SCORE, keypoints[..., :2], np.nan)
        self.insert1({**key, **_measures(key, coords, joint_set, "pelvis")})


@schema
class Gait3D(dj.Computed):
    """Gait measures of one trial from one 3D result (`LiftingPerson`) of its video's primary subject: cadence
    from the ankles passing each other (3D results are root-relative: the hips do not rise and fall), true 3D
    joint angles whatever the camera's view."""

    definition = (
        """
    -> Trial
    -> LiftingPerson
    ---
    """
        + MEASURES
    )

    @property
    def key_source(self):
        return (Trial * LiftingPerson.proj() & {"subject_id": PRIMARY_SUBJECT}).proj()

    def make(self, key):
        coords, joint_set = (LiftingPerson & key).fetch1("keypoints_3d", "joint_set")
        self.insert1({**key, **_measures(key, coords.astype(float), joint_set, "ankles")})


def _measures(key: dict, coords: np.ndarray, joint_set: str, signal: str) -> dict:
    timestamps = (VideoInfo & {k: key[k] for k in VideoInfo.primary_key}).fetch1("timestamps")
    row = gait_measures(coords, get_joint_set(joint_set).joints, timestamps, signal)
    return {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in row.items()}


def add_trials(rows, skip_duplicates: bool = False) -> None:
    """Insert trials (dicts with the `Trial` key and the video's ``video_project`` and ``filename``), creating
    the participants and sessions they name; a trial naming a video the pipeline lacks is refused by name and
    nothing is inserted."""
    rows = [dict(row) for row in rows]
    with Trial.connection.transaction:
        Subject.insert([{"participant": r["participant"]} for r in rows], skip_duplicates=True)
        Session.insert([{"participant": r["participant"], "session": r["session"]} for r in rows],
                       skip_duplicates=True)  # fmt: skip
        Trial.insert(rows, skip_duplicates=skip_duplicates)


ROOT_TABLES = (Subject,)
__all__ = ["Condition", "Gait", "Gait3D", "MissingVideoError", "Session", "Subject", "Trial", "add_trials"]
