"""Demo assets shipped with the package (made by `make_assets.py`): a small courtyard scene of
Gaussians and a four-view robot. `anix demo` animates the robot in the courtyard."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..shot import VIEW_NAMES

HERE = Path(__file__).resolve().parent
SCENE_FILE = HERE / "courtyard_demo.npz"
DEFAULT_INSTRUCTION = "the robot walks to the fountain, camera follows"
DEFAULT_TARGETS = {"fountain": (0.0, 0.0, 0.0)}
DEFAULT_ANCHOR = (-3.8, 2.0, 0.0)       # between the green pillar and the fountain
DEFAULT_HEADING_DEG = -15.0
BACKGROUND = (0.62, 0.74, 0.9)          # a pale sky


def load_scene():
    """The demo courtyard as a GaussianScene (SH degree 0)."""
    from ..splats.scene import GaussianScene

    with np.load(SCENE_FILE, allow_pickle=False) as d:
        n = len(d["means"])
        return GaussianScene(d["means"], d["quats"], d["log_scales"], d["logit_opacities"], d["sh0"],
                             np.zeros((n, 0, 3), np.float32))


def view_paths() -> dict[str, Path]:
    return {name: HERE / f"robot_{name}.png" for name in VIEW_NAMES}
