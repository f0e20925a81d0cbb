"""`anix previz` (a shot on the CPU from a scene, four views and an instruction) and `anix demo`
(the same on the assets shipped with the package); `anix plan` comes from plan_command."""
from __future__ import annotations

import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from anix_core.cli.plan_command import (accept_negative_values, add_targets_option, check_frames, check_out_folder,
                                        check_range, parse_targets, parse_xyz, register_plan)
from anix_core.instructions import CAMERA_BEHAVIOURS
from anix_core.views import load_view, load_views

# --camera by name: every behaviour the parser knows but keyframes (those come as a cams.json)
CAMERA_CHOICES = tuple(b for b in CAMERA_BEHAVIOURS if b != "keyframes")
CHARACTER_HEIGHT_M = (0.1, 10.0)   # --height-m: a toy to a giant, still a person-sized billboard
SCENE_MARGIN_FRACTION, SCENE_MARGIN_MIN_M = 0.25, 2.0  # how far outside the scene an anchor may stand


# ----------------------------------------------------------------------------- inputs
def default_anchor(scene) -> np.ndarray:
    """Where the character stands when no --anchor is given: a free spot near the scene centre."""
    from anix_core import planning

    lo, hi = scene.bounds()
    centre = 0.5 * (np.asarray(lo, float) + np.asarray(hi, float))
    ground = planning.fit_ground(scene, np.r_[centre[:2], hi[2]])
    grid = planning.occupancy_grid(scene, ground, centre[:2])
    xy = planning.nearest_free(grid, centre[:2], clearance_m=0.6)
    return np.r_[xy, ground.height_at(xy)]


# ----------------------------------------------------------------------------- the shot
def run_previz(shot, out_dir, generator: str = "blockout", show_progress: bool = True,
               generator_options: dict | None = None) -> dict:
    """Plan, condition and generate a shot; write frames/, shot.mp4, scene.mp4, mask.mp4,
    plan.json and plan.png into `out_dir`. Returns a summary with paths and timings (seconds).
    `generator_options` go to the generator's constructor (the demo's caption).

    The videos and PNGs are written by background threads (ffmpeg and PNG encoding release the
    GIL) as the frames come: `blockout` and `render` stream (each frame's scene is rendered as it
    is drawn, and every video gets it at once), so memory does not grow with the frame count;
    `anix` conditions the whole shot first (its VAE takes the whole video)."""
    from anix_core.conditioning import build_conditioning
    from anix_core.generators import create
    from anix_core.planning import camera_plan_for_previz
    from anix_core.planview import draw_plan_image
    from anix_core.video import FrameFeed, write_mp4, write_png, write_pngs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = _progress_bars() if show_progress else None
    t0 = time.perf_counter()
    cond = build_conditioning(shot, on_progress=progress, stream=generator != "anix")
    t1 = time.perf_counter()
    shot_feed, png_feed = FrameFeed(), FrameFeed()
    feeds = [shot_feed, png_feed]
    made = []
    with ThreadPoolExecutor(max_workers=4) as writers:
        pending = [writers.submit(shot_feed.write, write_mp4, out / "shot.mp4", fps=shot.fps),
                   writers.submit(png_feed.write, write_pngs, out / "frames")]
        if cond.stream is not None:
            scene_feed, mask_feed = FrameFeed(), FrameFeed()
            feeds += [scene_feed, mask_feed]
            pending += [writers.submit(scene_feed.write, write_mp4, out / "scene.mp4", fps=shot.fps),
                        writers.submit(mask_feed.write, write_mp4, out / "mask.mp4", fps=shot.fps)]
            cond.stream.on_frame = lambda i, f: (scene_feed.put(f.rgb), mask_feed.put(_mask_frame(f.mask)))
        else:
            pending += [writers.submit(write_mp4, cond.scene_video, out / "scene.mp4", fps=shot.fps),
                        writers.submit(write_mp4, map(_mask_frame, cond.mask_video), out / "mask.mp4", fps=shot.fps)]

        def on_frame(index, frame):
            shot_feed.put(frame)
            png_feed.put(frame)
            made.append(index)

        try:
            create(generator, **(generator_options or {})).generate(cond, on_progress=progress, on_frame=on_frame)
        except BaseException:
            for feed in feeds:
                feed.close()
            failed = next((job.exception() for job in pending if job.exception() is not None), None)
            if failed is not None:
                raise failed from None  # a writer's own error, not the "writer stopped" it caused
            raise
        for feed in feeds:
            feed.close()
        t2 = time.perf_counter()
        motion = cond.motion
        plan_json = {"instruction": shot.instruction, "generator": generator, "prompt": cond.prompt,
                     **motion.plan.to_dict(), "motion": motion.to_dict(), "warnings": list(motion.warnings)}
        if motion.camera_behaviour != "user":  # the camera it was filmed with
            plan_json["camera"] = camera_plan_for_previz(motion.plan, shot.camera_behaviour).to_dict()
        (out / "plan.json").write_text(json.dumps(plan_json, indent=1))
        write_png(draw_plan_image(shot.scene, motion), out / "plan.png")
        for job in pending:
            job.result()  # re-raises a writer's error
    t3 = time.perf_counter()
    return {"out": out, "mp4": out / "shot.mp4", "frames": len(made), "conditioning_s": t1 - t0,
            "generate_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0, "warnings": list(motion.warnings),
            "streamed": cond.stream is not None}  # streamed: the scene is rendered within generate_s


