"""Self-made stand-ins for the research repositories the lifter export reads (tests only).

Each function writes a folder laid out like the user's checkout (namespace packages, no ``__init__.py``, as in the
real repositories), whose class has the real one's name, constructor signature, parameter names (those the export
reads hyper-parameters from) and input/output shapes, but small and written here; and saves a checkpoint of a
randomly initialised instance in the real one's layout. The export then imports the class from the folder by path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIDEOPOSE3D_MODEL = '''
import torch.nn as nn


class TemporalModel(nn.Module):
    """[N, T, J, F] -> [N, T - receptive_field + 1, J_out, 3]: dilated temporal convolutions over the window."""

    def __init__(self, num_joints_in, in_features, num_joints_out, filter_widths, causal=False, dropout=0.25,
                 channels=1024, dense=False):
        super().__init__()
        assert not causal and not dense
        self.num_joints_out = num_joints_out
        self.expand_conv = nn.Conv1d(num_joints_in * in_features, channels, filter_widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels)
        convs, bns, self.pad, dilation = [], [], [filter_widths[0] // 2], filter_widths[0]
        for width in filter_widths[1:]:
            self.pad.append((width - 1) * dilation // 2)
            convs += [nn.Conv1d(channels, channels, width, dilation=dilation, bias=False),
                      nn.Conv1d(channels, channels, 1, bias=False)]
            bns += [nn.BatchNorm1d(channels), nn.BatchNorm1d(channels)]
            dilation *= width
        self.layers_conv, self.layers_bn = nn.ModuleList(convs), nn.ModuleList(bns)
        self.shrink = nn.Conv1d(channels, num_joints_out * 3, 1)

    def receptive_field(self):
        return 1 + 2 * sum(self.pad)

    def forward(self, x):
        n = x.shape[0]
        x = x.flatten(2).transpose(1, 2)
        x = self.expand_bn(self.expand_conv(x)).relu()
        for i, pad in enumerate(self.pad[1:]):
            residual = x[:, :, pad : x.shape[2] - pad]
            x = self.layers_bn[2 * i](self.layers_conv[2 * i](x)).relu()
            x = residual + self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x)).relu()
        return self.shrink(x).transpose(1, 2).reshape(n, -1, self.num_joints_out, 3)
'''

GASTNET_MODEL = '''
import torch
import torch.nn as nn


class SpatioTemporalModel(nn.Module):
    """[N, T, J, F] -> [N, T - receptive_field + 1, J, 3]: temporal convolutions, joints mixed along the graph."""

    def __init__(self, adj, num_joints_in, in_features, num_joints_out, filter_widths, causal=False, dropout=0.25,
                 channels=64, dense=False):
        super().__init__()
        self.adj = adj  # a plain attribute, not in the state dict (as GAST-Net's graph layers keep it)
        self.init_bn = nn.BatchNorm2d(in_features)
        self.expand_conv = nn.Conv2d(in_features, channels, (filter_widths[0], 1), bias=False)
        self.expand_bn = nn.BatchNorm2d(channels)
        convs, self.pad, dilation = [], [filter_widths[0] // 2], filter_widths[0]
        for width in filter_widths[1:]:
            self.pad.append((width - 1) * dilation // 2)
            convs += [nn.Conv2d(channels, channels, (width, 1), dilation=(dilation, 1), bias=False),
                      nn.Conv2d(channels, channels, 1, bias=False)]
            dilation *= width
        self.layers_conv = nn.ModuleList(convs)
        self.shrink = nn.Conv2d(channels, 3, 1, bias=False)

    def receptive_field(self):
        return 1 + 2 * sum(self.pad)

    def forward(self, x):
        x = self.init_bn(x.permute(0, 3, 1, 2))
        x = torch.matmul(self.expand_bn(self.expand_conv(x)).relu(), self.adj)
        for i, pad in enumerate(self.pad[1:]):
            residual = x[:, :, pad : x.shape[2] - pad]
            x = residual + self.layers_conv[2 * i + 1](self.layers_conv[2 * i](x).relu()).relu()
        return self.shrink(x).permute(0, 2, 3, 1)
'''

GASTNET_SKELETON = """
class Skeleton:
    def __init__(self, parents, joints_left, joints_right):
        assert len(joints_left) == len(joints_right)
        self._parents = parents

    def num_joints(self):
        return len(self._parents)

    def parents(self):
        return self._parents
