"""Face blurring on synthetic scenes, driven by ground-truth face keypoints (the blurring's input here, not a
prediction under test), with the head-region fallback; whole-video blurring (whom to blur, the estimator on
batches of frames) compared with the blurred-video stage's former per-frame loop; and skeleton overlays.

A face pixel is "unblurred" when detail survives around it: the synthetic frames carry Gaussian pixel noise
(sigma 3 grey levels), so every untouched pixel has high-frequency energy of about 2.7, while a strong blur
leaves about 0.3. The renderer paints faces as flat skin-coloured caps, so the tests paint dark eyes at the
ground-truth eye positions as the facial features that must disappear.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose_pipeline import keypoints as _keypoints  # noqa: F401 - registers the 2D methods
from pose_pipeline import privacy
from pose_pipeline.formats import ContractError, Detections, Tracks
from pose_pipeline.skeletons import COCO17, FACE_JOINTS, JointSet
from pose_pipeline.stages import TOP_DOWN, TRACKING
from pose_pipeline.synthetic import PALETTE, PersonSpec, SceneConfig, SceneRenderer, crossing_scene, render_scene
from pose_pipeline.synthetic.render import HAIR, SKIN
from pose_pipeline.tracking import track_detections
from pose_pipeline.tracking.subject import iou
from pose_pipeline.visualize import head_regions
from pose_pipeline.visualize_pose import confidence_color, draw_skeleton

FACE = [COCO17.index(name) for name in FACE_JOINTS]
EYES = [COCO17.index("left_eye"), COCO17.index("right_eye")]
DETAIL = 1.0  # high-frequency energy above this = detail survives (noise alone gives about 2.7)
FRONTAL, PROFILE, AWAY, OCCLUDED, BORDER = range(5)


def high_frequency(image: np.ndarray) -> np.ndarray:
    """Per-pixel RMS, over a 5 x 5 window, of the image minus its sigma-1 Gaussian blur (channel mean)."""
    image = image.astype(np.float32)
    detail = image - cv2.GaussianBlur(image, (0, 0), 1.0)
    return np.sqrt(cv2.boxFilter((detail**2).mean(axis=-1), -1, (5, 5)))


def colour_mask(image, colour, tolerance=25.0):
    return np.linalg.norm(image.astype(float) - colour, axis=-1) < tolerance


class Scene:
    """One frame of five people standing 2.5-4.5 m from the camera, all faces large enough to check."""

    def __init__(self, tmp_path):
        people = (
            PersonSpec(start=(-0.5, -3.0), heading=-np.pi / 2, speed=0.0, color=PALETTE[0]),  # facing the camera
            PersonSpec(start=(0.9, -2.5), heading=0.0, speed=0.0, color=PALETTE[1]),  # in profile
            PersonSpec(start=(0.3, -1.0), heading=np.pi / 2, speed=0.0, color=PALETTE[2]),  # facing away
            PersonSpec(start=(-0.95, -1.5), heading=-np.pi / 2 + 0.3, speed=0.0, color=PALETTE[3]),  # behind 0
            PersonSpec(start=(-1.3, -3.0), heading=-np.pi / 2 - 0.5, speed=0.0, color=PALETTE[4]),  # at the border
        )
        config = SceneConfig(960, 720, 30.0, 1, people=people, noise_sigma=3.0, seed=1)
        self.gt = render_scene(config, tmp_path / "faces.mp4")
        frame = SceneRenderer(config).frame(0)  # the same frame as in the video, before compression
        self.person_ids = frame.person_ids
        skin = colour_mask(frame.image, SKIN)
        self.image = frame.image.copy()
        # Paint the eyes the renderer leaves out, where the ground truth says they are visible on the own face.
        self.eyes = []
        eye_mask = np.zeros(skin.shape, np.uint8)
        for k in range(self.gt.n_people):
            for j in EYES:
                if self.gt.visibility[0, k, j] != 2:
                    continue
                u, v = np.rint(self.gt.keypoints2d[0, k, j]).astype(int)
                if skin[v, u] and self.person_ids[v, u] == k + 1:
                    cv2.circle(self.image, (int(u), int(v)), 3, (25, 20, 20), -1)
                    cv2.circle(eye_mask, (int(u), int(v)), 3, 1, -1)
                    self.eyes.append((k, int(u), int(v)))
        self.faces = [(skin | (eye_mask > 0)) & (self.person_ids == k + 1) for k in range(5)]
        self.hair = [colour_mask(frame.image, HAIR, 20) & (self.person_ids == k + 1) for k in range(5)]
        self.boxes = self.gt.boxes[0]

    def keypoints(self, confidence=None) -> np.ndarray:
        """Ground-truth keypoints (P, 17, 3): confidence 1 where labelled (visibility 1 or 2), NaN elsewhere."""
        xy = self.gt.keypoints2d[0]
        conf = (self.gt.visibility[0] > 0).astype(float) if confidence is None else confidence
        return np.concatenate([xy, conf[..., None]], axis=-1)

    def unblurred(self, blurred, k) -> int:
        """How many of person k's face pixels keep detail in ``blurred``."""
        return int(np.count_nonzero(high_frequency(blurred)[self.faces[k]] > DETAIL))

    def eye_contrast(self, image, k) -> list[float]:
        """For each painted eye of person k: |mean inside the eye - mean of a ring around it| (grey levels)."""
        v, u = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
        contrast = []
        for person, eu, ev in self.eyes:
            if person != k:
                continue
            r = np.hypot(u - eu, v - ev)
            grey = image.astype(float).mean(axis=-1)
            contrast.append(abs(grey[r <= 2].mean() - grey[(r >= 5) & (r <= 8)].mean()))
        return contrast


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return Scene(tmp_path_factory.mktemp("privacy"))


