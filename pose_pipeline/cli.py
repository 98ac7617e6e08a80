"""The `pose-pipeline` command line."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click


def _activate(modules: tuple[str, ...] = ()):
    from . import schema

    schema.activate()
    for name in modules:
        schema.activate_module(importlib.import_module(name))
    return schema


@click.group()
@click.version_option(package_name="pose_pipeline")
def main():
    """pose_pipeline: videos in, tracked and checked pose data out, in a DataJoint database."""


# ---------------------------------------------------------------------------------------------- db


@main.group()
def db():
    """The database and stores."""


@db.command("status")
def db_status():
    """Print backend, server, schemas and stores (starts the embedded server if nothing is configured)."""
    from . import database

    click.echo(str(database.status()))


@db.command("drop-stages")
@click.option("--from", "first", required=True, help="The first stage to drop, e.g. tracking (keeps the videos).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_drop_stages(first, yes):
    """Drop the schemas of one stage and every later one, with all their rows (the upgrade path from 0.1)."""
    from . import database, schema

    later = schema.STAGE_MODULES[schema.STAGE_MODULES.index(first) :] if first in schema.STAGE_MODULES else []
    if not later:
        raise click.BadParameter(f"no stage {first!r}; the stages are {', '.join(schema.STAGE_MODULES)}")
    names = ", ".join(database.schema_name(stage) for stage in later)
    if not yes:
        click.confirm(f"drop {names} and every row in them?", abort=True)
    dropped = schema.drop_stages(first)
    click.echo(f"dropped {', '.join(dropped) or 'nothing (no such schemas)'}")


@main.command()
@click.option("--grace", type=float, default=None,
              help="Leave unreferenced files younger than this many seconds alone (a running job's file has no row "
                   "yet). Default: 6 hours.")  # fmt: skip
@click.option("--no-verify", is_flag=True, help="Only check that files exist; do not re-hash them.")
@click.option("--remove", is_flag=True, help="Delete the orphan files and stale scratch folders found.")
@click.option("--delete-damaged", is_flag=True,
              help="Delete rows whose files are missing or damaged, with everything computed from them.")  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def fsck(grace, no_verify, remove, delete_damaged, yes):
    """Check the stores against the database: list files no row references and rows whose files are missing
    or do not match their sha256. Exit status 0: clean; 1: problems found (removed or not); 2: the check failed."""
    from . import fsck as store_check

    try:
        report = store_check.check(grace=store_check.DEFAULT_GRACE if grace is None else grace, verify=not no_verify)
    except Exception as error:  # noqa: BLE001 - any failure to read a store or a table is exit status 2
        click.echo(f"fsck failed: {error}", err=True)
        sys.exit(2)
    click.echo(report.summary())
    orphans, rows = len(report.orphans), len(report.bad_rows)
    if remove and orphans and (yes or click.confirm(f"delete {orphans} orphan file(s)?")):
        click.echo(f"removed {store_check.remove_orphans(report)} orphan file(s)")
    scratch = len(report.stale_scratch)
    if remove and scratch and (yes or click.confirm(f"delete {scratch} stale scratch folder(s) in the cache?")):
        click.echo(f"removed {store_check.remove_stale_scratch(report)} stale scratch folder(s)")
    question = f"delete {rows} row(s) with missing or damaged files, and everything computed from them?"
    if delete_damaged and rows and (yes or click.confirm(question)):
        click.echo(f"deleted {store_check.delete_damaged(report)} row(s); their files are now orphans")
    sys.exit(0 if report.clean else 1)


@main.command()
def weights():
    """List the model weights (and shipped data) the pipeline knows: present, missing, corrupt or unverified."""
    import pandas as pd

    from .weights import weights_status

    status = weights_status()
    _echo_frame(status[["name", "status", "used_by", "path"]].set_index("name"))
    data = weights_status(section="data")
    if len(data):
        click.echo("\nreal data shipped for the demo and tests:")
        _echo_frame(data[["name", "status", "path"]].set_index("name"))
    absent = pd.concat([status, data])
    absent = absent[absent["status"].isin(["missing", "corrupt"])]
    if len(absent):
        click.echo("\nto get them (see 3rdparty/README.md for licences):")
        for row in absent.itertuples():
            click.echo(f"  {row.name}: {row.url}")


# ---------------------------------------------------------------------------------------------- import


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--project", "-p", required=True, help="Video project the files belong to.")
@click.option("--recursive", "-r", is_flag=True, help="Descend into sub-directories.")
@click.option("--recompress", is_flag=True, help="Re-encode to H.264 with the pipeline's fixed settings.")
def import_videos(paths, project, recursive, recompress):
    """Validate (decode) and import video files or directories into PROJECT; list what was refused or skipped."""
    _activate()
    from .importer import import_videos as run_import

    report = run_import(paths, project, recursive=recursive, recompress=recompress, progress=True)
    click.echo(report.summary())
    sys.exit(1 if report.refused and not (report.imported or report.already_present) else 0)


@main.command("import-recording")
@click.argument("recording")
@click.argument("cameras", nargs=-1, required=True)
@click.option("--project", "-p", required=True, help="Video project of the videos and recording project.")
@click.option(
    "--calibration",
    "calibration_file",
    type=click.Path(exists=True, path_type=Path),
    help="Calibration file (anipose or Pose2Sim TOML, Qualisys .qca.txt) the recording uses.",
)
@click.option("--map", "mapping", multiple=True, help="CAMERA=CALIBRATION_CAMERA where the names differ.")
@click.option(
    "--accept-size-mismatch", multiple=True, help="Camera whose video size may differ from the calibration's."
)
@click.option("--tolerance", type=float, default=None, help="Synchronisation tolerance, seconds (a quarter frame).")
def import_recording(recording, cameras, project, calibration_file, mapping, accept_size_mismatch, tolerance):
    """Import synchronised videos CAMERA=PATH ... as RECORDING (timestamps checked), optionally with a calibration.
    Nothing of the recording or calibration is kept when a check fails (the videos stay imported)."""
    _activate()
    from .multicam.calibration import CalibrationError
    from .multicam.sync import SynchronisationError
    from .schema.multicam import (
        Calibration,
        Recording,
        RecordingError,
        attach_calibration,
        import_calibration,
        insert_recording,
    )
    from .schema.video import insert_local_video

    pairs = [_parse_pair(text, "CAMERA=PATH") for text in cameras]
    videos = {name: insert_local_video(Path(path), project) for name, path in pairs}
    key, imported = None, None
    try:
        key = insert_recording(project, recording, videos, tolerance=tolerance)
        click.echo(f"recording {project}/{recording}: {len(videos)} cameras, synchronised")
        if calibration_file:
            name = calibration_file.name.split(".")[0]  # the calibration's name: the file's, without extensions
            if not (Calibration & {"calibration": name}):
                imported = import_calibration(calibration_file, name)
            attach_calibration(key, name, dict(_parse_pair(m, "CAMERA=CALIBRATION_CAMERA") for m in mapping),
                               accept_size_mismatch=tuple(accept_size_mismatch))  # fmt: skip
            click.echo(f"calibration {name} attached")
    except (SynchronisationError, RecordingError, CalibrationError) as error:
        if key is not None:
            (Recording & key).delete(prompt=False)
        if imported is not None:  # imported by this command: removed with the recording
            (Calibration & imported).delete(prompt=False)
        raise click.ClickException(str(error)) from None


def _parse_pair(text: str, form: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise click.BadParameter(f"{text!r} is not {form}")
    return name, value


# ---------------------------------------------------------------------------------------------- work


@main.command()
@click.option("--table", "-t", "tables", multiple=True, help="Only these computed tables (repeatable).")
@click.option("--max-jobs", type=int, default=None, help="Stop after this many jobs.")
@click.option("--idle-timeout", type=float, default=60.0, show_default=True, help="Stop after idle seconds (0: never).")
@click.option("--poll-interval", type=float, default=2.0, show_default=True, help="Seconds between idle polls.")
@click.option("--orphan-timeout", type=float, default=24 * 3600.0, show_default=True,
              help="Also reclaim reservations older than this (seconds), for dead workers on other hosts.")  # fmt: skip
@click.option("--reclaim-interval", type=float, default=30.0, show_default=True,
              help="Seconds between checks for jobs of dead workers.")  # fmt: skip
@click.option("--gpu", default=None, help='GPU(s) for this worker, e.g. "0" (sets CUDA_VISIBLE_DEVICES).')
@click.option("--module", "modules", multiple=True, help="Also run the tables of this Python schema module.")
def worker(tables, max_jobs, idle_timeout, poll_interval, orphan_timeout, reclaim_interval, gpu, modules):
    """Run jobs of the computed tables, in dependency order, until idle or stopped.

    Ctrl-C finishes the running job, then stops; SIGTERM (e.g. SLURM preemption) stops at once and returns the
    running job to the queue.
    """
    from .worker import Worker, resolve_tables, select_gpu

    select_gpu(gpu)
    schema = _activate(modules)
    selected = resolve_tables(schema.computed_tables(), list(tables))
    click.echo(f"worker: {', '.join(t.__name__ for t in selected)}")
    report = Worker(
        selected,
        max_jobs=max_jobs,
        idle_timeout=idle_timeout or None,
        poll_interval=poll_interval,
        orphan_timeout=orphan_timeout or None,
        reclaim_interval=reclaim_interval,
    ).run()
    click.echo(
        f"worker stopped ({report.stopped_because}): {report.jobs_done} done, {report.jobs_failed} failed, "
        f"{report.orphans_reclaimed} orphaned jobs reclaimed, {report.reconnects} reconnects"
    )


@main.command()
@click.option("--module", "modules", multiple=True, help="Also show the tables of this Python schema module.")
@click.option("--errors/--no-errors", default=True, help="List error messages.")
def status(modules, errors):
    """Per computed table: done, to do, pending, reserved and error counts; then the error messages."""
    from . import jobs

    tables = _activate(modules).computed_tables()
    _echo_frame(jobs.progress(tables))
    if errors:
        error_rows = jobs.errors(tables)
        if len(error_rows):
            click.echo("\nerrors:")
            for row in error_rows.itertuples():
                click.echo(f"  {row.table} {row.key} on {row.host}: {row.error_message}")


@main.command("clear-errors")
@click.option("--table", "-t", "tables", multiple=True, help="Only these tables.")
@click.option("--module", "modules", multiple=True)
def clear_errors(tables, modules):
    """Delete error records so their jobs are retried by the next worker."""
    from . import jobs
    from .worker import resolve_tables

    selected = resolve_tables(_activate(modules).computed_tables(), list(tables))
    click.echo(f"cleared {jobs.clear_errors(selected)} error(s)")


@main.command()
@click.option("--orphan-timeout", type=float, default=None, help="Also reclaim reservations older than this (s).")
@click.option("--module", "modules", multiple=True)
def reclaim(orphan_timeout, modules):
    """Return jobs reserved by dead workers to the queue."""
    from . import jobs

    tables = _activate(modules).computed_tables()
    click.echo(f"reclaimed {jobs.reclaim_orphans(tables, orphan_timeout)} orphaned job(s)")


# ---------------------------------------------------------------------------------------------- annotate


@main.command()
@click.argument("video")
@click.option("--subject", "-s", type=int, default=0, show_default=True,
              help="0 primary subject, 1.. other people; -1 marks the video unusable.")  # fmt: skip
@click.option("--tracks", default="", help="Comma-separated track ids that are this subject, e.g. 3,7.")
@click.option("--split", "splits", multiple=True, help="TRACK:FRAME[:NEW_ID] - split a track at an identity swap.")
@click.option("--project", "-p", default=None, help="Video project, if the file name is not unique.")
@click.option("--tracker", default=None, help="Tracking method, if the video was tracked more than once.")
@click.option("--detector", default=None, help="Detector, if the video was tracked more than once.")
@click.option("--max-gap", type=int, default=0, show_default=True, help="Interpolate gaps up to this many frames.")
@click.option("--replace", is_flag=True, help="Replace an earlier annotation of this subject.")
def annotate(video, subject, tracks, splits, project, tracker, detector, max_gap, replace):
    """Say which tracks of VIDEO's tracking result are SUBJECT (for scripts; Jupyter users have the widget)."""
    _activate()
    from .schema.tracking import AnnotationError, TrackingBbox
    from .schema.tracking import annotate as record

    restriction = {"filename": video}
    restriction.update({k: v for k, v in (("video_project", project), ("tracking_method", tracker),
                                         ("detector", detector)) if v is not None})  # fmt: skip
    keys = (TrackingBbox & restriction).keys()
    if len(keys) != 1:
        found = "no tracking result" if not keys else f"{len(keys)} tracking results ({keys})"
        raise click.ClickException(f"{video}: {found}; narrow it with --project/--tracker/--detector")
    try:
        track_ids = [int(t) for t in tracks.split(",") if t.strip()]
        split_rows = [_parse_split(text) for text in splits]
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    try:
        key = record(keys[0], subject, track_ids, splits=split_rows, max_gap=max_gap, replace=replace)
    except AnnotationError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"annotated {key}")


