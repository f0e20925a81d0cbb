"""A minimal AniX service client written from docs/PROTOCOL.md alone (pyzmq + msgpack only).

It exists to prove the protocol document is sufficient: it shares no code with the backend.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import msgpack
import zmq

VERSION = 1
JOB_EVENTS = {"progress", "frame", "done", "error", "cancelled"}
TERMINAL = {"done", "error", "cancelled"}
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_LIVENESS = 3


class ServerDead(RuntimeError):
    """The server was silent for (liveness + 1) heartbeat intervals while a job was followed."""


class RequestTimeout(RuntimeError):
    """A request/reply call got no reply in time."""


class ErrorReply(RuntimeError):
    """The server answered a request with an `error` message."""

    def __init__(self, header: dict):
        super().__init__(f"{header.get('code')} ({header.get('field')}): {header.get('message')}")
        self.header = header
        self.code = header.get("code")
        self.field = header.get("field")


@dataclass
class JobResult:
    """What one job sent: frames by index, every event header in order, and its terminal event."""

    job: str
    frames: dict = field(default_factory=dict)
    frame_headers: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    terminal: dict | None = None


def look_at(eye, target, width: int, height: int, fov_x_deg: float = 60.0) -> dict:
    """A camera map in the protocol's format: OpenCV axes (x right, y down, z forward), world Z up."""
    eye = [float(v) for v in eye]
    fwd = _normalize([t - e for t, e in zip(target, eye)])
    right = _normalize(_cross(fwd, [0.0, 0.0, 1.0]))
    down = _cross(fwd, right)
    rot = [right, down, fwd]
    trans = [-sum(r[i] * eye[i] for i in range(3)) for r in rot]
    w2c = [rot[i] + [trans[i]] for i in range(3)] + [[0.0, 0.0, 0.0, 1.0]]
    fx = (width / 2.0) / math.tan(math.radians(fov_x_deg) / 2.0)
    K = [[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]]
    return {"world_to_camera": w2c, "K": K, "width": width, "height": height}


def orbit_cameras(num_frames: int, radius: float, height_m: float, width: int, height: int) -> list[dict]:
    """Cameras on a circle about the origin, all looking at the origin."""
    cams = []
    for i in range(num_frames):
        a = 2.0 * math.pi * i / num_frames
        cams.append(look_at([radius * math.cos(a), radius * math.sin(a), height_m], [0.0, 0.0, 0.0], width, height))
    return cams


