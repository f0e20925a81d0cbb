"""3D rotary position embedding for video tokens and AniX's shifted positions for view tokens.

Positions are (t, h, w) on the patch grid. Video tokens sit at t = 0..F-1, h = 0..H-1,
w = 0..W-1 (in that flatten order, as the patch embedder emits them). The four character views
are placed off the video grid so attention can tell them apart from frames:

- mode "code" (the released AniX code, `timecat-w`): view k = 1..V at t = -k, width shifted by
  W, height unshifted;
- mode "paper" (the paper's formula): view k at t = -k, height shifted by H, width by W.
"""
from __future__ import annotations

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed

VIEW_ROPE_MODES = ("code", "paper")


def video_positions(frames: int, height: int, width: int, device=None) -> torch.Tensor:
    """Grid positions [F*H*W, 3] (t, h, w) of video tokens, float32, in token order."""
    axes = [torch.arange(0, n, device=device, dtype=torch.float32) for n in (frames, height, width)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0)
    return grid.reshape(3, -1).T


def view_positions(num_views: int, height: int, width: int, mode: str = "code", device=None) -> torch.Tensor:
    """Shifted positions [V*H*W, 3] (t, h, w) of the view tokens; view k (1-based) is frame t = -k."""
    if mode not in VIEW_ROPE_MODES:
        raise ValueError(f"view_rope_mode must be one of {VIEW_ROPE_MODES}, got {mode!r}")
    pos = video_positions(num_views, height, width, device=device)
    pos[:, 0] = -(pos[:, 0] + 1)
    pos[:, 2] += width
    if mode == "paper":
        pos[:, 1] += height
    return pos


def rotary_from_positions(positions: torch.Tensor, axes_dim, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) [N, sum(axes_dim)] for positions [N, 3], matching diffusers' HunyuanVideo RoPE."""
    freqs = [get_1d_rotary_pos_embed(axes_dim[i], positions[:, i], theta, use_real=True) for i in range(3)]
    return torch.cat([f[0] for f in freqs], dim=1), torch.cat([f[1] for f in freqs], dim=1)
