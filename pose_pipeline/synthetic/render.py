"""Rasterise articulated figures with real occlusion, and label what the camera sees.

Each person is drawn from simple shapes: capsules for limbs and neck, a torso polygon with rounded edges, and
a head sphere whose front cap (the face) is skin-coloured. Shape widths come from metric radii projected at
their depth, so nearer people are thicker. People are drawn far to near (painter's algorithm, by hip depth)
and each person's parts far to near too, into the colour image and into a person-id map (0 = background,
k + 1 = person k) drawn with the same geometry, so occlusion is real and measurable.

Labels per person (COCO conventions, pixel centres at integer coordinates):
- visibility per joint: 0 = not in the image (or behind the camera), 1 = in the image but covered by a nearer
  person's pixels (looked up in the id map at the joint's pixel), 2 = visible. Self-occlusion (an arm behind
  one's own torso, the nose of a head seen from behind) counts as visible.
- box: amodal and tight: the box around the in-image pixels the person's shapes cover, counting those hidden
  by nearer people; its edges are pixel boundaries (x = leftmost pixel column - 0.5, w = number of columns), so
  it lies within [-0.5, width - 0.5] x [-0.5, height - 0.5]. NaN when none of the person's pixels is in the image.
- visible fraction: the share of those in-image pixels not covered by nearer people.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pose_pipeline.skeletons import COCO17

from .camera import NEAR, Camera
from .motion import HEAD_RADIUS, LIMB_RADIUS

SHIFT = 4  # OpenCV fixed-point bits: shapes are placed with 1/16 pixel precision
ONE = 1 << SHIFT
SKIN = (226, 178, 146)
HAIR = (58, 42, 32)
FACE_CAP_COS = np.cos(np.radians(65))  # the face is the sphere cap within 65 degrees of the facing direction
OUTLINE = 0.55  # outline colour = this times the fill colour: separates overlapping parts of one person

J = {name: i for i, name in enumerate(COCO17.joints)}
LIMBS = (
    ("left_shoulder", "left_elbow", "upper_arm"),
    ("left_elbow", "left_wrist", "forearm"),
    ("right_shoulder", "right_elbow", "upper_arm"),
    ("right_elbow", "right_wrist", "forearm"),
    ("left_hip", "left_knee", "thigh"),
    ("left_knee", "left_ankle", "shin"),
    ("right_hip", "right_knee", "thigh"),
    ("right_knee", "right_ankle", "shin"),
)
TORSO = ("left_shoulder", "right_shoulder", "right_hip", "left_hip")


@dataclass(frozen=True)
class FigureStyle:
    """How one person looks: clothing colour (RGB), body scale, skin and hair colours."""

    color: tuple[int, int, int]
    scale: float = 1.0
    skin: tuple[int, int, int] = SKIN
    hair: tuple[int, int, int] = HAIR


@dataclass
class FrameLabels:
    """What the camera sees of each person in one frame; P = number of people."""

    boxes: np.ndarray  # (P, 4) float x, y, w, h pixels, NaN when not in the image
    visibility: np.ndarray  # (P, 17) int8, 0/1/2
    visible_fraction: np.ndarray  # (P,) float in [0, 1], NaN when not in the image


def _fixed(point) -> tuple[int, int]:
    return round(point[0] * ONE), round(point[1] * ONE)


def _shade(colour, factor) -> tuple[int, int, int]:
    return tuple(round(c * factor) for c in colour)


class _Capsule:
    """A limb: a thick line with round caps between two projected points."""

    def __init__(self, p0, p1, radius_px):
        self.p0, self.p1 = p0, p1
        self.thickness = max(1, round(2 * radius_px))

    def extent(self):
        r = self.thickness / 2 + 1
        return (
            min(self.p0[0], self.p1[0]) - r,
            min(self.p0[1], self.p1[1]) - r,
            max(self.p0[0], self.p1[0]) + r,
            max(self.p0[1], self.p1[1]) + r,
        )

    def draw(self, image, style):
        a, b = _fixed(self.p0), _fixed(self.p1)
        cv2.line(image, a, b, _shade(style.color, OUTLINE), self.thickness + 2, cv2.LINE_AA, SHIFT)
        cv2.line(image, a, b, style.color, self.thickness, cv2.LINE_AA, SHIFT)

    def draw_ids(self, target, value, offset):
        a, b = _fixed(self.p0 - offset), _fixed(self.p1 - offset)
        cv2.line(target, a, b, value, self.thickness + 2, cv2.LINE_8, SHIFT)


class _Torso:
    """The trunk: the shoulder-hip quadrilateral with capsule edges, so it keeps some depth seen from the side."""

    def __init__(self, corners, radius_px):
        self.edges = [_Capsule(corners[i], corners[(i + 1) % 4], radius_px) for i in range(4)]
        self.corners = corners

    def extent(self):
        boxes = np.array([edge.extent() for edge in self.edges])
        return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()

    def _polygon(self, offset):
        points = np.array([_fixed(c - offset) for c in self.corners], dtype=np.int32)
        return cv2.convexHull(points)

    def draw(self, image, style):
        outline = _shade(style.color, OUTLINE)
        for edge in self.edges:
            cv2.line(image, _fixed(edge.p0), _fixed(edge.p1), outline, edge.thickness + 2, cv2.LINE_AA, SHIFT)
        cv2.fillConvexPoly(image, self._polygon(np.zeros(2)), style.color, cv2.LINE_AA, SHIFT)
        for edge in self.edges:
            cv2.line(image, _fixed(edge.p0), _fixed(edge.p1), style.color, edge.thickness, cv2.LINE_AA, SHIFT)

    def draw_ids(self, target, value, offset):
        cv2.fillConvexPoly(target, self._polygon(offset), value, cv2.LINE_8, SHIFT)
        for edge in self.edges:
            edge.draw_ids(target, value, offset)


class _Head:
    """A sphere: drawn as a disc in hair colour, with the pixels whose visible sphere point lies on the face
    cap repainted in skin colour (exact ray-sphere intersection, so the face turns with the head)."""

    def __init__(self, center3d, forward, radius_m, camera: Camera):
        self.center3d, self.forward, self.radius_m, self.camera = center3d, forward, radius_m, camera
        self.center = camera.project(center3d)
        self.radius = camera.K[0, 0] * radius_m / camera.depth(center3d)

    def extent(self):
        r = self.radius + 1
        return self.center[0] - r, self.center[1] - r, self.center[0] + r, self.center[1] + r

    def draw(self, image, style):
        centre, r = _fixed(self.center), round(self.radius * ONE)
        cv2.circle(image, centre, r + ONE, _shade(style.hair, OUTLINE), -1, cv2.LINE_AA, SHIFT)
        cv2.circle(image, centre, r, style.hair, -1, cv2.LINE_AA, SHIFT)
        x0, y0, x1, y1 = (int(np.floor(v)) for v in self.extent())
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1 + 1, image.shape[1]), min(y1 + 1, image.shape[0])
        if x1 <= x0 or y1 <= y0:
            return
        v, u = np.mgrid[y0:y1, x0:x1]
        d = self.camera.rays(np.stack([u, v], axis=-1).astype(float))
        oc = self.center3d - self.camera.center
        b = d @ oc
        disc = b**2 - (oc @ oc - self.radius_m**2)
        hit = disc > 0
        along = b - np.sqrt(np.where(hit, disc, 0.0))
        normal = (d * along[..., None] - oc) / self.radius_m
        face = hit & (normal @ self.forward > FACE_CAP_COS)
        # Stay inside the drawn disc (the projected sphere is a slightly larger ellipse off the image centre).
        face &= (u - self.center[0]) ** 2 + (v - self.center[1]) ** 2 <= self.radius**2
        image[y0:y1, x0:x1][face] = style.skin

    def draw_ids(self, target, value, offset):
        cv2.circle(target, _fixed(self.center - offset), round(self.radius * ONE) + ONE, value, -1, cv2.LINE_8, SHIFT)


def person_parts(joints3d: np.ndarray, style: FigureStyle, camera: Camera) -> list:
    """Drawable parts of one person, sorted far to near; parts reaching behind the camera are left out."""
    pixels = camera.project(joints3d)
    depth = camera.depth(joints3d)
    focal = camera.K[0, 0]
    parts = []  # (depth, part)

    def projectable(*names):
        return all(depth[J[n]] >= NEAR and np.isfinite(pixels[J[n]]).all() for n in names)

    for a, b, kind in LIMBS:
        if projectable(a, b):
            mean_depth = (depth[J[a]] + depth[J[b]]) / 2
            radius = focal * LIMB_RADIUS[kind] * style.scale / mean_depth
            parts.append((mean_depth, _Capsule(pixels[J[a]], pixels[J[b]], radius)))
    if projectable(*TORSO):
        mean_depth = np.mean([depth[J[n]] for n in TORSO])
        radius = focal * LIMB_RADIUS["torso"] * style.scale / mean_depth
        parts.append((mean_depth, _Torso(np.array([pixels[J[n]] for n in TORSO]), radius)))

    head_center = (joints3d[J["left_ear"]] + joints3d[J["right_ear"]]) / 2
    neck_base = (joints3d[J["left_shoulder"]] + joints3d[J["right_shoulder"]]) / 2
    head_depth, neck_depth = camera.depth(head_center), camera.depth(neck_base)
    if min(head_depth, neck_depth) >= NEAR:
        forward = joints3d[J["nose"]] - head_center
        forward = forward / np.linalg.norm(forward)
        head = _Head(head_center, forward, HEAD_RADIUS * style.scale, camera)
        neck_radius = focal * LIMB_RADIUS["neck"] * style.scale / ((head_depth + neck_depth) / 2)
        # The neck goes right before the head whatever its depth, so it never paints over the face.
        parts.append((head_depth + 1e-6, _Capsule(camera.project(neck_base), head.center, neck_radius)))
        parts.append((head_depth, head))
    parts.sort(key=lambda item: -item[0])
    return [part for _, part in parts]


def _silhouette(parts, width: int, height: int):
    """The pixels the parts cover, as (mask, x0, y0): a uint8 mask of the in-image region around the parts
    whose top-left pixel is (x0, y0); None when nothing is in the image."""
    if not parts:
        return None
    extents = np.array([part.extent() for part in parts])
    x0, y0 = max(int(np.floor(extents[:, 0].min())) - 2, 0), max(int(np.floor(extents[:, 1].min())) - 2, 0)
    x1, y1 = min(int(np.ceil(extents[:, 2].max())) + 3, width), min(int(np.ceil(extents[:, 3].max())) + 3, height)
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    for part in parts:
        part.draw_ids(mask, 1, np.array([x0, y0], dtype=float))
    return (mask, x0, y0) if mask.any() else None


def render_people(
    image: np.ndarray, person_ids: np.ndarray, joints3d: np.ndarray, styles, camera: Camera
) -> FrameLabels:
    """Draw people into ``image`` (H, W, 3 uint8 RGB, modified in place) and ``person_ids`` (H, W uint8, modified
    in place: k + 1 where person k is the frontmost surface) and label them.

    ``joints3d`` (P, 17, 3) world metres, NaN rows for people absent from this frame; ``styles`` one per person.
    """
    n_people = len(styles)
    if n_people > 254:
        raise ValueError("at most 254 people per scene (uint8 person-id map)")
    labels = FrameLabels(
        boxes=np.full((n_people, 4), np.nan),
        visibility=np.zeros((n_people, 17), dtype=np.int8),
        visible_fraction=np.full(n_people, np.nan),
    )
    height, width = person_ids.shape
    present = [k for k in range(n_people) if np.isfinite(joints3d[k]).all()]
    hips = [J["left_hip"], J["right_hip"]]
    order = sorted(present, key=lambda k: -camera.depth(joints3d[k, hips].mean(axis=0)))
    silhouettes = {}
    for k in order:
        parts = person_parts(joints3d[k], styles[k], camera)
        for part in parts:
            part.draw(image, styles[k])
        # The id map is composed from each person's silhouette, so boxes, visibility and visible fractions all
        # come from the very same pixels.
        silhouette = _silhouette(parts, width, height)
        if silhouette is not None:
            mask, x0, y0 = silhouette
            person_ids[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]][mask > 0] = k + 1
            silhouettes[k] = silhouette

    for k in order:
        pixels = camera.project(joints3d[k])
        inside = camera.in_image(pixels)
        rows = np.clip(np.rint(pixels[inside, 1]).astype(int), 0, height - 1)
        cols = np.clip(np.rint(pixels[inside, 0]).astype(int), 0, width - 1)
        cover = person_ids[rows, cols]
        labels.visibility[k, inside] = np.where((cover != 0) & (cover != k + 1), 1, 2)
        if k not in silhouettes:
            continue
        mask, x0, y0 = silhouettes[k]
        mask_rows, mask_cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        left, top = x0 + mask_cols[0] - 0.5, y0 + mask_rows[0] - 0.5  # pixel edges: centres are at integers
        labels.boxes[k] = (left, top, mask_cols[-1] - mask_cols[0] + 1, mask_rows[-1] - mask_rows[0] + 1)
        seen = np.count_nonzero(person_ids[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] == k + 1)
        labels.visible_fraction[k] = seen / np.count_nonzero(mask)
    return labels
