"""Brightness and contrast augmentation, which DeepLabCut 3's augmentation config lacks.

DeepLabCut 3.0.2's ``data.train`` keys cover affine, crops, noise, blur, flips, histogram equalisation and
covering, but not contrast. `brightness_contrast` wraps its ``build_transforms`` while a training runs so that
training transforms (those with ``affine`` or ``crop_sampling``) also get albumentations'
``RandomBrightnessContrast`` before normalisation; inference transforms are left alone.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def brightness_contrast(limit: float, p: float = 0.5):
    """Within the block, DeepLabCut training adds ``RandomBrightnessContrast(limit, limit, p)``; 0 adds nothing."""
    if not limit:
        yield
        return
    import albumentations as A
    from deeplabcut.pose_estimation_pytorch.apis import training

    original = training.build_transforms

    def build_transforms(augmentations: dict):
        compose = original(augmentations)
        if augmentations.get("affine") is None and not augmentations.get("crop_sampling"):
            return compose  # an inference transform
        transforms = list(compose.transforms)
        at = next((i for i, t in enumerate(transforms) if isinstance(t, A.Normalize)), len(transforms))
        transforms.insert(at, A.RandomBrightnessContrast(brightness_limit=limit, contrast_limit=limit, p=p))
        return A.Compose(transforms, keypoint_params=compose.processors["keypoints"].params,
                         bbox_params=compose.processors["bboxes"].params)  # fmt: skip

    training.build_transforms = build_transforms
    try:
        yield
    finally:
        training.build_transforms = original
