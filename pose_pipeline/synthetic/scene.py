"""Scene configuration, ready-made scenes, and rendering a scene to an H.264 video plus ground truth."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from pose_pipeline.skeletons import COCO17
from pose_pipeline.video.writer import VideoWriter

from .background import render_background
from .camera import Camera, default_camera
from .groundtruth import GroundTruth
from .motion import walking_joints
from .render import FigureStyle, FrameLabels, render_people

# Saturated clothing colours (RGB), far from the muted background and from skin.
PALETTE = (
    (220, 40, 40),
    (40, 90, 220),
    (40, 170, 60),
    (240, 170, 20),
    (150, 60, 200),
    (20, 190, 200),
    (230, 60, 160),
    (110, 70, 30),
)
NOISE_PAD = 64  # the noise field is this much larger than a frame; each frame takes a random offset crop


@dataclass(frozen=True)
class PersonSpec:
    """One person walking a straight line on the floor (world metres, z up, see ``motion``).

    ``start`` is the root (hip midpoint) floor position (x, y) at time 0; ``heading`` radians counter-clockwise
    from +x; ``speed`` m/s (0 = standing); ``phase`` gait phase in radians at time 0; ``scale`` body size
    (1.0 is about 1.75 m tall); ``color`` clothing RGB. The person is in the scene for frames
    ``first_frame <= i < end_frame`` (``end_frame=None``: to the end) and absent (NaN) otherwise.
    """

    scale: float = 1.0
    color: tuple[int, int, int] = PALETTE[0]
    start: tuple[float, float] = (0.0, 0.0)
    heading: float = 0.0
    speed: float = 1.2
    phase: float = 0.0
    first_frame: int = 0
    end_frame: int | None = None

    def __post_init__(self):
        if self.speed < 0 or self.scale <= 0:
            raise ValueError(f"person needs speed >= 0 and scale > 0, got speed={self.speed}, scale={self.scale}")
        object.__setattr__(self, "color", tuple(int(c) for c in self.color))
        object.__setattr__(self, "start", tuple(float(c) for c in self.start))


@dataclass(frozen=True)
class SceneConfig:
    """Everything that determines a synthetic video: same config => identical frames and ground truth.

    ``camera=None`` uses ``default_camera(width, height)``. ``noise_sigma`` is the standard deviation of the
    Gaussian pixel noise in grey levels (0 = none). ``room`` = (half_x, half_y, height) metres of the room
    the background shows. ``seed`` drives the background texture and the noise.
    """

    width: int = 640
    height: int = 480
    fps: float = 30.0
    n_frames: int = 150
    people: tuple[PersonSpec, ...] = ()
    noise_sigma: float = 2.0
    seed: int = 0
    camera: Camera | None = None
    room: tuple[float, float, float] = (8.0, 6.0, 3.0)

    def __post_init__(self):
        object.__setattr__(self, "people", tuple(self.people))
        object.__setattr__(self, "room", tuple(float(v) for v in self.room))
        if self.width % 2 or self.height % 2 or self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame size must be positive and even (H.264 yuv420p), got {self.width}x{self.height}")
        if self.camera is not None and (self.camera.width, self.camera.height) != (self.width, self.height):
            raise ValueError("camera image size differs from the scene's width x height")
        if self.n_frames < 0 or self.fps <= 0 or self.noise_sigma < 0:
            raise ValueError("need n_frames >= 0, fps > 0 and noise_sigma >= 0")

    @property
    def duration(self) -> float:
        """Length of the video in seconds."""
        return self.n_frames / self.fps

    def get_camera(self) -> Camera:
        """The scene's camera (the default one when ``camera`` is None)."""
        return self.camera if self.camera is not None else default_camera(self.width, self.height)

    def to_dict(self) -> dict:
        """JSON-compatible description (the camera is written out even when it is the default)."""
        data = {name: getattr(self, name) for name in ("width", "height", "fps", "n_frames", "noise_sigma", "seed")}
        data["room"] = self.room
        data["people"] = [asdict(person) for person in self.people]
        data["camera"] = self.get_camera().to_dict()
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: dict) -> SceneConfig:
        """Inverse of ``to_dict``."""
        data = dict(data)
        data["people"] = tuple(PersonSpec(**person) for person in data["people"])
        data["camera"] = Camera.from_dict(data["camera"]) if data.get("camera") else None
        return cls(**data)