def test_scene_has_the_faces_the_tests_need(scene):
    visible_face = [np.count_nonzero(face) for face in scene.faces]
    assert min(visible_face[k] for k in (FRONTAL, PROFILE, OCCLUDED, BORDER)) > 150
    assert visible_face[AWAY] == 0 and np.count_nonzero(scene.hair[AWAY]) > 500  # only the back of the head
    # eyes on skin: both of the frontal face, the profile's; the border face's are outside the image and the
    # partly hidden face's visible eye lies on the rim of its head
    assert sorted(k for k, _, _ in scene.eyes) == [FRONTAL, FRONTAL, PROFILE]
    assert (scene.gt.visibility[0, OCCLUDED, FACE] == 1).any()  # partly hidden behind the frontal person
    assert (scene.gt.visibility[0, BORDER, FACE] == 0).any() and scene.faces[BORDER][:, 0].any()  # cut by the edge
    for k in (FRONTAL, PROFILE, OCCLUDED, BORDER):
        assert np.median(high_frequency(scene.image)[scene.faces[k]]) > 2 * DETAIL  # detail to remove
        assert all(c > 100 for c in scene.eye_contrast(scene.image, k))


def test_ground_truth_face_keypoints_blur_every_face(scene):
    ellipses = privacy.face_regions(scene.keypoints(), COCO17, boxes=scene.boxes)
    assert len(ellipses) == 5
    blurred = privacy.blur_faces(scene.image.copy(), ellipses)
    for k in (FRONTAL, PROFILE, OCCLUDED, BORDER):
        assert scene.unblurred(blurred, k) == 0, k
        assert all(c < 8 for c in scene.eye_contrast(blurred, k)), k
    # facing away: no face shows, but the head is blurred all the same
    assert np.count_nonzero(high_frequency(blurred)[scene.hair[AWAY]] > DETAIL) == 0
    # nothing changes beyond the feathered edges
    reach = np.zeros(scene.image.shape[:2], bool)
    for ellipse in ellipses:
        reach |= privacy.ellipse_mask(scene.image.shape, ellipse, privacy.FEATHER_FRACTION) > 0
    np.testing.assert_array_equal(blurred[~reach], scene.image[~reach])
    assert reach.mean() < 0.2


