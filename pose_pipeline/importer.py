"""Bulk import of video files: each file validated on its own, so one bad file never stops the batch.

Nothing is passed over in silence: every path the import does not import is in the report, with its reason
(refused: looked at and found unusable; skipped: not looked at, e.g. hidden files or dangling links).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .schema.video import DuplicateVideoError, store_local_video
from .video.probe import InvalidVideoError, display_path


@dataclass
class ImportReport:
    """What a bulk import did with each path."""

    imported: list[dict] = field(default_factory=list)
    already_present: list[dict] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (file, message naming the file and the reason)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why it was not looked at)

    def summary(self) -> str:
        counts = (
            f"imported {len(self.imported)}, already present {len(self.already_present)}, "
            f"refused {len(self.refused)}, skipped {len(self.skipped)}"
        )
        lines = [counts]
        lines += [f"  refused: {message}" for _, message in self.refused]
        lines += [f"  skipped: {display_path(path)}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)


def find_files(paths, recursive: bool = False) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files to import and the paths passed over, each with its reason.

    Paths named directly are imported whatever they are (a missing or unusable one is refused by the import).
    In named directories: regular files and links to them are imported; hidden entries (names starting with a
    dot), dangling links, sub-directories (unless ``recursive``) and special files are skipped and listed.
    """
    files, skipped = [], []
    for path in map(Path, paths):
        if path.is_dir():
            _scan(path, recursive, files, skipped)
        else:
            files.append(path)
    return files, skipped


def _scan(directory: Path, recursive: bool, files: list, skipped: list) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: os.fsencode(entry.name))
    except OSError as error:
        skipped.append((directory, f"cannot list the directory ({error.strerror})"))
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            kind = "directory" if entry.is_dir() else "file"
            skipped.append((path, f"hidden {kind} (name starts with a dot); name it to import it"))
        elif entry.is_dir() and entry.is_symlink():
            skipped.append((path, "a link to a directory (not followed, so links cannot loop)"))
        elif entry.is_dir():
            if recursive:
                _scan(path, recursive, files, skipped)
            else:
                skipped.append((path, "a sub-directory (use --recursive to import it)"))
        elif entry.is_file():
            files.append(path)
        elif entry.is_symlink():
            skipped.append((path, f"dangling symbolic link (its target {display_path(os.readlink(path))} is missing)"))
        else:
            skipped.append((path, "not a regular file (a device, socket or pipe)"))


def import_videos(paths, video_project: str, *, recursive=False, recompress=False, progress=True) -> ImportReport:
    """Import every video file under ``paths`` into ``video_project``; refused and skipped paths are listed."""
    report = ImportReport()
    files, report.skipped = find_files(paths, recursive)
    for path in tqdm(files, desc="import", unit="file", disable=not progress):
        try:
            key, inserted = store_local_video(path, video_project, recompress=recompress)
        except (InvalidVideoError, DuplicateVideoError) as error:
            report.refused.append((path, str(error)))
            continue
        except OSError as error:  # e.g. a read error or a full disk: this file fails, the batch goes on
            report.refused.append((path, f"{display_path(path)}: cannot import ({error.strerror or error})"))
            continue
        (report.imported if inserted else report.already_present).append(key)
    return report