def _mask_frame(mask: np.ndarray) -> np.ndarray:
    """A mask [H,W] in {0,1} -> a white-on-black uint8 RGB frame [H,W,3]."""
    grey = (mask > 0.5).astype(np.uint8) * 255
    return np.repeat(grey[..., None], 3, axis=-1)


def _progress_bars():
    """on_progress(stage, done, total) that shows one tqdm bar per stage."""
    from tqdm import tqdm

    bars: dict = {}

    def progress(stage, done, total):
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{stage:>7}", unit="frame" if total > 1 else "step", leave=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def _cameras_argument(value: str, frames: int):
    """--camera: a behaviour name, or a cams.json path -> (behaviour or None, cameras or None)."""
    if value is None or value.lower() in CAMERA_CHOICES:
        return (value.lower() if value else None), None
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"--camera {value}: neither one of {', '.join(CAMERA_CHOICES)} nor a cams.json file")
    from anix_core.cameras import cameras_from_json

    cams = cameras_from_json(path.read_text())
    if len(cams) not in (1, frames):
        raise ValueError(f"--camera {value}: {len(cams)} cameras for {frames} frames; give one per frame or one for all")
    return None, cams


def previz_command(args) -> int:
    from anix_core.instructions import parse
    from anix_core.shot import Anchor, ShotSpec
    from anix_core.splats import load

    _check_shot_size(args.frames, args.fps, args.width, args.height)
    check_out_folder(args.out)
    check_range(args.height_m, "--height-m", *CHARACTER_HEIGHT_M, " metres")
    check_range(args.heading, "--heading", -3600.0, 3600.0, " degrees")
    for value in args.background:
        check_range(value, "--background", 0.0, 1.0, " (R G B, each 0..1)")
    anchor = np.array(parse_xyz(args.anchor, "--anchor")) if args.anchor else None
    targets = {name: np.array(xyz) for name, xyz in parse_targets(args.targets).items()}
    behaviour, cameras = _cameras_argument(args.camera, args.frames)
    parse(args.instruction, targets=targets, num_frames=args.frames, fps=args.fps,
          camera=behaviour)  # fail before loading
    views = load_views(args.views)
    scene = load(args.scene)
    if anchor is not None:
        check_inside_scene(anchor, scene, "--anchor")
    for name, xyz in targets.items():
        check_inside_scene(xyz, scene, f"--targets {name}=")
    width, height = (cameras[0].width, cameras[0].height) if cameras else (args.width, args.height)
    shot = ShotSpec(scene=scene, views=views,
                    anchor=Anchor(default_anchor(scene) if anchor is None else anchor, math.radians(args.heading),
                                  args.height_m),
                    instruction=args.instruction, num_frames=args.frames, fps=args.fps, width=width,
                    height=height, seed=args.seed, cameras=cameras, camera_behaviour=behaviour,
                    targets=targets, options={"background": tuple(args.background)})
    _report(run_previz(shot, args.out, generator=args.generator, show_progress=not args.quiet))
    return 0


def check_inside_scene(xyz, scene, flag: str) -> None:
    """A position on the command line must lie within the scene's bounds, give or take a margin
    (a quarter of the scene's size, at least 2 m): 94 m outside a 12 m courtyard is a typo."""
    lo, hi = (np.asarray(b, float) for b in scene.bounds())
    margin = np.maximum(SCENE_MARGIN_FRACTION * (hi - lo).max(), SCENE_MARGIN_MIN_M)
    if np.any(xyz < lo - margin) or np.any(xyz > hi + margin):
        box = lambda v: "(" + ", ".join(f"{c:.1f}" for c in v) + ")"  # noqa: E731
        raise ValueError(f"{flag}{'' if flag.endswith('=') else ' '}{','.join(f'{c:g}' for c in xyz)}: outside the "
                         f"scene, whose bounds are {box(lo)} to {box(hi)} metres; stay within {margin:.1f} m of them")