def test_the_check_detects_faces_left_unblurred(scene):
    untouched = scene.image.copy()
    assert all(scene.unblurred(untouched, k) > 100 for k in (FRONTAL, PROFILE, OCCLUDED, BORDER))
    # ellipses of half the size leave the rims of faces sharp
    small = [(cx, cy, rx / 2, ry / 2, a) for cx, cy, rx, ry, a in privacy.face_regions(scene.keypoints(), COCO17)]
    blurred = privacy.blur_faces(scene.image.copy(), small)
    assert sum(scene.unblurred(blurred, k) for k in (FRONTAL, PROFILE, OCCLUDED, BORDER)) > 100


def test_occluded_face_keypoints_left_out(scene):
    """A detector may give hidden face keypoints a low confidence: the visible ones still place the ellipse."""
    confidence = (scene.gt.visibility[0] == 2).astype(float)
    keypoints = scene.keypoints(confidence)
    assert np.count_nonzero(keypoints[OCCLUDED, FACE, 2] >= 0.3) == 2
    blurred = privacy.blur_faces(scene.image.copy(), privacy.face_regions(keypoints, COCO17, boxes=scene.boxes))
    for k in (FRONTAL, PROFILE, OCCLUDED, BORDER):
        assert scene.unblurred(blurred, k) == 0, k


def test_fallback_to_head_regions_without_face_keypoints(scene):
    missing = scene.keypoints()
    missing[:, FACE] = np.nan
    unconfident = scene.keypoints(np.full((5, 17), 0.1))  # below min_confidence 0.3
    ellipses = privacy.face_regions(missing, COCO17, boxes=scene.boxes)
    assert ellipses == privacy.face_regions(unconfident, COCO17, boxes=scene.boxes)
    for (cx, cy, rx, ry, angle), (x, y, w, h) in zip(ellipses, head_regions(scene.boxes)):
        # the ellipse through the head region's corners
        np.testing.assert_allclose([cx, cy, rx, ry, angle], [x + w / 2, y + h / 2, w / 2**0.5, h / 2**0.5, 0])
    blurred = privacy.blur_faces(scene.image.copy(), ellipses)
    for k in (FRONTAL, PROFILE, OCCLUDED, BORDER):
        assert scene.unblurred(blurred, k) == 0, k
        assert all(c < 8 for c in scene.eye_contrast(blurred, k)), k
    # with neither keypoints nor boxes there is nothing to locate
    assert privacy.face_regions(missing, COCO17) == []


# --- geometry of the ellipses -------------------------------------------------------------------------------------


def frontal_face(centre=(100.0, 100.0), roll_degrees=0.0, confidence=0.9) -> np.ndarray:
    """COCO-17 keypoints of one upright frontal face: ears 60 px apart, eyes 26 px apart, everything else NaN."""
    offsets = {"nose": (0, 8), "left_eye": (13, -6), "right_eye": (-13, -6), "left_ear": (30, 0), "right_ear": (-30, 0)}
    keypoints = np.full((17, 3), np.nan)
    c, s = np.cos(np.radians(roll_degrees)), np.sin(np.radians(roll_degrees))
    for name, (dx, dy) in offsets.items():
        keypoints[COCO17.index(name)] = (centre[0] + c * dx - s * dy, centre[1] + s * dx + c * dy, confidence)
    return keypoints


def test_face_region_size_centre_and_roll():
    ((cx, cy, rx, ry, angle),) = privacy.face_regions(frontal_face(), COCO17)
    head_width = 62.4  # eye to eye 26 x 2.4 beats ear to ear 60 x 1.0 and the other pairs
    assert (cx, cy) == pytest.approx((100, 100 - 4 / 5))  # mean of the five points
    assert (rx, ry, angle) == pytest.approx((privacy.RX_FACTOR * head_width, privacy.RY_FACTOR * head_width, 0))
    for roll in (30, -50, 90):
        ((*_, angle),) = privacy.face_regions(frontal_face(roll_degrees=roll), COCO17)
        assert (angle - roll) % 180 == pytest.approx(0, abs=1e-9) or (angle - roll) % 180 == pytest.approx(180)
    # a big person box raises the head width to its floor, 0.06 x max(w, h)
    ((_, _, rx_box, _, _),) = privacy.face_regions(frontal_face(), COCO17, boxes=[[0, 0, 400, 2000]])
    assert rx_box == pytest.approx(privacy.RX_FACTOR * 0.06 * 2000)


