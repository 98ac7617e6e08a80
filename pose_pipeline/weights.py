"""Model files (weights) the pipeline loads but never downloads: the manifest, where files are looked for, checks.

The manifest (``3rdparty/manifest.json``) lists every model file a method may load: its name, its path relative
to a weights directory, its sha256 and size when known, where to download it, its licence and which methods use
it. Users download the files themselves and place them under ``3rdparty/`` or under a directory named in
``POSE_PIPELINE_WEIGHTS`` (several directories separated by ``os.pathsep``; they are searched first).

``require_weights(name)`` is what a wrapper calls before loading a model: it returns the file's path after
checking that it exists and matches the manifest's size and sha256, or raises `WeightsError` saying which file,
where it is expected and where to get it. A file whose manifest entry has no sha256 (not published by its
authors) is accepted as "unverified". Hashes are cached per (path, device, inode, size, modification and change
time), so a file is hashed once per process, not at every call, and a file changed in place is hashed again even when
its size and modification time were kept (``touch -r``, a copy with ``cp -p``): writing always moves the change time.

``weights_status()`` tabulates every entry: present, unverified, missing or corrupt.

The manifest's ``data`` section lists real data shipped with the project (the Sports2D demo clip) in the same form;
``require_data(name)`` checks and returns one of them as ``require_weights`` does a model file, and
``weights_status(section="data")`` tabulates them.

Every model file a wrapper loads is noted (`note_model_file`: `require_weights` and `open_session` do it), so the
pipeline's run path (`pose_pipeline.registry.run_methods`) can record, with each result, the sha256 of every file
that produced it (`recording_model_files`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_DIRS = "POSE_PIPELINE_WEIGHTS"
ENV_MANIFEST = "POSE_PIPELINE_MANIFEST"  # another manifest file instead of 3rdparty/manifest.json
THIRD_PARTY = Path(__file__).resolve().parents[1] / "3rdparty"
DEFAULT_MANIFEST = THIRD_PARTY / "manifest.json"

PRESENT, UNVERIFIED, MISSING, CORRUPT = "present", "unverified", "missing", "corrupt"
SECTIONS = {"models": "model", "data": "data"}  # manifest section -> what its files are called in messages

_FIELDS = {"name", "path", "url", "license", "used_by", "sha256", "size", "archive_member", "notes"}
_hash_cache: dict[tuple, str] = {}
_loaded_files: ContextVar[dict[str, dict] | None] = ContextVar("pose_pipeline_model_files", default=None)


class WeightsError(RuntimeError):
    """A model file is not in the manifest, missing, or does not match its manifest entry."""


@dataclass(frozen=True)
class WeightsEntry:
    """One model file of the manifest.

    ``path`` is relative to a weights directory (POSIX separators). ``sha256`` and ``size`` are None when not
    known. ``archive_member`` is the file to take out of the download when ``url`` is an archive. ``extra`` keeps
    any further keys (e.g. a detector's ``input_size``).
    """

    name: str
    path: str
    url: str
    license: str
    used_by: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None
    archive_member: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = "model"  # "model" or "data": how messages name the file

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Path, kind: str = "model") -> WeightsEntry:
        """Parse and check one manifest entry; ``source`` (the manifest file) names it in errors."""
        missing = {"name", "path", "url", "license", "used_by"} - set(data)
        if missing:
            raise WeightsError(f"manifest {source}: entry {data.get('name', '?')!r} lacks {sorted(missing)}")
        name = data["name"]
        path = Path(data["path"])
        if path.is_absolute() or ".." in path.parts:
            raise WeightsError(f"manifest {source}: entry {name!r} path must be relative, got {data['path']!r}")
        sha256 = data.get("sha256")
        if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower())):
            raise WeightsError(f"manifest {source}: entry {name!r} sha256 must be 64 hex digits or null")
        size = data.get("size")
        if size is not None and (not isinstance(size, int) or size <= 0):
            raise WeightsError(f"manifest {source}: entry {name!r} size must be a positive integer or null")
        used_by = data["used_by"]
        return cls(
            name=name,
            path=path.as_posix(),
            url=data["url"],
            license=data["license"],
            used_by=tuple([used_by] if isinstance(used_by, str) else used_by),
            sha256=sha256.lower() if sha256 else None,
            size=size,
            archive_member=data.get("archive_member"),
            notes=data.get("notes", ""),
            extra={k: v for k, v in data.items() if k not in _FIELDS},
            kind=kind,
        )


@dataclass(frozen=True)
class WeightsCheck:
    """The outcome of checking one entry: ``status`` (present/unverified/missing/corrupt), the file's path (where
    found, else where expected), its size, and a message for humans."""

    entry: WeightsEntry
    status: str
    path: Path
    size: int | None
    message: str


def _manifest_path(manifest: str | os.PathLike | None) -> Path:
    if manifest is not None:
        return Path(manifest)
    return Path(os.environ.get(ENV_MANIFEST) or DEFAULT_MANIFEST)


def load_manifest(manifest: str | os.PathLike | None = None, section: str = "models") -> dict[str, WeightsEntry]:
    """The entries of one manifest section (``models`` or ``data``) by name (``manifest``: a manifest file;
    default ``$POSE_PIPELINE_MANIFEST`` or ``3rdparty/manifest.json``)."""
    if section not in SECTIONS:
        raise ValueError(f"manifest section must be one of {sorted(SECTIONS)}, got {section!r}")
    path = _manifest_path(manifest)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"no weights manifest at {path}") from None
    except json.JSONDecodeError as error:
        raise WeightsError(f"weights manifest {path} is not valid JSON: {error}") from None
    entries: dict[str, WeightsEntry] = {}
    for item in data.get(section, []):
        entry = WeightsEntry.from_dict(item, path, SECTIONS[section])
        if entry.name in entries:
            raise WeightsError(f"manifest {path}: entry {entry.name!r} appears twice")
        entries[entry.name] = entry
    return entries


def weights_dirs(manifest: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched, in order: those in ``POSE_PIPELINE_WEIGHTS``, then the manifest's own directory."""
    dirs = [Path(p).expanduser() for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p.strip()]
    return [*dirs, _manifest_path(manifest).resolve().parent]


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached per (resolved path, device, inode, size, modification time, change time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    digest = _hash_cache.get(key)
    if digest is None:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        _hash_cache[key] = digest
    return digest


def _where_to_get(entry: WeightsEntry) -> str:
    take = f", take {entry.archive_member!r} out of the archive" if entry.archive_member else ""
    return f"Download it from {entry.url}{take} (licence: {entry.license}); see 3rdparty/README.md"


def check_weights(name: str, manifest: str | os.PathLike | None = None, section: str = "models") -> WeightsCheck:
    """Find and verify one manifest entry (hashing the file if the manifest gives a sha256)."""
    entries = load_manifest(manifest, section)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise WeightsError(f"no {SECTIONS[section]} file named {name!r} in {_manifest_path(manifest)}; known: {known}")
    return _check(entries[name], weights_dirs(manifest))


def _check(entry: WeightsEntry, dirs: list[Path]) -> WeightsCheck:
    candidates = [d / entry.path for d in dirs]
    found = next((p for p in candidates if p.is_file()), None)
    users = ", ".join(entry.used_by)
    if found is None:
        also = f" (also searched: {', '.join(map(str, candidates[:-1]))})" if len(candidates) > 1 else ""
        return WeightsCheck(
            entry,
            MISSING,
            candidates[-1],
            None,
            f"{entry.kind} file {entry.name!r} (used by {users}) is missing: expected at {candidates[-1]}{also}; "
            f"${ENV_DIRS} may name other directories. {_where_to_get(entry)}.",
        )
    size = found.stat().st_size
    if entry.size is not None and size != entry.size:
        return WeightsCheck(
            entry,
            CORRUPT,
            found,
            size,
            f"{entry.kind} file {entry.name!r} at {found} has {size} bytes, the manifest expects {entry.size}: it is "
            f"truncated or a different version. {_where_to_get(entry)}.",
        )
    if entry.sha256 is None:
        return WeightsCheck(
            entry,
            UNVERIFIED,
            found,
            size,
            f"{entry.kind} file {entry.name!r} at {found}: no sha256 published, not verified",
        )
    digest = file_sha256(found)
    if digest != entry.sha256:
        return WeightsCheck(
            entry,
            CORRUPT,
            found,
            size,
            f"{entry.kind} file {entry.name!r} at {found} does not match the manifest: sha256 {digest}, expected "
            f"{entry.sha256}; it is damaged or a different version. {_where_to_get(entry)}.",
        )
    return WeightsCheck(entry, PRESENT, found, size, f"{entry.kind} file {entry.name!r} at {found}: sha256 verified")


def require_weights(name: str, manifest: str | os.PathLike | None = None) -> Path:
    """Path of the verified model file ``name``; raises `WeightsError` if it is unknown, missing or corrupt.

    Call it before loading a model, so a run fails at once with instructions rather than mid-way.
    """
    check = check_weights(name, manifest)
    if check.status in (MISSING, CORRUPT):
        raise WeightsError(check.message)
    note_model_file(check.path, check.entry.sha256, name=name)
    return check.path


def require_data(name: str, manifest: str | os.PathLike | None = None) -> Path:
    """Path of the verified data file ``name`` (the manifest's ``data`` section, e.g. ``"sports2d_demo"``);
    raises `WeightsError` if it is unknown, missing or not the expected file (size or sha256)."""
    check = check_weights(name, manifest, section="data")
    if check.status in (MISSING, CORRUPT):
        raise WeightsError(check.message)
    return check.path


@contextmanager
def recording_model_files() -> Iterator[dict[str, dict]]:
    """Collect every model file noted while the block runs: ``{resolved path: {"path", "sha256", "name"}}``."""
    files: dict[str, dict] = {}
    token = _loaded_files.set(files)
    try:
        yield files
    finally:
        _loaded_files.reset(token)


def note_model_file(path: str | os.PathLike, sha256: str | None = None, name: str | None = None) -> None:
    """Note that a model file is being loaded (a no-op unless `recording_model_files` is active). ``sha256``, when
    the caller verified it, saves hashing the file again; ``name`` is its manifest or registry name."""
    files = _loaded_files.get()
    if files is None:
        return
    path = Path(path).resolve()
    entry = files.get(str(path))
    if entry is None:
        files[str(path)] = {"path": str(path), "sha256": sha256 or file_sha256(path), "name": name}
    elif name and not entry["name"]:
        entry["name"] = name


def weights_status(manifest: str | os.PathLike | None = None, section: str = "models"):
    """A pandas DataFrame with one row per entry of a manifest section (``models`` or ``data``): name, status
    (present / unverified / missing / corrupt), path (found, or expected), size, expected size and sha256, used_by,
    url, licence and message."""
    import pandas as pd

    dirs = weights_dirs(manifest)
    rows = []
    for entry in load_manifest(manifest, section).values():
        check = _check(entry, dirs)
        rows.append(
            {
                "name": entry.name,
                "status": check.status,
                "path": str(check.path),
                "size": check.size,
                "expected_size": entry.size,
                "sha256": entry.sha256,
                "used_by": ", ".join(entry.used_by),
                "url": entry.url,
                "license": entry.license,
                "message": check.message,
            }
        )
    columns = ["name", "status", "path", "size", "expected_size", "sha256", "used_by", "url", "license", "message"]
    return pd.DataFrame(rows, columns=columns)
