"""The nine backbones of the backbone study as DeepLabCut 3 model configurations, and explicit weight initialisation.

DeepLabCut 3.0.2 has ResNet-50/101 and DLCRNet natively; ResNet-152 is its ResNet config with another timm model;
MobileNetV2 and EfficientNet-B0/B3 come from timm through ``TimmFeatureBackbone``, registered into DeepLabCut's
backbone registry here (it must be registered in every process that rebuilds such a model: training, evaluation
and inference all read ``pytorch_config.yaml``; `pose_pipeline.dlc.engine.require_deeplabcut` does it).
Where a model cannot equal the DeepLabCut 2.x (TensorFlow) original, its description says so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from ..video.probe import file_sha256


@dataclass(frozen=True)
class BackboneSpec:
    """How one backbone is built in DeepLabCut 3: a net type, then edits of its model config."""

    name: str
    net_type: str  # DeepLabCut 3 net type whose config is the starting point
    description: str
    backbone: dict = field(default_factory=dict)  # keys replaced in model.backbone
    timm_model: str | None = None  # use TimmFeatureBackbone with this timm model instead of the net type's backbone
    output_channels: int | None = None  # model.backbone_output_channels, when the edit changes it


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "resnet_50",
            "resnet_50",
            "ResNet-50, DeepLabCut 3's default: timm resnet50_gn (GroupNorm), output stride 16, heatmap + locref head. "
            "DLC 2.x used a BatchNorm ResNet-50 with TF-slim ImageNet weights: not the same network.",
        ),
        BackboneSpec(
            "resnet_101",
            "resnet_101",
            "ResNet-101 (timm resnet101, BatchNorm), output stride 16, DeepLabCut 3's native config.",
        ),
        BackboneSpec(
            "resnet_152",
            "resnet_101",
            "ResNet-152: DeepLabCut 3's ResNet-101 config with timm resnet152 (DLC 3 has no resnet_152 net type).",
            backbone={"model_name": "resnet152"},
        ),
        BackboneSpec(
            "mobilenet_v2_1.0",
            "resnet_50",
            "MobileNetV2 (width 1.0): timm mobilenetv2_100, last feature map at stride 16, DeepLabCut's heatmap head. "
            "Not in DLC 3; DLC 2.x's TF MobileNetV2 had its own decoder, so results are not directly comparable.",
            timm_model="mobilenetv2_100",
        ),
        BackboneSpec(
            "efficientnet_b0",
            "resnet_50",
            "EfficientNet-B0: timm efficientnet_b0, stride 16, DeepLabCut's heatmap head. Not in DLC 3; "
            "DLC 2.x's TF EfficientNet differs (decoder, ImageNet weights).",
            timm_model="efficientnet_b0",
        ),
        BackboneSpec(
            "efficientnet_b3",
            "resnet_50",
            "EfficientNet-B3: timm efficientnet_b3, stride 16, DeepLabCut's heatmap head. Not in DLC 3; "
            "DLC 2.x's TF EfficientNet differs (decoder, ImageNet weights).",
            timm_model="efficientnet_b3",
        ),
        BackboneSpec(
            "dlcrnet_ms5",
            "resnet_50",
            "DLCRNet_ms5: DeepLabCut 3's multi-scale DLCRNet backbone (ResNet-50, stride 16) with a heatmap head. "
            "DLC 3 keeps dlcrnet_ms5 only as an alias of dlcrnet_stride16_ms5, so the two train the same network; "
            "its PAF head needs a multi-animal project, so single-animal sweeps use the heatmap head.",
            backbone={"type": "DLCRNet", "model_name": "resnet50", "output_stride": 16},
            output_channels=2304,
        ),
        BackboneSpec(
            "dlcrnet_stride16_ms5",
            "resnet_50",
            "DLCRNet_stride16_ms5: DLCRNet backbone (ResNet-50, output stride 16) with a heatmap head instead of "
            "the PAF head (which needs a multi-animal project).",
            backbone={"type": "DLCRNet", "model_name": "resnet50", "output_stride": 16},
            output_channels=2304,
        ),
        BackboneSpec(
            "dlcrnet_stride32_ms5",
            "resnet_50",
            "DLCRNet_stride32_ms5: DLCRNet backbone (ResNet-50, output stride 32) with a heatmap head instead of "
            "the PAF head (which needs a multi-animal project).",
            backbone={"type": "DLCRNet", "model_name": "resnet50", "output_stride": 32},
            output_channels=2304,
        ),
    )
}


def get_backbone(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}") from None


def register_timm_backbone() -> None:
    """Register ``TimmFeatureBackbone`` in DeepLabCut's backbone registry (idempotent)."""
    import timm
    from deeplabcut.pose_estimation_pytorch.models.backbones.base import BACKBONES as DLC_BACKBONES
    from deeplabcut.pose_estimation_pytorch.models.backbones.base import BaseBackbone

    if "TimmFeatureBackbone" in DLC_BACKBONES:
        return

    class TimmFeatureBackbone(BaseBackbone):
        """The last feature map of any timm model (``features_only``) at ``output_stride`` 8, 16 or 32."""

        def __init__(self, model_name: str, output_stride: int = 16, pretrained: bool = False, **kwargs) -> None:
            super().__init__(stride=output_stride, **kwargs)
            if pretrained:
                raise ValueError("TimmFeatureBackbone never downloads weights: give a weight_init file")
            self.model = timm.create_model(
                model_name, pretrained=False, features_only=True, out_indices=(-1,), output_stride=output_stride
            )

        def forward(self, x):
            return self.model(x)[-1]

    DLC_BACKBONES.register_module(module=TimmFeatureBackbone)