def test_face_region_profile_uses_ear_to_nose():
    keypoints = np.full((17, 3), np.nan)
    keypoints[COCO17.index("left_ear")] = (100, 100, 1)
    keypoints[COCO17.index("left_eye")] = (128, 93, 1)
    keypoints[COCO17.index("nose")] = (140, 103, 1)
    ((cx, _, rx, _, angle),) = privacy.face_regions(keypoints, COCO17)
    # ear to nose 40.1 x 1.3 = 52.1 beats eye to nose 15.6 x 3.0 and ear to eye 28.9 x 1.5
    assert rx == pytest.approx(privacy.RX_FACTOR * 1.3 * np.hypot(40, 3))
    assert angle == 0 and cx == pytest.approx(368 / 3)


def test_face_region_confidence_threshold_and_wholebody_landmarks():
    low = frontal_face(confidence=0.29)
    assert privacy.face_regions(low, COCO17) == []
    assert len(privacy.face_regions(low, COCO17, min_confidence=0.2)) == 1
    one_point = np.full((17, 3), np.nan)
    one_point[0] = (100, 100, 1)
    assert privacy.face_regions(one_point, COCO17) == []  # no size from one point, and no box to fall back on
    # a wholebody-like set: face landmarks outline the face
    wholebody = JointSet(name="wb", joints=("nose", *(f"face-{i}" for i in range(4)), "left_hip"), bones=())
    keypoints = np.array([[50, 50, 1], [30, 40, 1], [70, 40, 1], [50, 20, 1], [50, 75, 1], [0, 0, 1]], float)
    ((cx, cy, rx, _, _),) = privacy.face_regions(keypoints, wholebody)
    assert (cx, cy) == pytest.approx((50, 45))  # the hip is not a face joint
    assert rx == pytest.approx(privacy.RX_FACTOR * 55 / 0.9)  # the landmarks span 55 px: 0.9 head widths


def test_blur_faces_inside_feather_and_outside():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    ellipse = (150.0, 100.0, 40.0, 25.0, 30.0)
    original = image.copy()
    out = privacy.blur_faces(image, [ellipse])
    assert out is image  # in place, like visualize.blur_regions
    inside = privacy.ellipse_mask(image.shape, ellipse) > 0
    core = privacy.ellipse_mask(image.shape, (150.0, 100.0, 36.0, 21.0, 30.0)) > 0  # HF looks 2 px around
    reach = privacy.ellipse_mask(image.shape, ellipse, privacy.FEATHER_FRACTION) > 0
    assert high_frequency(out)[core].max() < 0.05 * high_frequency(original)[core].min()
    np.testing.assert_array_equal(out[~reach], original[~reach])
    ring = reach & ~inside  # the feather: changed, but less towards its outer edge
    change = np.abs(out.astype(float) - original).mean(axis=-1)
    assert change[ring].mean() > 5
    grey = privacy.blur_faces(original[..., 0].copy(), [ellipse])  # single-channel frames work too
    assert grey.shape == (200, 300) and high_frequency(np.repeat(grey[..., None], 3, axis=-1))[core].max() < 3


# --- whole videos: whom to blur, and the estimator on batches of frames ------------------------------------------


def tracks_of(rows) -> Tracks:
    """`Tracks` from rows (frame, track id, x, y, w, h)."""
    rows = np.asarray(rows, dtype=float).reshape(-1, 6)
    return Tracks(frame=rows[:, 0].astype(int), track_id=rows[:, 1].astype(int), boxes=rows[:, 2:],
                  confidence=np.full(len(rows), 0.9))  # fmt: skip


def detections_of(*frames) -> list[np.ndarray]:
    """One (N, 5) array per frame from lists of x, y, w, h boxes (score 0.8)."""
    return [np.array([[*box, 0.8] for box in boxes], dtype=float).reshape(-1, 5) for boxes in frames]


