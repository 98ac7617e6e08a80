"""`pose-pipeline demo`: every stage that exists, on a synthetic video with ground truth, then a real clip (the
shipped Sports2D demo video: real detector, tracking, scripted choice of the subject), on the configured (default:
embedded) database."""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path

DEMO_PROJECT = "demo"
# The synthetic scene keeps the motion detector: its accuracy figures (HOTA, IDF1 against ground truth) are the
# static-camera detector's; the real clip gets a new user's default request (YOLOX-Nano + ByteTrack).
DEMO_TRACKING = {"tracking_method": "bytetrack", "detector": "motion"}
REAL_CLIP = "sports2d_demo"  # the manifest's data entry (3rdparty/data/sports2d/sports2d_demo.mp4)
DEMO_2D_METHOD = "synthetic_pose"  # the project's own model: no pretrained weights can be downloaded here
DEMO_LIFTER = "synthetic_lifter"  # the project's own lifter, trained on synthetic walkers
REAL_2D_METHOD = "blazepose"  # shipped real weights (3rdparty/blazepose): real people
# The face blur reads BlazePose's face landmarks through the COCO-17 mapping (nose, eyes, ears)
REAL_3D_METHOD = "blazepose_world"  # BlazePose's metric world landmarks, lifted from the frames
REAL_FACE_REQUEST = {"face_method": REAL_2D_METHOD, "params": {"joint_set": "COCO-17"}}
# Anny (shipped with its package, CC0 assets) fitted to the real subject's BlazePose keypoints and world landmarks;
# fewer iterations than the default keep the demo's step near a minute
# the multi-camera step: each camera's 2D from the project's model, triangulated plainly and robustly
MULTICAM_METHODS = ("dlt", "dlt_ransac")
REAL_SMPL_REQUEST = {"smpl_method": "smplify", "params": {"lifting_method": REAL_3D_METHOD, "iterations": 60}}


