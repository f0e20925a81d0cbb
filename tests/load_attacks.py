"""Hostile load against a real `anix serve`, used by tests/test_backend_load.py and
bench/hostile.py: submit+cancel cycles with big views, slow readers attached to a big finished
job, put_scene uploads that lie about their size, abandoned partial uploads, all at once, while a
good client runs shots and a separate process pings the server.

Every attacker talks the protocol directly (one DEALER socket each, msgpack headers), as a
client written from docs/PROTOCOL.md would.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import msgpack
import zmq

MiB = 1024 * 1024

# The ping prober runs in its own process so that the test's threads do not delay its clock.
PROBER = r"""
import json, signal, sys, time, msgpack, zmq
address, seconds, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
stopped = []
signal.signal(signal.SIGTERM, lambda *a: stopped.append(1))
sock = zmq.Context.instance().socket(zmq.DEALER); sock.linger = 0; sock.connect(address)
latencies, lost, end = [], 0, time.monotonic() + seconds
for req in range(10**9):
    if stopped or time.monotonic() > end: break
    t = time.perf_counter()
    sock.send(msgpack.packb({"v": 1, "type": "ping", "req": req}))
    while True:
        if not sock.poll(5000):
            lost += 1; break
        reply = msgpack.unpackb(sock.recv())
        if reply.get("req") == req:
            latencies.append(time.perf_counter() - t); break
    time.sleep(interval)
