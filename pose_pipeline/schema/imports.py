"""Results of other tools imported as 2D keypoints: a file kept in the stores, read by the ``imported`` 2D method.

ImportedFile (Manual: the file, under its sha256)
PersonBbox ─► TopDownMethod (top_down_method "imported", params naming the file) ─► TopDownPerson

`import_results` checks a DeepLabCut, SLEAP, NWB, OpenPose or COCO result against a video's subject (frame count, size,
joints, points inside the frame; `pose_pipeline.imports`) and refuses a mismatch before storing anything; it then
copies the file into the ``derived`` store (an OpenPose folder as one zip), registers the request and, unless told
not to, populates it. The row itself is made by the normal ``TopDownPerson.make``, so any worker on any machine can
make it: the file comes from the store, verified against its sha256, and is checked against the video again.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import datajoint as dj
import numpy as np

from .. import database, resolvers
from ..imports import format_name, import_pose
from ..imports.common import ImportRefused
from ..video.probe import file_sha256
from .files import fetch_verified, insert_with_file
from .keypoints import TopDownMethod, TopDownPerson, video_facts
from .tracking import PersonBbox
from .video import Video, VideoInfo

STAGE = "imports"
schema = dj.Schema()
METHOD = "imported"


@schema
class ImportedFile(dj.Manual):
    """One result file of another tool (DeepLabCut, SLEAP, NWB, COCO JSON, an OpenPose folder packed into a zip), kept in
    the derived store so that a worker on any machine reads exactly what was checked at import."""

    definition = """
    imported_sha256          : char(64)       # sha256 of the stored file (an OpenPose folder: of its zip)
    ---
    file_name                : varchar(255)   # the file's (or folder's) name
    source_path              : varchar(1024)  # where it was imported from (informational)
    format                   : varchar(16)    # dlc, slp, nwb or openpose
    size_bytes               : int64
    content                  : <object@derived>
    imported_at=CURRENT_TIMESTAMP : datetime
    """


ROOT_TABLES = (ImportedFile,)


def fetch_imported_file(sha256: str) -> resolvers.StoredFile:
    """The stored file ``sha256``, fetched into the local cache and verified (the ``imported`` method's resolver)."""
    rows = (ImportedFile & {"imported_sha256": sha256}).to_dicts() if ImportedFile.database is not None else []
    if not rows:
        raise resolvers.UnresolvedError(f"no imported file with sha256 {sha256!r} is stored (ImportedFile)")
    row = rows[0]
    path = fetch_verified(row["content"], sha256, f"imported file {row['file_name']}")
    return resolvers.StoredFile(path=path, sha256=sha256, name=row["file_name"], source_path=row["source_path"],
                                format=row["format"])  # fmt: skip


resolvers.register_resolver(resolvers.IMPORTED_FILE, fetch_imported_file)


def subject_key(video: dict, subject_id: int | None = None) -> dict:
    """The `PersonBbox` key of the subject an import is for: ``video`` restricts (e.g. ``{"filename": ...}``,
    tracking method and detector too where several exist); ``subject_id`` defaults to the only one, else 0."""
    videos = (Video & video).keys()
    if len(videos) != 1:
        raise ImportRefused(f"{video} names {len(videos)} videos, not one" + ("" if videos else
                            " (import the video first: pose-pipeline import)"))  # fmt: skip
    subjects = PersonBbox & video
    if subject_id is not None:
        subjects &= {"subject_id": int(subject_id)}
    keys = subjects.keys()
    if len(keys) > 1 and subject_id is None:
        keys = (subjects & {"subject_id": 0}).keys()
    if not keys:
        raise ImportRefused(f"{videos[0]['video_project']}/{videos[0]['filename']} has no annotated subject "
                            f"{'' if subject_id is None else subject_id} with boxes (PersonBbox): an import is "
                            "stored for a subject; track and annotate it first (pose-pipeline annotate)")  # fmt: skip
    if len(keys) > 1:
        found = "; ".join(f"{k['tracking_method']}/{k['detector']} {k['tracking_params_hash'][:8]} subject "
                          f"{k['subject_id']}" for k in keys)  # fmt: skip
        raise ImportRefused(f"{video} names {len(keys)} subjects, not one: {found}; restrict further")
    return keys[0]


def import_results(video: dict, path, fmt: str | None = None, *, subject_id: int | None = None, individual=None,
                   joint_set: str | None = None, pixel_origin: str = "centre", populate: bool = True) -> dict:  # fmt: skip
    """Import the result file (or OpenPose folder) ``path`` as the ``imported`` 2D method of a video's subject;
    returns the request's key (the `TopDownPerson` key once populated).

    ``fmt``: dlc, slp, nwb, openpose, coco or coco-0 (default: from the name; coco-0 is a COCO results list whose
    image_id counts frames from 0). ``individual``: which individual of a multi-animal file (a DeepLabCut
    individual, a SLEAP track, an NWB PoseEstimation name, a COCO track_id; OpenPose and untracked COCO people:
    None, "box", "largest" or an index, see `pose_pipeline.imports.openpose.choose_people`). ``joint_set``: store
    the joints as this known set (else a known set with the same joints, else a new ``DLC:<scorer>`` /
    ``SLEAP:<skeleton>`` / ``NWB:<skeleton>`` / ``COCO:<category>`` set; OpenPose: which body model; COCO: the
    layout of unnamed keypoints other than COCO-17). ``pixel_origin``: where the file puts (0, 0), "centre"
    (DeepLabCut, SLEAP, NWB, COCO, OpenPose) or "corner" (this project). Everything is checked against the video
    first; a mismatch raises `ImportRefused` naming the file and the reason, with nothing stored.
    """
    path = Path(path)
    fmt = format_name(fmt, path)
    person = subject_key(video, subject_id)
    if not VideoInfo & person:
        VideoInfo.populate(person)
    facts = video_facts(person)
    boxes = (PersonBbox & person).fetch1("boxes").astype(float)
    with tempfile.TemporaryDirectory(dir=database.cache_dir(), prefix="import-") as scratch:
        private = Path(scratch) / ("content.zip" if fmt == "openpose" else f"content{path.suffix}")
        if fmt == "openpose" and path.is_dir():
            from ..imports.openpose import pack_folder

            pack_folder(path, private)
        elif path.is_file():
            shutil.copyfile(path, private)  # checked and stored from this copy: what is stored is what was checked
        else:
            raise ImportRefused(f"{path} ({fmt}): no such file" + (" (an OpenPose import takes a folder)"
                                                                  if fmt == "openpose" else ""))  # fmt: skip
        import_pose(private, fmt, facts, boxes=boxes, individual=individual, joint_set=joint_set,
                    pixel_origin=pixel_origin, name=str(path), video_name=facts.name)  # fmt: skip
        sha256 = file_sha256(private)
        if not ImportedFile & {"imported_sha256": sha256}:
            row = {"imported_sha256": sha256, "file_name": path.name[:255], "source_path": str(path.resolve())[:1024],
                   "format": fmt, "size_bytes": private.stat().st_size}  # fmt: skip
            insert_with_file(ImportedFile, row, "content", private, sha256_field=None)
    request = {**person, "top_down_method": METHOD,
               "params": {"file": sha256, "format": fmt, "individual": individual, "joint_set": joint_set,
                          "pixel_origin": pixel_origin}}  # fmt: skip
    key = TopDownMethod.request_key(request)
    if not TopDownMethod & key:
        TopDownMethod.insert1(request)
    if populate:
        TopDownPerson.populate(key)
    return key


def agreement(subject: dict, method: str | dict = METHOD, reference: str | dict | None = None,
              pck_pixels: float = 5.0):  # fmt: skip
    """How closely one 2D method's keypoints agree with another's on the same subjects, joint by joint name: a
    pandas table with one row per pair of results (``method`` vs ``reference``, each a method name or a
    restriction such as ``{"top_down_method": "imported", "top_down_params_hash": ...}``; default reference: every
    other method), the joints they share, mean and median distance and PCK at ``pck_pixels`` pixels over the
    frames where both have the joint. One query (a join of `TopDownPerson` with itself) pairs the results."""
    import pandas as pd

    from ..skeletons import get_joint_set

    def restriction(spec):
        return {"top_down_method": spec} if isinstance(spec, str) else dict(spec)

    chosen = TopDownPerson & subject & restriction(method)
    others = (TopDownPerson & subject) - chosen.proj()
    if reference is not None:
        others &= restriction(reference)
    ours = chosen.proj("keypoints", "joint_set", method_hash="top_down_params_hash", method="top_down_method")
    theirs = others.proj(ref_keypoints="keypoints", ref_joint_set="joint_set", reference="top_down_method",
                         reference_hash="top_down_params_hash")  # fmt: skip
    rows = []
    for pair in (ours * theirs).to_dicts():
        a, b = get_joint_set(pair["joint_set"]), get_joint_set(pair["ref_joint_set"])
        shared = [j for j in a.joints if j in b.joints]
        if not shared:
            continue
        xy = pair["keypoints"][:, [a.index(j) for j in shared], :2].astype(float)
        ref = pair["ref_keypoints"][:, [b.index(j) for j in shared], :2].astype(float)
        distance = np.linalg.norm(xy - ref, axis=-1)
        both = np.isfinite(distance)
        rows.append({**{k: pair[k] for k in PersonBbox.primary_key}, "method": pair["method"],
                     "reference": pair["reference"], "joint_set": a.name, "reference_joint_set": b.name,
                     "shared_joints": len(shared), "compared": int(both.sum()),
                     "mean_distance": float(distance[both].mean()) if both.any() else np.nan,
                     "median_distance": float(np.median(distance[both])) if both.any() else np.nan,
                     f"pck_{pck_pixels:g}px": float((distance[both] <= pck_pixels).mean()) if both.any() else np.nan})  # fmt: skip
    return pd.DataFrame(rows)


__all__ = ["ImportRefused", "ImportedFile", "agreement", "fetch_imported_file", "import_results", "subject_key"]