def run_demo(workdir: Path | None = None, echo=print) -> dict:
    """Render a synthetic scene, import it, run the workers, and show how to query the results."""
    from . import database, schema
    from .schema.video import Video, VideoInfo, insert_local_video
    from .synthetic import crossing_scene, render_scene

    started = time.perf_counter()
    workdir = Path(workdir or tempfile.mkdtemp(prefix="pose_pipeline_demo_"))
    workdir.mkdir(parents=True, exist_ok=True)

    echo("== database")
    schema.activate()
    echo(str(database.status()))

    echo("\n== 1. synthetic video: two people crossing, with ground truth")
    video_path = workdir / "demo_crossing.mp4"
    truth = render_scene(crossing_scene(n_people=2, n_frames=90), video_path, progress=True)
    truth.save(workdir / "demo_crossing_truth.npz")
    echo(f"rendered {video_path} ({video_path.stat().st_size / 1e3:.0f} kB); ground truth beside it")

    echo("\n== 2. import (validated by decoding; streamed into the raw store)")
    key = insert_local_video(video_path, DEMO_PROJECT)
    echo(f"Video key: {key}")

    echo("\n== 3. tracking request: motion detector (weight-free) + ByteTrack; synthetic ground truth stored")
    from .schema.tracking import TrackingBboxMethod, TrackingGroundTruth, insert_ground_truth
    from .tracking import groundtruth_tracks

    TrackingBboxMethod.insert1({**key, **DEMO_TRACKING}, skip_duplicates=True)
    if not TrackingGroundTruth & key:
        insert_ground_truth(key, groundtruth_tracks(truth), "synthetic")

    echo("\n== 4. workers: populate every computed table (VideoInfo, TrackingBbox, tracking accuracy)")
    run_workers(echo)
    info = (VideoInfo & key).to_pandas().drop(columns=["timestamps"])
    echo(info.to_string())
    assert int(info["num_frames"].iloc[0]) == len(truth.boxes), "VideoInfo disagrees with the rendered frame count"

    echo("\n== 5. the subject of interest, then workers: one box per frame (PersonBbox)")
    tracking_key = annotate_demo_subject(key, truth, echo)
    run_workers(echo)

    echo("\n== 6. workers: 2D keypoints (the project's own model), face-blurred video, overlays")
    request_keypoints_and_overlays(tracking_key, truth)
    run_workers(echo)
    show_results(tracking_key, echo)

    echo("\n== 7. workers: 3D lifting (the project's own lifter), accuracy against the scene's 3D joints")
    request_lifting(tracking_key, truth)
    run_workers(echo)
    show_lifting(tracking_key, echo)

    echo("\n== 8. a real clip: the Sports2D demo video (one outdoor camera, two people, a tree, sun flare)")
    real_key = track_real_clip(echo)
    echo("\n== 9. workers: BlazePose 2D and metric 3D of the real subject, every face blurred, overlays")
    real_clip_keypoints_and_overlays(real_key, echo)
    echo("\n== 10. body model (Anny): a synthetic sequence fitted against its truth, then the real subject")
    if all(importlib.util.find_spec(name) for name in ("torch", "roma", "anny")):
        body_model_demo(real_key, echo)
    else:
        echo('skipped: the body models need the bodymodels extra (pip install -e ".[bodymodels]": torch, roma, anny)')
    echo("\n== 11. multi-camera: a synthetic walker seen by 4 calibrated cameras, triangulated, against its truth")
    multicam_demo(workdir, echo)

    echo(
        "\n== query the results yourself\n"
        '  python -c "from pose_pipeline import schema; schema.activate(); '
        'from pose_pipeline.schema.video import VideoInfo; print(VideoInfo.to_pandas())"\n'
        "  pose-pipeline status\n"
        f"  SQL: SELECT * FROM {VideoInfo.full_table_name}\n"
        "  Jupyter: notebooks/02_annotate_tracklets.ipynb (annotation widget)\n"
        '  DeepLabCut sweeps: pip install -e ".[dlc]", then notebooks/05_dlc_sweep.ipynb\n'
        f"\ndemo finished in {time.perf_counter() - started:.1f} s; videos in {workdir}"
    )
    return {"key": key, "video": video_path, "workdir": workdir, "n_videos": len(Video & key), "real_key": real_key}


def run_workers(echo) -> None:
    from . import jobs, schema
    from .worker import Worker

    tables = schema.computed_tables()
    report = Worker(tables, idle_timeout=0, poll_interval=0).run()
    echo(f"{report.jobs_done} jobs done, {report.jobs_failed} failed")
    for table, key, message in report.errors:
        echo(f"  error in {table} {key}: {message}")
    echo(jobs.progress(tables).to_string())


def annotate_demo_subject(key: dict, truth, echo) -> dict:
    """Two people cross, so no rule can choose; the demo plays the annotator, picking the tracklets that match
    the first synthetic person (what a person would click in the widget, or type with `pose-pipeline annotate`)."""
    import numpy as np

    from .schema.tracking import TrackingBbox, TrackingBboxMethod, annotate, auto_annotate
    from .tracking.subject import iou

    tracking_key = TrackingBboxMethod.request_key({**key, **DEMO_TRACKING})  # the full key: parameters hashed
    outcome = auto_annotate(tracking_key)
    if outcome["annotated"]:
        echo("one person only: annotated automatically")
        return tracking_key
    tracks = TrackingBbox.tracks(tracking_key)
    person = truth.boxes[:, 0]
    chosen = []
    for track_id in np.unique(tracks.track_id):
        rows = tracks.track_id == track_id
        frames = tracks.frame[rows]
        overlaps = [iou(tracks.boxes[rows][i : i + 1], person[f])[0] for i, f in enumerate(frames)
                    if np.isfinite(person[f]).all()]  # fmt: skip
        if overlaps and np.mean(overlaps) > 0.5:
            chosen.append(int(track_id))
    echo(f"{tracks.n_tracks} tracklets, several people: a person chooses (auto-annotation declined)")
    annotate(tracking_key, 0, chosen, annotator="demo", replace=True)
    echo(f"subject 0 = tracks {chosen}; the same from a shell: "
         f"pose-pipeline annotate {key['filename']} --subject 0 --tracks {','.join(map(str, chosen))} --replace")  # fmt: skip
    return tracking_key


