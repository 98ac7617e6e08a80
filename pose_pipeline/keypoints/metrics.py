"""Accuracy of 2D keypoints against ground truth: PCK, Euclidean errors and COCO OKS average precision.

Works for any joint set and any number of frames and people, so the top-down stage and the DeepLabCut sweep
share it. Shapes: predictions ``(..., J, 3)`` (x, y, confidence), ground truth ``(..., J, 2)`` (x, y) with the
same leading axes, e.g. ``(frames, J)`` for one subject or ``(frames, people, J)`` for several; prediction
``[..., j]`` is compared with ground truth ``[..., j]``.

Which ground-truth keypoints count ("labelled"): finite coordinates and, when ``visibility`` is given, a
visibility above 0 (COCO 0 = not labelled, 1 = labelled but occluded, 2 = visible; a boolean mask works too:
pass ``visibility == 2`` to score visible keypoints only). NaN ground truth is unlabelled whatever the mask says.
A labelled keypoint whose prediction is NaN is "missing": a failure for PCK, left out of the error averages
(``n_missing`` says how many), and contributing 0 to OKS.

Definitions (d = Euclidean pixel distance between prediction and ground truth of one labelled keypoint):

- PCK at k pixels: share of labelled keypoints with d <= k (missing ones count as failures).
- PCK at a fraction of the box: share with d <= fraction * size, where size is, per instance, max(w, h) of the
  person's box (``boxes``, x y w h: the ground truth's, or the tracked box the keypoints were read in), else the
  given ``box_sizes``, else sqrt(area) of ``areas``, else max(w, h) of the extent of the instance's labelled
  ground-truth keypoints (DeepLabCut labels have no boxes; also used where a box is NaN).
- mean error = mean(d): what DeepLabCut reports as "RMSE"; rmse = sqrt(mean(d**2)), a true root mean square.
  With a ``pcutoff``, both are also computed over the keypoints whose confidence >= pcutoff (``n_pcutoff`` kept).
- OKS (COCO): sum_j exp(-d_j**2 / (2 * area * (2 * sigma_j)**2)) / number of labelled joints, with area the
  ground-truth object area: ``areas`` if given, else w * h of ``boxes``, else (and where those are NaN) w * h of
  the labelled keypoints' extent. Sigmas: ``sigmas`` if given (one number or one per joint), else the joint
  set's published ones (COCO's for COCO-17), else 0.1 for every joint (DeepLabCut's default).
- AP@[.5:.95], AP50, AP75 and AR: pycocotools' ``COCOeval(iouType="keypoints")`` on COCO dictionaries built in
  memory, area range "all", at most ``max_detections`` (COCO: 20) predictions per image.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from pose_pipeline.skeletons import JointSet, get_joint_set

DLC_SIGMA = 0.1  # DeepLabCut's OKS sigma for every bodypart
# A missing predicted joint is put this far away for pycocotools, so it adds exp(-huge) = 0 to the OKS.
_FAR = 1e8


def _joint_set(joint_set) -> JointSet | None:
    if joint_set is None or isinstance(joint_set, JointSet):
        return joint_set
    return get_joint_set(joint_set)


def _flatten(pred, gt, visibility=None):
    """Predictions (N, J, 3), ground truth (N, J, 2), labelled mask (N, J) and the leading shape."""
    pred = np.asarray(pred, dtype=float)
    gt = np.asarray(gt, dtype=float)
    if pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"predictions must be (..., J, 3) x, y, confidence; got shape {pred.shape}")
    if gt.ndim < 2 or gt.shape[-1] < 2:
        raise ValueError(f"ground truth must be (..., J, 2) x, y; got shape {gt.shape}")
    gt = gt[..., :2]
    if pred.shape[:-1] != gt.shape[:-1]:
        raise ValueError(f"predictions {pred.shape} and ground truth {gt.shape} differ in their leading axes")
    lead, n_joints = pred.shape[:-2], pred.shape[-2]
    pred, gt = pred.reshape(-1, n_joints, 3), gt.reshape(-1, n_joints, 2)
    labelled = np.isfinite(gt).all(axis=-1)
    if visibility is not None:
        visibility = np.asarray(visibility)
        if visibility.shape != lead + (n_joints,):
            raise ValueError(f"visibility must have shape {lead + (n_joints,)}, got {visibility.shape}")
        labelled &= visibility.reshape(-1, n_joints) > 0
    return pred, gt, labelled, lead


def _per_instance(values, lead, n, name, width=None):
    """Reshape a per-instance array given with the leading shape (or already flat) to (n,) or (n, width)."""
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    shape = (n,) if width is None else (n, width)
    try:
        return values.reshape(shape)
    except ValueError:
        raise ValueError(f"{name} must have one entry per instance {lead}, got shape {values.shape}") from None


@contextlib.contextmanager
def _quiet_nan_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _keypoint_extent(gt, labelled):
    """(N, 2) width and height of each instance's labelled keypoints (NaN for instances with none)."""
    xy = np.where(labelled[..., None], gt, np.nan)
    with _quiet_nan_warnings():  # all-NaN instances give NaN
        return np.nanmax(xy, axis=1) - np.nanmin(xy, axis=1)


