"""The tracklet-annotation widget, driven from Python as a person drives it in the browser: set the slider, tick
checkboxes, click buttons; then check what the database holds."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from pose_pipeline.annotation import AnnotationWidget, timeline_svg, track_spans
from pose_pipeline.visualize import blur_regions, head_regions, track_color
from tests.annotation_data import GAP, N_FRAMES, SWAP, prepare_tracking_result, tracking_schema

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_annotate_tracklets.ipynb"


@pytest.fixture
def prepared(db, tmp_path):
    """One tracking result with hand-made tracklets (see `annotation_data`)."""
    return prepare_tracking_result(tmp_path)


def bars(svg: str) -> dict[int, list[tuple[int, int, str]]]:
    """The timeline's bars per track id: (first, last, fill)."""
    out: dict[int, list] = {}
    for rect in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}rect"):
        if rect.get("class") == "pp-bar":
            out.setdefault(int(rect.get("data-track")), []).append(
                (int(rect.get("data-first")), int(rect.get("data-last")), rect.get("fill"))
            )
    return out


def marker(svg: str) -> int:
    """The frame of the timeline's current-frame marker."""
    lines = [e for e in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}line") if e.get("class") == "pp-marker"]
    assert len(lines) == 1
    return int(lines[0].get("data-frame"))


def status(widget) -> str:
    """The status line's HTML."""
    return widget.status.value


def test_track_spans_and_timeline_svg():
    spans = track_spans(np.array([0, 1, 2, 5, 6, 3, 4]), np.array([1, 1, 1, 1, 1, 2, 2]))
    assert spans == {1: [(0, 2), (5, 6)], 2: [(3, 4)]}
    svg = timeline_svg(spans, n_frames=10, current=4, selected=[2])
    drawn = bars(svg)
    r, g, b = track_color(2)
    assert drawn == {1: [(0, 2, f"rgb{track_color(1)}".replace(" ", "")), (5, 6, f"rgb{track_color(1)}".replace(" ", ""))],
                     2: [(3, 4, f"rgb({r},{g},{b})")]}  # fmt: skip
    assert marker(svg) == 4
    rects = {r.get("data-track"): r for r in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}rect")}
    assert rects["2"].get("fill-opacity") == "1.0" and rects["1"].get("fill-opacity") == "0.55"  # 2 is selected


