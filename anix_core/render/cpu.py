"""CPU backend: gsplat's classic rasterisation in numba kernels (see `_kernels`)."""
from __future__ import annotations

import functools
from typing import Iterator, Sequence

import numba
import numpy as np

from . import _kernels as K
from .api import EPS2D, FAR_PLANE, NEAR_PLANE


class CpuRasterizer:
    """Renders one scene from many cameras; activations are computed once, at construction."""

    name = "cpu"

    def __init__(self, scene):
        n = scene.count
        self.count = n
        self.sh_degree = scene.sh_degree
        self.antialiased = bool(scene.antialiased)
        self.means = np.ascontiguousarray(scene.means, np.float32)
        self.sh0 = np.ascontiguousarray(scene.sh0, np.float32)
        shN = np.ascontiguousarray(scene.shN, np.float32)
        self.shN = shN if shN.shape[1] else np.zeros((n, 1, 3), np.float32)
        self.cov3d = np.empty((n, 6), np.float32)
        self.opacities = np.empty(n, np.float32)
        if n:
            K.activate(np.ascontiguousarray(scene.quats, np.float32),
                       np.ascontiguousarray(scene.log_scales, np.float32),
                       np.ascontiguousarray(scene.logit_opacities, np.float32),
                       self.cov3d, self.opacities)
        # per-camera work buffers, reused frame after frame
        self.rec = np.zeros((n, K.REC), np.float32)
        self.depth = np.zeros(n, np.float32)
        self.rect = np.zeros((n, 4), np.int32)
        self.rec_sorted = np.zeros((n, K.REC), np.float32)
        self.rect_sorted = np.zeros((n, 4), np.int32)

    def render_frames(self, cameras: Sequence, background) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield (rgb [H,W,3], alpha [H,W], depth [H,W]) per camera, lazily."""
        bg = np.asarray(background, np.float32)
        for cam in cameras:
            yield self.render_one(cam, bg)

    def render_one(self, cam, bg) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width, height = int(cam.width), int(cam.height)
        tile_w = (width + K.TILE - 1) // K.TILE
        tile_h = (height + K.TILE - 1) // K.TILE
        n_tiles = tile_w * tile_h
        out_rgb = np.empty((height, width, 3), np.float32)
        out_alpha = np.empty((height, width), np.float32)
        out_depth = np.empty((height, width), np.float32)
        viewmat = np.ascontiguousarray(cam.world_to_camera, np.float64)
        intr = np.asarray(cam.K, np.float64)
        if self.count:
            K.project(self.means, self.cov3d, self.opacities, self.sh0, self.shN, self.sh_degree,
                      viewmat, intr[0, 0], intr[1, 1], intr[0, 2], intr[1, 2], width, height,
                      NEAR_PLANE, FAR_PLANE, EPS2D, self.antialiased, tile_w, tile_h,
                      self.rec, self.depth, self.rect)
            order = K.sort_visible_by_depth(self.rect, self.depth)
        else:
            order = np.zeros(0, np.int32)
        m = len(order)
        rec, rect = self.rec_sorted[:m], self.rect_sorted[:m]
        K.gather(order, self.rec, self.rect, rec, rect)
        offsets, ids = K.bin_tiles(rect, tile_w, n_tiles, 4 * numba.get_num_threads())
        K.rasterize(offsets, ids, _tile_order(n_tiles), rec, width, height, tile_w,
                    float(bg[0]), float(bg[1]), float(bg[2]), out_rgb, out_alpha, out_depth)
        return out_rgb, out_alpha, out_depth


@functools.lru_cache(maxsize=16)
def _tile_order(n_tiles: int) -> np.ndarray:
    """A fixed shuffle of the tiles, so threads get a fair share of busy and empty regions."""
    return np.random.default_rng(0).permutation(n_tiles).astype(np.int64)
