"""COCO keypoint JSON: ``images`` (one per video frame), ``annotations`` (the subject's keypoints in each frame
that has any) and ``categories`` (the joint set's names and its 1-based skeleton), as pycocotools reads it.

Keypoints are moved to COCO's pixel-centre origin (x - 0.5, y - 0.5; `pose_pipeline.export.result`); boxes keep
the corner origin (a box is an area: COCO's ``[x, y, w, h]`` spans pixel edges). Each keypoint is ``x, y, v``
with v = 2 (predicted, treated as visible) or 0 with x = y = 0 where the result has none; the confidences go in
``keypoint_scores`` and their mean in ``score``, so the same annotations serve as results (``COCO.loadRes``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .result import Result2D, from_pixel_centre, to_pixel_centre


def coco_dict(result: Result2D, category_id: int = 1, first_image_id: int = 1, category_name: str = "person") -> dict:
    """The result as a COCO keypoint dataset (a dict ready for ``json.dump``); ``category_name`` names what the
    subject is (``"mouse"`` for an animal's joint set)."""
    result.check()
    keypoints = result.keypoints.keypoints.astype(float)
    xy = to_pixel_centre(keypoints[..., :2])
    stem = Path(result.video_path).stem or "frame"
    images, annotations = [], []
    for index in range(len(keypoints)):
        image_id = first_image_id + index
        image = {"id": image_id, "file_name": f"{stem}_{index:06d}.png", "frame_index": index,
                 "timestamp": float(result.timestamps[index])}  # fmt: skip
        if result.width and result.height:
            image.update(width=int(result.width), height=int(result.height))
        images.append(image)
        found = np.all(np.isfinite(xy[index]), axis=1)
        if not found.any():
            continue
        flat = np.zeros((len(found), 3))
        flat[found, :2], flat[found, 2] = xy[index, found], 2
        confidence = np.where(found & np.isfinite(keypoints[index, :, 2]), keypoints[index, :, 2], 0.0)
        box = _box(result, index, xy[index, found])
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": category_id,
                "keypoints": [round(float(v), 4) for v in flat.ravel()],
                "num_keypoints": int(found.sum()),
                "bbox": [round(float(v), 4) for v in box],
                "area": float(box[2] * box[3]),
                "iscrowd": 0,
                "score": float(confidence[found].mean()),
                "keypoint_scores": [round(float(c), 6) for c in confidence],
                "track_id": int(result.subject) if str(result.subject).lstrip("-").isdigit() else 0,
            }
        )
    joint_set = result.joint_set
    category = {
        "id": category_id,
        "name": category_name,
        "supercategory": category_name,
        "keypoints": list(joint_set.joints),
        "skeleton": [[a + 1, b + 1] for a, b in joint_set.bones],
    }
    info = {"description": result.description(), "video": result.video_path, "joint_set": joint_set.name,
            "pixel_origin": "centre of the top-left pixel (keypoints); boxes span pixel edges"}  # fmt: skip
    return {"info": info, "images": images, "annotations": annotations, "categories": [category]}


def _box(result: Result2D, index: int, xy: np.ndarray) -> np.ndarray:
    """The subject's tracked box where there is one, else the keypoints' extent."""
    if result.boxes is not None and np.all(np.isfinite(result.boxes[index])):
        return np.asarray(result.boxes[index], dtype=float)
    low, high = from_pixel_centre(xy.min(axis=0)), from_pixel_centre(xy.max(axis=0))
    return np.array([low[0], low[1], max(high[0] - low[0], 1.0), max(high[1] - low[1], 1.0)])


def write_coco(result: Result2D, path, **options) -> Path:
    """Write the result as COCO keypoint JSON (`coco_dict`); returns the path."""
    path = Path(path)
    result.check(path)
    path.write_text(json.dumps(coco_dict(result, **options)))
    return path
