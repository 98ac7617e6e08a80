"""DeepLabCut models registered for the 2D keypoint stage: a sweep snapshot (chosen, or the best by a metric) or a
model folder a user trained elsewhere. The ``dlc`` top-down method (`pose_pipeline.dlc.estimator`) runs a
registered model by name: ``TopDownMethod.insert1({..., "top_down_method": "dlc", "params": {"model": name}})``.
"""

from __future__ import annotations

import os
from pathlib import Path

import datajoint as dj

from .. import resolvers
from ..jsonable import jsonable
from .dlc_training import SnapshotEvaluation, fetch_snapshot
from .files import fetch_verified, insert_with_file

STAGE = "dlc_models"
schema = dj.Schema()


@schema
class DLCModel(dj.Manual):
    """One DeepLabCut model usable as a 2D method: its configuration and snapshot file."""

    definition = """
    dlc_model                : varchar(64)
    ---
    bodyparts                : json
    source                   : varchar(1000)  # sweep, member and epoch, or the imported folder
    pytorch_config           : json
    snapshot                 : <object@derived>
    sha256                   : char(64)
    """


ROOT_TABLES = (DLCModel,)
METRICS = {"mean_error": False, "rmse": False, "pck": True, "oks_map": True}  # name -> higher is better


def register_snapshot(key: dict, name: str) -> dict:
    """Register one Training.Snapshot (``key`` names sweep, member and epoch) as model ``name``."""
    config, path = fetch_snapshot(key)
    source = f"sweep {key['sweep']} member {key['member']} epoch {key['epoch']}"
    return _insert(name, config, Path(path), source)


def best_snapshot(sweep: str, metric: str = "mean_error", split: str = "test") -> dict:
    """The evaluated snapshot of ``sweep`` with the best ``metric`` on ``split`` (ties: the earliest)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, not {metric!r}")
    rows = (SnapshotEvaluation.Split & {"sweep": sweep, "split": split}).fetch(as_dict=True)
    rows = [r for r in rows if r[metric] is not None]
    if not rows:
        raise ValueError(f"sweep {sweep!r} has no evaluated snapshot with a {metric} on {split}")
    sign = -1 if METRICS[metric] else 1
    best = min(rows, key=lambda r: (sign * r[metric], r["member"], r["epoch"]))
    return {"sweep": sweep, "member": best["member"], "epoch": best["epoch"]}


def register_best(sweep: str, name: str, metric: str = "mean_error", split: str = "test") -> dict:
    """Register the sweep's best snapshot by ``metric`` on ``split`` as model ``name``."""
    return register_snapshot(best_snapshot(sweep, metric, split), name)


def import_model_folder(folder, name: str, snapshot: str = "") -> dict:
    """Register a DeepLabCut 3 model folder (``pytorch_config.yaml`` and ``snapshot-*.pt``) as model ``name``."""
    from deeplabcut.utils import auxiliaryfunctions

    from ..dlc.estimator import load_model_folder

    config_path, snapshot_path = load_model_folder(folder, snapshot)
    config = auxiliaryfunctions.read_plainconfig(str(config_path))
    return _insert(name, config, Path(snapshot_path), str(Path(folder).resolve()))


def _insert(name: str, config: dict, snapshot: Path, source: str) -> dict:
    row = {"dlc_model": name, "bodyparts": list(config["metadata"]["bodyparts"]), "source": source[:1000],
           "pytorch_config": jsonable(config)}  # fmt: skip
    insert_with_file(DLCModel, row, "snapshot", snapshot)  # sha256 computed while copying
    return {"dlc_model": name}


def fetch_model(name: str) -> resolvers.StoredModel:
    """Registered model ``name``: its snapshot (in the local cache, checksum-verified), its pytorch_config.yaml
    beside it and the snapshot's sha256. The ``dlc`` 2D method looks models up through this (a resolver)."""
    import yaml

    rows = (DLCModel & {"dlc_model": name}).to_dicts() if DLCModel.database is not None else []
    if not rows:
        known = ", ".join(DLCModel.to_arrays("dlc_model")) if DLCModel.database is not None else "schema not active"
        raise resolvers.UnresolvedError(
            f"no DeepLabCut model named {name!r} is registered (DLCModel); registered: {known or 'none'}"
        )
    row = rows[0]
    snapshot = fetch_verified(row["snapshot"], row["sha256"], f"DeepLabCut model {name!r}")
    config = snapshot.with_name(f"{row['sha256']}.pytorch_config.yaml")
    if not config.exists():
        partial = config.with_name(f".{config.name}.{os.getpid()}.partial")
        partial.write_text(yaml.safe_dump(row["pytorch_config"]))
        partial.replace(config)
    return resolvers.StoredModel(name=name, weights=snapshot, config=config, sha256=row["sha256"])


resolvers.register_resolver(resolvers.DLC_MODEL, fetch_model)


__all__ = ["DLCModel", "best_snapshot", "fetch_model", "import_model_folder", "register_best",
           "register_snapshot"]  # fmt: skip
