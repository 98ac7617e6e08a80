"""Registries of interchangeable algorithms, one per stage, and the one path every stage runs them by.

A wrapper is registered under a name with its version, default parameters and the stage's output contract. It
is a factory: called with the merged parameters, it loads what it needs (models load here, once) and returns
the callable object that does the work::

    @TRACKING.register("bytetrack", version="2.0", params={"track_thresh": 0.5})
    def bytetrack(**params) -> PackageTracker: ...

The stage's ``...MethodLookup`` table takes its rows from the registry; the stage's ``make()`` calls
`run_methods` (through `pose_pipeline.schema.runs.run_stage`), which builds each method (noting the model files
it loads), applies the stage's loop, validates the output against the contract and returns the result with its
`Provenance` (method, version, merged parameters, model files and their sha256), all before anything reaches the
database. Nothing branches on method names:

>>> import numpy as np
>>> import pose_pipeline.tracking  # registers the trackers
>>> from pose_pipeline.stages import TRACKING
>>> from pose_pipeline.tracking.run import track_detections
>>> boxes = [np.array([[10.0 + 2 * i, 10, 20, 40, 0.9]]) for i in range(5)]  # one person, five frames
>>> run = run_methods(lambda tracker: track_detections(boxes, tracker),
...                   MethodCall(TRACKING, "sort", {"minimum_consecutive_frames": 1}), n_frames=5)
>>> run.result.n_tracks, run.provenance[0].method, run.provenance[0].params["minimum_iou_threshold"]
(1, 'sort', 0.3)
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .formats import ContractError
from .weights import recording_model_files


class UnknownMethodError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; this one is meant to be read
        return self.args[0]


@dataclass(frozen=True)
class MethodSpec:
    """One registered algorithm: what it is called, what it needs and what it returns."""

    stage: str
    name: str
    version: str
    func: Callable[..., Any]
    params: dict[str, Any]
    output: type
    description: str
    requires: tuple[str, ...] = ()  # optional extras (pip install pose_pipeline[extra]) the wrapper imports
    device: str = "cpu"  # "cpu", "gpu" or "any"

    def lookup_row(self) -> dict[str, Any]:
        """The row this method contributes to its stage's Lookup table."""
        return {
            "method_name": self.name,
            "version": self.version,
            "default_params": json.dumps(self.params, sort_keys=True),
            "output_contract": self.output.__name__,
            "requires": ",".join(self.requires),
            "device": self.device,
            "description": self.description[:1000],
        }


@dataclass
class Registry:
    """The algorithms of one stage (tracking, 2D top-down, lifting, SMPL, ...)."""

    stage: str
    output: type  # the contract every method of this stage returns
    _methods: dict[str, MethodSpec] = field(default_factory=dict)

    def register(
        self,
        name: str,
        *,
        version: str,
        params: dict[str, Any] | None = None,
        description: str | None = None,
        requires: tuple[str, ...] = (),
        device: str = "cpu",
    ) -> Callable[[Callable], Callable]:
        """Decorator that adds a wrapper under ``name``; registering a different function twice is an error."""

        def decorator(func: Callable) -> Callable:
            spec = MethodSpec(
                stage=self.stage,
                name=name,
                version=version,
                func=func,
                params=dict(params or {}),
                output=self.output,
                description=(description or inspect.getdoc(func) or name).strip(),
                requires=tuple(requires),
                device=device,
            )
            existing = self._methods.get(name)
            if existing is not None and existing.func is not func:
                raise ValueError(f"{self.stage} method {name!r} is already registered by {existing.func.__module__}")
            self._methods[name] = spec
            return func

        return decorator

    def get(self, name: str) -> MethodSpec:
        try:
            return self._methods[name]
        except KeyError:
            known = ", ".join(sorted(self._methods)) or "none"
            raise UnknownMethodError(f"no {self.stage} method named {name!r}; registered: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._methods)

    def __contains__(self, name: str) -> bool:
        return name in self._methods

    def __iter__(self):
        return iter(self._methods[name] for name in self.names())

    def lookup_rows(self) -> list[dict[str, Any]]:
        return [spec.lookup_row() for spec in self]

    def merged_params(self, name: str, params: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults overridden by the caller's parameters; unknown parameter names are refused."""
        spec = self.get(name)
        params = dict(params or {})
        unknown = set(params) - set(spec.params)
        if unknown:
            raise ValueError(
                f"{self.stage} method {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(spec.params)}"
            )
        return {**spec.params, **params}

    def build(self, name: str, params: dict[str, Any] | None = None) -> Any:
        """Create the object a wrapper's factory returns (models load here, once)."""
        return self.get(name).func(**self.merged_params(name, params))

    def build_recorded(self, name: str, params: dict[str, Any] | None = None) -> tuple[Any, Provenance]:
        """`build`, and the provenance of what was built: version, merged parameters, model files loaded."""
        spec = self.get(name)
        merged = self.merged_params(name, params)
        with recording_model_files() as files:
            method = spec.func(**merged)
        model_files = tuple(sorted(files.values(), key=lambda f: f["path"]))
        return method, Provenance(self.stage, name, spec.version, merged, model_files)


@dataclass(frozen=True)
class Provenance:
    """What produced a result: a registered method, its version, the parameters it was built with (defaults
    merged in) and every model file it loaded, with its sha256."""

    stage: str
    method: str
    version: str
    params: dict[str, Any]
    model_files: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        from .jsonable import jsonable

        return jsonable(
            {
                "stage": self.stage,
                "method": self.method,
                "version": self.version,
                "params": self.params,
                "model_files": list(self.model_files),
            }
        )


class MethodCall(NamedTuple):
    """One registered method to build for a run: its registry, name and parameter overrides."""

    registry: Registry
    name: str
    params: dict[str, Any] | None = None


@dataclass
class Run:
    """A validated result, the provenance of each method that made it, and the seconds ``apply`` took."""

    result: Any
    provenance: list[Provenance]
    seconds: float


def run_methods(
    apply: Callable[..., Any], *calls: MethodCall, n_frames: int | None = None, output: type | None = None
) -> Run:
    """Build each called method, pass the built objects to ``apply`` and validate what it returns.

    ``output`` is the contract the result must meet (default: the last call's stage contract); ``n_frames``, when
    given, is the frame count it must cover. Unknown methods or parameters, a missing or corrupt model file and a
    broken contract raise before anything is returned, naming the method.
    """
    if not calls:
        raise ValueError("run_methods needs at least one method")
    built = [call.registry.build_recorded(call.name, call.params) for call in calls]
    started = time.perf_counter()
    result = apply(*(method for method, _ in built))
    seconds = time.perf_counter() - started
    contract = output or calls[-1].registry.output
    names = " + ".join(f"{call.registry.stage} method {call.name!r}" for call in calls)
    if not isinstance(result, contract):
        raise ContractError(f"{names} returned {type(result).__name__}, not {contract.__name__}")
    try:
        result.validate(n_frames=n_frames)
    except ContractError as error:
        raise ContractError(f"{names} broke its output contract: {error}") from error
    return Run(result, [provenance for _, provenance in built], seconds)
