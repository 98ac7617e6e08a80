"""The tracking stage against real databases: tracklets, annotation, one box per frame, overlay, accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from pose_pipeline.cli import main
from pose_pipeline.schema.tracking import (
    AnnotationError,
    PersonBbox,
    PersonBboxValid,
    TrackingAccuracy,
    TrackingBbox,
    TrackingBboxMethod,
    TrackingBboxMethodLookup,
    annotate,
    auto_annotate,
    insert_ground_truth,
)
from pose_pipeline.schema.video import VideoInfo, insert_local_video
from pose_pipeline.synthetic import crossing_scene, empty_scene, render_scene, walking_scene
from pose_pipeline.tracking import groundtruth_tracks

METHOD = {"tracking_method": "bytetrack", "detector": "motion"}


def tracked(tmp_path, name, config):
    """Render, import, describe and track one synthetic video with the default detector and tracker."""
    truth = render_scene(config, tmp_path / name)
    key = insert_local_video(tmp_path / name, "tracking")
    VideoInfo.populate(key)
    TrackingBboxMethod.insert1({**key, **METHOD})
    TrackingBbox.populate(key)
    return TrackingBboxMethod.request_key({**key, **METHOD}), truth


@pytest.fixture(scope="module")
def scenes():
    return {
        "crossing": crossing_scene(n_people=2, width=320, height=240, n_frames=60, seed=1),
        "walking": walking_scene(width=320, height=240, n_frames=60),
        "empty": empty_scene(width=320, height=240, n_frames=30),
    }


def test_lookups_come_from_the_registries(db):
    assert {"bytetrack", "ocsort", "sort", "botsort"} <= set(TrackingBboxMethodLookup.to_arrays("tracking_method"))


def test_crossing_people_are_tracked_and_scored(db, tmp_path, scenes):
    key, truth = tracked(tmp_path, "crossing.mp4", scenes["crossing"])
    row = (TrackingBbox & key).fetch1()
    assert row["num_frames"] == 60 and row["num_tracks"] >= 2
    assert row["boxes"].shape == (len(row["frame"]), 4)

    insert_ground_truth(key, groundtruth_tracks(truth), "synthetic")
    TrackingAccuracy.populate(key)
    accuracy = (TrackingAccuracy & key).fetch1()
    # measured 0.79 / 0.90 (people who touch merge into one motion blob where they cross)
    assert accuracy["hota"] > 0.7 and accuracy["idf1"] > 0.8, accuracy

    # two people: a person must choose; the CLI does it for scripts
    assert auto_annotate(key)["needs_person"] == [{k: key[k] for k in TrackingBbox.primary_key}]
    first_track = int(np.bincount(row["track_id"]).argmax())
    result = CliRunner().invoke(main, ["annotate", "crossing.mp4", "--subject", "0", "--tracks", str(first_track)])
    assert result.exit_code == 0, result.output
    PersonBbox.populate(key)
    person = (PersonBbox & key).fetch1()
    assert person["boxes"].shape == (60, 4) and person["num_present"] == person["present"].sum() > 10
    assert np.isnan(person["boxes"][~person["present"]]).all()


def test_one_walker_is_annotated_automatically(db, tmp_path, scenes):
    key, truth = tracked(tmp_path, "walking.mp4", scenes["walking"])
    assert len(auto_annotate(key)["annotated"]) == 1
    assert (PersonBboxValid & key).fetch1("annotator") == "auto"
    PersonBbox.populate(key)
    boxes, present = (PersonBbox & key).fetch1("boxes", "present")
    visible = np.isfinite(truth.boxes[:, 0, 0])
    both = present & visible
    centre_error = np.abs(
        (boxes[both, :2] + boxes[both, 2:] / 2) - (truth.boxes[both, 0, :2] + truth.boxes[both, 0, 2:] / 2)
    )
    assert both.sum() > 30 and np.median(centre_error) < 10  # pixels, at 320 x 240


def test_nobody_gives_zero_tracks_not_an_error(db, tmp_path, scenes):
    key, _ = tracked(tmp_path, "empty.mp4", scenes["empty"])
    assert (TrackingBbox & key).fetch1("num_tracks") == 0
    assert auto_annotate(key)["needs_person"]


def test_bad_annotations_are_refused(db, tmp_path, scenes):
    key, _ = tracked(tmp_path, "walking.mp4", scenes["walking"])
    with pytest.raises(AnnotationError, match=r"track id\(s\) \[999\] do not exist; the tracks are"):
        annotate(key, 0, [999])
    with pytest.raises(AnnotationError, match="subject id -2 is not allowed"):
        annotate(key, -2, [])
    with pytest.raises(AnnotationError, match="do not exist"):
        PersonBboxValid.insert1({**{k: key[k] for k in TrackingBbox.primary_key}, "subject_id": 0,
                                 "keep_tracks": np.array([999]), "splits": [], "annotator": "x"})  # fmt: skip
    assert len(PersonBboxValid & key) == 0
    annotate(key, -1, [])  # unusable: accepted, and no PersonBbox is made for it
    PersonBbox.populate(key)
    assert len(PersonBbox & key) == 0


def test_unusable_replaces_subjects_only_when_asked(db, tmp_path, scenes):
    key, _ = tracked(tmp_path, "walking.mp4", scenes["walking"])
    track = int(TrackingBbox.tracks(key).track_id[0])
    annotate(key, 0, [track])
    with pytest.raises(AnnotationError, match=r"subject\(s\) \[0\] already annotated; pass replace=True"):
        annotate(key, -1, [])
    annotate(key, -1, [], replace=True)
    assert (PersonBboxValid & key).to_arrays("subject_id").tolist() == [-1]
