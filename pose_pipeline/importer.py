"""Bulk import of video files: each file validated on its own, so one bad file never stops the batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .schema.video import DuplicateVideoError, insert_local_video
from .video.probe import InvalidVideoError


@dataclass
class ImportReport:
    """What a bulk import did with each file."""

    imported: list[dict] = field(default_factory=list)
    already_present: list[dict] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (file, message naming the file and the reason)

    def summary(self) -> str:
        lines = [
            f"imported {len(self.imported)}, already present {len(self.already_present)}, refused {len(self.refused)}"
        ]
        lines += [f"  refused: {message}" for _, message in self.refused]
        return "\n".join(lines)


def find_files(paths, recursive: bool = False) -> list[Path]:
    """Files named directly plus the non-hidden files in named directories, sorted."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files += sorted(p for p in path.glob(pattern) if p.is_file() and not p.name.startswith("."))
        else:
            files.append(path)  # a missing path is refused by the import, with its reason
    return files


def import_videos(paths, video_project: str, *, recursive=False, recompress=False, progress=True) -> ImportReport:
    """Import every video file under ``paths`` into ``video_project``; refused files are listed, not raised."""
    from .schema.video import Video

    report = ImportReport()
    for path in tqdm(find_files(paths, recursive), desc="import", unit="file", disable=not progress):
        key = {"video_project": video_project, "filename": path.name}
        existed = bool(Video & key)
        try:
            key = insert_local_video(path, video_project, recompress=recompress)
        except (InvalidVideoError, DuplicateVideoError) as error:
            report.refused.append((path, str(error)))
            continue
        (report.already_present if existed else report.imported).append(key)
    return report
