"""Every backbone of the backbone study builds in DeepLabCut 3 and maps an image to one heatmap per bodypart."""

from __future__ import annotations

import pytest

from pose_pipeline.dlc.backbones import BACKBONES

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(BACKBONES))
def test_backbone_builds_and_runs(name, tmp_path):
    import torch
    from deeplabcut.pose_estimation_pytorch.config import PoseConfig
    from deeplabcut.pose_estimation_pytorch.models import PoseModel

    from pose_pipeline.dlc.backbones import apply_backbone, make_weight_init_file
    from pose_pipeline.dlc.engine import require_deeplabcut
    from pose_pipeline.dlc.project import write_dlc_project
    from tests.test_dlc_data import reaching_frames

    require_deeplabcut()
    frames = reaching_frames(4)
    config = write_dlc_project(frames, tmp_path / "project")
    spec = BACKBONES[name]
    base = PoseConfig.build(str(config), tmp_path / "pytorch_config.yaml", net_type=spec.net_type, top_down=False,
                            save=False).to_dict()  # fmt: skip
    cfg = apply_backbone(base, spec)
    init = make_weight_init_file(cfg, tmp_path / "init.pt", seed=0)
    model = PoseModel.build(cfg["model"], pretrained_backbone=False)
    state = torch.load(init["weight_init"]["snapshot_path"], weights_only=True)["model"]
    model.load_state_dict(state)  # the initial-weights file matches the model exactly
    with torch.no_grad():
        heatmaps = model(torch.zeros(1, 3, 64, 64))["bodypart"]["heatmap"]
    assert heatmaps.shape[:2] == (1, len(frames.bodyparts))
    if spec.timm_model:
        assert cfg["model"]["backbone"]["model_name"] == spec.timm_model
    for key, value in spec.backbone.items():
        assert cfg["model"]["backbone"][key] == value
