"""DeepLabCut models registered for the 2D keypoint stage: a sweep snapshot (chosen, or the best by a metric) or a
model folder a user trained elsewhere. The ``dlc`` top-down method (`pose_pipeline.dlc.estimator`) runs a
registered model by name: ``TopDownMethod.insert1({..., "top_down_method": "dlc", "params": {"model": name}})``.
"""

from __future__ import annotations

from pathlib import Path

import datajoint as dj

from ..jsonable import jsonable
from ..video.probe import file_sha256
from .dlc_training import SnapshotEvaluation, fetch_snapshot
from .files import fetch_to_cache, insert_with_file

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
           "pytorch_config": jsonable(config), "sha256": file_sha256(snapshot)}  # fmt: skip
    insert_with_file(DLCModel, row, "snapshot", snapshot)
    return {"dlc_model": name}


def fetch_model(name: str) -> tuple[Path, Path]:
    """(pytorch_config.yaml, snapshot) of registered model ``name``, in the local cache and checksum-verified."""
    import yaml

    rows = (DLCModel & {"dlc_model": name}).fetch(as_dict=True)
    if not rows:
        known = ", ".join(DLCModel.fetch("dlc_model")) or "none"
        raise ValueError(f"no DeepLabCut model named {name!r} is registered (DLCModel); registered: {known}")
    row = rows[0]

    def verify(path):
        if file_sha256(path) != row["sha256"]:
            raise OSError(f"DLC model {name!r}: the stored snapshot does not match its checksum")

    snapshot = fetch_to_cache(row["snapshot"], f"dlc/snapshots/{row['sha256']}.pt", verify=verify)
    config = snapshot.with_name(f"{row['sha256']}.pytorch_config.yaml")
    if not config.exists():
        config.write_text(yaml.safe_dump(row["pytorch_config"]))
    return config, snapshot


__all__ = ["DLCModel", "best_snapshot", "fetch_model", "import_model_folder", "register_best",
           "register_snapshot"]  # fmt: skip
