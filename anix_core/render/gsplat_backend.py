"""CUDA backend: `gsplat.rasterization` in classic (or antialiased) mode, frames batched in chunks.

gsplat's PyPI package ships CUDA sources: the first render on a machine JIT-compiles them (needs
nvcc and ninja, several minutes) and caches the build for later runs.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .api import EPS2D, FAR_PLANE, NEAR_PLANE

# gsplat evaluates SH on a [C, N, K, 3] copy: bound C * N so a chunk stays around 1.5 GB.
MAX_CHUNK_SPLAT_VIEWS = 8_000_000
MAX_CHUNK_FRAMES = 32
DEVICE = "cuda"


def _no_nvidia_driver() -> bool:
    """True where a Linux machine plainly has no NVIDIA driver: saves importing torch (~1.5 s)
    just to learn that CUDA is absent. Elsewhere (Windows) torch is asked."""
    return sys.platform == "darwin" or (sys.platform.startswith("linux")
                                        and not Path("/proc/driver/nvidia/version").exists())


def gsplat_available() -> bool:
    """True when torch sees a CUDA device and gsplat imports."""
    if "torch" not in sys.modules and _no_nvidia_driver():
        return False
    try:
        import torch
    except ImportError:
        return False
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return True


class GsplatRasterizer:
    """Renders one scene from many cameras on the GPU; the scene is uploaded once."""

    name = "gsplat"

    def __init__(self, scene, device: str | None = None):
        import torch

        self.torch = torch
        self.device = torch.device(device or DEVICE)
        f32 = dict(dtype=torch.float32, device=self.device)
        self.count = scene.count
        self.sh_degree = scene.sh_degree
        self.antialiased = bool(scene.antialiased)
        self.means = torch.as_tensor(np.asarray(scene.means), **f32)
        self.quats = torch.as_tensor(np.asarray(scene.quats), **f32)
        self.scales = torch.exp(torch.as_tensor(np.asarray(scene.log_scales), **f32))
        self.opacities = torch.sigmoid(torch.as_tensor(np.asarray(scene.logit_opacities), **f32))
        sh0 = torch.as_tensor(np.asarray(scene.sh0), **f32)[:, None, :]
        shN = torch.as_tensor(np.asarray(scene.shN), **f32)
        self.colors = torch.cat([sh0, shN], dim=1).contiguous()  # [N, K, 3], coefficient outer
        self.chunk = int(max(1, min(MAX_CHUNK_FRAMES, MAX_CHUNK_SPLAT_VIEWS // max(1, self.count))))

    def render_frames(self, cameras: Sequence, background) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield (rgb [H,W,3], alpha [H,W], depth [H,W]) per camera; cameras share one size."""
        for start in range(0, len(cameras), self.chunk):
            rgb, alpha, depth = self.render_chunk(cameras[start:start + self.chunk], background)
            for i in range(rgb.shape[0]):
                yield rgb[i], alpha[i], depth[i]

    def render_chunk(self, cameras: Sequence, background):
        torch = self.torch
        import gsplat

        width, height = int(cameras[0].width), int(cameras[0].height)
        c = len(cameras)
        if self.count == 0:
            shape = (c, height, width)
            return (np.broadcast_to(np.asarray(background, np.float32), shape + (3,)).copy(),
                    np.zeros(shape, np.float32), np.zeros(shape, np.float32))
        viewmats = torch.as_tensor(np.stack([cam.world_to_camera for cam in cameras]), dtype=torch.float32,
                                   device=self.device)
        Ks = torch.as_tensor(np.stack([cam.K for cam in cameras]), dtype=torch.float32, device=self.device)
        bg = torch.as_tensor(np.asarray(background, np.float32), device=self.device).expand(c, 3).contiguous()
        with torch.no_grad():
            colors, alphas, _ = gsplat.rasterization(
                self.means, self.quats, self.scales, self.opacities, self.colors, viewmats, Ks,
                width, height, near_plane=NEAR_PLANE, far_plane=FAR_PLANE, eps2d=EPS2D,
                sh_degree=self.sh_degree, packed=False, tile_size=16, backgrounds=bg,
                render_mode="RGB+ED",
                rasterize_mode="antialiased" if self.antialiased else "classic",
            )
        rgb = colors[..., :3].clamp(0.0, 1.0)
        depth = colors[..., 3]
        alpha = alphas[..., 0]
        depth = torch.where(alpha > 0, depth, torch.zeros_like(depth))
        return (rgb.float().cpu().numpy(), alpha.float().cpu().numpy(), depth.float().cpu().numpy())
