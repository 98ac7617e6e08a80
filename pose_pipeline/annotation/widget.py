"""The tracklet-annotation widget (ipywidgets, for JupyterLab): which tracklets are the subject of interest.

>>> from pose_pipeline.annotation import AnnotationWidget
>>> AnnotationWidget({"video_project": "clinic"})   # the last line of a cell displays it

Every control calls a method of `AnnotationWidget` (``split``, ``save``, ``mark_unusable``,
``next_unannotated``, ``show_frame``, ``select``), so scripts and tests drive it without a browser; the logic
lives in `pose_pipeline.annotation.session`, the timeline drawing in `pose_pipeline.annotation.timeline`.
"""

from __future__ import annotations

import getpass
import logging
from html import escape

import ipywidgets as w

from .session import AnnotationSession, key_name, next_unannotated, tracking_module, tracking_results, unannotated
from .timeline import css_color, timeline_svg

log = logging.getLogger(__name__)

SUBJECT_CHOICES = 10  # subject ids offered: 0 (primary) .. 9


def _close_tree(widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _subject_label(subject_id: int) -> str:
    return f"{subject_id} · primary subject" if subject_id == 0 else f"{subject_id} · other person"


class AnnotationWidget:
    """Annotate tracking results one after another: scrub or play the video (heads blurred, every tracklet's
    box and id drawn), tick the tracklets that are one subject, split tracklets at identity swaps, save.

    ``restriction`` limits the tracking results offered (anything DataJoint restricts `TrackingBbox` by);
    ``key`` opens one tracking result (default: the first unannotated one, else the first one); ``annotator``
    is recorded with each annotation (default: the login name). ``.key`` is the open `TrackingBbox` key (None
    when there is nothing to annotate). Display it as the last expression of a notebook cell.
    """

    def __init__(self, restriction=None, key=None, annotator=None, *, max_width: int = 960, cache_size: int = 8):
        tracking_module()  # activates the tracking schema if needed
        self.restriction = restriction
        self.max_width = max_width
        self.cache_size = cache_size
        self.session: AnnotationSession | None = None
        self.checkboxes: dict[int, w.Checkbox] = {}
        self._rows: dict[int, w.HBox] = {}
        self._quiet = False  # set while the widget changes checkboxes itself

        self.title = w.HTML(layout=w.Layout(margin="0 0 4px 0")).add_class("pp-title")
        self.image = w.Image(format="jpeg", layout=w.Layout(max_width="100%")).add_class("pp-frame")
        self.play = w.Play(min=0, max=0, step=1, interval=40, description="Play").add_class("pp-play")
        self.slider = w.IntSlider(
            min=0, max=0, description="frame", continuous_update=True, layout=w.Layout(width="520px")
        ).add_class("pp-slider")
        w.jslink((self.play, "value"), (self.slider, "value"))  # playback moves the slider in the browser
        self.frame_label = w.HTML().add_class("pp-frame-label")
        self.timeline = w.HTML().add_class("pp-timeline-box")
        self.track_list = w.Box(layout=w.Layout(flex_flow="row wrap")).add_class("pp-tracks")
        self.subject = w.Dropdown(
            options=[(_subject_label(s), s) for s in range(SUBJECT_CHOICES)], value=0, description="subject"
        ).add_class("pp-subject")
        self.max_gap = w.BoundedIntText(
            value=0, min=0, max=100_000, description="fill gaps ≤", layout=w.Layout(width="170px")
        ).add_class("pp-max-gap")
        self.annotator = w.Text(value=annotator or getpass.getuser(), description="annotator").add_class("pp-annotator")
        self.split_track = w.Dropdown(options=[], description="split track", layout=w.Layout(width="220px"))
        self.split_track.add_class("pp-split-track")
        auto = w.Layout(width="auto")
        self.split_button = w.Button(description="Split track at this frame", icon="cut", layout=auto)
        self.split_button.add_class("pp-split")
        self.undo_split_button = w.Button(description="Undo last split", icon="undo", layout=auto)
        self.undo_split_button.add_class("pp-undo-split")
        self.splits_label = w.HTML().add_class("pp-splits")
        self.save_button = w.Button(description="Save", button_style="success", icon="check").add_class("pp-save")
        self.unusable_button = w.Button(description="Video unusable", button_style="danger", icon="ban", layout=auto)
        self.unusable_button.add_class("pp-unusable")
        self.next_button = w.Button(description="Next unannotated video", icon="forward", layout=auto)
        self.next_button.add_class("pp-next")
        self.saved_label = w.HTML().add_class("pp-saved")
        self.status = w.HTML().add_class("pp-status")

        self.slider.observe(self._on_frame, names="value")
        self.split_button.on_click(self._guarded(lambda: self.split()))
        self.undo_split_button.on_click(self._guarded(lambda: self.undo_split()))
        self.save_button.on_click(self._guarded(lambda: self.save()))
        self.unusable_button.on_click(self._guarded(lambda: self.mark_unusable()))
        self.next_button.on_click(self._guarded(lambda: self.next_unannotated()))

        self._controls = [
            self.play, self.slider, self.subject, self.max_gap, self.split_track, self.split_button,
            self.undo_split_button, self.save_button, self.unusable_button,
        ]  # fmt: skip
        self.ui = w.VBox(
            [
                self.title,
                self.image,
                w.HBox([self.play, self.slider, self.frame_label]),
                self.timeline,
                w.HTML("<b>Tracklets of this subject</b> (tick every tracklet that is the subject):"),
                self.track_list,
                w.HBox([self.split_track, self.split_button, self.undo_split_button, self.splits_label]),
                w.HBox([self.subject, self.max_gap, self.annotator]),
                w.HBox([self.save_button, self.unusable_button, self.next_button]),
                self.saved_label,
                self.status,
            ],
            layout=w.Layout(padding="6px"),
        ).add_class("pp-annotation")

        if key is None:
            key = next_unannotated(restriction) or next(iter(tracking_results(restriction)), None)
        if key is None:
            self._show_empty()
        else:
            self.load(key)

    # --- display ------------------------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)

    def close(self) -> None:
        """Close the video and every widget."""
        if self.session is not None:
            self.session.close()
        _close_tree(self.ui)

    # --- state --------------------------------------------------------------------------------------------------

    @property
    def key(self) -> dict | None:
        """The open `TrackingBbox` key (None when there is nothing to annotate)."""
        return None if self.session is None else dict(self.session.key)

    @property
    def frame(self) -> int:
        """The current frame index."""
        return int(self.slider.value)

    @property
    def selected_tracks(self) -> list[int]:
        """The ticked track ids (after splits), ascending."""
        return sorted(tid for tid, box in self.checkboxes.items() if box.value)

    @property
    def splits(self) -> list[list[int]]:
        """The splits made so far, as ``[track_id, frame, new_id]``."""
        return [] if self.session is None else [[s.track_id, s.frame, s.new_id] for s in self.session.splits]

    def select(self, track_ids) -> None:
        """Tick exactly ``track_ids``."""
        wanted = {int(t) for t in track_ids}
        unknown = sorted(wanted - set(self.checkboxes))
        if unknown:
            raise ValueError(f"no track(s) {unknown}; the tracks are {sorted(self.checkboxes)}")
        for tid, box in self.checkboxes.items():
            box.value = tid in wanted

    def show_frame(self, index: int) -> None:
        """Move to frame ``index`` (as the slider does)."""
        index = min(max(int(index), self.slider.min), self.slider.max)
        if index == self.slider.value:
            self._refresh_frame()
        self.slider.value = index

    def load(self, key: dict) -> None:
        """Open the tracking result ``key``: its tracklets, and the saved annotation of its lowest subject id
        (ticks, splits, subject) when it has one."""
        session = AnnotationSession(key, cache_size=self.cache_size, max_width=self.max_width)
        if self.session is not None:
            self.session.close()
        self.session = session
        for control in self._controls:
            control.disabled = False
        rows = [row for row in session.annotations() if row["subject_id"] >= 0]
        if rows:
            session.set_splits(rows[0]["splits"] or [])
        self._build_track_list(ticked=[int(t) for t in rows[0]["keep_tracks"]] if rows else [])
        if rows:
            self._set_subject(rows[0]["subject_id"])
            self.max_gap.value = int(rows[0]["max_gap"])
        self.play.playing = False
        self.play.interval = max(20, round(1000 / session.fps)) if session.fps else 40
        self.play.value = 0
        self.slider.value = 0
        self.slider.max = self.play.max = session.n_frames - 1
        self.title.value = f"<b>{escape(key_name(session.key))}</b> · {session.n_frames} frames"
        self.status.value = ""
        self._show_saved()
        self._refresh_frame()

    def _show_empty(self) -> None:
        self.session = None
        for control in self._controls:
            control.disabled = True
        self._build_track_list([])
        where = "" if self.restriction is None else " within this restriction"
        self.title.value = f"<b>Nothing to annotate</b>: no tracking results{where}."
        self.image.value = b""
        self.frame_label.value = self.timeline.value = self.splits_label.value = self.saved_label.value = ""

    def _set_subject(self, subject_id: int) -> None:
        if subject_id not in [value for _, value in self.subject.options]:
            self.subject.options = [*self.subject.options, (_subject_label(subject_id), subject_id)]
        self.subject.value = subject_id

    def _build_track_list(self, ticked=None) -> None:
        """One checkbox per track id (after splits), reusing the checkboxes of ids that remain."""
        ticked = set(self.selected_tracks if ticked is None else ticked)
        spans = self.session.spans() if self.session is not None else {}
        for tid in list(self.checkboxes):
            if tid not in spans:
                self._rows.pop(tid).close()
                self.checkboxes.pop(tid).close()
        for tid, runs in spans.items():
            description = f"track {tid} · {runs[0][0]}-{runs[-1][1]}"
            if tid not in self.checkboxes:
                box = w.Checkbox(value=False, description=description, indent=False, layout=w.Layout(width="auto"))
                box.add_class("pp-track").add_class(f"pp-track-{tid}")
                box.observe(self._on_selection, names="value")
                swatch = w.HTML(
                    f'<span style="display:inline-block;width:14px;height:14px;margin-top:6px;border-radius:3px;'
                    f'background:{css_color(tid)}"></span>'
                )
                self.checkboxes[tid] = box
                self._rows[tid] = w.HBox([swatch, box], layout=w.Layout(margin="0 14px 0 0"))
            self.checkboxes[tid].description = description
            self._quiet = True
            try:
                self.checkboxes[tid].value = tid in ticked
            finally:
                self._quiet = False
        self.track_list.children = [self._rows[tid] for tid in sorted(self._rows)]

    # --- refresh ------------------------------------------------------------------------------------------------

    def _on_frame(self, change) -> None:
        self._refresh_frame()

    def _on_selection(self, change) -> None:
        if self.session is not None and not self._quiet:
            self._refresh_frame()

    def _refresh_frame(self) -> None:
        session = self.session
        if session is None:
            return
        index, selected = self.frame, self.selected_tracks
        self.image.value = session.jpeg(index, selected)
        seconds = session.time_at(index)
        time = "" if seconds is None else f" · {seconds:.2f} s"
        self.frame_label.value = f"frame <b>{index}</b> / {session.n_frames - 1}{time}"
        self.timeline.value = timeline_svg(session.spans(), session.n_frames, index, selected)
        splittable = session.splittable_at(index)
        previous = self.split_track.value
        self.split_track.options = [(f"track {tid}", tid) for tid in splittable]
        if splittable:
            ticked = [tid for tid in splittable if tid in selected]
            self.split_track.value = previous if previous in splittable else (ticked or splittable)[0]
        self.split_button.disabled = not splittable
        self.undo_split_button.disabled = not session.splits
        self.splits_label.value = (
            "splits: " + "; ".join(f"track {s.track_id} at frame {s.frame} → {s.new_id}" for s in session.splits)
            if session.splits
            else ""
        )

    def _show_saved(self) -> None:
        rows = self.session.annotations() if self.session is not None else []
        if not rows:
            self.saved_label.value = "<i>not annotated yet</i>"
            return
        lines = []
        for row in rows:
            if row["subject_id"] == -1:
                what = "video marked unusable"
            else:
                tracks = ", ".join(str(int(t)) for t in row["keep_tracks"])
                n = len(row["splits"] or [])
                what = f"subject {row['subject_id']}: tracks {tracks}" + (f" ({n} split{'s' * (n != 1)})" if n else "")
            when = row["annotated_at"]
            when = when.strftime("%Y-%m-%d %H:%M") if hasattr(when, "strftime") else str(when)
            lines.append(f"{escape(what)} — {escape(str(row['annotator']))}, {when}")
        self.saved_label.value = "saved: " + "<br>".join(lines)

    def _status(self, message: str, ok: bool = True) -> None:
        color = "#1a7f37" if ok else "#c62828"
        kind = "pp-ok" if ok else "pp-error"
        self.status.value = f'<span class="{kind}" style="color:{color}">{escape(message, quote=False)}</span>'

    def _guarded(self, action):
        """A button callback that reports any failure in the status line instead of a hidden log."""

        def callback(_button):
            try:
                action()
            except Exception as error:  # the annotator must see what went wrong, not a hidden log
                log.exception("annotation widget action failed")
                self._status(f"{type(error).__name__}: {error}", ok=False)

        return callback

    # --- actions (the buttons call these) -----------------------------------------------------------------------

    def split(self, track_id: int | None = None) -> int | None:
        """Split ``track_id`` (default: the one chosen next to the button) at the current frame into a new id;
        returns the new id (None, with the reason in the status line, when it cannot be split)."""
        if self.session is None:
            self._status("Nothing to split: no tracking result is open.", ok=False)
            return None
        track_id = self.split_track.value if track_id is None else track_id
        if track_id is None:
            self._status(f"No track to split at frame {self.frame}.", ok=False)
            return None
        try:
            split = self.session.split(track_id, self.frame)
        except ValueError as error:
            self._status(f"Not split: {error}", ok=False)
            return None
        self._build_track_list()
        self._refresh_frame()
        self._status(f"Split track {split.track_id} at frame {split.frame}: from there on it is track {split.new_id}.")
        return split.new_id

    def undo_split(self) -> None:
        """Remove the last split (its new track id disappears)."""
        if self.session is None or not self.session.splits:
            self._status("No split to undo.", ok=False)
            return
        split = self.session.undo_split()
        self._build_track_list()
        self._refresh_frame()
        self._status(f"Undid the split of track {split.track_id} at frame {split.frame}.")

    def save(self) -> dict | None:
        """Save the ticked tracklets as the chosen subject (with the splits); replaces an earlier annotation of
        the same subject. Returns the `PersonBboxValid` key, or None with the reason in the status line."""
        if self.session is None:
            self._status("Nothing to save: no tracking result is open.", ok=False)
            return None
        tracking = tracking_module()
        subject, tracks = int(self.subject.value), self.selected_tracks
        try:
            key, replaced = self.session.save(
                subject, tracks, max_gap=self.max_gap.value, annotator=self.annotator.value.strip()
            )
        except tracking.AnnotationError as error:
            self._status(f"Not saved: {error}", ok=False)
            return None
        n = len(self.session.splits)
        splits = f", {n} split{'s' * (n != 1)}" if n else ""
        verb = "Replaced the annotation of" if replaced else "Saved"
        self._status(f"{verb} subject {subject}: tracks {', '.join(map(str, tracks))}{splits}.")
        self._show_saved()
        return key

    def mark_unusable(self) -> dict | None:
        """Record the open video as unusable (subject -1)."""
        if self.session is None:
            self._status("Nothing to mark: no tracking result is open.", ok=False)
            return None
        key, _ = self.session.mark_unusable(annotator=self.annotator.value.strip())
        others = [row["subject_id"] for row in self.session.annotations() if row["subject_id"] >= 0]
        note = f" Subjects {others} are still annotated." if others else ""
        self._status(f"Marked {key_name(self.session.key)} unusable (subject -1).{note}")
        self._show_saved()
        return key

    def next_unannotated(self) -> dict | None:
        """Open the next tracking result (within the restriction) that has no annotation; returns its key, or
        None (staying put) when there is none other."""
        key = next_unannotated(self.restriction, after=self.key)
        if key is None:
            here = self.key is not None and any(k == self.key for k in unannotated(self.restriction))
            self._status(
                "No other tracking result needs an annotation" + (" (this one does)." if here else "."), ok=True
            )
            return None
        self.load(key)
        left = len(unannotated(self.restriction))
        self._status(f"Opened {key_name(key)} ({left} tracking result{'s' * (left != 1)} to annotate).")
        return self.key
