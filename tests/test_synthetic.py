"""Tests of the synthetic video generator: geometry, rendering, labels, determinism, I/O."""

from __future__ import annotations

import av
import numpy as np
import pytest

from pose_pipeline.skeletons import COCO17
from pose_pipeline.synthetic import (
    PALETTE,
    Camera,
    GroundTruth,
    PersonSpec,
    SceneConfig,
    SceneRenderer,
    crossing_scene,
    default_camera,
    empty_scene,
    render_scene,
    walking_joints,
    walking_scene,
)
from pose_pipeline.synthetic.motion import ANKLE_HEIGHT, FOREARM, SHIN, THIGH, UPPER_ARM

J = {name: i for i, name in enumerate(COCO17.joints)}
BODY = [J[n] for n in COCO17.joints if n not in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]


def decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def patch_colour(image, u, v, half=1) -> np.ndarray:
    row, col = round(v), round(u)
    patch = image[max(row - half, 0) : row + half + 1, max(col - half, 0) : col + half + 1].reshape(-1, 3)
    return np.median(patch.astype(float), axis=0)


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    config = crossing_scene(n_people=3, n_frames=60, seed=3)
    path = tmp_path_factory.mktemp("synthetic") / "crossing.mp4"
    gt = render_scene(config, path)
    return config, path, gt, decode(path)


# --- camera -----------------------------------------------------------------------------------------------------


def test_project_known_points():
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    camera = Camera(K=K, R=np.eye(3), t=np.zeros(3), width=640, height=480)
    pixels = camera.project([[1.0, 2.0, 10.0], [0.0, 0.0, 4.0], [0.0, 0.0, -1.0]])
    np.testing.assert_allclose(pixels[:2], [[370.0, 340.0], [320.0, 240.0]])
    assert np.isnan(pixels[2]).all()  # behind the camera
    np.testing.assert_allclose(camera.depth([[1.0, 2.0, 10.0]]), [10.0])


def test_look_at_camera_geometry():
    camera = default_camera(640, 480)
    np.testing.assert_allclose(camera.center, [0.0, -5.5, 1.7], atol=1e-12)
    # The target is on the optical axis, so it lands on the principal point.
    np.testing.assert_allclose(camera.project([0.0, 0.0, 0.9]), [319.5, 239.5], atol=1e-9)
    # World +x is image right and world +z is image up.
    right, up = camera.project([[1.0, 0.0, 0.9], [0.0, 0.0, 1.9]])
    assert right[0] > 319.5 + 50 and abs(right[1] - 239.5) < 1e-6
    assert up[1] < 239.5 - 50
    # Rays invert the projection.
    pixels = np.array([[10.0, 20.0], [600.0, 470.0]])
    points = camera.center + 7.0 * camera.rays(pixels)
    np.testing.assert_allclose(camera.project(points), pixels, atol=1e-9)
    assert Camera.from_dict(camera.to_dict()) == camera


# --- motion -----------------------------------------------------------------------------------------------------


def test_walking_joints_are_a_rigid_skeleton_on_the_floor():
    times = np.arange(90) / 30
    scale, speed, heading = 1.1, 1.2, np.pi / 2
    joints = walking_joints(times, scale=scale, start=(1.0, -2.0), heading=heading, speed=speed, phase=0.3)
    assert joints.shape == (90, 17, 3) and np.isfinite(joints).all()

    def length(a, b):
        return np.linalg.norm(joints[:, J[a]] - joints[:, J[b]], axis=-1)

    np.testing.assert_allclose(length("left_hip", "left_knee"), THIGH * scale)
    np.testing.assert_allclose(length("right_knee", "right_ankle"), SHIN * scale)
    np.testing.assert_allclose(length("left_shoulder", "left_elbow"), UPPER_ARM * scale)
    np.testing.assert_allclose(length("right_elbow", "right_wrist"), FOREARM * scale)
    # The lower foot touches the floor at every frame; the limbs really swing.
    lowest = joints[:, [J["left_ankle"], J["right_ankle"]], 2].min(axis=1)
    np.testing.assert_allclose(lowest, ANKLE_HEIGHT * scale)
    assert np.ptp(joints[:, J["left_ankle"], 1] - joints[:, J["right_ankle"], 1]) > 0.3
    # The root moves along the heading (+y here) at the given speed; left is -x when walking towards +y.
    root = joints[:, [J["left_hip"], J["right_hip"]]].mean(axis=1)
    np.testing.assert_allclose(root[:, :2], np.stack([np.full(90, 1.0), -2.0 + speed * times], 1), atol=0.02 * scale)
    assert (joints[:, J["left_shoulder"], 0] < joints[:, J["right_shoulder"], 0]).all()
    # The face points forward, above the shoulders.
    assert (joints[:, J["nose"], 1] > root[:, 1]).all()
    assert (joints[:, J["nose"], 2] > joints[:, J["left_shoulder"], 2] + 0.1).all()


