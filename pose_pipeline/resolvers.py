"""Name -> stored artefact lookups that wrappers need but must not implement themselves.

Wrappers are pure: they never import DataJoint or the schema. Some still take a *name* whose meaning lives in the
database: a joint set made by another process (a DeepLabCut model's bodyparts, a ``combined`` method's joints), a
DeepLabCut model registered from a sweep, and later calibrations and body-model files. The schema layer registers
one resolver per kind when it is imported (``schema.activate()`` imports every stage module); a wrapper asks
``resolve(kind, name)`` and gets plain Python objects and local file paths back. The arrow keeps pointing down:
this module knows no resolver, only their names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOINT_SET = "joint_set"  # name -> pose_pipeline.skeletons.JointSet
DLC_MODEL = "dlc_model"  # name -> StoredModel (DeepLabCut: pytorch_config.yaml and snapshot)
IMPORTED_FILE = "imported_file"  # sha256 -> StoredFile (a result file imported from another tool)
SKELETON = "skeleton"  # name -> pose_pipeline.skeleton_model.definitions.SkeletonDefinition
SKELETON_ANATOMY = "skeleton_anatomy"  # subject -> pose_pipeline.skeleton_model.methods.StoredAnatomy

_resolvers: dict[str, Callable[[str], Any]] = {}


@dataclass(frozen=True)
class StoredModel:
    """A model kept in the stores, fetched into the local cache and checksum-verified: its weights file, its
    configuration file (None when it has none) and the weights' sha256."""

    name: str
    weights: Path
    config: Path | None
    sha256: str


@dataclass(frozen=True)
class StoredFile:
    """A file kept in the stores, fetched into the local cache and checksum-verified: the local copy, its sha256,
    and where it came from (its original name and path, and the format it was registered as)."""

    path: Path
    sha256: str
    name: str
    source_path: str
    format: str


class UnresolvedError(LookupError):
    """Nothing can tell what a name means: no resolver for its kind, or the resolver does not know the name."""

    def __str__(self) -> str:  # LookupError quotes its message; this one is meant to be read
        return self.args[0]


def register_resolver(kind: str, resolver: Callable[[str], Any]) -> None:
    """Make ``resolver(name)`` answer for ``kind``; it raises `UnresolvedError` for names it does not know.
    Registering again replaces the earlier resolver (a re-imported schema module)."""
    _resolvers[kind] = resolver


def resolve(kind: str, name: str) -> Any:
    """What ``name`` of ``kind`` stands for, from the registered resolver."""
    resolver = _resolvers.get(kind)
    if resolver is None:
        raise UnresolvedError(
            f"cannot resolve {kind} {name!r}: nothing is registered to look up {kind}s; activate the pipeline's "
            "schema first (from pose_pipeline import schema; schema.activate())"
        )
    return resolver(name)


def has_resolver(kind: str) -> bool:
    return kind in _resolvers
