"""Starting a real `anix serve` process for the backend tests, and small request builders."""
from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
W, H = 64, 48


class ServerProcess:
    """`python -m backend.server` on 127.0.0.1 with a port the OS picks; `address` is where it listens."""

    def __init__(self, *args: str, cache_dir=None, workers: int = 1, testing: bool = True,
                 bind: str = "tcp://127.0.0.1:*", client_timeout: float | None = None):
        cmd = [sys.executable, "-m", "backend.server", "--bind", bind, "--workers", str(workers)]
        if testing:
            cmd += ["--testing", "--result-ttl", "60"]
        if cache_dir is not None:
            cmd += ["--cache-dir", str(cache_dir)]
        if client_timeout is not None:
            cmd += ["--client-timeout", str(client_timeout)]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.address = self._wait_listening()

    def _wait_listening(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                m = re.search(r"listening on (\S+)", line)
                if m:
                    return m.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read()}")
        raise RuntimeError(f"server did not start: {line}")

    def worker_pids(self) -> list[int]:
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def wait_workers(self, n: int, timeout: float = 30.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) >= n:
                return pids
            time.sleep(0.05)
        raise RuntimeError("workers did not start")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


def pattern_request(num_frames: int = 3, seed: int = 0, encoding: str = "raw", **extra) -> dict:
    """A request for the test-only `pattern` generator (frames = standin.pattern_frame)."""
    request = {"scene": "0" * 64, "generator": "pattern", "num_frames": num_frames, "width": W, "height": H,
               "seed": seed, "instruction": "walks", "encoding": encoding}
    request.update(extra)
    return request


def orbit_cameras(num_frames: int, width: int = W, height: int = H) -> list[dict]:
    import math

    from anix_core.cameras import Camera

    cams = []
    for i in range(num_frames):
        a = 2 * math.pi * i / num_frames
        cams.append(Camera.look_at([9 * math.cos(a), 9 * math.sin(a), 4.0], [0, 0, 0.8], width, height).to_dict())
    return cams


def env_without_proxy() -> dict:
    return dict(os.environ)


def collect(job, timeout: float = 120.0):
    """(frames by index as arrays, terminal event) of a job's event stream."""
    from backend.client import Frame

    frames, last = {}, None
    for event in job.events(timeout=timeout):
        if isinstance(event, Frame):
            frames[event.index] = event.to_numpy()
        last = event
    return frames, last