@dataclass
class Frame:
    """One rendered frame: the RGB image, the person-id map (0 = background, k + 1 = person k) and labels."""

    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    person_ids: np.ndarray  # (H, W) uint8
    labels: FrameLabels


class SceneRenderer:
    """Renders a scene frame by frame; ``frame(i)`` gives the same result in any order.

    The 3D motion of all people is computed up front (small: frames x people x 17 x 3); frames are not kept.
    """

    def __init__(self, config: SceneConfig):
        self.config = config
        self.camera = config.get_camera()
        self.background = render_background(self.camera, config.seed, config.room)
        self.styles = [FigureStyle(color=p.color, scale=p.scale) for p in config.people]
        times = np.arange(config.n_frames) / config.fps
        joints = np.full((config.n_frames, len(config.people), 17, 3), np.nan)
        for k, p in enumerate(config.people):
            frames = slice(p.first_frame, p.end_frame)
            joints[frames, k] = walking_joints(
                times[frames], scale=p.scale, start=p.start, heading=p.heading, speed=p.speed, phase=p.phase
            )
        self.joints3d = joints
        self._noise = None
        if config.noise_sigma > 0:
            # One Gaussian field, cropped at a per-frame random offset: per-frame i.i.d. pixel noise for ~1 ms a
            # frame, where drawing fresh normals costs ~65 ms a frame at 1920x1080.
            rng = np.random.default_rng([config.seed, 0x401])
            shape = (config.height + NOISE_PAD, config.width + NOISE_PAD, 3)
            noise = np.rint(rng.standard_normal(shape, dtype=np.float32) * config.noise_sigma)
            self._noise = np.clip(noise, -255, 255).astype(np.int16)
            self._offsets = rng.integers(0, NOISE_PAD + 1, size=(config.n_frames, 2))

    def __len__(self) -> int:
        return self.config.n_frames

    def frame(self, index: int) -> Frame:
        """Render frame ``index``: people over the background, then noise."""
        if not 0 <= index < self.config.n_frames:
            raise IndexError(f"frame {index} outside 0..{self.config.n_frames - 1}")
        image = self.background.copy()
        person_ids = np.zeros(image.shape[:2], dtype=np.uint8)
        labels = render_people(image, person_ids, self.joints3d[index], self.styles, self.camera)
        if self._noise is not None:
            dy, dx = self._offsets[index]
            crop = self._noise[dy : dy + self.config.height, dx : dx + self.config.width]
            image = cv2.add(image, crop, dtype=cv2.CV_8U)  # saturating
        return Frame(index=index, image=image, person_ids=person_ids, labels=labels)

    def __iter__(self):
        return (self.frame(i) for i in range(self.config.n_frames))


def _progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc="rendering", unit="frame")