def test_people_to_blur_tracks_plus_detections_no_track_overlaps():
    tracks = tracks_of([(0, 1, 10, 10, 20, 40), (0, 2, 100, 10, 20, 40), (1, 1, 12, 10, 20, 40), (3, 2, 50, 50, 9, 9)])
    detections = detections_of(
        [(11, 10, 20, 40), (300, 10, 20, 40)],  # frame 0: person 1 again (IoU 0.9), a person the tracker left out
        [],  # frame 1: tracks only
        [(40, 40, 10, 10), (41, 40, 10, 10), (200, 40, 10, 10)],  # frame 2: no tracks; two boxes of one person
        [],  # frame 3: tracks only
        [],  # frame 4: nobody
    )
    people = privacy.people_to_blur(tracks, detections)
    assert list(people) == [0, 1, 2, 3]  # frame 4 has nobody: absent
    np.testing.assert_array_equal(people[0], [[10, 10, 20, 40], [100, 10, 20, 40], [300, 10, 20, 40]])
    np.testing.assert_array_equal(people[1], [[12, 10, 20, 40]])
    # a detection overlapping one added before it (IoU 0.82) is not added again, as in the per-frame loop
    np.testing.assert_array_equal(people[2], [[40, 40, 10, 10], [200, 40, 10, 10]])
    np.testing.assert_array_equal(people[3], [[50, 50, 9, 9]])
    assert all(boxes.dtype == np.float64 for boxes in people.values())
    # the threshold: IoU exactly 0.5 counts as overlapping; a lower threshold drops more detections
    half = detections_of([(10, 10, 20, 20)], [], [], [], [])
    assert iou(np.array([[10.0, 10, 20, 40]]), half[0][0, :4])[0] == 0.5
    assert len(privacy.people_to_blur(tracks, half)[0]) == 2
    assert len(privacy.people_to_blur(tracks, half, iou_threshold=0.6)[0]) == 3
    assert len(privacy.people_to_blur(tracks, detections, iou_threshold=0.0)[0]) == 2  # IoU 0 >= 0: dropped
    # a `Detections` works the same; without detections the tracklets alone
    assert privacy.people_to_blur(tracks, Detections(detections)).keys() == people.keys()
    alone = privacy.people_to_blur(tracks)
    assert list(alone) == [0, 1, 3] and len(alone[0]) == 2
    empty = Tracks(frame=np.empty(0, int), track_id=np.empty(0, int), boxes=np.empty((0, 4)), confidence=np.empty(0))
    assert privacy.people_to_blur(empty, detections_of([], [])) == {}
    np.testing.assert_array_equal(privacy.people_to_blur(empty, detections)[2], people[2])


def test_people_to_blur_refuses_inconsistent_inputs():
    tracks = tracks_of([(3, 1, 10, 10, 20, 40)])
    with pytest.raises(ContractError, match="frame index outside the video"):
        privacy.people_to_blur(tracks, detections_of([], []))  # a track in frame 3 of a 2-frame video
    with pytest.raises(ContractError, match="score outside"):
        privacy.people_to_blur(tracks, [np.array([[0, 0, 5, 5, 1.5]])] * 4)


class FakeEstimator:
    """A deterministic 'estimator': face keypoints at fixed places in each box, confidence from the box's area
    (low for small boxes, so they take the head-region fallback); records each call's number of frames and boxes."""

    joint_set = "COCO-17"

    def __init__(self):
        self.calls: list[list[int]] = []

    def __call__(self, frames, boxes):
        self.calls.append([len(b) for b in boxes])
        out = []
        for frame_boxes in boxes:
            keypoints = np.full((len(frame_boxes), 17, 3), np.nan)
            for person, (x, y, w, h) in enumerate(frame_boxes):
                confidence = 0.9 if w * h > 1500 else 0.1
                for joint, (u, v) in zip(FACE, [(0.5, 0.08), (0.6, 0.06), (0.4, 0.06), (0.7, 0.07), (0.3, 0.07)]):
                    keypoints[person, joint] = (x + u * w, y + v * h, confidence)
            out.append(keypoints)
        return out


