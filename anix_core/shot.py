"""`ShotSpec`: everything one shot needs, as plain data (the backend builds it from a request,
the CLI from its flags). Numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VIEW_NAMES = ("front", "left", "back", "right")


@dataclass
class Anchor:
    """Where the character stands at frame 0: world position [3] (metres, Z up), heading in
    radians (0 = facing +X, counter-clockwise about +Z), height in metres."""

    position: np.ndarray
    heading_rad: float = 0.0
    height_m: float = 1.8


@dataclass
class ShotSpec:
    """One shot. `cameras` is None when the plan decides the camera (from the instruction);
    `targets` maps anchor names placed by the user ("fountain") to world positions [3].
    `views` maps each of VIEW_NAMES to an RGBA uint8 image [H,W,4]."""

    scene: "object"                      # anix_core.splats.GaussianScene, already in world space
    views: dict
    anchor: Anchor
    instruction: str
    num_frames: int = 93
    fps: float = 25.0
    width: int = 832
    height: int = 480
    seed: int = 0
    cameras: list | None = None          # list[anix_core.cameras.Camera], one per frame
    camera_behaviour: str | None = None  # follow | orbit | static | dolly | None (plan decides)
    targets: dict = field(default_factory=dict)
    history_frames: np.ndarray | None = None  # [T,H,W,3] uint8, for continuation
    options: dict = field(default_factory=dict)
