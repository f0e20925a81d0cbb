"""Synthetic training clips: blockout shots of the demo robot in the demo courtyard, with the
scene render and box masks the generator was conditioned on. Small, fast, made on a CPU; they
let the training code be tested end to end without any dataset."""
from __future__ import annotations

import numpy as np

from anix_core.train.data import Clip

INSTRUCTIONS = (
    "the robot walks forward", "the robot runs forward", "the robot walks to the left",
    "the robot walks to the right", "the robot jogs backward", "the robot turns around and waves",
    "the robot runs to the left", "the robot walks to the fountain",
)


def synthetic_clips(count: int, num_frames: int = 9, height: int = 32, width: int = 48, seed: int = 0) -> list[Clip]:
    """`count` clips cycling through INSTRUCTIONS, each from a slightly different start."""
    from PIL import Image

    from anix_core import demo
    from anix_core.conditioning import build_conditioning
    from anix_core.generators import create
    from anix_core.shot import Anchor, ShotSpec

    scene = demo.load_scene()
    views = {name: np.asarray(Image.open(path).convert("RGBA")) for name, path in demo.view_paths().items()}
    generator = create("blockout")
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(count):
        start = np.array(demo.DEFAULT_ANCHOR) + np.r_[rng.uniform(-0.5, 0.5, 2), 0.0]
        shot = ShotSpec(scene=scene, views=views, anchor=Anchor(start, np.deg2rad(rng.uniform(-180, 180)), 1.8),
                        instruction=INSTRUCTIONS[i % len(INSTRUCTIONS)], num_frames=num_frames, width=width,
                        height=height, seed=seed + i, targets=dict(demo.DEFAULT_TARGETS),
                        options={"background": demo.BACKGROUND, "backend": "cpu"})
        cond = build_conditioning(shot)
        target = generator.generate(cond)
        scene_video = (np.clip(cond.scene_video, 0, 1) * 255 + 0.5).astype(np.uint8)
        clips.append(Clip(target, scene_video, cond.mask_video > 0.5, cond.views, cond.prompt, cond.fps, "rendered"))
    return clips
