"""Client of the AniX service (stdlib, zmq and msgpack only: the Blender add-on bundles it with
backend/protocol.py).

    client = Client("tcp://gpu-box:5555", keys="~/anix-keys")   # keys: only for a CURVE server
    info = client.hello()
    sha = client.ensure_scene("courtyard.ply", on_progress=lambda sent, total: ...)
    job = client.submit({"scene": sha, "num_frames": 93, "instruction": "walks to the fountain", ...},
                        views={"front": png_bytes, ...})
    for event in job.events():      # Accepted, Progress, Frame, Done | Error | Cancelled
        ...
    job.cancel()                    # from the same thread, or another one
    job = client.attach(job_id, from_frame=40)   # after a restart: the frames from 40 on

Every wait has a timeout. A server that stops answering is noticed within `dead_after_s`
(default 4 s) and raises BackendUnavailable. Request errors raise protocol.ProtocolError with
the server's code, field and message; `Job.wait()` raises JobFailed / JobCancelled.

Threads: a Client may be shared between threads (an internal lock serialises socket use, and
events of each job are routed to that job), but one Client per thread gives the lowest latency.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import zmq

from . import protocol as P
from .protocol import ProtocolError

__all__ = ["Client", "Job", "Accepted", "Progress", "Frame", "Done", "Error", "Cancelled", "BackendError",
           "BackendUnavailable", "JobFailed", "JobCancelled", "ProtocolError"]


class BackendError(Exception):
    """Base of the client's errors."""


class BackendUnavailable(BackendError):
    """The server did not answer in time (not running, wrong address, wrong keys, or it died)."""


class JobFailed(BackendError):
    def __init__(self, job_id: str, code: str, field: str, message: str):
        super().__init__(f"job {job_id} failed ({code}{': ' + field if field else ''}): {message}")
        self.job_id, self.code, self.field, self.message = job_id, code, field, message


class JobCancelled(BackendError):
    def __init__(self, job_id: str, reason: str):
        super().__init__(f"job {job_id} was cancelled: {reason}")
        self.job_id, self.reason = job_id, reason


# ----------------------------------------------------------------------------- events

@dataclass
class Accepted:
    job_id: str
    queue_position: int
    num_frames: int


@dataclass
class Progress:
    job_id: str
    stage: str
    done: int
    total: int


@dataclass
class Frame:
    """One output frame. `encoding` "png": `data` is a PNG file; "raw": `data` is
    height*width*channels bytes of uint8, row-major, RGB."""

    job_id: str
    index: int
    encoding: str
    width: int
    height: int
    channels: int
    data: bytes = field(repr=False)

    def to_numpy(self):
        """uint8 [H,W,C] (imports numpy, and Pillow for PNG)."""
        import numpy as np

        if self.encoding == "raw":
            return np.frombuffer(self.data, np.uint8).reshape(self.height, self.width, self.channels)
        import io

        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(bytes(self.data))))

    def save(self, path) -> Path:
        """Write the frame as a PNG file."""
        path = Path(path)
        if self.encoding == "png":
            path.write_bytes(bytes(self.data))
        else:
            from PIL import Image

            mode = {1: "L", 3: "RGB", 4: "RGBA"}[self.channels]
            Image.frombytes(mode, (self.width, self.height), bytes(self.data)).save(path, compress_level=1)
        return path


@dataclass
class Done:
    """The job finished. `start_anchor` / `end_anchor`: the character's {position [x,y,z],
    heading_rad} at the first and last frame (None from servers that do not report them);
    `options.continue_from` = this job makes the next shot start at `end_anchor`."""

    job_id: str
    num_frames: int
    timings: dict
    start_anchor: dict | None = None
    end_anchor: dict | None = None
    warnings: list = field(default_factory=list)


@dataclass
class Error:
    job_id: str
    code: str
    field: str
    message: str


@dataclass
class Cancelled:
    job_id: str
    reason: str
    frames_ready: int


def _event(header: dict, blobs: list):
    kind, job = header.get("type"), header.get("job", "")
    if kind == P.ACCEPTED:
        return Accepted(job, int(header.get("queue_position", 0)), int(header.get("num_frames", 0)))
    if kind == P.PROGRESS:
        return Progress(job, str(header.get("stage", "")), int(header.get("done", 0)), int(header.get("total", 0)))
    if kind == P.FRAME and blobs:
        return Frame(job, int(header["index"]), header["encoding"], int(header["width"]), int(header["height"]),
                     int(header.get("channels", 3)), blobs[0])
    if kind == P.DONE:
        return Done(job, int(header.get("num_frames", 0)), dict(header.get("timings", {})),
                    header.get("start_anchor"), header.get("end_anchor"),
                    [str(w) for w in header.get("warnings") or [] if isinstance(w, str)])
    if kind == P.ERROR:
        return Error(job, str(header.get("code", P.E_INTERNAL)), str(header.get("field", "")), str(header.get("message", "")))
    if kind == P.CANCELLED:
        return Cancelled(job, str(header.get("reason", "")), int(header.get("frames_ready", 0)))
    return None


