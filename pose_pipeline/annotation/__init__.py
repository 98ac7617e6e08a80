"""Annotating tracking results: which tracklets are the subject of interest.

`AnnotationWidget` (ipywidgets, for JupyterLab; needs the ``notebooks`` extra) shows a tracking result's video
with every tracklet (heads blurred), a timeline of the tracklets, and saves through
`pose_pipeline.schema.tracking.annotate`. `AnnotationSession` is the same logic without widgets;
`unannotated` lists the tracking results still waiting for a person.
"""

from __future__ import annotations

from .session import AnnotationSession, next_unannotated, tracking_results, unannotated
from .timeline import timeline_svg, track_spans

__all__ = [
    "AnnotationSession",
    "AnnotationWidget",
    "next_unannotated",
    "timeline_svg",
    "track_spans",
    "tracking_results",
    "unannotated",
]


def __getattr__(name):
    if name == "AnnotationWidget":  # imported on first use: ipywidgets is an optional dependency
        from .widget import AnnotationWidget

        return AnnotationWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