def _box_sizes(gt, labelled, lead, boxes=None, box_sizes=None, areas=None):
    """PCK normaliser per instance and a text naming which one was used (see the module docstring); instances
    whose box, size or area is not finite fall back to their labelled keypoints' extent."""
    n = len(gt)
    extent = _keypoint_extent(gt, labelled).max(axis=1)
    if boxes is not None:
        boxes = _per_instance(boxes, lead, n, "boxes", 4)
        sizes, normaliser = np.maximum(boxes[:, 2], boxes[:, 3]), "max(w, h) of the box"
    elif box_sizes is not None:
        sizes, normaliser = _per_instance(box_sizes, lead, n, "box_sizes"), "given box sizes"
    elif areas is not None:
        sizes, normaliser = np.sqrt(_per_instance(areas, lead, n, "areas")), "sqrt(area)"
    else:
        return extent, "max(w, h) of the labelled keypoints' extent"
    return np.where(np.isfinite(sizes), sizes, extent), normaliser


def _areas(gt, labelled, lead, boxes=None, areas=None):
    """OKS object area per instance (see the module docstring); instances whose area or box is not finite fall
    back to the area of their labelled keypoints' extent."""
    n = len(gt)
    extent = _keypoint_extent(gt, labelled)
    extent_area = extent[:, 0] * extent[:, 1]
    if areas is not None:
        area = _per_instance(areas, lead, n, "areas")
    elif boxes is not None:
        boxes = _per_instance(boxes, lead, n, "boxes", 4)
        area = boxes[:, 2] * boxes[:, 3]
    else:
        return extent_area
    return np.where(np.isfinite(area), area, extent_area)


def resolve_sigmas(n_joints: int, joint_set=None, sigmas=None) -> np.ndarray:
    """Per-joint OKS sigmas: ``sigmas`` (a number or one per joint) if given, else the joint set's published
    sigmas, else DeepLabCut's default of 0.1 for every joint."""
    joint_set = _joint_set(joint_set)
    if sigmas is None:
        sigmas = joint_set.sigmas if joint_set is not None and joint_set.sigmas is not None else DLC_SIGMA
    sigmas = np.broadcast_to(np.asarray(sigmas, dtype=float), (n_joints,)).copy()
    if not np.all(sigmas > 0):
        raise ValueError("OKS sigmas must be positive")
    return sigmas


def keypoint_distances(pred, gt, visibility=None) -> np.ndarray:
    """Euclidean pixel distances (..., J) between predictions and labelled ground truth; NaN where the ground
    truth is unlabelled or the prediction missing."""
    flat_pred, flat_gt, labelled, lead = _flatten(pred, gt, visibility)
    distance = np.linalg.norm(flat_pred[..., :2] - flat_gt, axis=-1)
    distance[~labelled] = np.nan
    return distance.reshape(lead + (flat_gt.shape[1],))


def _pck(distance, labelled, thresholds):
    """Per-joint and overall PCK; thresholds broadcast against distance (N, J)."""
    with np.errstate(invalid="ignore"):
        correct = labelled & (distance <= thresholds)  # NaN distances (missing predictions) compare False
    per_joint_n = labelled.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = correct.sum(axis=0) / per_joint_n
    total = labelled.sum()
    overall = correct.sum() / total if total else np.nan
    return float(overall), per_joint