def _cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def _normalize(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


class DocClient:
    """One DEALER socket; requests matched by `req`, job events kept per job id."""

    def __init__(self, endpoint: str, timeout_s: float = 10.0, context: zmq.Context | None = None):
        self.ctx = context or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.timeout_s = timeout_s
        self._req = itertools.count(1)
        self._replies: dict = {}
        self._events: dict = defaultdict(deque)
        self.heartbeats_received = 0
        self.log: list[tuple] = []  # (type, job, index, req) of every message received, in order
        self.last_heard = time.monotonic()
        self.last_sent = 0.0

    def close(self) -> None:
        self.sock.close(0)

    # -- wire ---------------------------------------------------------------------------
    def send_raw(self, parts: list[bytes]) -> None:
        self.sock.send_multipart(parts)
        self.last_sent = time.monotonic()

    def send(self, header: dict, blobs=()) -> None:
        self.send_raw([msgpack.packb(header, use_bin_type=True), *blobs])

    def _pump(self, wait_s: float) -> bool:
        """Receive at most one message into the reply/event buffers; False when none came."""
        if not self.sock.poll(max(0, int(wait_s * 1000))):
            return False
        parts = self.sock.recv_multipart()
        self.last_heard = time.monotonic()
        header = msgpack.unpackb(parts[0], raw=False, strict_map_key=True)
        header["_blobs"] = parts[1:]
        kind = header.get("type")
        self.log.append((kind, header.get("job"), header.get("index"), header.get("req")))
        if kind == "heartbeat":
            self.heartbeats_received += 1
        elif "req" in header and kind not in JOB_EVENTS - {"error"}:
            self._replies[header["req"]] = header
        elif "job" in header and kind in JOB_EVENTS:
            self._events[header["job"]].append(header)
        else:
            self._replies.setdefault("_unmatched", []).append(header)
        return True

    def next_unmatched(self, timeout_s: float = 5.0) -> dict:
        """The next message that is neither a reply with `req`, a job event nor a heartbeat.

        Errors about a header the server could not read far enough to find `req` land here.
        """
        deadline = time.monotonic() + timeout_s
        while not self._replies.get("_unmatched"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeout("no unmatched message")
            self._pump(left)
        return self._replies["_unmatched"].pop(0)

    # -- request / reply -----------------------------------------------------------------
    def request(self, kind: str, blobs=(), req=None, **fields) -> dict:
        """Send one request and return its reply header (blobs under `_blobs`); raises ErrorReply."""
        req = next(self._req) if req is None else req
        self.send({"v": VERSION, "type": kind, "req": req, **fields}, blobs)
        return self.wait_reply(req)

    def wait_reply(self, req) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while req not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeout(f"no reply to req {req!r}")
            self._pump(left)
        reply = self._replies.pop(req)
        if reply["type"] == "error":
            raise ErrorReply(reply)
        return reply

    def hello(self) -> dict:
        return self.request("hello", client="doc_client")

    def ping(self) -> dict:
        return self.request("ping")

    def has_scene(self, sha256: str, size: int) -> dict:
        return self.request("has_scene", sha256=sha256, size=size)

    def put_chunk(self, sha256: str, size: int, offset: int, chunk: bytes, ext: str = ".ply") -> dict:
        return self.request("put_scene", [chunk], sha256=sha256, size=size, offset=offset, ext=ext)

    def upload_scene(self, data: bytes, ext: str = ".ply", chunk_bytes: int = 8 * 1024 * 1024,
                     stop_after_chunks: int | None = None) -> dict:
        """Upload by content hash, resuming where the server's copy ends; returns the last reply."""
        sha, size = hashlib.sha256(data).hexdigest(), len(data)
        status = self.has_scene(sha, size)
        if status["present"]:
            return status
        offset, sent = status["offset"], 0
        while True:
            if stop_after_chunks is not None and sent >= stop_after_chunks:
                return {"type": "stopped", "offset": offset}
            ack = self.put_chunk(sha, size, offset, data[offset:offset + chunk_bytes], ext)
            sent += 1
            if ack["complete"]:
                return ack
            offset = ack["offset"]

    def submit(self, request: dict, views: dict | None = None) -> dict:
        views = views or {}
        request = dict(request, views=list(views)) if views else request
        return self.request("submit", list(views.values()), request=request)

    def cancel(self, job: str) -> dict:
        return self.request("cancel", job=job)

    def status(self, job: str) -> dict:
        return self.request("status", job=job)

    def attach(self, job: str, from_frame: int = 0) -> dict:
        return self.request("attach", job=job, from_frame=from_frame)

    def heartbeat(self) -> None:
        self.send({"v": VERSION, "type": "heartbeat"})

    # -- following a job -----------------------------------------------------------------
    def follow(self, job: str, result: JobResult | None = None, until=None, max_s: float = 60.0) -> JobResult:
        """Collect a job's events until its terminal event (or `until(result)` is true).

        Sends a heartbeat at least every second and declares the server dead after
        (liveness + 1) silent intervals, as the protocol's heartbeat rules say.
        """
        result = result or JobResult(job)
        self.last_heard = time.monotonic()
        deadline = time.monotonic() + max_s
        while True:
            queue = self._events[job]
            while queue:
                event = queue.popleft()
                result.events.append(event)
                if event["type"] == "frame":
                    result.frame_headers[event["index"]] = event
                    result.frames[event["index"]] = event["_blobs"][0]
                if event["type"] in TERMINAL:
                    result.terminal = event
                    return result
            if until is not None and until(result):
                return result
            now = time.monotonic()
            if now - self.last_sent >= HEARTBEAT_INTERVAL_S * 0.5:
                self.heartbeat()
            if now - self.last_heard > (HEARTBEAT_LIVENESS + 1) * HEARTBEAT_INTERVAL_S:
                raise ServerDead(f"server silent for {now - self.last_heard:.1f} s")
            if now > deadline:
                raise RequestTimeout(f"job {job} did not end within {max_s} s")
            self._pump(0.2)