def test_standing_person_does_not_move():
    joints = walking_joints(np.arange(10) / 30, speed=0.0, start=(0.5, 0.5))
    np.testing.assert_allclose(joints, np.broadcast_to(joints[0], joints.shape))


# --- rendering and labels -----------------------------------------------------------------------------------------


def test_video_decodes_to_declared_frames_and_size(crossing):
    config, path, gt, frames = crossing
    assert len(frames) == config.n_frames == gt.n_frames
    assert frames[0].shape == (config.height, config.width, 3)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.average_rate) == pytest.approx(config.fps)
    assert gt.keypoints2d.shape == (60, 3, 17, 2) and gt.joints3d.shape == (60, 3, 17, 3)
    assert gt.visibility.shape == (60, 3, 17) and gt.boxes.shape == (60, 3, 4)
    assert gt.joint_set == "COCO-17" and gt.fps == 30.0 and list(gt.track_ids) == [1, 2, 3]


def test_visible_keypoints_land_on_their_person_colour(crossing):
    _, _, gt, frames = crossing
    colours = gt.colors.astype(float)
    hits = total = 0
    for f, image in enumerate(frames):
        for k in range(gt.n_people):
            for j in BODY:
                if gt.visibility[f, k, j] != 2:
                    continue
                colour = patch_colour(image, *gt.keypoints2d[f, k, j])
                distances = np.linalg.norm(colours - colour, axis=1)
                hits += distances[k] < 45 and distances.argmin() == k
                total += 1
    assert total > 1000
    assert hits / total > 0.97


def test_face_of_a_person_walking_towards_the_camera_is_skin(tmp_path):
    person = PersonSpec(start=(0.0, 2.0), heading=-np.pi / 2, speed=1.0)
    config = SceneConfig(width=320, height=240, n_frames=10, people=(person,), noise_sigma=0)
    gt = render_scene(config, tmp_path / "towards.mp4")
    image = decode(tmp_path / "towards.mp4")[5]
    skin = np.array([226, 178, 146])
    for joint in ("nose", "left_eye", "right_eye"):
        assert gt.visibility[5, 0, J[joint]] == 2
        assert np.linalg.norm(patch_colour(image, *gt.keypoints2d[5, 0, J[joint]], half=0) - skin) < 40


def test_occluded_joints_lie_under_a_nearer_person(crossing):
    config, _, gt, frames = crossing
    renderer = SceneRenderer(config)
    occluded = np.argwhere(gt.visibility == 1)
    assert len(occluded) > 20  # the people really cross in the image
    colours = gt.colors.astype(float)
    id_maps = {f: renderer.frame(f).person_ids for f in np.unique(occluded[:, 0])}
    hidden = clothing = 0
    for f, k, j in occluded:
        u, v = gt.keypoints2d[f, k, j]
        cover = int(id_maps[f][round(v), round(u)]) - 1
        assert cover not in (-1, k)
        # The covering person is nearer to the camera.
        assert renderer.camera.depth(gt.joints3d[f, cover].mean(0)) < renderer.camera.depth(gt.joints3d[f, k].mean(0))
        # In the decoded video the joint's own colour is gone; where clothing shows, it is the cover's
        # (a cover's head shows hair or skin instead).
        distances = np.linalg.norm(colours - patch_colour(frames[f], u, v), axis=1)
        hidden += distances[k] > 60
        if distances.min() < 45:
            clothing += 1
            assert distances.argmin() == cover
    assert hidden / len(occluded) > 0.95
    assert clothing > 10


def test_boxes_are_tight_and_contain_visible_keypoints(crossing):
    config, _, gt, _ = crossing
    labelled = gt.visibility > 0
    x, y, w, h = (gt.boxes[..., i][..., None] for i in range(4))
    u, v = gt.keypoints2d[..., 0], gt.keypoints2d[..., 1]
    assert np.isfinite(gt.keypoints2d[labelled]).all() and np.isnan(gt.keypoints2d[~labelled]).all()
    inside = (u >= x) & (u <= x + w) & (v >= y) & (v <= y + h)
    assert inside[labelled].all()
    # A person nobody covers: the box is exactly the box of their pixels in the id map.
    renderer = SceneRenderer(config)
    f, k = np.argwhere(gt.visible_fraction == 1.0)[0]
    rows, cols = np.nonzero(renderer.frame(f).person_ids == k + 1)
    np.testing.assert_array_equal(
        gt.boxes[f, k], [cols.min() - 0.5, rows.min() - 0.5, np.ptp(cols) + 1, np.ptp(rows) + 1]
    )
    assert np.nanmin(gt.visible_fraction) < 0.9


def test_nearer_people_are_drawn_larger(crossing):
    config, _, gt, _ = crossing
    camera = config.get_camera()
    f = 0
    depth = camera.depth(gt.joints3d[f].mean(axis=1))
    scales = np.array([p.scale for p in config.people])
    heights = gt.boxes[f, :, 3]
    # Pixel height x depth / body scale is the same for everyone (up to pose and rasterisation).
    normalised = heights * depth / scales
    assert np.ptp(normalised) / normalised.mean() < 0.1
    assert heights[np.argmin(depth / scales)] == heights.max()