def pck(pred, gt, visibility=None, *, pixels=None, fraction=None, boxes=None, box_sizes=None, areas=None) -> dict:
    """Percentage (as a share in [0, 1]) of correct keypoints, per joint and overall.

    Give either ``pixels`` (correct: within that many pixels) or ``fraction`` (correct: within ``fraction`` x
    the instance size; the size is max(w, h) of ``boxes``, else ``box_sizes``, else sqrt(``areas``), else the
    labelled keypoints' extent). Overall PCK pools all labelled keypoints (not a mean of the per-joint values).
    Returns ``{"pck", "per_joint" (J,), "n_labelled", "normaliser"}``.
    """
    if (pixels is None) == (fraction is None):
        raise ValueError("give exactly one of pixels and fraction")
    flat_pred, flat_gt, labelled, lead = _flatten(pred, gt, visibility)
    distance = np.linalg.norm(flat_pred[..., :2] - flat_gt, axis=-1)
    if pixels is not None:
        thresholds, normaliser = np.asarray(float(pixels)), "pixels"
    else:
        sizes, normaliser = _box_sizes(flat_gt, labelled, lead, boxes, box_sizes, areas)
        thresholds = float(fraction) * sizes[:, None]
    overall, per_joint = _pck(distance, labelled, thresholds)
    return {"pck": overall, "per_joint": per_joint, "n_labelled": int(labelled.sum()), "normaliser": normaliser}


def _error_stats(distance, mask):
    """Mean error, root-mean-square error and count, overall and per joint, over distance[mask]."""
    d = np.where(mask, distance, np.nan)
    n_joint = mask.sum(axis=0)
    with _quiet_nan_warnings():
        per_mean = np.nanmean(d, axis=0)
        per_rmse = np.sqrt(np.nanmean(d**2, axis=0))
    values = distance[mask]
    overall_mean = float(values.mean()) if values.size else np.nan
    overall_rmse = float(np.sqrt(np.mean(values**2))) if values.size else np.nan
    return overall_mean, overall_rmse, int(values.size), per_mean, per_rmse, n_joint


def keypoint_errors(pred, gt, visibility=None, *, pcutoff: float | None = None) -> dict:
    """Euclidean pixel errors of the labelled keypoints that have a prediction, per joint and overall.

    ``mean_error`` = mean(d) (DeepLabCut's "RMSE"), ``rmse`` = sqrt(mean(d**2)). With ``pcutoff``, the same
    over predictions with confidence >= pcutoff (``mean_error_pcutoff``, ``rmse_pcutoff``, ``n_pcutoff``).
    Per-joint arrays are in ``per_joint``.
    """
    flat_pred, flat_gt, labelled, _ = _flatten(pred, gt, visibility)
    distance = np.linalg.norm(flat_pred[..., :2] - flat_gt, axis=-1)
    evaluable = labelled & np.isfinite(distance)
    mean, rmse, n, per_mean, per_rmse, per_n = _error_stats(distance, evaluable)
    result = {
        "mean_error": mean,
        "rmse": rmse,
        "n_errors": n,
        "n_labelled": int(labelled.sum()),
        "n_missing": int((labelled & ~np.isfinite(distance)).sum()),
        "per_joint": {"mean_error": per_mean, "rmse": per_rmse, "n_errors": per_n},
    }
    if pcutoff is not None:
        with np.errstate(invalid="ignore"):
            kept = evaluable & (flat_pred[..., 2] >= pcutoff)
        mean, rmse, n, per_mean, per_rmse, per_n = _error_stats(distance, kept)
        result.update(pcutoff=float(pcutoff), mean_error_pcutoff=mean, rmse_pcutoff=rmse, n_pcutoff=n)
        result["per_joint"].update(mean_error_pcutoff=per_mean, rmse_pcutoff=per_rmse, n_pcutoff=per_n)
    return result


