"""`anix info` (what a 3DGS file holds) and `anix render` (frames and an MP4 along an orbit or given cameras)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULT_WIDTH, DEFAULT_HEIGHT = 832, 480
DEFAULT_FRAMES = 48


def register(subparsers) -> None:
    info = subparsers.add_parser("info", help="format, splat count, SH degree and bounds of a 3DGS file")
    info.add_argument("file", help=".ply, compressed .ply, .splat or .spz")
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.set_defaults(func=_info)

    render = subparsers.add_parser("render", help="render a 3DGS file to PNG frames (and an MP4)")
    render.add_argument("file", help=".ply, compressed .ply, .splat or .spz")
    cams = render.add_mutually_exclusive_group(required=True)
    cams.add_argument("--orbit", action="store_true",
                      help="circle the scene: centre of its bounds, radius 1.2x its horizontal extent, "
                           "height half the radius (override with --radius, --height-m)")
    cams.add_argument("--camera", metavar="CAMS_JSON", help="cameras from a cams.json file (see anix_core.cameras)")
    render.add_argument("--frames", type=int, help=f"number of frames (orbit default {DEFAULT_FRAMES}; "
                                                   "cams.json default: one per camera)")
    render.add_argument("--width", type=int, help=f"image width in pixels (orbit default {DEFAULT_WIDTH})")
    render.add_argument("--height", type=int, help=f"image height in pixels (orbit default {DEFAULT_HEIGHT})")
    render.add_argument("--out", required=True, help="output folder for frame_0000.png ... (and the MP4)")
    render.add_argument("--mp4", action="store_true", help="also write OUT/<file stem>.mp4 (H.264)")
    render.add_argument("--fps", type=float, default=25.0, help="MP4 frame rate (default 25)")
    render.add_argument("--backend", default="auto", choices=["auto", "gsplat", "cpu"],
                        help="gsplat needs CUDA; auto uses it when present, else the CPU rasteriser")
    render.add_argument("--background", default="0,0,0", help="background colour r,g,b in [0,1] (default 0,0,0)")
    render.add_argument("--radius", type=float, help="orbit radius in metres")
    render.add_argument("--height-m", type=float, help="orbit height above the centre in metres")
    render.add_argument("--degrees", type=float, default=360.0, help="orbit sweep in degrees (default 360)")
    render.add_argument("--fov", type=float, default=60.0, help="orbit horizontal field of view in degrees")
    render.set_defaults(func=_render)


# ----------------------------------------------------------------------------------- info
def scene_info(path) -> dict:
    """{format, count, sh_degree, bounds_min, bounds_max} of a scene file (JSON-safe)."""
    from anix_core.splats import detect_format, load

    fmt = detect_format(path)
    scene = load(path)
    lo, hi = scene.bounds()
    return {"format": fmt, "count": scene.count, "sh_degree": scene.sh_degree,
            "bounds_min": [float(v) for v in lo], "bounds_max": [float(v) for v in hi]}


def _info(args) -> int:
    info = scene_info(args.file)
    if args.json:
        print(json.dumps(info))
        return 0
    lo, hi = info["bounds_min"], info["bounds_max"]
    print(f"file       {args.file}")
    print(f"format     {info['format']}")
    print(f"splats     {info['count']:,}")
    print(f"SH degree  {info['sh_degree']}")
    print(f"bounds     min ({lo[0]:.3f}, {lo[1]:.3f}, {lo[2]:.3f})  max ({hi[0]:.3f}, {hi[1]:.3f}, {hi[2]:.3f})")
    return 0


# ----------------------------------------------------------------------------------- render
def orbit_around_scene(scene, num_frames: int, width: int, height: int, radius: float | None = None,
                       height_m: float | None = None, degrees: float = 360.0, fov_x_deg: float = 60.0) -> list:
    """Orbit cameras framing `scene`: centred on its bounds (the 1st..99th percentile of splat
    centres, so stray floaters do not push the camera away), radius 1.2x the larger horizontal
    extent, height half the radius. A full turn does not repeat its first frame at the end."""
    import numpy as np

    from anix_core import trajectory

    if scene.count == 0:
        raise ValueError("scene: has no splats to frame; give --radius and --height-m")
    lo = np.percentile(scene.means, 1, axis=0)
    hi = np.percentile(scene.means, 99, axis=0)
    center = 0.5 * (lo + hi)
    extent = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    if radius is None:
        radius = max(1.2 * extent, 1e-3)
    if height_m is None:
        height_m = 0.5 * radius
    sweep = degrees * (num_frames - 1) / num_frames if abs(degrees) == 360.0 and num_frames > 1 else degrees
    return trajectory.orbit(center, radius, height_m, sweep, num_frames, width, height, fov_x_deg=fov_x_deg)


def cameras_from_file(path, num_frames: int | None, width: int | None, height: int | None) -> list:
    """Cameras of a cams.json, resized to width x height when given; --frames takes the first N
    (or repeats a single camera N times)."""
    from anix_core.cameras import cameras_from_json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 JSON file") from None
    cams = cameras_from_json(text)
    if num_frames is not None:
        if len(cams) == 1:
            cams = cams * num_frames
        elif num_frames > len(cams):
            raise ValueError(f"--frames: {path} holds {len(cams)} cameras, asked for {num_frames}")
        else:
            cams = cams[:num_frames]
    if width is not None or height is not None:
        cams = [c.with_size(width or c.width, height or c.height) for c in cams]
    return cams


def _parse_background(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"--background: expected r,g,b with values in [0,1], got {text!r}")
    return values


def _render(args) -> int:
    from tqdm import tqdm

    from anix_core.cli.plan_command import check_out_folder
    from anix_core.render import iter_render, resolve_backend
    from anix_core.splats import load
    from anix_core.video import frame_name, write_mp4, write_png

    for name in ("frames", "width", "height"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name}: must be positive, got {value}")
    if args.fps <= 0:
        raise ValueError(f"--fps: must be positive, got {args.fps}")
    background = _parse_background(args.background)
    check_out_folder(args.out)
    backend = resolve_backend(args.backend)
    scene = load(args.file)
    if args.orbit:
        cams = orbit_around_scene(scene, args.frames or DEFAULT_FRAMES, args.width or DEFAULT_WIDTH,
                                  args.height or DEFAULT_HEIGHT, radius=args.radius, height_m=args.height_m,
                                  degrees=args.degrees, fov_x_deg=args.fov)
    else:
        cams = cameras_from_file(args.camera, args.frames, args.width, args.height)
    if args.mp4 and len({(c.width, c.height) for c in cams}) > 1:
        raise ValueError("--mp4: the cameras differ in image size; give --width and --height")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    bar = tqdm(total=len(cams), desc=f"render ({backend})", unit="frame", file=sys.stderr)

    def frames():
        for i, frame in iter_render(scene, cams, backend=backend, background=background):
            write_png(frame.rgb[0], out_dir / frame_name(i))
            bar.update(1)
            yield frame.rgb[0]

    try:
        if args.mp4:
            mp4 = write_mp4(frames(), out_dir / f"{Path(args.file).stem}.mp4", fps=args.fps)
        else:
            for _ in frames():
                pass
    finally:
        bar.close()
    print(f"wrote {len(cams)} frames to {out_dir}")
    if args.mp4:
        print(f"wrote {mp4}")
    return 0
