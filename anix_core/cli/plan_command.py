"""`anix plan TEXT [--targets name=x,y,z ...] [--frames N] [--fps F] [--camera ...]`: print the
plan of an instruction as JSON (docs/PLAN.md), without loading a scene or rendering."""
from __future__ import annotations

import json
import sys

from anix_core.instructions import CAMERA_BEHAVIOURS, parse


def parse_target(spec: str) -> tuple[str, list[float]]:
    """'fountain=0,0,0' -> ('fountain', [0.0, 0.0, 0.0]); a bare name has no position."""
    name, sep, coords = spec.partition("=")
    name = name.strip()
    if not name:
        raise ValueError(f'--targets "{spec}": give NAME=X,Y,Z (for example fountain=0,0,0)')
    if not sep:
        return name, []
    try:
        values = [float(v) for v in coords.split(",")]
    except ValueError:
        raise ValueError(f'--targets "{spec}": the position must be three numbers, X,Y,Z in metres') from None
    if len(values) != 3:
        raise ValueError(f'--targets "{spec}": the position must be three numbers, X,Y,Z in metres')
    return name, values


def plan_command(args) -> int:
    targets = dict(parse_target(s) for s in (args.targets or []))
    plan = parse(args.text, targets=targets, num_frames=args.frames, fps=args.fps, camera=args.camera)
    json.dump(plan.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def register_plan(subparsers) -> None:
    p = subparsers.add_parser("plan", help="print the plan of an instruction as JSON (no rendering)",
                              description="Read an instruction into timed segments and a camera behaviour.")
    p.add_argument("text", help='the instruction, e.g. "the robot runs to the fountain, camera follows"')
    p.add_argument("--targets", nargs="+", metavar="NAME=X,Y,Z", default=[],
                   help="named targets (anchors placed in Blender), positions in metres")
    p.add_argument("--frames", type=int, default=93, help="frames in the shot (default 93)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--camera", choices=CAMERA_BEHAVIOURS, default=None,
                   help="camera behaviour that overrides the text")
    p.set_defaults(func=plan_command)