def test_widget_opens_first_unannotated_result(prepared):
    widget = AnnotationWidget(annotator="tester")
    assert widget.key == prepared.key
    assert sorted(widget.checkboxes) == [1, 2, 3]
    assert widget.slider.max == N_FRAMES - 1 and widget.play.max == N_FRAMES - 1
    assert widget.checkboxes[3].description == f"track 3 · {SWAP + GAP}-{N_FRAMES - 1}"
    assert "not annotated yet" in widget.saved_label.value
    image = cv2.imdecode(np.frombuffer(widget.image.value, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)


def test_frame_shows_boxes_with_blurred_heads(prepared):
    from pose_pipeline.schema.video import open_video

    widget = AnnotationWidget(key=prepared.key)
    widget.show_frame(5)
    shown = widget.session.render(5, selected=[])
    with open_video(prepared.key) as reader:
        raw = reader[5]
    boxes, ids = widget.session.boxes_at(5)
    assert sorted(ids.tolist()) == [1, 2]
    expected = blur_regions(raw.copy(), head_regions(boxes))
    for (x, y, w, h), tid in zip(boxes, ids):
        _, hy, _, hh = head_regions(np.array([[x, y, w, h]]))[0]
        inner = np.s_[int(hy) + 4 : int(hy + hh) - 1, int(x) + 4 : int(x + w) - 4]  # inside the drawn box lines
        assert np.array_equal(shown[inner], expected[inner]), "the head region is shown blurred"
        assert np.abs(shown[inner].astype(int) - raw[inner]).mean() > 1.0, "and the blur changed it"
        below = np.s_[int(y + h / 2), int(x) + 10]
        assert np.array_equal(shown[below], raw[below]), "the body is not blurred"
        edge = shown[int(y + h / 2), round(float(x))]
        assert tuple(edge) == track_color(tid), "the box is drawn in the track's colour"


def test_scrubbing_reads_lazily_and_keeps_few_frames(prepared):
    from pose_pipeline.schema.video import open_video

    widget = AnnotationWidget(key=prepared.key, cache_size=4)
    assert widget.session._reader is None or len(widget.session._cache) <= 4
    for index in [*range(0, N_FRAMES, 3), 7, 2]:
        widget.slider.value = index
        assert len(widget.session._cache) <= 4
        assert f"frame <b>{index}</b>" in widget.frame_label.value
        assert f"{index / 30:.2f} s" in widget.frame_label.value
        assert marker(widget.timeline.value) == index
    with open_video(prepared.key) as reader:
        assert np.array_equal(widget.session.frame(2), reader[2])


def test_full_annotation_with_a_split(prepared):
    tracking = tracking_schema()
    widget = AnnotationWidget(key=prepared.key, annotator="tester")
    widget.checkboxes[1].value = True
    widget.checkboxes[3].value = True
    widget.slider.value = SWAP
    assert [value for _, value in widget.split_track.options] == [1]  # track 2 ended, track 3 not yet there
    assert widget.split_track.value == 1
    widget.split_button.click()
    assert "from there on it is track 4" in status(widget)
    assert sorted(widget.checkboxes) == [1, 2, 3, 4] and widget.selected_tracks == [1, 3]
    drawn = bars(widget.timeline.value)
    assert [(first, last) for first, last, _ in drawn[1]] == [(0, SWAP - 1)]
    assert [(first, last) for first, last, _ in drawn[4]] == [(SWAP, N_FRAMES - 1)]
    assert sorted(widget.session.boxes_at(SWAP)[1].tolist()) == [4]
    assert "track 1 at frame 30 → 4" in widget.splits_label.value
    widget.subject.value = 0
    widget.save_button.click()
    assert "Saved subject 0: tracks 1, 3, 1 split" in status(widget)

    row = (tracking.PersonBboxValid & prepared.key).to_dicts()
    assert len(row) == 1
    assert row[0]["subject_id"] == 0 and row[0]["annotator"] == "tester"
    assert row[0]["keep_tracks"].tolist() == [1, 3]
    assert row[0]["splits"] == [[1, SWAP, 4]]
    tracking.PersonBbox.populate(prepared.key)
    boxes, present = (tracking.PersonBbox & prepared.key).fetch1("boxes", "present")
    expected = prepared.expected_subject_boxes()
    np.testing.assert_array_equal(present, np.isfinite(expected).all(axis=1))
    np.testing.assert_allclose(boxes[present], expected[present], atol=1e-3)


def test_saving_again_replaces_and_reopening_shows_the_annotation(prepared):
    tracking = tracking_schema()
    widget = AnnotationWidget(key=prepared.key, annotator="first")
    widget.select([1])
    widget.save_button.click()
    tracking.PersonBbox.populate(prepared.key)
    widget.show_frame(SWAP)
    assert widget.split() == 4
    widget.select([1, 3])
    widget.max_gap.value = GAP
    widget.annotator.value = "second"
    widget.save_button.click()
    assert "Replaced the annotation of subject 0" in status(widget)
    row = (tracking.PersonBboxValid & prepared.key).fetch1()
    assert row["keep_tracks"].tolist() == [1, 3] and row["annotator"] == "second" and row["max_gap"] == GAP
    assert not tracking.PersonBbox & prepared.key, "the old PersonBbox went with the old annotation"

    reopened = AnnotationWidget(key=prepared.key)
    assert reopened.selected_tracks == [1, 3]
    assert reopened.splits == [[1, SWAP, 4]]
    assert reopened.max_gap.value == GAP
    assert "subject 0: tracks 1, 3 (1 split)" in reopened.saved_label.value


def test_other_subject_and_refused_annotation(prepared):
    tracking = tracking_schema()
    widget = AnnotationWidget(key=prepared.key)
    widget.save_button.click()  # nothing ticked
    assert "Not saved" in status(widget) and "needs at least one track id" in status(widget)
    assert not tracking.PersonBboxValid & prepared.key
    widget.select([2])
    widget.subject.value = 1
    widget.save_button.click()
    assert (tracking.PersonBboxValid & prepared.key).fetch1("subject_id") == 1
    with pytest.raises(ValueError, match="no track"):
        widget.select([9])


def test_video_unusable(prepared):
    tracking = tracking_schema()
    widget = AnnotationWidget(key=prepared.key)
    widget.unusable_button.click()
    row = (tracking.PersonBboxValid & prepared.key).fetch1()
    assert row["subject_id"] == -1 and row["keep_tracks"].size == 0
    assert "unusable" in status(widget) and "video marked unusable" in widget.saved_label.value
    widget.unusable_button.click()  # again: replaces, no duplicate error
    assert len(tracking.PersonBboxValid & prepared.key) == 1


def test_split_refusals_and_undo(prepared):
    widget = AnnotationWidget(key=prepared.key)
    widget.show_frame(SWAP + GAP)
    assert [value for _, value in widget.split_track.options] == [1]  # 3 starts here: nothing to split
    assert widget.split(3) is None and "changes nothing" in status(widget)
    widget.show_frame(SWAP - 1)
    assert widget.split(2) is None and "no boxes from frame" in status(widget)
    assert sorted(widget.checkboxes) == [1, 2, 3]
    widget.show_frame(10)
    assert widget.split(1) == 4 and widget.split(4) is None  # 4 starts at frame 10
    widget.show_frame(40)
    assert widget.split(4) == 5
    assert widget.splits == [[1, 10, 4], [4, 40, 5]]
    widget.undo_split_button.click()
    assert widget.splits == [[1, 10, 4]] and sorted(widget.checkboxes) == [1, 2, 3, 4]
    widget.undo_split_button.click()
    assert widget.splits == [] and sorted(widget.checkboxes) == [1, 2, 3]
    assert widget.undo_split_button.disabled


def test_next_unannotated_video(db, tmp_path):
    prepared = prepare_tracking_result(tmp_path, copies=3)
    other = prepare_tracking_result(tmp_path / "other", project="elsewhere")
    first, second, third = prepared.keys
    widget = AnnotationWidget({"video_project": "annotation_test"}, key=first)
    widget.select([1])
    widget.save_button.click()
    widget.next_button.click()
    assert widget.key == second
    assert "2 tracking results to annotate" in status(widget)
    widget.next_unannotated()
    assert widget.key == third
    widget.unusable_button.click()
    widget.next_button.click()
    assert widget.key == second  # wraps around, skipping the annotated first and third
    widget.select([3])
    widget.save_button.click()
    widget.next_button.click()
    assert widget.key == second and "No other tracking result needs an annotation." in status(widget)
    unrestricted = AnnotationWidget(key=first)
    assert unrestricted.next_unannotated() == other.key  # outside the restriction, the other project's result


def test_nothing_to_annotate(db):
    widget = AnnotationWidget({"video_project": "no such project"})
    assert widget.key is None and "Nothing to annotate" in widget.title.value
    assert widget.save_button.disabled and widget.split_button.disabled
    assert widget.save() is None and "Nothing to save" in status(widget)
    assert widget.next_unannotated() is None
    assert widget._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.ui.model_id


def test_annotation_notebook_runs_with_something_to_annotate(prepared, backend, tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "crossing_0.mp4" in text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
