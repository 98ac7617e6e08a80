"""The tracklet timeline of the annotation widget: one coloured bar per track id over the video's frames.

Pure functions (no widgets, no database): `track_spans` turns tracklets into runs of consecutive frames and
`timeline_svg` draws them as an SVG, in the colours `pose_pipeline.visualize.track_color` gives the boxes.
"""

from __future__ import annotations

from html import escape

import numpy as np

from ..visualize import track_color


def track_spans(frame: np.ndarray, track_id: np.ndarray) -> dict[int, list[tuple[int, int]]]:
    """Per track id (ascending), its runs of consecutive frames as ``(first, last)`` pairs (inclusive)."""
    frame, track_id = np.asarray(frame, dtype=int), np.asarray(track_id, dtype=int)
    spans: dict[int, list[tuple[int, int]]] = {}
    for tid in np.unique(track_id):
        frames = np.unique(frame[track_id == tid])
        breaks = np.flatnonzero(np.diff(frames) > 1)
        firsts = np.concatenate([frames[:1], frames[breaks + 1]])
        lasts = np.concatenate([frames[breaks], frames[-1:]])
        spans[int(tid)] = [(int(a), int(b)) for a, b in zip(firsts, lasts)]
    return spans


def css_color(track_id: int) -> str:
    """The track's box colour as a CSS ``rgb(...)`` string."""
    r, g, b = track_color(track_id)
    return f"rgb({r},{g},{b})"


def timeline_svg(
    spans: dict[int, list[tuple[int, int]]],
    n_frames: int,
    current: int,
    selected=(),
    *,
    width: int = 800,
    row_height: int = 16,
    label_width: int = 64,
) -> str:
    """An SVG timeline: a row per track id with a bar per run of frames in the track's colour, the rows of
    ``selected`` tracks emphasised (opaque bars, bold label, dark outline), and a red marker at ``current``.

    Each bar carries ``data-track``, ``data-first`` and ``data-last`` attributes and a tooltip; the marker
    carries ``data-frame``.
    """
    selected = {int(t) for t in selected}
    n_frames = max(int(n_frames), 1)
    plot = width - label_width - 8
    top, axis = 4, 16
    height = top + max(len(spans), 1) * row_height + axis

    def x(frame: float) -> float:
        return label_width + plot * frame / n_frames

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="pp-timeline" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" style="max-width:100%;font:11px sans-serif">'
        ),
        f'<rect x="{label_width}" y="{top}" width="{plot}" height="{height - top - axis}" fill="#f4f4f4"/>',
    ]
    if not spans:
        parts.append(f'<text x="{label_width + 6}" y="{top + row_height - 4}" fill="#666">no tracklets</text>')
    for row, (tid, runs) in enumerate(spans.items()):
        y = top + row * row_height
        chosen = tid in selected
        weight = "bold" if chosen else "normal"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + row_height - 4}" text-anchor="end" font-weight="{weight}">'
            f"{'&#10003; ' if chosen else ''}{tid}</text>"
        )
        stroke = ' stroke="#222" stroke-width="1.5"' if chosen else ""
        for first, last in runs:
            parts.append(
                f'<rect class="pp-bar" data-track="{tid}" data-first="{first}" data-last="{last}" '
                f'x="{x(first):.2f}" y="{y + 2}" width="{max(x(last + 1) - x(first), 1.0):.2f}" '
                f'height="{row_height - 4}" fill="{css_color(tid)}" fill-opacity="{1.0 if chosen else 0.55}"{stroke}>'
                f"<title>{escape(f'track {tid}: frames {first}-{last}')}</title></rect>"
            )
    axis_y = height - axis
    for tick in sorted({0, n_frames // 4, n_frames // 2, 3 * n_frames // 4, n_frames - 1}):
        parts.append(
            f'<line x1="{x(tick + 0.5):.2f}" y1="{axis_y}" x2="{x(tick + 0.5):.2f}" y2="{axis_y + 3}" stroke="#888"/>'
            f'<text x="{x(tick + 0.5):.2f}" y="{axis_y + 13}" text-anchor="middle" fill="#666">{tick}</text>'
        )
    current = min(max(int(current), 0), n_frames - 1)
    marker = x(current + 0.5)
    parts.append(
        f'<line class="pp-marker" data-frame="{current}" x1="{marker:.2f}" y1="{top - 2}" x2="{marker:.2f}" '
        f'y2="{axis_y}" stroke="#d00" stroke-width="2"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
