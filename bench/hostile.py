"""The backend under hostile load: the attacks of tests/test_backend_load.py at any size.

    python bench/hostile.py [--cycles 40] [--view-mib 8] [--slow-readers 30] [--big-frames 120] [--big-size 640x480]
                            [--liars 3] [--abandoners 4] [--good-shots 6] [--cache-mib 64]
                            [--address tcp://127.0.0.1:5555 --server-pid PID]

Starts `anix serve --testing` on 127.0.0.1 with 2 workers (or uses --address, a server started
with --testing and --cache-size of --cache-mib, whose RSS is read from /proc/--server-pid), runs
submit+cancel cycles with 4 big views, slow readers attached to a finished raw job, lying and
abandoned uploads, all at once while a good client runs pattern shots and a separate process
pings every 20 ms; prints ping latency, server RSS and what each attack got.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from backend_helpers import ServerProcess  # noqa: E402
from load_attacks import MiB, Sizes, run_attacks  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=Sizes.cycles)
    parser.add_argument("--view-mib", type=float, default=Sizes.view_bytes / MiB)
    parser.add_argument("--slow-readers", type=int, default=Sizes.slow_readers)
    parser.add_argument("--big-frames", type=int, default=Sizes.big_frames)
    parser.add_argument("--big-size", default=f"{Sizes.big_width}x{Sizes.big_height}", help="WxH of the big job's frames")
    parser.add_argument("--liars", type=int, default=Sizes.liars)
    parser.add_argument("--abandoners", type=int, default=Sizes.abandoners)
    parser.add_argument("--good-shots", type=int, default=Sizes.good_shots)
    parser.add_argument("--cache-mib", type=int, default=32)
    parser.add_argument("--address", default=None)
    parser.add_argument("--server-pid", type=int, default=None)
    args = parser.parse_args()
    width, height = (int(v) for v in args.big_size.split("x"))
    sizes = Sizes(cycles=args.cycles, view_bytes=int(args.view_mib * MiB), slow_readers=args.slow_readers,
                  big_frames=args.big_frames, big_width=width, big_height=height, liars=args.liars, abandoners=args.abandoners,
                  good_shots=args.good_shots)
    server = None
    if args.address:
        address, pid = args.address, args.server_pid or 0
    else:
        server = ServerProcess("--cache-size", f"{args.cache_mib}MB", workers=2, client_timeout=10.0)
        server.wait_workers(2)
        address, pid = server.address, server.proc.pid
    try:
        report = run_attacks(address, pid, args.cache_mib * MiB, sizes)
    finally:
        if server is not None:
            server.stop()
    print(f"load average {os.getloadavg()[0]:.1f}; sizes {sizes}")
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
