"""Service benchmark: frame streaming over loopback, and the service's overhead on a real shot.

    python bench/service.py [--frames 93] [--width 832] [--height 480] [--generator blockout]
                            [--skip-overhead]

1. Streaming: a `pattern` job with static frames (the generator costs nothing), raw and PNG
   encodings; submit-to-done wall time -> MB/s (of RGB pixels) and frames/s.
2. Overhead: the same shot (courtyard scene, robot views, orbit cameras) through a local
   `anix serve` vs `backend.generation.run_generator` called in this process; both warmed up
   first (numba kernels compiled), frames returned as raw uint8 in both cases.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from backend import protocol as P  # noqa: E402
from backend.client import Client, Done, Frame  # noqa: E402
from backend_helpers import ServerProcess  # noqa: E402

FIXTURES = Path(os.environ.get("ANIX_FIXTURES", REPO.parent / "shared" / "fixtures"))
VIEWS = {n: FIXTURES / "character" / f"robot_{n}.png" for n in P.VIEW_NAMES}


def run_job(client: Client, request: dict, views=None) -> tuple[float, int, int]:
    """(submit-to-done seconds, frames, payload bytes)."""
    t = time.perf_counter()
    job = client.submit(request, views=views)
    n = nbytes = 0
    for event in job.events(timeout=1800):
        if isinstance(event, Frame):
            n += 1
            nbytes += len(event.data)
        elif not isinstance(event, Done) and type(event).__name__ in ("Error", "Cancelled"):
            raise RuntimeError(f"job ended with {event}")
    return time.perf_counter() - t, n, nbytes


def streaming(address: str, frames: int, width: int, height: int) -> None:
    with Client(address) as client:
        for encoding in ("raw", "png"):
            request = {"scene": "0" * 64, "generator": "pattern", "num_frames": frames, "width": width,
                       "height": height, "encoding": encoding, "options": {"static": True}}
            run_job(client, dict(request, num_frames=3))  # warm-up
            seconds, n, nbytes = run_job(client, request)
            rgb_mb = n * width * height * 3 / 1e6
            print(f"streaming {encoding:>3}: {n} frames {width}x{height} in {seconds:.3f} s -> "
                  f"{rgb_mb / seconds:.1f} MB/s of RGB ({nbytes / 1e6 / seconds:.1f} MB/s on the wire), "
                  f"{n / seconds:.1f} frames/s")


def shot_request(scene_sha: str, frames: int, width: int, height: int, generator: str) -> dict:
    from anix_core.cameras import Camera

    cams = []
    for i in range(frames):
        a = 2 * math.pi * i / max(frames, 1) * 0.25
        cams.append(Camera.look_at([7 * math.cos(a), 7 * math.sin(a), 2.5], [0, 0, 0.8], width, height).to_dict())
    return {"scene": scene_sha, "generator": generator, "num_frames": frames, "width": width, "height": height,
            "instruction": "walks forward", "anchor": {"position": [0.0, -2.0, 0.0], "heading_rad": 1.57},
            "cameras": cams, "encoding": "raw"}


_MEMO = None


def in_process(request: dict, scene_path: Path) -> float:
    """Seconds for the shot with the generator called here; like a warm worker, the scene stays
    loaded between shots."""
    global _MEMO
    from backend.generation import run_generator
    from backend.worker import SceneMemo, build_shot_spec

    _MEMO = _MEMO or SceneMemo()
    views = {n: p.read_bytes() for n, p in VIEWS.items()}
    request = dict(request, views=list(views))
    checked = P.check_submit({"request": request}, list(views.values()))
    t = time.perf_counter()
    scene = _MEMO.load(checked["scene"], str(scene_path), checked["transform"])
    spec = build_shot_spec(checked, scene, list(views.values()))
    frames = []
    run_generator(checked["generator"], spec, None, None, lambda i, f: frames.append(f))
    return time.perf_counter() - t


def overhead(address: str, frames: int, width: int, height: int, generator: str, repeats: int) -> None:
    """Runs alternate (service, in-process) `repeats` times; the best of each is compared, as the
    machine may be shared."""
    scene_path = FIXTURES / "courtyard.ply"
    with Client(address) as client:
        sha = client.ensure_scene(scene_path)
        request = shot_request(sha, frames, width, height, generator)
        warm = shot_request(sha, 2, width, height, generator)
        run_job(client, warm, VIEWS)
        in_process(warm, scene_path)
        service, local = [], []
        for _ in range(repeats):
            seconds, n, _ = run_job(client, request, VIEWS)
            service.append(seconds)
            local.append(in_process(request, scene_path))
    service_s, local_s = min(service), min(local)
    print(f"overhead ({generator}, {n} frames {width}x{height}, raw, best of {repeats}): service {service_s:.2f} s, "
          f"in-process {local_s:.2f} s -> {100 * (service_s - local_s) / local_s:+.1f}%  "
          f"(all runs: service {', '.join(f'{s:.2f}' for s in service)}; in-process {', '.join(f'{s:.2f}' for s in local)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=93)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--generator", default="blockout")
    parser.add_argument("--repeats", type=int, default=2, help="overhead runs of each kind (best is kept)")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    server = ServerProcess(workers=1)
    try:
        streaming(server.address, args.frames, args.width, args.height)
        if not args.skip_overhead:
            overhead(server.address, args.frames, args.width, args.height, args.generator, args.repeats)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
