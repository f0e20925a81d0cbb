"""Frames of finished and running jobs, kept on disk so a client that comes back can attach.

A job's frames live under ``<root>/<job_id>/<index>.bin`` with their frame header kept in
memory. Results of a finished job are kept at least `ttl_s` seconds after it ends; beyond that,
or when the total exceeds `max_bytes` (oldest finished jobs first, never younger than `ttl_s`
unless the bound forces it), they are removed. Stdlib only.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path


class ResultStore:
    def __init__(self, root: str | Path, ttl_s: float = 1800.0, max_bytes: int = 8 * 1024**3):
        self.root = Path(root)
        shutil.rmtree(self.root, ignore_errors=True)  # frames of a previous server run have no job records
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._frames: dict[str, dict[int, dict]] = {}   # job -> index -> frame header
        self._bytes: dict[str, int] = {}
        self._ended: dict[str, float] = {}              # job -> monotonic end time
        self._info: dict[str, dict] = {}                # job -> what the job left besides frames (end_anchor)

    def add_job(self, job_id: str) -> None:
        (self.root / job_id).mkdir(exist_ok=True)
        self._frames[job_id] = {}
        self._bytes[job_id] = 0

    def put_frame(self, job_id: str, index: int, header: dict, data) -> None:
        if job_id not in self._frames:
            return
        (self.root / job_id / f"{index:05d}.bin").write_bytes(data)
        self._frames[job_id][index] = header
        self._bytes[job_id] += len(data)
        self.enforce_bound()

    def frames(self, job_id: str, from_frame: int = 0):
        """Yield (header, bytes) of the stored frames with index >= from_frame, in order."""
        for index in sorted(i for i in self._frames.get(job_id, {}) if i >= from_frame):
            path = self.root / job_id / f"{index:05d}.bin"
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            yield self._frames[job_id][index], data

    def frame_files(self, job_id: str, last: int) -> list[tuple[dict, Path]]:
        """(header, file) of the job's last `last` stored frames, in index order."""
        indices = sorted(self._frames.get(job_id, {}))[-last:] if last > 0 else []
        return [(self._frames[job_id][i], self.root / job_id / f"{i:05d}.bin") for i in indices]

    def set_info(self, job_id: str, **info) -> None:
        """Keep small facts about a job's result (e.g. the character's end anchor) with its frames."""
        if job_id in self._frames:
            self._info.setdefault(job_id, {}).update(info)

    def info(self, job_id: str) -> dict:
        return dict(self._info.get(job_id, {}))

    def count(self, job_id: str) -> int:
        return len(self._frames.get(job_id, {}))

    def mark_ended(self, job_id: str) -> None:
        self._ended[job_id] = time.monotonic()

    def has(self, job_id: str) -> bool:
        return job_id in self._frames

    def expire(self) -> list[str]:
        """Drop finished jobs older than ttl_s; returns their ids."""
        now = time.monotonic()
        old = [j for j, t in self._ended.items() if now - t > self.ttl_s]
        for job_id in old:
            self._drop(job_id)
        return old

    def enforce_bound(self) -> list[str]:
        dropped = []
        for job_id, _ in sorted(self._ended.items(), key=lambda kv: kv[1]):
            if sum(self._bytes.values()) <= self.max_bytes:
                break
            self._drop(job_id)
            dropped.append(job_id)
        return dropped

    def _drop(self, job_id: str) -> None:
        shutil.rmtree(self.root / job_id, ignore_errors=True)
        self._frames.pop(job_id, None)
        self._bytes.pop(job_id, None)
        self._ended.pop(job_id, None)
        self._info.pop(job_id, None)