def request_keypoints_and_overlays(tracking_key: dict, truth) -> None:
    """Ask for 2D keypoints of subject 0 with the synthetic-figure model, its ground truth, and face blurring."""
    from .schema.keypoints import KeypointGroundTruth, TopDownMethod, insert_keypoint_ground_truth
    from .schema.overlays import BlurMethod

    subject = {**tracking_key, "subject_id": 0}
    TopDownMethod.insert1({**subject, "top_down_method": DEMO_2D_METHOD}, skip_duplicates=True)
    if not KeypointGroundTruth & subject:
        # the demo chose subject 0 as the tracklets of synthetic person 0, so that person's labels apply
        insert_keypoint_ground_truth(subject, truth.keypoints2d[:, 0], truth.visibility[:, 0], "COCO-17", "synthetic")
    BlurMethod.insert1({**tracking_key, "face_method": DEMO_2D_METHOD}, skip_duplicates=True)


def show_results(tracking_key: dict, echo) -> None:
    from .schema.keypoints import KeypointAccuracy
    from .schema.overlays import TopDownPersonVideo, TrackingBboxVideo
    from .schema.tracking import PersonBbox, TrackingAccuracy, TrackingBbox

    accuracy = (TrackingAccuracy & tracking_key).to_pandas()
    echo("\ntracking accuracy against the synthetic ground truth:")
    echo(
        accuracy.reset_index()[["tracking_method", "detector", "hota", "mota", "idf1", "id_switches"]].to_string(
            index=False
        )
    )
    n_frames = (TrackingBbox & tracking_key).fetch1("num_frames")
    present = (PersonBbox & tracking_key & {"subject_id": 0}).fetch1("num_present")
    echo(f"PersonBbox: subject 0 has a box in {present} of {n_frames} frames")
    keypoints = (KeypointAccuracy & tracking_key).to_pandas().reset_index()
    echo("\n2D keypoint accuracy of subject 0 against the synthetic ground truth:")
    columns = ["top_down_method", "pck_5px", "pck_01_box", "oks_ap", "mean_error", "rmse", "num_keypoints"]
    echo(keypoints[columns].to_string(index=False))
    blurred = {**tracking_key, "face_method": DEMO_2D_METHOD}
    echo("\noverlays, made from the face-blurred video:")
    echo(f"  tracklets : {TrackingBboxVideo.fetch_path(blurred)}")
    person = {**blurred, "subject_id": 0, "top_down_method": DEMO_2D_METHOD}
    echo(f"  keypoints : {TopDownPersonVideo.fetch_path(person)}")


def request_lifting(tracking_key: dict, truth) -> None:
    """Lift subject 0's 2D keypoints with the project's lifter and store the synthetic person's 3D joints."""
    from .schema.keypoints import TopDownPerson
    from .schema.lifting import LiftingGroundTruth, LiftingMethod, insert_lifting_ground_truth, synthetic_ground_truth

    subject = {**tracking_key, "subject_id": 0}
    results = (TopDownPerson & subject & {"top_down_method": DEMO_2D_METHOD}).keys()
    for two_d in results:
        LiftingMethod.insert1({**two_d, "lifting_method": DEMO_LIFTER}, skip_duplicates=True)
    if not LiftingGroundTruth & subject:
        insert_lifting_ground_truth(subject, synthetic_ground_truth(truth, 0), "COCO-17", "synthetic")


