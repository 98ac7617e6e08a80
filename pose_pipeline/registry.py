"""Registries of interchangeable algorithms, one per stage.

A wrapper is a pure function (frames or arrays in, a standard output out) registered under a name with its
version, default parameters and output contract::

    @TRACKING.register("bytetrack", version="2.0", params={"track_thresh": 0.5}, output=Tracks)
    def bytetrack(video_path, detections, **params) -> Tracks: ...

The stage's ``...MethodLookup`` table takes its rows from the registry and the stage's ``make()`` calls
``REGISTRY.run(name, ...)``, which merges parameters and validates the output against the contract before
anything reaches the database. Nothing branches on method names.

A wrapper that loads a model once and then runs batch after batch (a detector, a tracker) is registered as a
factory, a class or function that takes the parameters and returns the callable object;
``REGISTRY.build(name, params)`` creates it. The stage validates what the object returns against the contract.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .formats import ContractError


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
        """Create the object a factory-style wrapper registered (models load here, once)."""
        return self.get(name).func(**self.merged_params(name, params))

    def run(self, name: str, *args, params: dict[str, Any] | None = None, n_frames: int | None = None, **inputs) -> Any:
        """Call the wrapper and validate its result against the stage's output contract.

        ``n_frames``, when given, is the frame count the output must cover.
        """
        spec = self.get(name)
        result = spec.func(*args, **inputs, **self.merged_params(name, params))
        if not isinstance(result, spec.output):
            raise ContractError(
                f"{self.stage} method {name!r} returned {type(result).__name__}, not {spec.output.__name__}"
            )
        try:
            result.validate(n_frames=n_frames)
        except ContractError as error:
            raise ContractError(f"{self.stage} method {name!r} broke its output contract: {error}") from error
        return result