def test_people_leaving_the_image_are_clipped_then_missing(tmp_path):
    config = walking_scene(320, 240, n_frames=60, speed=4.0, noise_sigma=0)
    gt = render_scene(config, tmp_path / "leaving.mp4")
    x, y, w, h = np.moveaxis(gt.boxes[:, 0], -1, 0)
    present = np.isfinite(x)
    assert present.any() and not present.all()
    assert (x[present] >= -0.5).all() and (x[present] + w[present] <= 320 - 0.5).all()
    assert (y[present] >= -0.5).all() and (y[present] + h[present] <= 240 - 0.5).all()
    assert (gt.visibility[~present] == 0).all() and np.isnan(gt.keypoints2d[~present]).all()
    assert np.isfinite(gt.joints3d).all()  # in the scene, only out of view


def test_person_frame_range_and_empty_scene(tmp_path):
    config = SceneConfig(
        width=160, height=120, n_frames=12, people=(PersonSpec(speed=0.5, first_frame=4, end_frame=9),)
    )
    gt = render_scene(config, tmp_path / "range.mp4")
    absent = np.r_[0:4, 9:12]
    assert np.isnan(gt.joints3d[absent]).all() and np.isnan(gt.boxes[absent]).all()
    assert np.isfinite(gt.boxes[4:9]).all() and (gt.visibility[absent] == 0).all()
    np.testing.assert_array_equal(gt.to_mot()[:, 0], np.arange(5, 10))

    empty = render_scene(empty_scene(160, 120, n_frames=8), tmp_path / "empty.mp4")
    assert empty.boxes.shape == (8, 0, 4) and empty.keypoints2d.shape == (8, 0, 17, 2)
    assert np.isnan(empty.boxes).all() and np.isnan(empty.keypoints2d).all()
    assert empty.to_mot().shape == (0, 10)
    assert len(decode(tmp_path / "empty.mp4")) == 8


# --- determinism, I/O, export -------------------------------------------------------------------------------------


def test_same_config_gives_identical_frames_and_ground_truth(crossing, tmp_path):
    config, _, gt, frames = crossing
    again = render_scene(config, tmp_path / "again.mp4")
    assert again.equals(gt)
    again_frames = decode(tmp_path / "again.mp4")
    assert all(np.array_equal(a, b) for a, b in zip(frames, again_frames, strict=True))
    a, b = SceneRenderer(config), SceneRenderer(config)
    np.testing.assert_array_equal(a.frame(30).image, b.frame(30).image)  # random access equals streaming order
    other = SceneRenderer(crossing_scene(n_people=3, n_frames=60, seed=4))
    assert not np.array_equal(a.background, other.background)


def test_noise_has_the_configured_sigma():
    quiet = SceneRenderer(empty_scene(320, 240, n_frames=2, noise_sigma=0))
    noisy = SceneRenderer(empty_scene(320, 240, n_frames=2, noise_sigma=3.0))
    difference = noisy.frame(1).image.astype(float) - quiet.frame(1).image
    assert difference.std() == pytest.approx(3.0, rel=0.05)
    assert not np.array_equal(noisy.frame(0).image, noisy.frame(1).image)


def test_save_load_round_trip(crossing, tmp_path):
    _, _, gt, _ = crossing
    loaded = GroundTruth.load(gt.save(tmp_path / "gt.npz"))
    assert loaded.equals(gt)
    assert loaded.camera == gt.camera and loaded.visibility.dtype == np.int8
    assert SceneConfig.from_dict(loaded.config).to_dict() == gt.config


def test_mot_export(crossing):
    _, _, gt, _ = crossing
    rows = gt.to_mot()
    present = np.isfinite(gt.boxes).all(axis=-1)
    assert rows.shape == (present.sum(), 10)
    frame, track = rows[:, 0].astype(int), rows[:, 1].astype(int)
    assert frame.min() == 1 and frame.max() == gt.n_frames
    assert np.all(np.diff(frame) >= 0)
    np.testing.assert_array_equal(rows[:, 2:6], gt.boxes[frame - 1, track - 1])
    np.testing.assert_array_equal(rows[:, 6:], np.tile([1.0, -1, -1, -1], (len(rows), 1)))


def test_full_hd_frame():
    renderer = SceneRenderer(crossing_scene(n_people=2, width=1920, height=1080, n_frames=30))
    frame = renderer.frame(15)
    assert frame.image.shape == (1080, 1920, 3) and frame.person_ids.shape == (1080, 1920)
    assert set(np.unique(frame.person_ids)) == {0, 1, 2}
    assert np.isfinite(frame.labels.boxes).all()


def test_palette_colours_are_distinct():
    colours = np.array(PALETTE, dtype=float)
    distances = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
    assert distances[~np.eye(len(colours), dtype=bool)].min() > 60