"""

GASTNET_GRAPH = '''
import torch


def adj_mx_from_skeleton(skeleton):
    """Row-normalised adjacency with self-loops, dense."""
    n = skeleton.num_joints()
    adj = torch.eye(n)
    for child, parent in enumerate(skeleton.parents()):
        if parent >= 0:
            adj[child, parent] = adj[parent, child] = 1
    return adj / adj.sum(dim=1, keepdim=True)
'''

MOTIONBERT_MODEL = '''
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.fc1(x).tanh())


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)

    def forward(self, x):  # x: [B, N, C], attention across N
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) * (c // self.num_heads) ** -0.5).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio, norm_layer):
        super().__init__()
        self.attn = Attention(dim, num_heads)
        self.norm = norm_layer(dim)
        self.mlp_s = MLP(dim, int(dim * mlp_ratio))
        self.mlp_t = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x):  # x: [B, F, J, C]
        b, f, j, c = x.shape
        joints = x.reshape(b * f, j, c)
        joints = joints + self.attn(joints)
        x = joints.reshape(b, f, j, c) + self.mlp_s(self.norm(joints)).reshape(b, f, j, c)
        return x + self.mlp_t(x.mean(dim=1, keepdim=True))


class DSTformer(nn.Module):
    """[B, F, J, dim_in] -> [B, F, J, dim_out] for F <= maxlen."""

    def __init__(self, dim_in=3, dim_out=3, dim_feat=256, dim_rep=512, depth=5, num_heads=8, mlp_ratio=4,
                 num_joints=17, maxlen=243, qkv_bias=True, qk_scale=None, drop_rate=0.0, attn_drop_rate=0.0,
                 drop_path_rate=0.0, norm_layer=nn.LayerNorm, att_fuse=True):
        super().__init__()
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.blocks_st = nn.ModuleList([Block(dim_feat, num_heads, mlp_ratio, norm_layer) for _ in range(depth)])
        self.blocks_ts = nn.ModuleList([Block(dim_feat, num_heads, mlp_ratio, norm_layer) for _ in range(depth)])
        self.ts_attn = nn.ModuleList([nn.Linear(dim_feat * 2, 2) for _ in range(depth)]) if att_fuse else None
        self.norm = norm_layer(dim_feat)
        self.pre_logits = nn.Sequential()
        self.pre_logits.add_module("fc", nn.Linear(dim_feat, dim_rep))
        self.pre_logits.add_module("act", nn.Tanh())
        self.head = nn.Linear(dim_rep, dim_out)
        self.temp_embed = nn.Parameter(torch.randn(1, maxlen, 1, dim_feat) * 0.1)
        self.pos_embed = nn.Parameter(torch.randn(1, num_joints, dim_feat) * 0.1)

    def forward(self, x):
        f = x.shape[1]
        x = self.joints_embed(x) + self.pos_embed[:, None] + self.temp_embed[:, :f]
        for i, (st, ts) in enumerate(zip(self.blocks_st, self.blocks_ts)):
            a, b = st(x), ts(x)
            if self.ts_attn is not None:
                w = self.ts_attn[i](torch.cat([a, b], dim=-1)).softmax(dim=-1)
                x = a * w[..., :1] + b * w[..., 1:]
            else:
                x = (a + b) / 2
        return self.head(self.pre_logits(self.norm(x)))
'''


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _randomise_batchnorm(model, seed: int) -> None:
    """Give BatchNorm layers non-trivial running statistics, so the export's eval mode is checked."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)