def _parse_split(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 2:
        parts.append(-1)  # resolved below: next free id
    if len(parts) != 3:
        raise ValueError(f"--split {text!r}: expected TRACK:FRAME or TRACK:FRAME:NEW_ID")
    return tuple(parts)


# ---------------------------------------------------------------------------------------------- export


@main.command()
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["nwb", "dlc-h5", "dlc-csv", "coco", "trc", "smpl-npz"]))
@click.option("--video", required=True, help="Video file name.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path),
              help="Output file; an existing directory takes one file per matching result.")  # fmt: skip
@click.option("--project", "-p", default=None, help="Video project, if the file name is not unique.")
@click.option("--method", default=None, help="2D method, if the video has results of several.")
@click.option("--subject", "-s", type=int, default=None, help="Subject id, if the video has several subjects.")
@click.option("--tracker", default=None, help="Tracking method, if the video was tracked more than once.")
@click.option("--detector", default=None, help="Detector, if the video was tracked more than once.")
@click.option("--lifter", default=None, help="trc: lifting method, if the subject was lifted by several.")
@click.option("--units", type=click.Choice(["m", "mm"]), default="m", show_default=True,
              help="trc: units written (and declared in the header).")  # fmt: skip
@click.option("--axes", type=click.Choice(["camera", "y-up"]), default="camera", show_default=True,
              help="trc: the stored camera axes (y down), or turned half a turn about x (OpenSim's Y up).")  # fmt: skip