# ----------------------------------------------------------------------------- job

class Job:
    """A submitted (or attached) shot. Iterate `events()` once; it ends after Done, Error or
    Cancelled. Frames that did not arrive (a slow reader overflowing the server's send queue)
    are fetched again from the server's stored results before Done is yielded."""

    def __init__(self, client: "Client", job_id: str, num_frames: int, first_events=(), from_frame: int = 0):
        self.client, self.id, self.num_frames = client, job_id, num_frames
        self._queue: deque = deque(first_events)
        self._seen: set[int] = set(range(from_frame))
        self._recoveries = 0
        self.finished = False

    def events(self, timeout: float | None = None):
        """Yield typed events until the job ends. `timeout` (seconds) bounds the whole iteration;
        None waits as long as the server keeps answering heartbeats."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            while self._queue:
                header, blobs = self._queue.popleft()
                kind = header.get("type")
                if kind == P.FRAME:
                    index = header.get("index")
                    if index in self._seen:
                        continue
                    self._seen.add(index)
                elif kind == P.DONE and self._recover_missing(header):
                    continue
                event = _event(header, blobs)
                if event is None:
                    continue
                if kind in P.TERMINAL_TYPES:
                    self.finished = True
                    self.client._forget(self.id)
                yield event
                if self.finished:
                    return
            if deadline is not None and time.monotonic() > deadline:
                raise BackendUnavailable(f"job {self.id}: no end within {timeout} s")
            self.client._pump(self.id)

    def _recover_missing(self, header: dict) -> bool:
        missing = [i for i in range(int(header.get("num_frames", 0))) if i not in self._seen]
        if not missing or self._recoveries >= 3:
            return False
        self._recoveries += 1
        self.client._send(P.message(P.ATTACH, job=self.id, from_frame=missing[0]))
        return True

    def wait(self, on_frame=None, on_progress=None, timeout: float | None = None) -> Done:
        """Consume the events; returns Done, raises JobFailed / JobCancelled."""
        for event in self.events(timeout):
            if isinstance(event, Frame) and on_frame:
                on_frame(event)
            elif isinstance(event, Progress) and on_progress:
                on_progress(event)
            elif isinstance(event, Done):
                return event
            elif isinstance(event, Error):
                raise JobFailed(self.id, event.code, event.field, event.message)
            elif isinstance(event, Cancelled):
                raise JobCancelled(self.id, event.reason)
        raise BackendError(f"job {self.id}: events ended without a result")

    def cancel(self) -> dict:
        """Ask the server to cancel; a Cancelled event (or Done, if it was too late) follows."""
        return self.client.cancel(self.id)

    def status(self) -> dict:
        return self.client.status(self.id)


# ----------------------------------------------------------------------------- client

class Client:
    def __init__(self, address: str, keys=None, timeout: float = 10.0,
                 heartbeat_s: float = P.HEARTBEAT_INTERVAL_S, dead_after_s: float | None = None):
        self.address, self.timeout = address, float(timeout)
        self.heartbeat_s = float(heartbeat_s)
        self.dead_after_s = float(dead_after_s) if dead_after_s else self.heartbeat_s * (P.HEARTBEAT_LIVENESS + 1)
        self._context = zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.linger = 0
        self._socket.rcvhwm = 0
        apply_client_keys(self._socket, keys)
        self._socket.connect(address)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._replies: dict[int, tuple] = {}
        self._waiting: set[int] = set()
        self._jobs: dict[str, Job] = {}
        self._unclaimed: list = []
        self._last_heard = self._last_sent = time.monotonic()
        self._hash_memo: dict[tuple, str] = {}

    # -------------------------------------------------------------- plumbing
    def close(self) -> None:
        with self._lock:
            self._socket.close(linger=0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, header: dict, blobs=()) -> None:
        with self._lock:
            self._socket.send_multipart([P.pack(header), *blobs], copy=len(blobs) == 0)
            self._last_sent = time.monotonic()

    def _receive(self, wait_s: float) -> bool:
        """Receive and route at most a batch of messages; False when nothing arrived."""
        if not self._socket.poll(max(0, int(wait_s * 1000))):
            return False
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return True
            self._last_heard = time.monotonic()
            try:
                header = P.unpack_header(frames[0].buffer)
            except ProtocolError as exc:
                if exc.code == P.E_UNSUPPORTED_VERSION:
                    self._version_mismatch(frames[0].bytes)
                continue
            blobs = [f.buffer for f in frames[1:]]
            req = P.request_id(header)
            if header.get("type") == P.ERROR and header.get("code") == P.E_UNSUPPORTED_VERSION and req is None:
                for waiting in self._waiting:  # the server refused our version before reading `req`
                    self._replies.setdefault(waiting, (header, blobs))
                continue
            if req is not None and req in self._waiting:
                self._replies[req] = (header, blobs)
            elif isinstance(header.get("job"), str) and header["job"] in self._jobs:
                self._jobs[header["job"]]._queue.append((header, blobs))
            elif isinstance(header.get("job"), str) and self._waiting and len(self._unclaimed) < 10000:
                self._unclaimed.append((header, blobs))  # events of a job whose submit reply is being read

    def _version_mismatch(self, data: bytes) -> None:
        """A message in another protocol version: every request waiting for an answer fails with
        unsupported_version (rather than timing out as if nobody were there)."""
        try:
            header = msgpack.unpackb(data, raw=False, strict_map_key=False)
            version = header.get("v")
        except Exception:  # noqa: BLE001 - undecodable: only the version is known to differ
            version = "?"
        error = P.message(P.ERROR, code=P.E_UNSUPPORTED_VERSION, field="v",
                          message=f"the server at {self.address} speaks protocol version {version}; "
                                  f"this client speaks {P.PROTOCOL_VERSION}")
        for waiting in self._waiting:
            self._replies.setdefault(waiting, (error, []))

    def _pump(self, job_id: str) -> None:
        """Wait a little for messages (called by Job.events); heartbeat; detect a dead server."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job._queue:
                return
            self._receive(min(0.1, self.heartbeat_s))
            now = time.monotonic()
            silent = now - self._last_heard
            if now - self._last_sent >= self.heartbeat_s:
                kind = P.PING if silent >= self.heartbeat_s else P.HEARTBEAT
                self._send(P.message(kind))
            if silent > self.dead_after_s:
                raise BackendUnavailable(f"the server at {self.address} stopped answering ({silent:.1f} s of silence)")

    def _request(self, header: dict, blobs=(), timeout: float | None = None) -> tuple[dict, list]:
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            req = next(self._ids)
            header["req"] = req
            self._waiting.add(req)
            try:
                self._send(header, blobs)
                deadline = time.monotonic() + timeout
                while req not in self._replies:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise BackendUnavailable(
                            f"no answer from {self.address} within {timeout:g} s to {header['type']} "
                            "(is `anix serve` running there, and are the keys right?)")
                    self._receive(min(left, 0.1))
                reply, reply_blobs = self._replies.pop(req)
            finally:
                self._waiting.discard(req)
                self._replies.pop(req, None)
        if reply.get("type") == P.ERROR:
            raise ProtocolError(str(reply.get("code")), str(reply.get("field", "")), str(reply.get("message", "")))
        return reply, reply_blobs

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    # -------------------------------------------------------------- requests
    def hello(self) -> dict:
        """Server information: protocol, server_version, generators, default_generator, limits."""
        reply, _ = self._request(P.message(P.HELLO, client="anix-python"))
        if reply.get("protocol", P.PROTOCOL_VERSION) != P.PROTOCOL_VERSION:
            raise ProtocolError(P.E_UNSUPPORTED_VERSION, "protocol",
                                f"the server at {self.address} speaks protocol version {reply.get('protocol')}; "
                                f"this client speaks {P.PROTOCOL_VERSION}")
        return reply

    def ping(self, timeout: float | None = None) -> float:
        """Round trip time in seconds."""
        t = time.perf_counter()
        self._request(P.message(P.PING), timeout=timeout)
        return time.perf_counter() - t

    def has_scene(self, sha256: str, size: int) -> int:
        """Bytes of the scene the server holds: `size` when complete, else where to resume."""
        reply, _ = self._request(P.message(P.HAS_SCENE, sha256=sha256, size=size))
        return int(reply["offset"])

    def ensure_scene(self, path, on_progress=None, chunk_bytes: int = P.MAX_CHUNK_BYTES) -> str:
        """Make sure the server holds the scene file; uploads only the missing bytes. Returns its
        sha256. on_progress(bytes_held, total_bytes) after each chunk."""
        path = Path(path).expanduser()
        ext = path.suffix.lower()
        if ext not in P.SCENE_EXTENSIONS:
            raise ValueError(f"{path}: scene files must end in {', '.join(P.SCENE_EXTENSIONS)}")
        if not 0 < chunk_bytes <= P.MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be in (0, {P.MAX_CHUNK_BYTES}]")
        sha, size = self._file_sha256(path), path.stat().st_size
        offset = self.has_scene(sha, size)
        if on_progress:
            on_progress(offset, size)
        with open(path, "rb") as f:
            retries = 0
            while offset < size:
                f.seek(offset)
                chunk = f.read(min(chunk_bytes, size - offset))
                try:
                    reply, _ = self._request(P.message(P.PUT_SCENE, sha256=sha, size=size, offset=offset, ext=ext), [chunk])
                except ProtocolError as exc:
                    if exc.code != P.E_BAD_OFFSET or retries >= 3:
                        raise
                    retries += 1
                    offset = self.has_scene(sha, size)
                    continue
                offset = int(reply["offset"])
                if on_progress:
                    on_progress(offset, size)
        return sha

    def _file_sha256(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._hash_memo:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(8 * P.MiB), b""):
                    h.update(block)
            self._hash_memo[key] = h.hexdigest()
        return self._hash_memo[key]

    def submit(self, request: dict, views: dict | None = None) -> Job:
        """Queue a shot. `request` holds the fields of docs/PROTOCOL.md "submit" except views;
        `views` maps view names (front, left, back, right) to PNG bytes or PNG file paths."""
        request = dict(request)
        names, blobs = [], []
        for name, value in (views or {}).items():
            names.append(name)
            blobs.append(Path(value).expanduser().read_bytes() if isinstance(value, (str, os.PathLike)) else bytes(value))
        request["views"] = names
        checked = P.check_submit({"request": request}, blobs)  # the same checks the server makes, before sending
        if checked["generator"]:
            P.check_generator_options(checked["generator"], checked["options"])
        with self._lock:
            reply, _ = self._request(P.message(P.SUBMIT, request=request), blobs)
            job = Job(self, reply["job"], int(reply.get("num_frames", request.get("num_frames", 0))))
            job._queue.append((reply, []))
            job._queue.extend(m for m in self._unclaimed if m[0].get("job") == job.id)
            self._unclaimed.clear()
            self._jobs[job.id] = job
        return job

    def attach(self, job_id: str, from_frame: int = 0) -> Job:
        """Follow a job submitted earlier (by this or another client): the stored frames from
        `from_frame` on are sent again, then live events; ended jobs replay their last event."""
        with self._lock:
            job = Job(self, job_id, 0, from_frame=from_frame)
            self._jobs[job_id] = job
            try:
                reply, _ = self._request(P.message(P.ATTACH, job=job_id, from_frame=from_frame))
            except BaseException:
                self._jobs.pop(job_id, None)
                raise
            job.num_frames = int(reply.get("num_frames", 0))
        return job

    def cancel(self, job_id: str) -> dict:
        reply, _ = self._request(P.message(P.CANCEL, job=job_id))
        return reply

    def status(self, job_id: str) -> dict:
        """state (queued|running|done|failed|cancelled), frames_ready, num_frames, queue_position."""
        reply, _ = self._request(P.message(P.STATUS, job=job_id))
        return reply


def apply_client_keys(socket: zmq.Socket, keys) -> None:
    """CURVE client set-up. `keys`: a folder with client.key_secret and server.key (as written by
    `anix keys generate`), or a tuple (client_public, client_secret, server_public) of z85 bytes."""
    if keys is None:
        return
    if isinstance(keys, (str, os.PathLike)):
        import zmq.auth

        d = Path(keys).expanduser()
        for name in ("client.key_secret", "server.key"):
            if not (d / name).is_file():
                raise ValueError(f"{d / name} not found: a client needs client.key_secret and server.key "
                                 "from `anix keys generate`")
        client_public, client_secret = zmq.auth.load_certificate(str(d / "client.key_secret"))
        server_public, _ = zmq.auth.load_certificate(str(d / "server.key"))
    else:
        client_public, client_secret, server_public = keys
    socket.curve_publickey = client_public
    socket.curve_secretkey = client_secret
    socket.curve_serverkey = server_public