def oks(pred, gt, visibility=None, *, areas=None, boxes=None, sigmas=None, joint_set=None) -> np.ndarray:
    """Object keypoint similarity of each prediction with its own ground-truth instance, shape (...,).

    COCO's formula (see the module docstring); a missing predicted joint contributes 0; NaN for instances
    without labelled keypoints.
    """
    flat_pred, flat_gt, labelled, lead = _flatten(pred, gt, visibility)
    var = (2 * resolve_sigmas(flat_gt.shape[1], joint_set, sigmas)) ** 2
    area = _areas(flat_gt, labelled, lead, boxes, areas)
    d2 = np.sum((flat_pred[..., :2] - flat_gt) ** 2, axis=-1)
    with np.errstate(invalid="ignore", over="ignore"):
        similarity = np.exp(-d2 / var / (area[:, None] + np.spacing(1)) / 2)
    similarity = np.where(labelled & np.isfinite(similarity), similarity, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = similarity.sum(axis=1) / labelled.sum(axis=1)
    return value.reshape(lead)


def coco_keypoint_ap(
    gt_keypoints,
    gt_image_ids,
    pred_keypoints,
    pred_image_ids,
    *,
    gt_visibility=None,
    gt_areas=None,
    gt_boxes=None,
    pred_scores=None,
    sigmas=None,
    joint_set=None,
    max_detections: int = 20,
) -> dict:
    """COCO keypoint AP/AR with pycocotools for unpaired instances: any number of ground-truth and predicted
    people per image, matched by OKS the COCO way (false positives and misses count).

    ``gt_keypoints`` (G, J, 2) with ``gt_image_ids`` (G,); ``pred_keypoints`` (D, J, 3) with ``pred_image_ids``
    (D,). ``gt_visibility`` (G, J) COCO 0/1/2 or boolean; NaN = unlabelled. Object areas: ``gt_areas`` (G,), else
    w * h of ``gt_boxes`` (G, 4), else the labelled keypoints' extent. Detection scores: ``pred_scores`` (D,),
    else the mean confidence of each prediction's finite keypoints. Ground-truth instances without a labelled
    keypoint are dropped (COCO would ignore them); predictions with no finite keypoint are dropped (none made).

    Returns ``{"AP", "AP50", "AP75", "AR", "AR50", "AR75", "n_gt", "n_pred"}``; AP and AR are NaN without
    ground truth.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_keypoints = np.asarray(gt_keypoints, dtype=float).reshape(-1, *np.shape(gt_keypoints)[-2:])[..., :2]
    n_joints = gt_keypoints.shape[1]
    pred_keypoints = np.asarray(pred_keypoints, dtype=float).reshape(-1, n_joints, 3)
    gt_image_ids = np.asarray(gt_image_ids).reshape(-1)
    pred_image_ids = np.asarray(pred_image_ids).reshape(-1)
    if len(gt_image_ids) != len(gt_keypoints) or len(pred_image_ids) != len(pred_keypoints):
        raise ValueError("need one image id per ground-truth and per predicted instance")

    labelled = np.isfinite(gt_keypoints).all(axis=-1)
    if gt_visibility is not None:
        gt_visibility = np.asarray(gt_visibility).reshape(labelled.shape)
        labelled &= gt_visibility > 0
        coco_v = np.where(gt_visibility.dtype == bool, 2, gt_visibility).astype(int)
        coco_v = np.where(labelled, np.clip(coco_v, 1, 2), 0)
    else:
        coco_v = np.where(labelled, 2, 0)
    lead = (len(gt_keypoints),)
    areas = _areas(gt_keypoints, labelled, lead, gt_boxes, gt_areas)
    if gt_boxes is not None:
        boxes = _per_instance(gt_boxes, lead, len(gt_keypoints), "gt_boxes", 4)
    else:
        with _quiet_nan_warnings():
            corner = np.nanmin(np.where(labelled[..., None], gt_keypoints, np.nan), axis=1)
        boxes = np.column_stack([corner, _keypoint_extent(gt_keypoints, labelled)])
    sigma = resolve_sigmas(n_joints, joint_set, sigmas)

    # pycocotools wants hashable ids; images are numbered by their position in the sorted unique ids.
    image_index = {
        image: i + 1 for i, image in enumerate(sorted(set(gt_image_ids.tolist()) | set(pred_image_ids.tolist())))
    }
    images = [{"id": i} for i in image_index.values()]
    categories = [{"id": 1, "name": "instance", "keypoints": [str(j) for j in range(n_joints)]}]

    gt_annotations = []
    for g in np.flatnonzero(labelled.any(axis=1)):
        if not (np.isfinite(areas[g]) and areas[g] >= 0):
            raise ValueError(f"ground-truth instance {g} has no finite area (give gt_areas or gt_boxes)")
        xy = np.where(labelled[g, :, None], gt_keypoints[g], 0.0)
        gt_annotations.append(
            {
                "id": len(gt_annotations) + 1,
                "image_id": image_index[gt_image_ids[g].item()],
                "category_id": 1,
                "keypoints": np.column_stack([xy, coco_v[g]]).ravel().tolist(),
                "num_keypoints": int(labelled[g].sum()),
                "area": float(areas[g]),
                "bbox": np.nan_to_num(boxes[g]).tolist(),
                "iscrowd": 0,
            }
        )

    finite = np.isfinite(pred_keypoints[..., :2]).all(axis=-1)
    if pred_scores is None:
        confidence = np.where(finite, pred_keypoints[..., 2], np.nan)
        with _quiet_nan_warnings():
            pred_scores = np.nan_to_num(np.nanmean(confidence, axis=1), nan=0.0)
    pred_scores = np.asarray(pred_scores, dtype=float).reshape(-1)
    if len(pred_scores) != len(pred_keypoints):
        raise ValueError(f"{len(pred_scores)} scores for {len(pred_keypoints)} predictions")
    pred_annotations = []
    for d in np.flatnonzero(finite.any(axis=1)):
        xy = pred_keypoints[d, :, :2]
        x0, y0 = xy[finite[d]].min(axis=0)
        x1, y1 = xy[finite[d]].max(axis=0)
        xy = np.where(finite[d, :, None], xy, _FAR)
        pred_annotations.append(
            {
                "id": len(pred_annotations) + 1,
                "image_id": image_index[pred_image_ids[d].item()],
                "category_id": 1,
                "keypoints": np.column_stack([xy, np.ones(n_joints)]).ravel().tolist(),
                "score": float(pred_scores[d]),
                # as pycocotools' loadRes sets them, from the finite keypoints only
                "area": float((x1 - x0) * (y1 - y0)),
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "iscrowd": 0,
            }
        )

    result = {"n_gt": len(gt_annotations), "n_pred": len(pred_annotations)}
    nan = {key: np.nan for key in ("AP", "AP50", "AP75", "AR", "AR50", "AR75")}
    if not gt_annotations:
        return {**nan, **result}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "categories": categories, "annotations": gt_annotations}
        coco_gt.createIndex()
        coco_dt = COCO()
        coco_dt.dataset = {"images": images, "categories": categories, "annotations": pred_annotations}
        coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = sigma
        evaluator.params.maxDets = [int(max_detections)]
        evaluator.params.areaRng = [[0, 1e5**2]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][:, :, 0, 0, 0]  # thresholds x recall points
    recall = evaluator.eval["recall"][:, 0, 0, 0]
    thresholds = evaluator.params.iouThrs

    def mean_valid(values):
        values = values[values > -1]
        return float(values.mean()) if values.size else np.nan

    at = {t: int(np.flatnonzero(np.isclose(thresholds, t))[0]) for t in (0.5, 0.75)}
    return {
        "AP": mean_valid(precision),
        "AP50": mean_valid(precision[at[0.5]]),
        "AP75": mean_valid(precision[at[0.75]]),
        "AR": mean_valid(recall),
        "AR50": mean_valid(recall[at[0.5] : at[0.5] + 1]),
        "AR75": mean_valid(recall[at[0.75] : at[0.75] + 1]),
        **result,
    }


def keypoint_accuracy(
    pred,
    gt,
    visibility=None,
    *,
    joint_set=None,
    boxes=None,
    box_sizes=None,
    areas=None,
    sigmas=None,
    pck_pixels: float = 5.0,
    pck_fraction: float = 0.1,
    pcutoff: float | None = None,
    image_ids=None,
    max_detections: int = 20,
) -> dict:
    """Every accuracy measure of paired predictions (..., J, 3) against ground truth (..., J, 2).

    Keys: ``pck_px`` (at ``pck_pixels``), ``pck_box`` (at ``pck_fraction`` x box size; ``pck_box_normaliser``
    says which size), ``mean_error`` (DeepLabCut's "RMSE"), ``rmse``, with a ``pcutoff`` also
    ``mean_error_pcutoff``, ``rmse_pcutoff`` and ``n_pcutoff``; ``mean_oks`` and the pycocotools ``AP``,
    ``AP50``, ``AP75``, ``AR``; counts ``n_instances`` (with a labelled keypoint), ``n_labelled``, ``n_missing``,
    ``n_errors``; ``joints`` (names, or "0", "1", ... without a joint set) and ``per_joint`` (a dict of (J,)
    arrays; ``per_joint_table`` turns it into a DataFrame).

    For AP each instance is matched by COCOeval within its image: with ``image_ids`` (one per instance), else
    the first axis of a 4-D ``(frames, people, J, 3)`` input (a frame is an image), else one image per instance.
    Pairs whose ground truth has no labelled keypoint are left out of every measure (AP included): this scores
    localisation of paired predictions; count false positive people with ``coco_keypoint_ap`` directly.
    """
    joint_set = _joint_set(joint_set)
    flat_pred, flat_gt, labelled, lead = _flatten(pred, gt, visibility)
    n, n_joints = flat_gt.shape[:2]
    if joint_set is not None and len(joint_set) != n_joints:
        raise ValueError(f"joint set {joint_set.name!r} has {len(joint_set)} joints, the keypoints {n_joints}")
    joints = tuple(joint_set.joints) if joint_set is not None else tuple(str(j) for j in range(n_joints))
    flat_visibility = None if visibility is None else np.asarray(visibility).reshape(n, n_joints)

    distance = np.linalg.norm(flat_pred[..., :2] - flat_gt, axis=-1)
    pck_px, pck_px_joint = _pck(distance, labelled, float(pck_pixels))
    sizes, normaliser = _box_sizes(flat_gt, labelled, lead, boxes, box_sizes, areas)
    pck_box, pck_box_joint = _pck(distance, labelled, float(pck_fraction) * sizes[:, None])
    errors = keypoint_errors(flat_pred, flat_gt, flat_visibility, pcutoff=pcutoff)
    area = _areas(flat_gt, labelled, lead, boxes, areas)
    similarity = oks(flat_pred, flat_gt, flat_visibility, areas=area, sigmas=sigmas, joint_set=joint_set)

    if image_ids is not None:
        images = np.asarray(image_ids).reshape(-1)
        if len(images) != n:
            raise ValueError(f"image_ids needs one entry per instance ({n}), got {len(images)}")
    elif len(lead) == 2:
        images = np.repeat(np.arange(lead[0]), lead[1])
    else:
        images = np.arange(n)
    keep = labelled.any(axis=1)
    ap = coco_keypoint_ap(
        flat_gt[keep],
        images[keep],
        flat_pred[keep],
        images[keep],
        gt_visibility=labelled[keep],
        gt_areas=area[keep],
        sigmas=resolve_sigmas(n_joints, joint_set, sigmas),
        max_detections=max_detections,
    )

    result = {
        "n_instances": int(keep.sum()),
        "n_labelled": errors["n_labelled"],
        "n_missing": errors["n_missing"],
        "n_errors": errors["n_errors"],
        "pck_px": pck_px,
        "pck_pixels": float(pck_pixels),
        "pck_box": pck_box,
        "pck_fraction": float(pck_fraction),
        "pck_box_normaliser": normaliser,
        "mean_error": errors["mean_error"],
        "rmse": errors["rmse"],
        "mean_oks": float(np.nanmean(similarity)) if keep.any() else np.nan,
        **{key: ap[key] for key in ("AP", "AP50", "AP75", "AR")},
        "joints": joints,
    }
    per_joint = {
        "n_labelled": labelled.sum(axis=0),
        "pck_px": pck_px_joint,
        "pck_box": pck_box_joint,
        **errors["per_joint"],
    }
    if pcutoff is not None:
        result.update({key: errors[key] for key in ("pcutoff", "mean_error_pcutoff", "rmse_pcutoff", "n_pcutoff")})
    result["per_joint"] = per_joint
    return result


def per_joint_table(accuracy: dict):
    """The per-joint measures of a ``keypoint_accuracy`` result as a ``pandas.DataFrame`` indexed by joint,
    with an ``all`` row holding the overall values."""
    import pandas as pd

    table = pd.DataFrame(accuracy["per_joint"], index=pd.Index(accuracy["joints"], name="joint"))
    overall = {
        "n_labelled": accuracy["n_labelled"],
        "pck_px": accuracy["pck_px"],
        "pck_box": accuracy["pck_box"],
        "mean_error": accuracy["mean_error"],
        "rmse": accuracy["rmse"],
        "n_errors": accuracy["n_errors"],
    }
    if "pcutoff" in accuracy:
        overall.update(
            mean_error_pcutoff=accuracy["mean_error_pcutoff"],
            rmse_pcutoff=accuracy["rmse_pcutoff"],
            n_pcutoff=accuracy["n_pcutoff"],
        )
    table.loc["all"] = pd.Series(overall)
    return table