def closure_blur(frames, tracks, detections, estimator):
    """The blurred-video stage's former per-frame loop (``BlurredVideo.make`` before `blur_frames`), with the
    detector replaced by the detections it gave: returns the blurred frames and the number of regions."""
    tracked = {frame: boxes for frame, (boxes, _) in tracks.by_frame().items()}
    detector = iter(detections)
    blurred = 0

    def blur(frame, index):
        nonlocal blurred
        boxes = tracked.get(index, np.empty((0, 4)))
        for detection in np.asarray(next(detector), dtype=float).reshape(-1, 5)[:, :4]:
            if not len(boxes) or iou(boxes, detection).max() < 0.5:
                boxes = np.vstack([boxes, detection])
        if not len(boxes):
            return frame
        keypoints = np.asarray(estimator([frame], [boxes])[0], dtype=float)
        regions = privacy.face_regions(keypoints, estimator.joint_set, boxes=boxes)
        blurred += len(regions)
        return privacy.blur_faces(frame, regions)

    return [blur(frame.copy(), index) for index, frame in enumerate(frames)], blurred


@pytest.fixture(scope="module")
def crowd():
    """16 frames of three people crossing, their detections (the truth, jittered, plus a false box in every
    fourth frame, a second box of one person in frame 1, nothing in frames 9-10) and ByteTrack's tracks."""
    scene = SceneRenderer(crossing_scene(n_people=3, width=480, height=360, n_frames=16, seed=2))
    rng = np.random.default_rng(0)
    frames, detections = [], []
    for index in range(16):
        frame = scene.frame(index)
        frames.append(frame.image)
        boxes = frame.labels.boxes[np.isfinite(frame.labels.boxes).all(axis=1)]
        boxes = boxes + rng.normal(0, 0.02, boxes.shape) * np.tile(boxes[:, 2:], 2)
        rows = np.column_stack([boxes, np.full(len(boxes), 0.9)])
        if index % 4 == 0:
            rows = np.vstack([rows, [400.0, 20.0, 40.0, 90.0, 0.3]])  # too low a score to start a track
        if index == 1:
            rows = np.vstack([rows, rows[0] + [2, 1, 0, 0, -0.2]])
        if index in (9, 10):
            rows = np.empty((0, 5))
        detections.append(rows)
    tracks = track_detections(detections, TRACKING.build("bytetrack"))
    return frames, detections, tracks


def test_crowd_has_what_the_comparison_needs(crowd):
    _, detections, tracks = crowd
    people = privacy.people_to_blur(tracks, detections)
    by_frame = tracks.by_frame()
    tracked = [len(by_frame.get(i, ((), ()))[0]) for i in range(16)]
    assert tracked[0] == 0 and len(people[0]) == 4  # before confirmation: the detections alone
    assert all(len(people[i]) > tracked[i] for i in range(4, 16, 4))  # the false box, untracked, is added
    assert len(people[1]) < len(detections[1])  # the second box of one person is not
    assert 9 not in people and 10 not in people  # nobody detected, nothing tracked


@pytest.fixture(scope="module", params=["fake", "synthetic_pose"])
def reference(request, crowd):
    """An estimator (the fake one, the shipped model) and the per-frame loop's output with it on the crowd."""
    frames, detections, tracks = crowd
    estimator = FakeEstimator() if request.param == "fake" else TOP_DOWN.build("synthetic_pose")
    return estimator, *closure_blur(frames, tracks, detections, estimator)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_blur_frames_gives_the_per_frame_loops_output(crowd, reference, batch_size):
    frames, detections, tracks = crowd
    estimator, expected, expected_count = reference
    people = privacy.people_to_blur(tracks, detections)
    copies = [frame.copy() for frame in frames]
    results = list(privacy.blur_frames(iter(copies), people, estimator, batch_size=batch_size))
    assert len(results) == 16
    for index, ((blurred, _), want, copy) in enumerate(zip(results, expected, copies)):
        assert blurred is copy  # in place
        np.testing.assert_array_equal(blurred, want, err_msg=f"frame {index}")
    counts = [n for _, n in results]
    assert sum(counts) == expected_count and counts[9] == counts[10] == 0
    assert sum(not np.array_equal(a, b) for a, b in zip(expected, frames)) == 14  # every frame with people changed
    if batch_size == 1:  # blur_people, one frame at a time, is the same
        for index, frame in enumerate(frames):
            blurred, count = privacy.blur_people(frame.copy(), people.get(index, np.empty((0, 4))), estimator)
            np.testing.assert_array_equal(blurred, expected[index])
            assert count == counts[index]