def show_lifting(tracking_key: dict, echo) -> None:
    from .schema.lifting import LiftingAccuracy, LiftingPerson

    lifted = (LiftingPerson & tracking_key).to_dicts()
    for row in lifted:
        echo(f"LiftingPerson ({row['lifting_method']}): {row['keypoints_3d'].shape} {row['joint_set']}, units "
             f"{row['units']}, {row['coordinate_frame']}, from {row['input_joint_set']} by {row['conversion']}, "
             f"{row['num_missing']} frames missing")  # fmt: skip
    accuracy = (LiftingAccuracy & tracking_key).to_pandas().reset_index()
    echo("3D accuracy of subject 0 against the synthetic ground truth (mm, after root alignment):")
    columns = ["lifting_method", "mpjpe", "pa_mpjpe", "n_mpjpe", "mpjve", "accel_error", "bone_cv", "num_frames"]
    echo(accuracy[columns].to_string(index=False))
    from .schema.lifting import LiftingPersonVideo

    overlays = (LiftingPersonVideo & tracking_key).keys()
    for key in overlays:
        echo(f"  3D overlay : {LiftingPersonVideo.fetch_path(key)}")


def track_real_clip(echo) -> dict:
    """Import the shipped Sports2D clip, track it with a new user's default request (no detector named: the real
    YOLOX-Nano detector, ByteTrack), play the annotator by script and get the subject's box in every frame.
    Returns the tracking key."""
    import numpy as np

    from .schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, annotate, auto_annotate
    from .schema.video import insert_local_video
    from .weights import require_data

    key = insert_local_video(require_data(REAL_CLIP), DEMO_PROJECT)
    echo(f"Video key: {key}")
    TrackingBboxMethod.insert1(dict(key), skip_duplicates=True)  # defaults: yolox_raw_onnx + bytetrack
    tracking_key = TrackingBboxMethod.request_key(key)
    echo(f"tracking request with the defaults: detector {tracking_key['detector']!r}, "
         f"tracker {tracking_key['tracking_method']!r}")  # fmt: skip
    run_workers(echo)

    tracks = TrackingBbox.tracks(tracking_key)
    n_frames = int((TrackingBbox & tracking_key).fetch1("num_frames"))
    ids, counts = np.unique(tracks.track_id, return_counts=True)
    for track_id, count in zip(ids, counts):
        frames = tracks.frame[tracks.track_id == track_id]
        echo(f"  tracklet {track_id}: frames {frames.min()}-{frames.max()} ({count} boxes)")
    if not auto_annotate(tracking_key)["annotated"]:
        # The script's rule: the subject is the person tracked longest (the walker, who crosses the whole lawn).
        if not len(ids):
            echo("nobody was tracked: no subject to choose")
            return tracking_key
        chosen = int(ids[np.argmax(counts)])
        annotate(tracking_key, 0, [chosen], annotator="demo script", replace=True)
        echo(f"several people: the script chooses the longest tracklet, subject 0 = track {chosen} "
             f"(a person would use the widget or `pose-pipeline annotate {key['filename']} --subject 0 "
             f"--tracks {chosen}`)")  # fmt: skip
    run_workers(echo)
    present = (PersonBbox & tracking_key & {"subject_id": 0}).fetch1("num_present")
    echo(f"PersonBbox: subject 0 has a box in {present} of {n_frames} frames of the real clip")
    return tracking_key