def _timm_channels(model_name: str) -> int:
    import timm

    model = timm.create_model(model_name, pretrained=False, features_only=True, out_indices=(-1,))
    return model.feature_info.channels()[-1]


def apply_backbone(model_cfg: dict, spec: BackboneSpec) -> dict:
    """Return a copy of a DeepLabCut pose config (the ``pytorch_config.yaml`` dict) with ``spec``'s backbone."""
    cfg = copy.deepcopy(model_cfg)
    model = cfg["model"]
    if spec.timm_model:
        model["backbone"] = {"type": "TimmFeatureBackbone", "model_name": spec.timm_model, "output_stride": 16,
                             "freeze_bn_stats": False, "freeze_bn_weights": False}  # fmt: skip
        channels = _timm_channels(spec.timm_model)
    else:
        model["backbone"].update(spec.backbone)
        channels = spec.output_channels or model["backbone_output_channels"]
    model["backbone_output_channels"] = channels
    for head in model["heads"].values():  # the first layer of every head reads the backbone's channels
        for key, sub in head.items():
            if key.endswith("_config") and isinstance(sub, dict) and "channels" in sub:
                sub["channels"][0] = channels
    return cfg


def make_weight_init_file(model_cfg: dict, out: Path, seed: int, imagenet_file: Path | None = None) -> dict:
    """Write the initial weights of the model ``model_cfg`` describes and return DeepLabCut's ``weight_init`` entry
    with the file's provenance.

    The backbone is random (``torch.manual_seed(seed)``: training "from scratch") or loaded from a local timm
    checkpoint (``.safetensors`` or ``.pth``, the ImageNet weights a user downloaded elsewhere; listed in
    docs/deeplabcut.md). DeepLabCut loads ``backbone.*`` from this file strictly; heads keep their own seeded
    initialisation. Nothing is ever fetched from a hub.
    """
    import torch
    from deeplabcut.pose_estimation_pytorch.models import PoseModel

    torch.manual_seed(seed)
    model = PoseModel.build(copy.deepcopy(model_cfg["model"]), weight_init=None, pretrained_backbone=False)
    source = f"random (torch.manual_seed({seed}))"
    if imagenet_file is not None:
        imagenet_file = Path(imagenet_file)
        if imagenet_file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(imagenet_file))
        else:
            state = torch.load(imagenet_file, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state.get("model", state))
        target = model.backbone.model  # the timm model inside DeepLabCut's backbone wrapper
        wanted = set(target.state_dict())
        state = {k: v for k, v in state.items() if k in wanted}  # drops the ImageNet classifier
        missing = wanted - set(state)
        if missing:
            raise ValueError(f"{imagenet_file} lacks {len(missing)} backbone tensors, e.g. {sorted(missing)[:5]}")
        target.load_state_dict(state, strict=True)
        source = f"ImageNet checkpoint {imagenet_file.name}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "metadata": {"source": source, "seed": seed}}, out)
    return {
        "weight_init": {"snapshot_path": str(out), "with_decoder": False, "memory_replay": False},
        "source": source,
        "sha256": file_sha256(out),
    }
