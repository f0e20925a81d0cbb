"""`GaussianScene`: a 3D Gaussian Splatting scene as plain float32 numpy arrays.

Numpy only: the Blender add-on vendors this package into Blender's Python.
Conventions follow the INRIA PLY layout, stored pre-activation:
positions in scene units (metres), quaternions w,x,y,z (unit), natural-log scales,
logit opacities, and spherical-harmonic colour coefficients (DC term `sh0`, higher bands
`shN`, coefficient-major with the colour channel inner, as gsplat takes them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SH_C0 = 0.28209479177387814
SH_REST_TO_DEGREE = {0: 0, 3: 1, 8: 2, 15: 3}  # shN coefficients per channel -> SH degree


@dataclass
class GaussianScene:
    """Gaussians of one scene.

    means [N,3]; quats [N,4] (w,x,y,z, unit); log_scales [N,3]; logit_opacities [N];
    sh0 [N,3]; shN [N,K,3] with K in {0, 3, 8, 15} (SH degree 0..3).
    `antialiased` records a writer's request for antialiased (mip) rasterisation.
    """

    means: np.ndarray
    quats: np.ndarray
    log_scales: np.ndarray
    logit_opacities: np.ndarray
    sh0: np.ndarray
    shN: np.ndarray
    antialiased: bool = False
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.means)
        self.means = np.asarray(self.means, dtype=np.float32).reshape(n, 3)
        self.quats = np.asarray(self.quats, dtype=np.float32).reshape(n, 4)
        self.log_scales = np.asarray(self.log_scales, dtype=np.float32).reshape(n, 3)
        self.logit_opacities = np.asarray(self.logit_opacities, dtype=np.float32).reshape(n)
        self.sh0 = np.asarray(self.sh0, dtype=np.float32).reshape(n, 3)
        shN = np.asarray(self.shN, dtype=np.float32)
        if n == 0:  # reshape(0, -1, 3) is ambiguous; keep the declared coefficient count
            k = shN.shape[1] if shN.ndim == 3 else (shN.shape[-1] // 3 if shN.ndim == 2 else 0)
            self.shN = shN.reshape(0, k, 3)
        else:
            self.shN = shN.reshape(n, -1, 3)
        if self.shN.shape[1] not in SH_REST_TO_DEGREE:
            raise ValueError(f"shN has {self.shN.shape[1]} coefficients per channel; expected 0, 3, 8 or 15")

    @property
    def count(self) -> int:
        return int(self.means.shape[0])

    @property
    def sh_degree(self) -> int:
        return SH_REST_TO_DEGREE[self.shN.shape[1]]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min [3], max [3]) of the splat centres; zeros for an empty scene."""
        if self.count == 0:
            return np.zeros(3, np.float32), np.zeros(3, np.float32)
        return self.means.min(axis=0), self.means.max(axis=0)

    def colors_rgb(self) -> np.ndarray:
        """Base colour [N,3] in [0,1] from the DC term (view-independent part)."""
        return np.clip(0.5 + SH_C0 * self.sh0, 0.0, 1.0)

    def opacities(self) -> np.ndarray:
        """Activated opacities [N] in (0,1)."""
        return 1.0 / (1.0 + np.exp(-self.logit_opacities))

    def subset(self, index) -> "GaussianScene":
        """The splats selected by a boolean mask or an index array."""
        return GaussianScene(
            self.means[index], self.quats[index], self.log_scales[index],
            self.logit_opacities[index], self.sh0[index], self.shN[index],
            antialiased=self.antialiased, metadata=dict(self.metadata),
        )

    def transformed(self, matrix) -> "GaussianScene":
        """The scene under a similarity transform `matrix` [4,4] (rotation, uniform scale,
        translation; a mirror is allowed): centres move, quaternions rotate, log-scales gain
        log(s), SH coefficients rotate (bands 1..3). Shear or non-uniform scale raise ValueError."""
        from .transform import transformed_arrays

        return GaussianScene(**transformed_arrays(self, matrix), antialiased=self.antialiased,
                             metadata=dict(self.metadata))

    def crop(self, lo, hi) -> "GaussianScene":
        """The splats whose centres lie inside the axis-aligned box [lo, hi] (inclusive)."""
        from .transform import crop_mask

        return self.subset(crop_mask(self.means, lo, hi))

    def decimate(self, max_count: int | None = None, fraction: float | None = None,
                 seed: int | None = 0, method: str = "importance") -> "GaussianScene":
        """At most `max_count` (or `fraction` of the) splats, in their original order: the most
        opaque * largest ("importance") or a seeded uniform draw ("random")."""
        from .transform import decimate_index

        return self.subset(decimate_index(self, max_count, fraction, seed, method))

    @classmethod
    def empty(cls, sh_degree: int = 0) -> "GaussianScene":
        k = (sh_degree + 1) ** 2 - 1
        z = np.zeros
        return cls(z((0, 3)), z((0, 4)), z((0, 3)), z((0,)), z((0, 3)), z((0, k, 3)))
