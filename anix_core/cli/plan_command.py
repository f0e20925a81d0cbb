"""`anix plan TEXT [--targets NAME=X,Y,Z ...] [--frames N] [--fps F] [--camera ...]`: print the
plan of an instruction as JSON (docs/PLAN.md), without loading a scene or rendering. Also the
argument helpers `anix previz` shares with it (targets, X,Y,Z vectors, negative values)."""
from __future__ import annotations

import json
import math
import re
import sys

from anix_core.instructions import CAMERA_BEHAVIOURS, parse


def accept_negative_values(parser) -> None:
    """Let option values start with a minus sign (`--anchor -4,1.5,0`, `--targets a=-1,0,0` is
    fine anyway): argparse before Python 3.13 takes "-4,1.5,0" for an option name. Our commands
    have no option that looks like a number, so nothing else changes."""
    parser._negative_number_matcher = re.compile(r"^-\.?\d")  # the pattern Python 3.13 uses


def parse_xyz(text: str, flag: str) -> tuple[float, float, float]:
    """'-4,1.5,0' -> (-4.0, 1.5, 0.0), metres; an error naming `flag` otherwise."""
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{flag} {text!r}: give three numbers X,Y,Z in metres, e.g. {flag} -4,1.5,0")
    return values


def check_range(value: float, flag: str, lo: float, hi: float, unit: str = "") -> float:
    """`value` when lo <= value <= hi (and finite), else an error naming `flag` and the range."""
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{flag} {value:g}: must be between {lo:g} and {hi:g}{unit}")
    return value


def check_frames(frames: int, fps: float) -> None:
    """--frames within the backend's limit (one limit for every way of making a shot), --fps > 0."""
    from backend.protocol import MAX_FRAMES

    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"--frames {frames}: must be between 1 and {MAX_FRAMES}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"--fps {fps:g}: must be a positive number of frames per second")


def check_out_folder(path, flag: str = "--out") -> None:
    """An output folder: it may exist (as a folder) or not yet, but must not be a file."""
    from pathlib import Path

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag} {path}: is an existing file; give a folder (created when missing)")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag} {path}: {parent} is a file, so the folder cannot be created")
            break


def parse_targets(specs, positions_required: bool = True) -> dict[str, tuple[float, float, float] | None]:
    """['fountain=0,0,0', ...] -> {'fountain': (0.0, 0.0, 0.0)}; a bare name (no position) is
    allowed only when not `positions_required`, and maps to None."""
    targets = {}
    for spec in specs or []:
        name, sep, coords = str(spec).partition("=")
        name = name.strip()
        if not name or (positions_required and not sep):
            raise ValueError(f'--targets "{spec}": give NAME=X,Y,Z in metres (for example fountain=0,0,0)')
        targets[name] = parse_xyz(coords, f"--targets {name}=") if sep else None
    return targets


def add_targets_option(parser) -> None:
    """`--targets NAME=X,Y,Z ...` (also `--target`, repeatable): anchors placed in Blender."""
    parser.add_argument("--targets", "--target", dest="targets", nargs="+", action="extend", default=[],
                        metavar="NAME=X,Y,Z",
                        help="named targets (anchors placed in Blender), positions in metres, e.g. fountain=0,0,0")


def plan_command(args) -> int:
    check_frames(args.frames, args.fps)
    targets = parse_targets(args.targets, positions_required=False)
    plan = parse(args.text, targets=targets, num_frames=args.frames, fps=args.fps, camera=args.camera)
    from anix_core.planning import camera_plan_for_previz

    plan.camera = camera_plan_for_previz(plan, args.camera)  # the camera previz will film with
    json.dump(plan.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def register_plan(subparsers) -> None:
    p = subparsers.add_parser("plan", help="print the plan of an instruction as JSON (no rendering)",
                              description="Read an instruction into timed segments and a camera behaviour.")
    accept_negative_values(p)
    p.add_argument("text", help='the instruction, e.g. "the robot runs to the fountain, camera follows"')
    add_targets_option(p)
    p.add_argument("--frames", type=int, default=93, help="frames in the shot (default 93)")
    p.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    p.add_argument("--camera", choices=CAMERA_BEHAVIOURS, default=None,
                   help="camera behaviour that overrides the text")
    p.set_defaults(func=plan_command)