def real_clip_keypoints_and_overlays(tracking_key: dict, echo) -> None:
    """BlazePose (33 landmarks) on the real subject, every tracked person's face blurred with BlazePose's face
    landmarks, and both overlays drawn on the blurred video; prints what came out and where the overlays are."""
    import numpy as np

    from .schema.keypoints import TopDownMethod, TopDownPerson
    from .schema.lifting import LiftingMethod, LiftingPerson, LiftingPersonVideo
    from .schema.overlays import BlurMethod, BlurredVideo, TopDownPersonVideo, TrackingBboxVideo
    from .schema.tracking import PersonBbox
    from .skeletons import H36M17

    subject = {**tracking_key, "subject_id": 0}
    if not PersonBbox & subject:
        echo("no subject on the real clip: nothing to run BlazePose on")
        return
    TopDownMethod.insert1({**subject, "top_down_method": REAL_2D_METHOD}, skip_duplicates=True)
    BlurMethod.insert1({**tracking_key, **REAL_FACE_REQUEST}, skip_duplicates=True)
    run_workers(echo)

    person = TopDownPerson & subject & {"top_down_method": REAL_2D_METHOD}
    keypoints, joint_set = person.fetch1("keypoints", "joint_set")
    present = (PersonBbox & subject).fetch1("present")
    confident = np.nan_to_num(keypoints[present, :, 2]) > 0.5
    echo(f"TopDownPerson ({joint_set}): {len(keypoints)} frames; in the {present.sum()} frames with a box, "
         f"{confident.mean():.0%} of the landmarks are confident (visibility > 0.5)")  # fmt: skip
    # real metric 3D from the real video: BlazePose's world landmarks as a lifting method
    [two_d] = person.keys()
    LiftingMethod.insert1({**two_d, "lifting_method": REAL_3D_METHOD}, skip_duplicates=True)
    run_workers(echo)
    lifted = LiftingPerson & two_d & {"lifting_method": REAL_3D_METHOD}
    points, units, frame, status = lifted.fetch1("keypoints_3d", "units", "coordinate_frame", "frame_status")
    thigh = np.linalg.norm(points[:, H36M17.index("right_hip")] - points[:, H36M17.index("right_knee")], axis=-1)
    echo(f"LiftingPerson ({REAL_3D_METHOD}): {(status == 0).sum()} frames in {units}, {frame}; "
         f"median thigh {np.nanmedian(thigh):.2f} {units}")  # fmt: skip
    blurred = BlurredVideo & tracking_key & {"face_method": REAL_2D_METHOD}
    echo(f"BlurredVideo: {blurred.fetch1('faces_blurred')} faces blurred over the clip")
    echo("overlays of the real clip, made from the face-blurred video:")
    faces = {**tracking_key, "face_method": REAL_2D_METHOD}
    echo(f"  tracklets : {TrackingBboxVideo.fetch_path(faces)}")
    echo(f"  keypoints : {TopDownPersonVideo.fetch_path({**faces, **subject, 'top_down_method': REAL_2D_METHOD})}")
    echo(f"  3D        : {LiftingPersonVideo.fetch_path({**faces, **two_d, 'lifting_method': REAL_3D_METHOD})}")