def export(fmt, video, out, project, method, subject, tracker, detector, lifter, units, axes):
    """Write VIDEO's 2D keypoints as FORMAT: NWB with ndx-pose, DeepLabCut .h5 or .csv, or COCO keypoint JSON;
    or its 3D keypoints (LiftingPerson) as an OpenSim .trc; or its body-model fits (SMPLPerson) as .npz
    (smpl-npz: AMASS's and smplx's keys)."""
    _activate()
    from .export import ExportError
    from .schema.exports import NoResultError, export_2d, export_3d, export_all

    restriction = {"filename": video}
    restriction.update({k: v for k, v in (("video_project", project), ("top_down_method", method),
                                         ("subject_id", subject), ("tracking_method", tracker),
                                         ("detector", detector), ("lifting_method", lifter)) if v is not None})  # fmt: skip
    options = {"units": units, "axes": axes} if fmt == "trc" else {}
    if fmt == "smpl-npz":
        _export_smpl(restriction, out)
        return
    try:
        if out.is_dir():
            paths = export_all(restriction, fmt, out, **options)
        elif fmt == "trc":
            paths = [export_3d(restriction, fmt, out, **options)]
        else:
            paths = [export_2d(restriction, fmt, out)]
    except (NoResultError, ExportError) as error:
        raise click.ClickException(str(error)) from None
    for path in paths:
        click.echo(f"wrote {path}")