def _instance(checkout: Path, module: str, cls: str, *args, **kwargs):
    from pose_pipeline.lifting.export import checkout_on_path, import_class

    with checkout_on_path(checkout, (module.split(".")[0],)):
        return import_class(checkout, module, cls)(*args, **kwargs)


def videopose3d_checkout(root: Path, filter_widths=(3, 3), channels=16, pickled_state=True) -> tuple[Path, Path]:
    """A VideoPose3D-like checkout and checkpoint ({'epoch', 'model_pos', 'random_state'}: numpy's random state
    pickled beside the weights, as VideoPose3D saves it, when ``pickled_state``)."""
    import torch

    checkout = _write(Path(root) / "VideoPose3D", {"common/model.py": VIDEOPOSE3D_MODEL})
    torch.manual_seed(0)
    model = _instance(checkout, "common.model", "TemporalModel", 17, 2, 17, list(filter_widths), channels=channels)
    _randomise_batchnorm(model, 1)
    checkpoint = {"epoch": 80, "lr": 1e-5, "model_pos": model.state_dict()}
    if pickled_state:
        checkpoint["random_state"] = np.random.RandomState(0).get_state()
    path = checkout / "checkpoint" / "pretrained_test.bin"
    path.parent.mkdir()
    torch.save(checkpoint, path)
    return checkout, path


def gastnet_checkout(root: Path, filter_widths=(3, 3, 3), channels=8) -> tuple[Path, Path]:
    """A GAST-Net-like checkout (model/gast_net.py, common/skeleton.py, common/graph_utils.py) and checkpoint."""
    import torch

    checkout = _write(Path(root) / "GAST-Net-3DPoseEstimation", {"model/gast_net.py": GASTNET_MODEL,
                      "common/skeleton.py": GASTNET_SKELETON, "common/graph_utils.py": GASTNET_GRAPH})  # fmt: skip
    torch.manual_seed(0)
    adj = torch.full((17, 17), 1 / 17)
    model = _instance(checkout, "model.gast_net", "SpatioTemporalModel", adj, 17, 2, 17, list(filter_widths),
                      channels=channels)  # fmt: skip
    _randomise_batchnorm(model, 2)
    path = checkout / "checkpoint" / "gastnet" / f"{model.receptive_field()}_frame_model.bin"
    path.parent.mkdir(parents=True)
    torch.save({"epoch": 60, "model_pos": model.state_dict()}, path)
    return checkout, path


def motionbert_checkout(root: Path, dim_feat=16, depth=2, num_heads=2, maxlen=27) -> tuple[Path, Path, Path]:
    """A MotionBERT-like checkout, checkpoint ('model_pos' with DataParallel's ``module.`` prefixes) and YAML
    config (configs/pose3d/test.yaml) naming ``num_heads``."""
    import torch

    checkout = _write(Path(root) / "MotionBERT", {"lib/model/DSTformer.py": MOTIONBERT_MODEL})
    torch.manual_seed(0)
    model = _instance(checkout, "lib.model.DSTformer", "DSTformer", dim_feat=dim_feat, dim_rep=dim_feat * 2,
                      depth=depth, num_heads=num_heads, mlp_ratio=2, maxlen=maxlen)  # fmt: skip
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = checkout / "checkpoint" / "pose3d" / "best_epoch.bin"
    path.parent.mkdir(parents=True)
    torch.save({"epoch": 59, "model_pos": state}, path)
    config = checkout / "configs" / "pose3d" / "test.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"maxlen: {maxlen}\ndim_feat: {dim_feat}\nmlp_ratio: 2\ndepth: {depth}\n"
                      f"dim_rep: {dim_feat * 2}\nnum_heads: {num_heads}\natt_fuse: True\nno_conf: False\n")  # fmt: skip
    return checkout, path, config
