"""Keypoints combined from two methods: a base method's joints with some replaced or added from another method.

PosePipe's use: body joints from a general model (RTMPose), and a prosthetic knee, or an instrument, from a model
trained for it (DeepLabCut). Both run on the same frames and boxes; each person's joints are merged.

``TOP_DOWN.build("combined", {"base": {"method": "rtmpose_onnx", "params": {...}}, "extra": {"method": "dlc",
"params": {...}}, "joints": {"prosthesis_knee": "left_knee", "socket": "socket"}, "joint_set": "COCO-17+prosthesis"})``

- ``joints`` maps an extra joint's name to the name it takes in the result: a base joint's name replaces that base
  joint (x, y and confidence all come from the extra method); any other name is appended after the base joints,
  in the order given.
- ``joint_set`` names the result's joint set, registered when the estimator is built: the base joints (names
  kept), then the appended ones. Bones are the base set's; sigmas the base set's when nothing is appended, else
  none (the appended joints have none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pose_pipeline.skeletons import JointSet, get_joint_set, register_joint_set
from pose_pipeline.stages import TOP_DOWN


def _method(spec: Any, role: str) -> tuple[str, dict]:
    """``{"method": name, "params": {...}}`` (or ``[name, params]``, or a bare name) as (name, params)."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and "method" in spec and set(spec) <= {"method", "params"}:
        return spec["method"], dict(spec.get("params") or {})
    if isinstance(spec, Sequence) and len(spec) == 2 and isinstance(spec[0], str):
        return spec[0], dict(spec[1] or {})
    raise ValueError(f"combined: {role} must be {{'method': name, 'params': {{...}}}}, got {spec!r}")


class CombinedEstimator:
    """Runs a base and an extra estimator on the same frames and boxes and merges their joints per person.

    ``estimator(frames, boxes)`` returns one (N_i, J, 3) array per frame, J the length of ``joint_set``. Attributes:
    ``base``, ``extra`` (the two estimators), ``joint_set`` (the result's name), ``sources`` (for each joint of
    the result: ``("base" | "extra", joint name there)``).
    """

    def __init__(self, base, extra, joints: Mapping[str, str], joint_set: str):
        if not joints:
            raise ValueError("combined: joints must map at least one extra joint to a base joint or a new name")
        base_set, extra_set = get_joint_set(base.joint_set), get_joint_set(extra.joint_set)
        targets = list(joints.values())
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f"combined: several extra joints map to {repeated}")
        for name in joints:
            extra_set.index(name)  # KeyError naming the extra joint set's joints
        self.base, self.extra = base, extra
        self._base_index = np.arange(len(base_set))
        self._replace = [(base_set.index(t), extra_set.index(s)) for s, t in joints.items() if t in base_set.joints]
        appended = [(s, t) for s, t in joints.items() if t not in base_set.joints]
        self._append = [extra_set.index(s) for s, _ in appended]
        names = (*base_set.joints, *(t for _, t in appended))
        result = JointSet(
            name=joint_set,
            joints=names,
            bones=base_set.bones,
            sigmas=base_set.sigmas if not appended else None,
        )
        self.joint_set = register_joint_set(result).name
        self.sources = [("base", name) for name in base_set.joints] + [("extra", s) for s, _ in appended]
        for b, e in self._replace:
            self.sources[b] = ("extra", extra_set.joints[e])

    def __call__(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Merged keypoints, one (N_i, J, 3) array per frame."""
        frames = list(frames)
        boxes = list(boxes)
        base_out = self.base(frames, boxes)
        extra_out = self.extra(frames, boxes)
        results = []
        for b, e in zip(base_out, extra_out):
            if len(b) != len(e):
                raise ValueError(f"combined: base gave {len(b)} people, extra {len(e)} for the same boxes")
            merged = np.concatenate([b, e[:, self._append]], axis=1)
            for base_index, extra_index in self._replace:
                merged[:, base_index] = e[:, extra_index]
            results.append(merged)
        return results


@TOP_DOWN.register(
    "combined",
    version="1.0",
    params={"base": None, "extra": None, "joints": None, "joint_set": None},
    description="Joints from two top-down methods on the same boxes: the base method's joints, some replaced by or "
    "extended with named joints of an extra method (e.g. a DeepLabCut model's prosthetic knee).",
    device="any",
)
def combined(base=None, extra=None, joints=None, joint_set=None) -> CombinedEstimator:
    """Build a `CombinedEstimator`: ``base`` and ``extra`` are ``{"method": name, "params": {...}}``, ``joints``
    maps extra joint names to base joint names (replaced) or new names (appended), ``joint_set`` names the result."""
    if not joint_set:
        raise ValueError("combined: give joint_set, the name of the resulting joint set")
    base_name, base_params = _method(base, "base")
    extra_name, extra_params = _method(extra, "extra")
    if not isinstance(joints, Mapping):
        raise TypeError(f"combined: joints must be a mapping extra joint -> base joint or new name, got {joints!r}")
    return CombinedEstimator(
        TOP_DOWN.build(base_name, base_params), TOP_DOWN.build(extra_name, extra_params), joints, joint_set
    )