@main.command("export-3d")
@click.option("--recording", "-r", required=True, help="Recording name.")
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="Output .trc file.")
@click.option("--project", "-p", default=None, help="Recording project, if the name is not unique.")
@click.option("--method", default=None, help="Triangulation method (dlt, acm_full, ...), if there are several.")
@click.option("--two-d", default=None, help="The recording's 2D results (Recording2D), if there are several.")
@click.option("--calibration", default=None, help="Calibration, if the recording was triangulated with several.")
@click.option("--params-hash", default=None, help="Method parameters' hash (a prefix), if there are several.")
@click.option("--skeleton", is_flag=True, help="Write the fitted skeleton's joints (acm_* methods), not the markers.")
@click.option("--units", type=click.Choice(["m", "mm"]), default="m", show_default=True,
              help="Units written (and declared in the header).")  # fmt: skip
@click.option("--axes", type=click.Choice(["world", "y-up"]), default="world", show_default=True,
              help="The calibration's world axes as stored, or a z-up world turned to OpenSim's Y up: "
              "(x, y, z) -> (x, z, -y).")  # fmt: skip
def export_3d(recording, out, project, method, two_d, calibration, params_hash, skeleton, units, axes):
    """Write RECORDING's multi-camera 3D result (Triangulated3D) as an OpenSim .trc, times frame / fps."""
    _activate()
    from .export import ExportError
    from .schema.exports import NoResultError, export_triangulated

    restriction = {"recording": recording}
    restriction.update({k: v for k, v in (("recording_project", project), ("triangulation_method", method),
                                         ("two_d", two_d), ("calibration", calibration)) if v is not None})  # fmt: skip
    if params_hash:
        if not all(c in "0123456789abcdef" for c in params_hash):
            raise click.BadParameter(
                f"{params_hash!r} is not a (prefix of a) hexadecimal hash", param_hint="--params-hash"
            )
        import datajoint as dj

        restriction = dj.AndList([restriction, f"triangulation_params_hash LIKE '{params_hash}%'"])
    try:
        path = export_triangulated(restriction, out, units=units, axes=axes, skeleton=skeleton)
    except (NoResultError, ExportError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {path}")


def _export_smpl(restriction: dict, out: Path) -> None:
    from .schema.smpl import SMPLPerson, export_smpl_npz

    keys = (SMPLPerson & restriction).keys()
    if not keys:
        raise click.ClickException(f"no body-model fit (SMPLPerson) matches {restriction}")
    if len(keys) > 1 and not out.is_dir():
        raise click.ClickException(f"{len(keys)} body-model fits match {restriction}: name a folder as --out, or "
                                   "narrow the choice with --method, --subject, ...")  # fmt: skip
    for key in keys:
        name = (
            f"{Path(key['filename']).stem}_s{key['subject_id']}_{key['smpl_method']}_{key['smpl_params_hash'][:8]}.npz"
        )
        click.echo(f"wrote {export_smpl_npz(key, out / name if out.is_dir() else out)}")


# ---------------------------------------------------------------------------------------------- import-results


@main.command("import-results")
@click.argument("video")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["dlc", "dlc-h5", "dlc-csv", "slp", "nwb", "openpose", "coco", "coco-0"]),
              default=None, help="The file's format (default: from its name; a folder is OpenPose JSON, .json is "
              "COCO; coco-0: a COCO results list whose image_id counts frames from 0).")  # fmt: skip
