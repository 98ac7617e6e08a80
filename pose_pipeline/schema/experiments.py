"""What a lab's own tables need to reference the pipeline's videos: a refusal that names the missing video.

A lab ties its subjects, sessions and conditions to videos with a table that has ``-> Video`` (see
`pose_pipeline.examples.experiment` and the README's "Your experiment"). Inserting a row that names a video the
pipeline does not have fails in the database with a foreign-key error naming a constraint, not the video;
`ReferencesVideo` checks first and raises `MissingVideoError` naming the row and the video key.

>>> @schema
... class Trial(ReferencesVideo, dj.Manual):
...     definition = '''
...     -> Session
...     trial : int16
...     ---
...     -> Video
...     '''
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import datajoint as dj
import numpy as np

from .video import Video


class MissingVideoError(LookupError):
    """A row of a lab's table names a video that is not in `Video`."""


class ReferencesVideo:
    """Mixin for a table with ``-> Video``: inserts of rows naming videos that are not in `Video` are refused
    with `MissingVideoError` naming each such row's key and video, before anything is inserted."""

    def insert(self, rows, **kwargs):
        if not isinstance(rows, dj.expression.QueryExpression | Path | str):
            rows = rows.to_dict("records") if hasattr(rows, "to_dict") and hasattr(rows, "columns") else list(rows)
            missing_videos(self, [self._as_dict(row) for row in rows])
        return super().insert(rows, **kwargs)

    def _as_dict(self, row) -> dict:
        if isinstance(row, Mapping):
            return dict(row)
        if isinstance(row, np.void):
            return dict(zip(row.dtype.names, row.tolist()))
        return dict(zip(self.heading.names, row))


def missing_videos(table, rows: list[dict]) -> None:
    """Raise `MissingVideoError` if any of ``rows`` (of ``table``) names a video that is not in `Video`."""
    wanted = [{k: row[k] for k in Video.primary_key} for row in rows if all(k in row for k in Video.primary_key)]
    if not wanted:
        return
    found = {tuple(key[k] for k in Video.primary_key) for key in (Video & wanted).proj().to_dicts()}
    missing = [row for row in rows if all(k in row for k in Video.primary_key)
               and tuple(row[k] for k in Video.primary_key) not in found]  # fmt: skip
    if missing:
        name = type(table).__name__ if not isinstance(table, type) else table.__name__
        described = "; ".join(
            f"{name} {_key(row, table.primary_key)} names video_project={row['video_project']!r}, "
            f"filename={row['filename']!r}"
            for row in missing[:10]
        )
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise MissingVideoError(
            f"{described}{more}: no such video in Video; import it first (insert_local_video or "
            f"`pose-pipeline import`). Nothing was inserted."
        )


def _key(row: dict, primary_key) -> str:
    return "(" + ", ".join(f"{k}={row[k]!r}" for k in primary_key if k in row) + ")"


__all__ = ["MissingVideoError", "ReferencesVideo", "missing_videos"]
