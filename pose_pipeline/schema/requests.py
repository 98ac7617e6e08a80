"""Method requests keyed by their parameters, as DataJoint Elements key their parameter sets.

A request table (``TrackingBboxMethod``, ``TopDownMethod``, ``BlurMethod``, ...) says "run method A with
parameters P on input K". Its primary key holds the method's name and a hash of its *merged* parameters (the
registry's defaults with the caller's overrides, as canonical JSON), so the same input can be run with several
parameter sets side by side, and the row stores the merged parameters themselves. Users insert only what they
override; `MethodRequest.insert` merges, refuses unknown parameter names and fills in the hash::

    TopDownMethod.insert1({**person_key, "top_down_method": "dlc", "params": {"model": "reaching_best"}})
    key = TopDownMethod.request_key({**person_key, "top_down_method": "dlc", "params": {"model": "reaching_best"}})
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import datajoint as dj

from ..jsonable import jsonable
from ..registry import Registry

HASH_LENGTH = 32  # hex digits of sha256 kept: 128 bits


class SchemaVersionError(RuntimeError):
    """The database holds tables of an older layout that this version of the pipeline cannot use."""


def params_hash(params: Mapping[str, Any]) -> str:
    """The hash of a parameter mapping's canonical JSON (sorted keys, no spaces, NaN refused)."""
    text = json.dumps(jsonable(dict(params)), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


class MethodRequest:
    """Mixin for a Manual request table. A subclass sets:

    - ``methods``: ``(method attribute, registry, params attribute)`` for each registered method the request
      names (tracking names a detector and a tracker);
    - ``hash_attribute``: the primary-key attribute holding `params_hash` of all merged parameters;
    - ``method_defaults`` (optional): the method a request gets when it names none, by method attribute.
    """

    methods: tuple[tuple[str, Registry, str], ...] = ()
    hash_attribute: str = ""
    method_defaults: Mapping[str, str] = {}

    @classmethod
    def merged(cls, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` with a default method where it names none (``method_defaults``), every params attribute merged
        with its method's defaults and the hash filled in; a row carrying a hash that does not match its parameters
        is refused."""
        row = {**cls.method_defaults, **row}
        params = {}
        for method_attribute, registry, params_attribute in cls.methods:
            if method_attribute not in row:
                raise ValueError(f"{cls.__name__}: a request needs {method_attribute!r}")
            params[params_attribute] = registry.merged_params(row[method_attribute], row.get(params_attribute))
        digest = params_hash(params)
        given = row.get(cls.hash_attribute)
        if given is not None and given != digest:
            raise ValueError(
                f"{cls.__name__}: {cls.hash_attribute} {given!r} does not match the request's merged parameters "
                f"({digest!r}); leave it out to have it computed"
            )
        return {**row, **params, cls.hash_attribute: digest}

    @classmethod
    def request_key(cls, row: Mapping[str, Any]) -> dict[str, Any]:
        """The primary key of the request ``row`` describes (merged parameters hashed), e.g. to restrict results."""
        merged = cls.merged(row)
        return {name: merged[name] for name in cls.primary_key}

    def insert(self, rows, **kwargs):
        if isinstance(rows, dj.expression.QueryExpression):
            raise TypeError(f"{self.__class__.__name__}: insert requests as dicts, so their parameters are merged")
        if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
            rows = rows.to_dict(orient="records")
        super().insert([self.merged(row) for row in rows], **kwargs)

    @classmethod
    def check_layout(cls, columns, table: str) -> None:
        """Refuse a stored table (its ``columns``) declared before parameter sets were keyed (pose_pipeline 0.1)."""
        if cls.hash_attribute not in columns:
            raise SchemaVersionError(
                f"{table} was created by pose_pipeline 0.1, before requests were keyed by their parameters (it has "
                f"no {cls.hash_attribute!r}); this version cannot read its results. Either use a new schema prefix "
                "(POSE_PIPELINE_SCHEMA_PREFIX) and re-enter requests and annotations there, or drop the old stages "
                "and recompute: `pose-pipeline db drop-stages --from tracking` keeps the imported videos (see "
                "README, 'Upgrading from 0.1')"
            )