@click.option("--individual", default=None,
              help="Which individual of a multi-animal file: a DeepLabCut individual, a SLEAP track, an NWB "
              "PoseEstimation name, a COCO track_id; OpenPose, untracked COCO: box, largest or an index.")  # fmt: skip
@click.option(
    "--joint-set",
    default=None,
    help="Store the joints as this known joint set (OpenPose: OpenPose-BODY_25, -BODY_25B or -COCO-18; COCO: "
    "the layout of unnamed keypoints other than COCO-17).",
)
@click.option("--pixel-origin", type=click.Choice(["centre", "corner"]), default="centre", show_default=True,
              help="Where the file puts (0, 0): the top-left pixel's centre (DeepLabCut, SLEAP, NWB, OpenPose, COCO) or "
              "its corner (pose_pipeline).")  # fmt: skip
@click.option("--project", "-p", default=None, help="Video project, if the file name is not unique.")
@click.option("--subject", "-s", type=int, default=None, help="Subject id, if the video has several subjects.")
@click.option("--tracker", default=None, help="Tracking method, if the video was tracked more than once.")
@click.option("--detector", default=None, help="Detector, if the video was tracked more than once.")
@click.option("--no-populate", is_flag=True, help="Only register the file and the request; workers make the row.")
def import_results(video, file, fmt, individual, joint_set, pixel_origin, project, subject, tracker, detector,
                   no_populate):  # fmt: skip
    """Import another tool's 2D result FILE (DeepLabCut .h5/.csv, SLEAP .slp, NWB ndx-pose, an OpenPose JSON
    folder, COCO keypoint JSON) for VIDEO's subject as the 2D method 'imported', checked against the video first."""
    _activate()
    from .schema.imports import ImportRefused
    from .schema.imports import import_results as run_import

    restriction = {"filename": video}
    restriction.update({k: v for k, v in (("video_project", project), ("tracking_method", tracker),
                                         ("detector", detector)) if v is not None})  # fmt: skip
    if individual is not None and individual.lstrip("-").isdigit():
        individual = int(individual)  # an OpenPose person index
    try:
        key = run_import(restriction, file, fmt, subject_id=subject, individual=individual, joint_set=joint_set,
                         pixel_origin=pixel_origin, populate=not no_populate)  # fmt: skip
    except ImportRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{'registered' if no_populate else 'imported'} {file} as {key}")


# ---------------------------------------------------------------------------------------------- demo


@main.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None, help="Where to write demo videos.")
def demo(workdir):
    """Run every stage on a synthetic video, on the embedded database unless configured otherwise."""
    from .demo import run_demo

    run_demo(workdir=workdir, echo=click.echo)


def _echo_frame(frame) -> None:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        click.echo(frame.to_string())


if __name__ == "__main__":
    main()