def test_blur_frames_batches_only_the_frames_with_people():
    estimator = FakeEstimator()
    frames = [np.full((60, 80, 3), 100, np.uint8) for _ in range(7)]
    box = np.array([[10.0, 5.0, 40.0, 50.0]])
    people = {0: box, 2: box, 3: np.vstack([box, box + 5]), 6: box}
    results = list(privacy.blur_frames(frames, people, estimator, batch_size=3))
    assert estimator.calls == [[1, 1], [2], [1]]  # frames 0, 2 | 3 (4, 5 empty) | 6
    assert [n for _, n in results] == [1, 0, 1, 2, 0, 0, 1]
    # people as a sequence, one entry per frame; frames beyond it have nobody
    as_list = [people.get(i, np.empty((0, 4))) for i in range(5)]
    assert [n for _, n in privacy.blur_frames(frames, as_list, FakeEstimator())] == [1, 0, 1, 2, 0, 0, 0]
    blank = FakeEstimator()
    frame = np.zeros((10, 10, 3), np.uint8)
    assert privacy.blur_people(frame, np.empty((0, 4)), blank) == (frame, 0) and blank.calls == []
    with pytest.raises(ValueError, match="batch_size"):
        next(privacy.blur_frames(frames, people, estimator, batch_size=0))
    with pytest.raises(ValueError, match="returned 1 results for 2 frames"):
        list(privacy.blur_frames(frames, people, lambda f, b: [np.full((1, 17, 3), np.nan)], batch_size=3))


def test_blur_people_with_the_shipped_model_leaves_no_face_sharp(scene):
    """The shipped synthetic_pose model on the five-person scene: every face, seen or hidden, is blurred."""
    blurred, count = privacy.blur_people(scene.image.copy(), scene.boxes, TOP_DOWN.build("synthetic_pose"))
    assert count == 5
    for k in (FRONTAL, PROFILE, OCCLUDED, BORDER):
        assert scene.unblurred(blurred, k) == 0, k
        assert all(c < 8 for c in scene.eye_contrast(blurred, k)), k
    assert np.count_nonzero(high_frequency(blurred)[scene.hair[AWAY]] > DETAIL) == 0


# --- skeleton overlay ---------------------------------------------------------------------------------------------


def test_confidence_colours():
    assert confidence_color(0.0) == (255, 0, 0)
    assert confidence_color(0.5) == (255, 255, 0)
    assert confidence_color(1.0) == (0, 255, 0)
    assert confidence_color(2.0) == (0, 255, 0) and confidence_color(np.nan) == (255, 0, 0)


def test_draw_skeleton_puts_joints_and_bones_where_they_belong():
    frame = np.zeros((120, 160, 3), np.uint8)
    keypoints = np.full((17, 3), np.nan)
    keypoints[COCO17.index("left_shoulder")] = (40, 30, 1.0)
    keypoints[COCO17.index("left_elbow")] = (40, 90, 0.25)
    keypoints[COCO17.index("right_shoulder")] = (120, 30, 0.5)
    keypoints[COCO17.index("left_hip")] = (100, 100, 0.1)  # below min_confidence: not drawn
    out = draw_skeleton(frame, keypoints, COCO17, min_confidence=0.2, radius=4, thickness=3)
    assert out is frame
    assert tuple(frame[30, 40]) == (0, 255, 0)  # confidence 1: green
    assert tuple(frame[90, 40]) == (255, 128, 0)  # confidence 0.25: orange
    assert tuple(frame[30, 120]) == (255, 255, 0)  # confidence 0.5: yellow
    assert tuple(frame[60, 40]) == (255, 128, 0)  # the shoulder-elbow bone takes the lower confidence
    assert tuple(frame[30, 80]) == (255, 255, 0)  # shoulder to shoulder
    assert not frame[95:106, 95:106].any()  # the unconfident hip and its bones are left out
    drawn = frame.any(axis=-1)
    assert not drawn[:, 50:70].any(axis=1)[40:80].any()  # nothing off the skeleton
    with pytest.raises(ValueError, match="17, 3"):
        draw_skeleton(frame, keypoints[:5], COCO17)