def _check_shot_size(frames: int, fps: float, width: int, height: int) -> None:
    check_frames(frames, fps)
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise ValueError(f"--width {width} --height {height}: each must be between 16 and 8192 pixels")


def demo_command(args) -> int:
    from anix_core import demo
    from anix_core.shot import Anchor, ShotSpec

    _check_shot_size(args.frames, 25.0, args.width, args.height)
    check_out_folder(args.out)
    views = {name: load_view(p) for name, p in demo.view_paths().items()}
    scene = demo.load_scene()
    shot = ShotSpec(scene=scene, views=views,
                    anchor=Anchor(np.array(demo.DEFAULT_ANCHOR), math.radians(demo.DEFAULT_HEADING_DEG), 1.8),
                    instruction=args.instruction or demo.DEFAULT_INSTRUCTION, num_frames=args.frames, fps=25.0, width=args.width,
                    height=args.height, seed=0, camera_behaviour=None,
                    targets={k: np.array(v) for k, v in demo.DEFAULT_TARGETS.items()},
                    options={"background": demo.BACKGROUND, "backend": "cpu"})  # no torch import, no gsplat build
    _report(run_previz(shot, args.out, generator="blockout", show_progress=not args.quiet,
                       generator_options={"caption": not args.no_caption}))
    return 0


def _report(summary: dict) -> None:
    for line in summary.get("warnings", []):
        print(f"anix: warning: {line}", file=sys.stderr)  # words read on a guess, hidden frames, targets not reached
    stages = ((f"planning {summary['conditioning_s']:.1f} s, scene render and generator {summary['generate_s']:.1f} s")
              if summary.get("streamed") else
              (f"conditioning {summary['conditioning_s']:.1f} s, generator {summary['generate_s']:.1f} s"))
    print(f"{summary['frames']} frames in {summary['total_s']:.1f} s ({stages}, writing {summary['write_s']:.1f} s)")
    print(f"shot: {Path(summary['mp4']).resolve()}")
    print(f"plan: {(Path(summary['out']) / 'plan.png').resolve()}")


# ----------------------------------------------------------------------------- parsers
def register(subparsers) -> None:
    register_plan(subparsers)

    p = subparsers.add_parser("previz", help="make a previz shot on the CPU (blockout) from a scene, views and text",
                              description="Plan the instruction, render the scene from the shot's cameras and "
                                          "composite the character: frames/, shot.mp4, scene.mp4, mask.mp4, "
                                          "plan.json and plan.png in --out.")
    accept_negative_values(p)
    p.add_argument("--scene", required=True, help="3DGS scene (.ply, compressed .ply, .splat, .spz), Z up, metres")
    p.add_argument("--views", required=True, help="folder with the front, left, back and right images of the character")
    p.add_argument("--instruction", required=True, help='what happens, e.g. "the robot walks to the fountain, camera follows"')
    p.add_argument("--camera", default=None, metavar="{" + ",".join(CAMERA_CHOICES) + "} or cams.json",
                   help="camera behaviour, or a cams.json with one camera per frame (overrides the text)")
    p.add_argument("--frames", type=int, default=93, help="frames in the shot (default 93)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--width", type=int, default=832, help="image width in pixels (default 832)")
    p.add_argument("--height", type=int, default=480, help="image height in pixels (default 480)")
    p.add_argument("--anchor", default=None, metavar="X,Y,Z", help="where the character stands at frame 0, metres, e.g. --anchor -4,1.5,0 (default: a free spot near the scene centre)")
    p.add_argument("--heading", type=float, default=0.0, metavar="DEG", help="the way it faces, degrees from +X counter-clockwise (default 0)")
    p.add_argument("--height-m", dest="height_m", type=float, default=1.8, help="character height in metres (default 1.8)")
    add_targets_option(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generator", default="blockout", choices=("blockout", "render", "anix"), help="default blockout (CPU)")
    p.add_argument("--background", type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar=("R", "G", "B"),
                   help="colour behind the splats, 0..1 (default black)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=previz_command)

    d = subparsers.add_parser("demo", help="animate the shipped robot in the shipped courtyard (CPU, offline)",
                              description="Runs previz on the demo assets inside the package and prints where the MP4 is.")
    d.add_argument("--out", default="anix_demo", help="output folder (default ./anix_demo)")
    d.add_argument("--instruction", default=None, help="override the demo instruction")
    d.add_argument("--frames", type=int, default=93)
    d.add_argument("--width", type=int, default=832)
    d.add_argument("--height", type=int, default=480)
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.add_argument("--no-caption", action="store_true",
                   help="leave out the burnt-in frame number and action (shown by default in the demo)")
    d.set_defaults(func=demo_command)