print(json.dumps({"latencies": latencies, "lost": lost}))
"""


@dataclass
class Sizes:
    """How hard each attack pushes (the defaults fit a loaded 2-core machine in about 30 s)."""
    cycles: int = 30                 # submit+cancel cycles ...
    view_bytes: int = 6 * MiB        # ... each with 4 views of this many bytes
    slow_readers: int = 20           # sockets that attach to the big job and do not read
    big_frames: int = 120            # the big finished job: raw frames of big_width x big_height
    big_width: int = 640
    big_height: int = 480
    liars: int = 3                   # sockets sending 1-byte put_scene chunks that declare the whole cache
    lies_per_liar: int = 5           # uploads each tries (4 are allowed per client)
    abandoners: int = 2              # sockets leaving partial uploads behind ...
    abandoned_bytes: int = 1 * MiB   # ... of this many bytes, half of what they declare
    good_shots: int = 6              # pattern shots of the good client, one after the other
    ping_interval_s: float = 0.02


@dataclass
class Report:
    good_done: int = 0
    good_errors: list = field(default_factory=list)
    ping_latencies: list = field(default_factory=list)
    pings_lost: int = 0
    peak_rss_kib: int = 0
    baseline_rss_kib: int = 0
    cycles_done: int = 0
    lies_accepted: int = 0
    lies_refused: int = 0
    abandoned: int = 0
    scene_still_held: bool = False
    honest_upload_complete: bool = False
    slow_reader_frames: int = 0
    slow_reader_terminal: str = ""
    seconds: float = 0.0

    def ping_percentile(self, q: float) -> float:
        values = sorted(self.ping_latencies)
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("inf")

    def lines(self) -> list[str]:
        return [
            f"attack phase: {self.seconds:.1f} s; good shots done {self.good_done}, errors {self.good_errors}",
            f"ping from a separate process: {len(self.ping_latencies)} answered, {self.pings_lost} lost; "
            f"median {1000 * self.ping_percentile(0.5):.1f} ms, p95 {1000 * self.ping_percentile(0.95):.1f} ms, "
            f"p99 {1000 * self.ping_percentile(0.99):.1f} ms, max {1000 * max(self.ping_latencies or [0]):.1f} ms",
            f"server RSS: {self.baseline_rss_kib / 1024:.0f} MiB before, peak {self.peak_rss_kib / 1024:.0f} MiB",
            f"submit+cancel cycles {self.cycles_done}; lying uploads accepted {self.lies_accepted} (1 byte held each), "
            f"refused {self.lies_refused}; abandoned uploads {self.abandoned}",
            f"good scene still held {self.scene_still_held}; honest upload complete {self.honest_upload_complete}; "
            f"slow reader got {self.slow_reader_frames} frames then {self.slow_reader_terminal!r}",
        ]


class Raw:
    """One DEALER socket speaking the protocol as documented."""

    _reqs = itertools.count(1)

    def __init__(self, address: str, rcvhwm: int | None = None):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        if rcvhwm is not None:  # a slow reader: ZeroMQ must not read ahead for it
            self.sock.rcvhwm = rcvhwm
            self.sock.setsockopt(zmq.RCVBUF, 64 * 1024)
        self.sock.connect(address)

    def send(self, header: dict, blobs=()) -> int:
        req = next(self._reqs)
        self.sock.send_multipart([msgpack.packb({"v": 1, "req": req, **header}, use_bin_type=True), *blobs])
        return req

    def request(self, header: dict, blobs=(), timeout: float = 30.0) -> dict:
        req = self.send(header, blobs)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sock.poll(100):
                reply = msgpack.unpackb(self.sock.recv_multipart()[0])
                if reply.get("req") == req:
                    return reply
        raise TimeoutError(f"no reply to {header['type']} in {timeout} s")

    def follow(self, job: str, timeout: float = 120.0) -> tuple[int, dict]:
        """(frames received, terminal event) of a job this socket subscribes to; heartbeats as documented."""
        frames, deadline, last_beat = set(), time.monotonic() + timeout, 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - last_beat > 0.5:
                try:
                    self.sock.send(msgpack.packb({"v": 1, "type": "heartbeat"}), zmq.NOBLOCK)
                except zmq.Again:
                    pass  # the server is gone: what it sent is still here to read
                last_beat = time.monotonic()
            if not self.sock.poll(100):
                continue
            parts = self.sock.recv_multipart()
            header = msgpack.unpackb(parts[0])
            if header.get("job") != job:
                continue
            if header["type"] == "frame":
                frames.add(header["index"])
            elif header["type"] in ("done", "error", "cancelled"):
                return len(frames), header
        raise TimeoutError(f"job {job} did not end in {timeout} s")

    def close(self):
        self.sock.close(linger=0)


def upload(raw: Raw, data: bytes, declared: int | None = None, chunk: int = 4 * MiB) -> dict:
    sha = hashlib.sha256(data).hexdigest()
    size = declared or len(data)
    reply = {}
    for offset in range(0, len(data), chunk):
        reply = raw.request({"type": "put_scene", "sha256": sha, "size": size, "offset": offset, "ext": ".ply"},
                            [data[offset:offset + chunk]])
        if reply["type"] != "scene_ack":
            return reply
    return reply


def big_png(nbytes: int) -> bytes:
    """A valid PNG padded after IEND to `nbytes` (decoders ignore what follows IEND)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (200, 40, 40, 255)).save(buf, format="PNG")
    data = buf.getvalue()
    return data + bytes(max(0, nbytes - len(data)))


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_attacks(address: str, server_pid: int, cache_bytes: int, sizes: Sizes = Sizes()) -> Report:
    report = Report()
    setup = Raw(address)
    good_scene = os.urandom(2 * MiB)
    good_sha = hashlib.sha256(good_scene).hexdigest()
    assert upload(setup, good_scene).get("complete"), "could not upload the good scene"
    big = setup.request({"type": "submit", "request": {
        "scene": good_sha, "generator": "pattern", "num_frames": sizes.big_frames, "width": sizes.big_width,
        "height": sizes.big_height, "encoding": "raw", "on_disconnect": "keep", "options": {"static": True}}})
    assert big["type"] == "accepted", big
    n, end = setup.follow(big["job"], timeout=300)
    assert end["type"] == "done" and n == sizes.big_frames, (n, end)
    report.baseline_rss_kib = rss_kib(server_pid)

    stop = threading.Event()
    errors: list = []

    def guarded(fn):
        def run():
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - reported, not raised in a thread
                errors.append(f"{fn.__name__}: {type(exc).__name__}: {exc}")
        return threading.Thread(target=run, name=fn.__name__, daemon=True)

    def sample_rss():
        while not stop.is_set():
            report.peak_rss_kib = max(report.peak_rss_kib, rss_kib(server_pid))
            time.sleep(0.05)

    def cycles():
        raw = Raw(address)
        views = [big_png(sizes.view_bytes)] * 4
        for i in range(sizes.cycles):
            accepted = raw.request({"type": "submit", "request": {
                "scene": good_sha, "generator": "pattern", "num_frames": 40, "width": 64, "height": 48, "seed": i,
                "options": {"frame_delay_s": 0.2}, "views": ["front", "left", "back", "right"]}}, views)
            if accepted["type"] == "accepted":
                raw.request({"type": "cancel", "job": accepted["job"]})
                report.cycles_done += 1
        raw.close()

    readers = [Raw(address, rcvhwm=1) for _ in range(sizes.slow_readers)]

    def slow_readers():
        for raw in readers:  # attach and then do not read
            raw.send({"type": "attach", "job": big["job"], "from_frame": 0})

    def liars():
        for k in range(sizes.liars):
            raw = Raw(address)
            for i in range(sizes.lies_per_liar):
                # declares half the cache (or all of it: refused at once), sends a few bytes and leaves
                declared = cache_bytes if i % 2 else cache_bytes // 2
                reply = upload(raw, b"%d-%d" % (k, i), declared=declared)
                if reply["type"] == "scene_ack":
                    report.lies_accepted += 1
                else:
                    report.lies_refused += 1
            raw.close()

    def abandoners():
        for k in range(sizes.abandoners):
            raw = Raw(address)
            for i in range(4):
                data = os.urandom(sizes.abandoned_bytes)
                reply = upload(raw, data, declared=2 * len(data))
                report.abandoned += reply.get("type") == "scene_ack"
            raw.close()

    def good_client():
        raw = Raw(address)
        for i in range(sizes.good_shots):
            accepted = raw.request({"type": "submit", "request": {
                "scene": good_sha, "generator": "pattern", "num_frames": 10, "width": 64, "height": 48, "seed": i,
                "encoding": "png"}})
            if accepted["type"] != "accepted":
                report.good_errors.append(accepted)
                continue
            n, end = raw.follow(accepted["job"], timeout=120)
            if end["type"] == "done" and n == 10:
                report.good_done += 1
            else:
                report.good_errors.append(end)
        raw.close()

    attack_threads = [guarded(f) for f in (cycles, slow_readers, liars, abandoners)]
    good = guarded(good_client)
    sampler = threading.Thread(target=sample_rss, daemon=True)
    start = time.monotonic()
    prober = subprocess.Popen([sys.executable, "-c", PROBER, address, "600", str(sizes.ping_interval_s)],
                              stdout=subprocess.PIPE, text=True)
    try:
        sampler.start()
        time.sleep(0.5)  # the prober is connected
        for t in attack_threads + [good]:
            t.start()
        for t in attack_threads + [good]:
            t.join(300)
        report.seconds = time.monotonic() - start
        # after the attacks: the good scene is still there, and an honest upload goes through
        check = Raw(address)
        status = check.request({"type": "has_scene", "sha256": good_sha, "size": len(good_scene)})
        report.scene_still_held = bool(status.get("present"))
        report.honest_upload_complete = bool(upload(check, os.urandom(3 * MiB)).get("complete"))
        check.close()
        # one slow reader now reads: it gets every frame of the big job, then its end
        n, end = readers[0].follow(big["job"], timeout=120)
        report.slow_reader_frames, report.slow_reader_terminal = n, end["type"]
    finally:
        prober.terminate()
        out, _ = prober.communicate(timeout=30)
        stop.set()
        sampler.join(5)
        for raw in readers:
            raw.close()
        setup.close()
    pings = json.loads(out) if out.strip() else {"latencies": [], "lost": 0}
    report.ping_latencies, report.pings_lost = pings["latencies"], pings["lost"]
    report.good_errors += errors
    return report
