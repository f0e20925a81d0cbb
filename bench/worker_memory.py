"""Peak memory of a worker's generator run: one blockout shot of the demo courtyard and robot,
run as a backend worker runs it (backend.generation.run_generator, frames handed to on_frame).

    python bench/worker_memory.py [--frames 300 ...] [--width 640] [--height 368] [--splats N] [--generator blockout]

Prints one JSON line: the process's peak RSS (VmHWM, MiB) after a one-frame warm-up (imports,
kernels, the scene) and after each shot, run one after another in this one process. VmHWM only
grows, so `--frames 100 300` shows what a shot 3 times longer adds over a first one (nothing, when
the generator keeps no frame). The checkout that `backend` and `anix_core` are imported from
comes first on PYTHONPATH, so another tree's code can be measured with the same script.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH: a tree given there wins


def peak_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status")


def demo_shot(frames: int, width: int, height: int, splats: int | None = None):
    import numpy as np

    from anix_core import demo
    from anix_core.shot import Anchor, ShotSpec
    from anix_core.views import load_view

    scene = demo.load_scene()
    if splats:
        scene = scene.decimate(max_count=splats)  # cheaper frames, the same memory per frame
    return ShotSpec(scene=scene, views={name: load_view(path) for name, path in demo.view_paths().items()},
                    anchor=Anchor(np.array(demo.DEFAULT_ANCHOR, float), math.radians(demo.DEFAULT_HEADING_DEG), 1.8),
                    instruction=demo.DEFAULT_INSTRUCTION, num_frames=frames, width=width, height=height,
                    targets={k: np.array(v, float) for k, v in demo.DEFAULT_TARGETS.items()},
                    options={"render_backend": "cpu"})  # a request's options


def run(generator: str, frames: list[int], width: int, height: int, splats: int | None = None) -> dict:
    """One warm-up frame (imports, kernels), then a shot of each count in `frames`, in order;
    the peak RSS after each."""
    from backend.generation import run_generator

    run_generator(generator, demo_shot(1, width, height, splats), None, None, lambda i, f: None)
    peaks = [round(peak_rss_mib(), 1)]
    for count in frames:
        made = []
        outcome = run_generator(generator, demo_shot(count, width, height, splats), None, None, lambda i, f: made.append(i))
        if outcome.frames is not None:  # a generator that keeps its frames hands them over at the end
            made.extend(range(len(made), len(outcome.frames)))
        assert len(made) == count, f"{len(made)} frames made of {count}"
        peaks.append(round(peak_rss_mib(), 1))
    return {"generator": generator, "width": width, "height": height, "splats": splats, "frames": frames,
            "peak_mib": peaks[1:], "peak_after_warm_up_mib": peaks[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[300],
                        help="frame counts of the shots, run one after another in this process")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=368)
    parser.add_argument("--splats", type=int, default=None, help="keep at most this many of the scene's splats")
    parser.add_argument("--generator", default="blockout", choices=("blockout", "render"))
    args = parser.parse_args(argv)
    print(json.dumps(run(args.generator, args.frames, args.width, args.height, args.splats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
