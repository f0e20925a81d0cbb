"""Scene fidelity: how well the generated video keeps the conditioning scene where the character
is not. PSNR and SSIM (Gaussian window, sigma 1.5, as Wang et al.) over the pixels outside the mask."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from anix_core.metrics.character import MetricError


@dataclass
class SceneFidelity:
    psnr_db: float           # mean over frames; inf where identical
    ssim: float
    per_frame_psnr: list[float]
    per_frame_ssim: list[float]

    def to_dict(self) -> dict:
        return {"psnr_db": self.psnr_db, "ssim": self.ssim,
                "per_frame_psnr": self.per_frame_psnr, "per_frame_ssim": self.per_frame_ssim}


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def _ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM [F,H,W] of images [F,3,H,W] in [0,1], averaged over channels."""
    window = _gaussian_window().to(a)[None, None].repeat(3, 1, 1, 1)
    pad = window.shape[-1] // 2

    def blur(x):
        return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), window, groups=3)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return ssim.mean(dim=1)


def _as_float(video: np.ndarray) -> torch.Tensor:
    video = np.asarray(video)
    t = torch.from_numpy(video.astype(np.float32))
    if video.dtype == np.uint8:
        t = t / 255.0
    return t.permute(0, 3, 1, 2)


def scene_fidelity(frames: np.ndarray, scene_video: np.ndarray, masks: np.ndarray) -> SceneFidelity:
    """frames and scene_video [F,H,W,3] (uint8 or float in [0,1]); masks [F,H,W], nonzero = character.
    Raises MetricError naming the input that does not fit."""
    if np.ndim(frames) != 4 or np.shape(frames)[-1] != 3:
        raise MetricError(f"frames: expected [F,H,W,3], got shape {np.shape(frames)}")
    if np.shape(frames) != np.shape(scene_video):
        raise MetricError(f"scene_video: shape {np.shape(scene_video)} does not match frames {np.shape(frames)}")
    if np.shape(masks) != np.shape(frames)[:3]:
        raise MetricError(f"masks: shape {np.shape(masks)} does not match frames {np.shape(frames)[:3]}")
    a, b = _as_float(frames), _as_float(scene_video)
    outside = torch.from_numpy(np.asarray(masks) <= 0.5)
    ssim = _ssim_map(a, b)
    psnrs, ssims = [], []
    for i in range(a.shape[0]):
        keep = outside[i]
        if not keep.any():
            raise MetricError(f"masks: frame {i} is masked everywhere; nothing outside the character to compare")
        mse = ((a[i] - b[i]) ** 2).mean(dim=0)[keep].mean().item()
        psnrs.append(float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse)))
        ssims.append(float(ssim[i][keep].mean()))
    return SceneFidelity(float(np.mean(psnrs)), float(np.mean(ssims)), psnrs, ssims)
