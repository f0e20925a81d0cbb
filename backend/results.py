"""Frames and records of jobs, kept on disk so a client that comes back (or a restarted server)
can attach.

A job lives in ``<root>/<job_id>/``: its frames as ``<index>.bin`` (the frame's bytes as sent)
and ``job.json``, its record (JSON, written atomically: temp file + rename). The record is
written when the job is accepted (``state`` ``queued``) and again when it ends, with its final
state, its terminal event, its frames' headers and sizes, its end time (wall clock) and small
facts such as the character's end anchor. A new server on the same folder reloads the ended
jobs still within `ttl_s`; a job whose record never got its end (it was queued or running when
the server stopped) is kept only as *lost*: its frames are deleted and asking for it says so.

Results of an ended job are kept at least `ttl_s` seconds after it ends; beyond that, or when
the total exceeds `max_bytes` (oldest ended jobs first), they are removed. Stdlib only; what is
read back is validated and never unpickled.

Thread safety: the server calls the methods that touch the disk (add_job, mark_running,
put_frame, mark_ended, expire) from its disk thread and the cheap lookups (count, frame_entry,
indices, info, has, lost) from its event loop; one lock guards the tables, never a disk operation.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

RECORD = "job.json"
RECORD_VERSION = 1
ENDED_STATES = ("done", "failed", "cancelled")
TERMINAL_TYPES = {"done": "done", "failed": "error", "cancelled": "cancelled"}
ENCODINGS = ("png", "raw")
_JOB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_MAX_RECORD_BYTES = 4 * 1024 * 1024


class RecordError(ValueError):
    """A job record on disk that cannot be used (unreadable, malformed or not matching its frames)."""


def _log(message: str) -> None:
    print(f"anix serve: {message}", file=sys.stderr, flush=True)


class ResultStore:
    def __init__(self, root: str | Path, ttl_s: float = 1800.0, max_bytes: int = 8 * 1024**3, log=_log):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.log = log
        self._frames: dict[str, dict[int, dict]] = {}   # job -> index -> frame header
        self._bytes: dict[str, int] = {}
        self._ended: dict[str, float] = {}              # job -> monotonic end time
        self._info: dict[str, dict] = {}                # job -> what the job left besides frames (end_anchor)
        self._meta: dict[str, dict] = {}                # job -> record fields (num_frames, generator, encoding, created)
        self._lost: dict[str, tuple[float, str]] = {}   # job -> (monotonic time it was found unfinished,
                                                        #         "queued" or "running" or "" if unknown)
        self._dropped: list[str] = []                   # jobs removed by expiry or the size bound, not yet taken
        self._lock = threading.RLock()
        self.reloaded: list[dict] = self._reload()      # records of the ended jobs found on disk

    # ------------------------------------------------------------------ jobs
    def add_job(self, job_id: str, num_frames: int = 0, generator: str = "", encoding: str = "png") -> None:
        """A new job (state queued): known at once, its record written now."""
        self.register(job_id, num_frames, generator, encoding)
        self.write_record(job_id, "queued")

    def register(self, job_id: str, num_frames: int = 0, generator: str = "", encoding: str = "png") -> None:
        """A new job in the tables only (no disk work); `write_record` puts it on disk."""
        with self._lock:
            self._frames[job_id] = {}
            self._bytes[job_id] = 0
            self._meta[job_id] = {"num_frames": int(num_frames), "generator": generator, "encoding": encoding,
                                  "created": time.time()}

    def write_record(self, job_id: str, state: str) -> None:
        """(Re)write the record of a job that has not ended: `queued` or `running`, so a restart
        says which it was."""
        if not self.has(job_id):
            return
        try:
            (self.root / job_id).mkdir(exist_ok=True)
            self._write_record(job_id, state, None)
        except OSError as exc:
            self.log(f"cannot write the record of job {job_id} ({exc})")

    def put_frame(self, job_id: str, index: int, header: dict, data) -> None:
        if not self.has(job_id):
            return
        (self.root / job_id).mkdir(exist_ok=True)
        self._frame_path(job_id, index).write_bytes(data)
        with self._lock:
            if job_id not in self._frames:  # dropped while the frame was written
                return
            old = self._frames[job_id].get(index)
            self._frames[job_id][index] = dict(header, size=len(data))
            self._bytes[job_id] += len(data) - (old["size"] if old else 0)
        self.enforce_bound()

    def frame_entry(self, job_id: str, index: int) -> tuple[dict, Path, int] | None:
        """(event header, file, size in bytes) of a stored frame, or None."""
        with self._lock:
            stored = self._frames.get(job_id, {}).get(index)
            if stored is None:
                return None
            return _header(stored), self._frame_path(job_id, index), stored["size"]

    def indices(self, job_id: str, from_frame: int = 0) -> list[int]:
        """Indices of the stored frames of a job with index >= from_frame, in order."""
        with self._lock:
            return sorted(i for i in self._frames.get(job_id, {}) if i >= from_frame)

    def frame_files(self, job_id: str, last: int) -> list[tuple[dict, Path]]:
        """(header, file) of the job's last `last` stored frames, in index order."""
        with self._lock:
            indices = sorted(self._frames.get(job_id, {}))[-last:] if last > 0 else []
            return [(_header(self._frames[job_id][i]), self._frame_path(job_id, i)) for i in indices]

    def _frame_path(self, job_id: str, index: int) -> Path:
        return self.root / job_id / _frame_name(index)

    def set_info(self, job_id: str, **info) -> None:
        """Keep small facts about a job's result (e.g. the character's end anchor) with its frames."""
        with self._lock:
            if job_id in self._frames:
                self._info.setdefault(job_id, {}).update(info)

    def info(self, job_id: str) -> dict:
        with self._lock:
            return dict(self._info.get(job_id, {}))

    def count(self, job_id: str) -> int:
        with self._lock:
            return len(self._frames.get(job_id, {}))

    def mark_ended(self, job_id: str, state: str = "done", terminal: dict | None = None) -> None:
        """The job ended: its TTL starts now and its final record is written."""
        with self._lock:
            if job_id not in self._frames:
                return
            self._ended[job_id] = time.monotonic()
        if state in ENDED_STATES:
            try:
                (self.root / job_id).mkdir(exist_ok=True)
                self._write_record(job_id, state, terminal)
            except OSError as exc:
                self.log(f"cannot write the record of job {job_id} ({exc}); it will not survive a restart")

    def has(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._frames

    def lost(self, job_id: str) -> bool:
        """True for a job that was queued or running when the previous server stopped."""
        with self._lock:
            return job_id in self._lost

    def lost_state(self, job_id: str) -> str:
        """`queued` or `running`: what a lost job was when the previous server stopped ("" if unknown)."""
        with self._lock:
            return self._lost.get(job_id, (0.0, ""))[1]

    def expire(self) -> list[str]:
        """Drop ended jobs older than ttl_s; returns their ids."""
        now = time.monotonic()
        with self._lock:
            old = [j for j, t in self._ended.items() if now - t > self.ttl_s]
            gone = [j for j, (t, _) in self._lost.items() if now - t > self.ttl_s]
            for job_id in gone:
                self._lost.pop(job_id, None)
        for job_id in old:
            self._drop(job_id)
        for job_id in gone:
            shutil.rmtree(self.root / job_id, ignore_errors=True)
        return old

    def enforce_bound(self) -> list[str]:
        dropped = []
        while True:
            with self._lock:
                if sum(self._bytes.values()) <= self.max_bytes or not self._ended:
                    break
                job_id = min(self._ended, key=self._ended.get)
            self._drop(job_id)
            dropped.append(job_id)
        return dropped

    def take_dropped(self) -> list[str]:
        """Jobs removed (expired or over the size bound) since the last call."""
        with self._lock:
            dropped, self._dropped = self._dropped, []
            return dropped

    def total_bytes(self) -> int:
        with self._lock:
            return sum(self._bytes.values())

    def _drop(self, job_id: str) -> None:
        with self._lock:
            for table in (self._frames, self._bytes, self._ended, self._info, self._meta):
                table.pop(job_id, None)
            self._dropped.append(job_id)
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    # ------------------------------------------------------------------ records
    def _write_record(self, job_id: str, state: str, terminal: dict | None, ended: float | None = None) -> None:
        with self._lock:
            meta = dict(self._meta.get(job_id, {}))
            info = dict(self._info.get(job_id, {}))
            frames = [[i, h["encoding"], h["width"], h["height"], h["channels"], h["size"]]
                      for i, h in sorted(self._frames.get(job_id, {}).items())]
        record = {
            "version": RECORD_VERSION, "job": job_id, "state": state,
            "created": meta.get("created", time.time()),
            "ended": ended if ended is not None else (time.time() if state in ENDED_STATES else None),
            "num_frames": meta.get("num_frames", 0), "generator": meta.get("generator", ""),
            "encoding": meta.get("encoding", "png"), "terminal": terminal, "info": info, "frames": frames,
            "was": meta.get("was"),
        }
        path = self.root / job_id / RECORD
        tmp = path.with_name(RECORD + ".tmp")
        tmp.write_text(json.dumps(record, separators=(",", ":"), allow_nan=False), encoding="utf-8")
        os.replace(tmp, path)

    def _reload(self) -> list[dict]:
        """Load what a previous server left in root; returns the records of the ended jobs kept."""
        kept = []
        now_wall, now = time.time(), time.monotonic()
        for entry in sorted(self.root.iterdir()):
            if not entry.is_dir() or not _JOB_ID.fullmatch(entry.name):
                _remove(entry)
                continue
            job_id = entry.name
            try:
                record = _read_record(entry, job_id)
            except RecordError as exc:
                self.log(f"skipping stored results of job {job_id}: {exc}")
                _remove(entry)
                continue
            if record["state"] in ("queued", "running", "lost"):
                ended = record["ended"] if record["state"] == "lost" else now_wall
                if now_wall - ended > self.ttl_s:
                    _remove(entry)
                    continue
                if record["state"] != "lost":
                    self.log(f"job {job_id} was {record['state']} when the server stopped; it is lost")
                for f in entry.iterdir():
                    if f.name != RECORD:
                        _remove(f)
                was = record["state"] if record["state"] != "lost" else record.get("was")
                self._lost[job_id] = (now - max(0.0, now_wall - ended), was if was in ("queued", "running") else "")
                if record["state"] != "lost":
                    self._meta[job_id] = {k: record[k] for k in ("num_frames", "generator", "encoding", "created")}
                    self._meta[job_id]["was"] = record["state"]
                    try:
                        self._write_record(job_id, "lost", None, ended=now_wall)
                    except OSError:
                        pass
                    self._meta.pop(job_id, None)
                continue
            age = max(0.0, now_wall - record["ended"])
            if age > self.ttl_s:
                _remove(entry)
                continue
            frames = {}
            for index, encoding, width, height, channels, size in record["frames"]:
                frames[index] = {"v": 1, "type": "frame", "job": job_id, "index": index, "encoding": encoding,
                                 "width": width, "height": height, "channels": channels, "size": size}
            self._frames[job_id] = frames
            self._bytes[job_id] = sum(h["size"] for h in frames.values())
            self._ended[job_id] = now - age
            self._info[job_id] = dict(record["info"])
            self._meta[job_id] = {k: record[k] for k in ("num_frames", "generator", "encoding", "created")}
            kept.append(record)
        self.enforce_bound()
        return [r for r in kept if r["job"] in self._frames]


def _header(stored: dict) -> dict:
    return {k: v for k, v in stored.items() if k != "size"}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def _int(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _time(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _read_record(folder: Path, job_id: str) -> dict:
    """The validated record of the job in `folder`; RecordError says what is wrong with it."""
    path = folder / RECORD
    try:
        if path.is_symlink() or not path.is_file():
            raise RecordError("no job record (an unfinished write)")
        if path.stat().st_size > _MAX_RECORD_BYTES:
            raise RecordError("job record too large")
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(f"unreadable job record ({type(exc).__name__}: {exc})") from None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION or record.get("job") != job_id:
        raise RecordError("not a job record of this version for this job")
    state = record.get("state")
    if state not in ("queued", "running", "lost", *ENDED_STATES):
        raise RecordError(f"unknown state {state!r}")
    if not _time(record.get("created")) or not (record.get("ended") is None or _time(record.get("ended"))):
        raise RecordError("bad created/ended time")
    if not _int(record.get("num_frames"), 0, 1 << 20) or not isinstance(record.get("generator"), str) or \
            record.get("encoding") not in ENCODINGS or not isinstance(record.get("info"), dict):
        raise RecordError("bad num_frames, generator, encoding or info")
    if state == "lost" and record["ended"] is None:
        raise RecordError("a lost job without the time it was found")
    if state not in ENDED_STATES:
        return record
    if record["ended"] is None:
        raise RecordError("an ended job without its end time")
    terminal = record.get("terminal")
    if not isinstance(terminal, dict) or terminal.get("type") != TERMINAL_TYPES[state] or terminal.get("job") != job_id \
            or terminal.get("v") != 1:
        raise RecordError("terminal event missing or not matching the state")
    frames = record.get("frames")
    if not isinstance(frames, list):
        raise RecordError("bad frame list")
    seen = set()
    for item in frames:
        if not (isinstance(item, list) and len(item) == 6 and _int(item[0], 0, 1 << 20) and item[1] in ENCODINGS
                and _int(item[2], 1, 1 << 16) and _int(item[3], 1, 1 << 16) and _int(item[4], 1, 4)
                and _int(item[5], 0, 1 << 40)) or item[0] in seen:
            raise RecordError(f"bad frame entry {str(item)[:80]}")
        index, encoding, width, height, channels, size = item
        if encoding == "raw" and size != width * height * channels:
            raise RecordError(f"frame {index}: {size} bytes for a {width}x{height}x{channels} raw frame")
        seen.add(index)
        frame = folder / _frame_name(index)
        try:
            if frame.is_symlink() or frame.stat().st_size != size:
                raise RecordError(f"frame {index} does not match its record")
        except OSError:
            raise RecordError(f"frame {index} is missing") from None
    return record


def _frame_name(index: int) -> str:
    """The file of frame `index` in its job's folder."""
    return f"{index:05d}.bin"
