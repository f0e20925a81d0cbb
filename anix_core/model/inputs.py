"""Conditioning arrays -> pipeline tensors at the model's size (numpy in, torch out)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

VIEW_ORDER = ("front", "left", "back", "right")


def _as_float01(frames: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(frames))
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


def video_tensor(frames: np.ndarray, height: int, width: int) -> torch.Tensor:
    """[F, H', W', 3] in [0, 1] (float) or uint8 -> [1, 3, F, height, width] in [-1, 1]."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"video must be [F, H, W, 3], got {frames.shape}")
    t = _as_float01(frames).permute(0, 3, 1, 2)  # F, 3, H, W
    if t.shape[-2:] != (height, width):
        t = F.interpolate(t, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return (t.clamp(0, 1) * 2 - 1).permute(1, 0, 2, 3).unsqueeze(0)


def mask_tensor(mask: np.ndarray, height: int, width: int) -> torch.Tensor:
    """Box-mask video [F, H', W'] in [0, 1] -> [1, 3, F, height, width] in [-1, 1] (encoded like RGB)."""
    if mask.ndim != 3:
        raise ValueError(f"mask video must be [F, H, W], got {mask.shape}")
    return video_tensor(np.repeat(np.asarray(mask, np.float32)[..., None], 3, axis=-1), height, width)


def view_on_white(rgba: np.ndarray, height: int, width: int) -> torch.Tensor:
    """A view image [H', W', 4] (or 3) composited on white, fitted inside (height, width) keeping
    its aspect, centred: [3, height, width] in [-1, 1]."""
    img = _as_float01(rgba)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f"view must be [H, W, 4] RGBA or [H, W, 3], got {tuple(img.shape)}")
    if img.shape[-1] == 4:
        img = img[..., :3] * img[..., 3:] + (1 - img[..., 3:])
    img = img.permute(2, 0, 1)
    h, w = img.shape[-2:]
    s = min(height / h, width / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    img = F.interpolate(img[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
    canvas = torch.ones(3, height, width)
    top, left = (height - nh) // 2, (width - nw) // 2
    canvas[:, top:top + nh, left:left + nw] = img.clamp(0, 1)
    return canvas * 2 - 1


def views_tensor(views: dict, height: int, width: int) -> torch.Tensor:
    """The four views in AniX order -> [1, 3, 4, height, width]; each becomes one VAE frame."""
    missing = [n for n in VIEW_ORDER if n not in views]
    if missing:
        raise ValueError(f"views is missing {missing}; need {list(VIEW_ORDER)}")
    return torch.stack([view_on_white(views[n], height, width) for n in VIEW_ORDER], dim=1).unsqueeze(0)


def white_views_tensor(height: int, width: int, num_views: int = 4) -> torch.Tensor:
    """All-white reference views: the unconditional branch of classifier-free guidance."""
    return torch.ones(1, 3, num_views, height, width)


def fit_frames(video: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Trim [1, C, F, H, W] to num_frames, or pad at the end by repeating the last frame."""
    f = video.shape[2]
    if f >= num_frames:
        return video[:, :, :num_frames]
    return torch.cat([video, video[:, :, -1:].expand(-1, -1, num_frames - f, -1, -1)], dim=2)