def render_scene(config: SceneConfig, out_path, progress: bool = False) -> GroundTruth:
    """Render ``config`` to an H.264 MP4 at ``out_path``, streaming frame by frame, and return its ground truth."""
    renderer = SceneRenderer(config)
    n_frames, n_people = config.n_frames, len(config.people)
    boxes = np.full((n_frames, n_people, 4), np.nan)
    visibility = np.zeros((n_frames, n_people, 17), dtype=np.int8)
    visible_fraction = np.full((n_frames, n_people), np.nan)
    with VideoWriter(out_path, fps=config.fps, size=(config.width, config.height)) as writer:
        for frame in _progress(renderer, n_frames, progress):
            writer.write(frame.image)
            boxes[frame.index] = frame.labels.boxes
            visibility[frame.index] = frame.labels.visibility
            visible_fraction[frame.index] = frame.labels.visible_fraction
    keypoints2d = renderer.camera.project(renderer.joints3d)
    keypoints2d[visibility == 0] = np.nan
    return GroundTruth(
        track_ids=np.arange(1, n_people + 1),
        boxes=boxes,
        keypoints2d=keypoints2d,
        visibility=visibility,
        joints3d=renderer.joints3d,
        visible_fraction=visible_fraction,
        colors=np.array([p.color for p in config.people], dtype=np.uint8).reshape(n_people, 3),
        camera=renderer.camera,
        fps=float(config.fps),
        joint_set=COCO17.name,
        config=config.to_dict(),
    )


def _half_width_at(camera: Camera, y: float) -> float:
    """Half the floor width (metres) the camera sees at world depth ``y`` and hip height."""
    depth = camera.depth(np.array([0.0, y, 0.9]))
    return depth * (camera.width / 2) / camera.K[0, 0]


def walking_scene(
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    n_frames: int = 150,
    *,
    speed: float | None = None,
    scale: float = 1.0,
    color=PALETTE[0],
    noise_sigma: float = 2.0,
    seed: int = 0,
) -> SceneConfig:
    """One person walking left to right across the view, 5.5 m from the default camera, centred in time.

    ``speed=None`` picks a natural pace (up to 1.3 m/s) slow enough for the walk to stay within the middle
    80% of the view for the whole video (long videos give a slow walk).
    """
    camera = default_camera(width, height)
    duration = n_frames / fps
    if speed is None:
        speed = min(1.3, 0.8 * 2 * _half_width_at(camera, 0.0) / max(duration, 1e-9))
    person = PersonSpec(scale=scale, color=color, start=(-speed * duration / 2, 0.0), heading=0.0, speed=speed)
    return SceneConfig(width, height, fps, n_frames, people=(person,), noise_sigma=noise_sigma, seed=seed)


def crossing_scene(
    n_people: int = 3,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    n_frames: int = 150,
    *,
    noise_sigma: float = 2.0,
    seed: int = 0,
) -> SceneConfig:
    """People walking across the view at different depths, alternating directions, who pass the image centre
    (and so occlude each other) around the middle of the video, within 0.25 s of one another.

    Body scale (0.9-1.1), speed and gait phase vary per person, drawn from ``seed``.
    """
    rng = np.random.default_rng([seed, 0xC055])
    camera = default_camera(width, height)
    duration = n_frames / fps
    depths = np.linspace(-1.2, 1.5, n_people) if n_people > 1 else np.zeros(1)
    people = []
    for k in range(n_people):
        # Cross the image centre at t_k and keep within the view for most of the video.
        t_cross = duration / 2 + (k - (n_people - 1) / 2) * 0.25
        speed = min(1.4, 0.9 * 2 * _half_width_at(camera, depths[k]) / max(duration, 1e-9))
        speed *= rng.uniform(0.9, 1.0)
        direction = 1.0 if k % 2 == 0 else -1.0
        people.append(
            PersonSpec(
                scale=float(rng.uniform(0.9, 1.1)),
                color=PALETTE[k % len(PALETTE)],
                start=(-direction * speed * t_cross, float(depths[k])),
                heading=0.0 if direction > 0 else np.pi,
                speed=float(speed),
                phase=float(rng.uniform(0, 2 * np.pi)),
            )
        )
    return SceneConfig(width, height, fps, n_frames, people=tuple(people), noise_sigma=noise_sigma, seed=seed)


def empty_scene(
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    n_frames: int = 150,
    *,
    noise_sigma: float = 2.0,
    seed: int = 0,
) -> SceneConfig:
    """Background only, nobody in it (for false-positive checks)."""
    return SceneConfig(width, height, fps, n_frames, people=(), noise_sigma=noise_sigma, seed=seed)
