"""Contact sheets of the five previz shots of docs/PREVIZ.md ("Shots a director trusts") on the
courtyard fixture with the robot views, and what they measure: the frames where the character
is hidden (its box shows no character pixels), the camera's clearance from the obstacles, the
speed and the warnings.

    python bench/previz_sheets.py --out docs/images --tag after [--fixtures ../shared/fixtures]

Writes <out>/previz_<shot>_<tag>.png (six frames of 160x90 in a row) and prints one line per shot.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# name -> (instruction, anchor, heading in degrees); targets: the fountain and the bench.
SHOTS = {
    "limps": ("the robot limps toward us", (-4.5, 1.5, 0.0), -33.0),
    "orbit": ("the robot jogs around the fountain while the camera orbits left", (-2.5, 0.5, 0.0), 90.0),
    "turn": ("the robot walks forward for 2 seconds, then turns around and waves", (-2.0, -5.0, 0.0), 90.0),
    "around": ("the robot jogs around the fountain", (-2.2, 0.0, 0.0), 90.0),
    "saunter": ("the robot saunters to the bench", (-4.5, 2.5, 0.0), -50.0),
}
TARGETS = {"fountain": (0.0, 0.0, 0.0), "bench": (0.0, -3.0, 0.0)}
WIDTH, HEIGHT, THUMBS = 160, 90, 6


def make_shot(scene, views, name: str, frames: int = 93):
    from anix_core.shot import Anchor, ShotSpec

    text, anchor, heading = SHOTS[name]
    return ShotSpec(scene=scene, views=views, anchor=Anchor(np.array(anchor), math.radians(heading), 1.8),
                    instruction=text, num_frames=frames, width=WIDTH, height=HEIGHT,
                    targets={k: np.array(v) for k, v in TARGETS.items()}, options={"backend": "cpu"})


def hidden_frames(frames: np.ndarray, cond) -> list[int]:
    """Frames whose character box holds no pixel that differs from the scene-only render."""
    scene = (np.clip(cond.scene_video, 0, 1) * 255 + 0.5).astype(np.int16)
    diff = np.abs(frames.astype(np.int16) - scene).max(axis=-1) > 24
    seen = (diff & (cond.mask_video > 0.5)).sum(axis=(1, 2))
    return [int(i) for i in np.nonzero(seen < 4)[0]]


def sheet(frames: np.ndarray, picks) -> Image.Image:
    out = Image.new("RGB", (WIDTH * len(picks), HEIGHT), (0, 0, 0))
    draw = ImageDraw.Draw(out)
    for k, i in enumerate(picks):
        out.paste(Image.fromarray(frames[i]), (k * WIDTH, 0))
        draw.text((k * WIDTH + 3, 2), str(i), fill=(255, 255, 0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--tag", default="after")
    ap.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"))
    ap.add_argument("--shots", nargs="*", default=list(SHOTS))
    args = ap.parse_args()
    from anix_core.conditioning import build_conditioning
    from anix_core.generators import create
    from anix_core.planning import fit_ground, occupancy_grid
    from anix_core.splats import load
    from anix_core.views import load_views

    fixtures = Path(args.fixtures)
    scene = load(fixtures / "courtyard.ply")
    views = load_views(fixtures / "character")
    grid = occupancy_grid(scene, fit_ground(scene, [0, 0, 0]), [0, 0])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.shots:
        t0 = time.perf_counter()
        cond = build_conditioning(make_shot(scene, views, name))
        frames = create("blockout").generate(cond)
        f = len(frames)
        picks = np.linspace(0, f - 1, THUMBS).round().astype(int)
        sheet(frames, picks).quantize(colors=128).save(out / f"previz_{name}_{args.tag}.png", optimize=True)
        m = cond.motion
        eyes = np.array([c.position for c in m.cameras])
        near = [float(np.hypot(*(grid.band_points - e[:2]).T).min()) for e in eyes[:, :2]]
        hidden = hidden_frames(frames, cond)
        centre = np.hypot(m.root_positions[:, 0], m.root_positions[:, 1])
        yaw = np.degrees(np.unwrap([math.atan2(c.forward[1], c.forward[0]) for c in m.cameras]))
        whip = float(np.abs(yaw[6:] - yaw[:-6]).max()) if f > 6 else 0.0
        print(f"{name}: {m.camera_behaviour}, hidden in {len(hidden)}/{f} frames {hidden[:6]}{'...' if len(hidden) > 6 else ''}, "
              f"camera clearance min {min(near):.2f} m, view turns up to {whip:.0f} deg in 6 frames, "
              f"top speed {m.speeds.max():.2f} m/s, "
              f"distance from the fountain {centre.min():.2f}-{centre.max():.2f} m (end {centre[-1]:.2f}), "
              f"warnings {getattr(m, 'warnings', [])} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