def body_model_demo(tracking_key: dict, echo) -> None:
    """Fit Anny to a synthetic sequence with known parameters (accuracy), then to the real clip's subject
    (SMPLPerson, from BlazePose's 2D and world landmarks) with its mesh overlay."""
    import numpy as np

    from .bodymodels.fit import fit_body_model
    from .bodymodels.models import body_model
    from .lifting.metrics import lifting_accuracy
    from .schema.keypoints import TopDownPerson
    from .schema.smpl import SMPLMethod, SMPLPerson, SMPLPersonVideo
    from .skeletons import COCO17
    from .synthetic.bodymodel import body_model_sequence

    started = time.perf_counter()
    model = body_model("anny")
    echo(f"Anny loaded in {time.perf_counter() - started:.1f} s (its first use builds caches: about a minute)")
    sequence = body_model_sequence(model, 30, seed=0)
    fit = fit_body_model(model, sequence.keypoints_2d, COCO17.joints, sequence.image_size,
                         focal_length=sequence.focal_length, iterations=100)  # fmt: skip
    coco = [fit.keypoint_names.index(name) for name in COCO17.joints]

    def relative(points):
        return points - 0.5 * (points[:, [11]] + points[:, [12]])

    accuracy = lifting_accuracy(relative(fit.keypoints_3d[:, coco]), relative(sequence.coco_3d), bones=COCO17.bones,
                                root=None)  # fmt: skip
    echo(f"synthetic Anny gait, 30 frames, 2 px noise, 10 % joints missing: MPJPE {accuracy['mpjpe']:.0f} mm, "
         f"PA-MPJPE {accuracy['pa_mpjpe']:.0f} mm, reprojection {fit.reprojection_error:.1f} px "
         f"({fit.seconds:.1f} s)")  # fmt: skip

    person = TopDownPerson & {**tracking_key, "subject_id": 0} & {"top_down_method": REAL_2D_METHOD}
    if not person:
        echo("no BlazePose result on the real clip: nothing to fit")
        return
    [two_d] = person.keys()
    SMPLMethod.insert1({**two_d, **REAL_SMPL_REQUEST}, skip_duplicates=True)
    run_workers(echo)
    row = (SMPLPerson & two_d).fetch1()
    echo(f"SMPLPerson (anny, {row['camera_model']} camera): {row['num_frames'] - row['num_missing']} frames fitted, "
         f"reprojection {row['reprojection_error']:.1f} px, phenotype "
         f"{dict(zip(model.beta_names, np.round(row['betas'], 2).tolist()))}, {row['seconds']:.0f} s")  # fmt: skip
    faces = {**tracking_key, "face_method": REAL_2D_METHOD}
    [key] = (SMPLPersonVideo & two_d & faces).keys()
    echo(f"  mesh overlay: {SMPLPersonVideo.fetch_path(key)}")


def multicam_demo(workdir: Path, echo) -> None:
    """Four cameras of a synthetic walker through the multi-camera tables (`pose_pipeline.examples.walker_rig`):
    each view tracked and read in 2D, triangulated by two methods with the rig's known calibration, accuracy
    against the scene's 3D joints, and the 3D result reprojected into camera 0's face-blurred video."""
    from .examples.walker_rig import TWO_D_METHOD, walker_rig_recording
    from .schema.multicam import (
        Recording,
        Triangulated3D,
        Triangulated3DAccuracy,
        Triangulated3DMethod,
        write_reprojection_overlay,
    )
    from .schema.overlays import BlurMethod
    from .schema.tracking import TrackingBbox

    recording = {"recording_project": DEMO_PROJECT, "recording": "walker_rig"}
    if not Recording & recording:
        walker_rig_recording(workdir, DEMO_PROJECT, "walker_rig", n_cameras=4, n_frames=30)
    two_d = {**recording, "two_d": TWO_D_METHOD}  # walker_rig names the 2D set after its method
    calibration = {**recording, "calibration": "walker_rig"}  # and the calibration after the recording
    for method in MULTICAM_METHODS:
        Triangulated3DMethod.insert1({**two_d, **calibration, "triangulation_method": method}, skip_duplicates=True)
    cam0 = (Recording.Camera & recording & {"camera_name": "cam0"}).fetch1("filename")
    [tracking] = (TrackingBbox & {"video_project": DEMO_PROJECT, "filename": cam0}).keys()
    BlurMethod.insert1({**tracking, "face_method": DEMO_2D_METHOD}, skip_duplicates=True)
    run_workers(echo)
    accuracy = (Triangulated3DAccuracy & recording).to_pandas().reset_index()
    echo("3D accuracy against the scene's joints (mm; reprojection error in pixels; points not triangulated):")
    columns = ["triangulation_method", "median_error", "p95_error", "reprojection_error", "num_missing"]
    echo(accuracy[columns].round(1).to_string(index=False))
    [robust] = (Triangulated3D & recording & {"triangulation_method": "dlt_ransac"}).keys()
    overlay = write_reprojection_overlay(robust, "cam0", workdir / "walker_rig_cam0_reprojection.mp4")
    echo(f"  reprojection overlay (camera 0, blurred video): {overlay}")
