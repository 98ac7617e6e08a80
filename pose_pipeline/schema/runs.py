"""The run path every algorithm stage's ``make()`` takes.

`run_stage` builds the request's registered methods, applies the stage's loop, validates the output contract
(`pose_pipeline.registry.run_methods`), stores the joint set the result names (`joint_sets.store_joint_set`) and
returns the result with the columns every computed row of an algorithm stage carries: ``provenance`` (the
package version and, per method, its version, merged parameters and model files with their sha256) and
``seconds`` (wall time of the work, not of loading models).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import __version__
from ..registry import MethodCall, Run, run_methods
from .joint_sets import store_joint_set

PROVENANCE_DEFINITION = """
    provenance               : json       # methods, versions, merged parameters and model files (sha256)
    seconds                  : float64    # wall time of the work, seconds (models loaded before)
"""


def run_stage(apply: Callable[..., Any], *calls: MethodCall, n_frames: int | None = None,
              output: type | None = None) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Run the methods ``calls`` name through ``apply``; returns the validated result and its row columns."""
    run = run_methods(apply, *calls, n_frames=n_frames, output=output)
    joint_set = getattr(run.result, "joint_set", None)
    if joint_set:
        store_joint_set(joint_set)
    return run.result, provenance_columns(run)


def provenance_columns(run: Run) -> dict[str, Any]:
    return {
        "provenance": {"pose_pipeline": __version__, "methods": [p.as_dict() for p in run.provenance]},
        "seconds": run.seconds,
    }
