"""Content-addressed scene store on disk: chunked, resumable, verified uploads; LRU eviction
under a byte bound that never evicts a scene a queued or running job uses.

Layout under `root`: ``<sha256><ext>`` for complete scenes, ``partial/<sha256><ext>`` for uploads
in progress. A partial upload is resumed from its current length, also after a server restart.

Fairness: an upload in progress holds only the bytes it has received (a 1-byte upload that
declares 16 GiB holds 1 byte); its declared size must fit the free space when it starts (the
bound minus the scenes jobs use and the bytes other uploads hold); each client has at most
`MAX_UPLOADS_PER_CLIENT` uploads in progress, declaring at most the bound together; an upload
without a chunk for `PARTIAL_STALE_S` is dropped, and when `MAX_PARTIAL_UPLOADS` are in progress
one idle for `PARTIAL_IDLE_S` gives way to a new one. Scenes are evicted (least recently used
first, never one a job uses) only when received bytes need the room.

Thread safety: `put_chunk` (disk writes, hashing) runs on the server's disk thread, the lookups
on its event loop; one lock guards the tables. Stdlib only (the server process imports no numpy).
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import protocol as P

MAX_PARTIAL_UPLOADS = 16          # uploads in progress, server-wide
MAX_UPLOADS_PER_CLIENT = 4        # uploads in progress whose last chunk came from one client
PARTIAL_STALE_S = 600.0           # an upload with no chunk for 10 minutes is dropped
PARTIAL_IDLE_S = 60.0             # with 16 in progress, one idle this long gives way to a new upload


@dataclass
class _Upload:
    path: Path
    size: int | None                  # None: a partial file left by an earlier server, size not yet announced
    ext: str
    hasher: "hashlib._Hash | None"    # None until the bytes on disk are hashed (resume after a restart)
    offset: int
    owner: bytes = b""                # the client that sent the last chunk
    touched: float = field(default_factory=time.monotonic)


def parse_size(text: str) -> int:
    """'20GB', '512M', '1.5GiB', '1000' -> bytes (K/M/G/T, decimal or binary alike: powers of 1024)."""
    s = str(text).strip().upper().replace("IB", "").rstrip("B")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    mult = 1
    if s and s[-1] in units:
        mult, s = units[s[-1]], s[:-1]
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"cannot read size {text!r}; write e.g. 20GB or 512MB") from None
    if value <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return int(value * mult)


class SceneCache:
    def __init__(self, root: str | Path, max_bytes: int):
        self.root = Path(root)
        self.partial_dir = self.root / "partial"
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self._pins: dict[str, int] = {}
        self._uploads: dict[str, _Upload] = {}
        self._lock = threading.RLock()
        self._adopt_partials()

    def _adopt_partials(self) -> None:
        """Partial files an earlier server left: stale ones are deleted, the others count as
        uploads in progress (resumable; their bytes are hashed when the next chunk comes)."""
        now_wall, now = time.time(), time.monotonic()
        for p in self.partial_dir.iterdir():
            sha, ext = p.stem, p.suffix
            try:
                age = now_wall - p.stat().st_mtime
            except OSError:
                continue
            if not (p.is_file() and P.is_sha256(sha) and ext in P.SCENE_EXTENSIONS) or age > PARTIAL_STALE_S \
                    or sha in self._uploads:
                p.unlink(missing_ok=True)
                continue
            self._uploads[sha] = _Upload(path=p, size=None, ext=ext, hasher=None, offset=p.stat().st_size,
                                         touched=now - max(0.0, age))

    # ---------------------------------------------------------------- lookup
    def path(self, sha: str) -> Path | None:
        """Path of a complete scene, or None."""
        for ext in P.SCENE_EXTENSIONS:
            p = self.root / f"{sha}{ext}"
            if p.is_file():
                return p
        return None

    def touch(self, sha: str) -> None:
        p = self.path(sha)
        if p is not None:
            try:
                os.utime(p)
            except OSError:
                pass

    def resume_offset(self, sha: str) -> int:
        """Bytes of `sha` already held: its size if complete, else the partial length (0 if none)."""
        p = self.path(sha)
        if p is not None:
            return p.stat().st_size
        with self._lock:
            up = self._uploads.get(sha)
            return up.offset if up is not None else 0

    # ---------------------------------------------------------------- pins
    def pin(self, sha: str) -> None:
        with self._lock:
            self._pins[sha] = self._pins.get(sha, 0) + 1

    def unpin(self, sha: str) -> None:
        with self._lock:
            n = self._pins.get(sha, 0) - 1
            if n <= 0:
                self._pins.pop(sha, None)
            else:
                self._pins[sha] = n

    # ---------------------------------------------------------------- upload
    def put_chunk(self, sha: str, size: int, offset: int, ext: str, chunk, owner: bytes = b"") -> int:
        """Append one chunk; returns the next expected offset (== size when the scene is complete
        and verified). Raises ProtocolError for a wrong offset, a hash mismatch or no room."""
        if self.path(sha) is not None:
            return size  # already complete; later chunks of a duplicate upload are harmless
        with self._lock:
            up = self._uploads.get(sha)
            if up is None or up.size is None:
                held = up.offset if up is not None else 0
                if offset != held:  # checked before anything is reserved for this upload
                    raise P.ProtocolError(P.E_BAD_OFFSET, "offset", f"expected offset {held}, got {offset}")
            up = self._open_upload(sha, size, ext, owner)
            if offset != up.offset:
                raise P.ProtocolError(P.E_BAD_OFFSET, "offset", f"expected offset {up.offset}, got {offset}")
            self._make_room(len(chunk), sha)
            up.owner, up.touched = owner, time.monotonic()
        if up.hasher is None:  # resumed after a restart: hash what is there (on the disk thread)
            up.hasher = _hash_file(up.path)
        with open(up.path, "ab") as f:
            f.write(chunk)
        up.hasher.update(chunk)
        with self._lock:
            up.offset += len(chunk)
            up.touched = time.monotonic()
            if up.offset < size:
                return up.offset
            self._uploads.pop(sha, None)
        if up.hasher.hexdigest() != sha:
            up.path.unlink(missing_ok=True)
            raise P.ProtocolError(P.E_HASH_MISMATCH, "sha256", "uploaded bytes do not hash to the announced sha256; upload discarded")
        os.replace(up.path, self.root / f"{sha}{ext}")
        return size

    def _open_upload(self, sha: str, size: int, ext: str, owner: bytes) -> _Upload:
        up = self._uploads.get(sha)
        if up is not None and up.size is not None:
            if up.size != size:
                raise P.ProtocolError(P.E_INVALID_FIELD, "size", f"an upload of this scene with size {up.size} is in progress")
            if up.ext != ext:
                raise P.ProtocolError(P.E_INVALID_FIELD, "ext", f"an upload of this scene with ext {up.ext} is in progress")
            if up.owner != owner:
                self._check_client_room(owner, size)
            return up
        self.drop_stale_uploads()
        up = self._uploads.get(sha)  # a leftover that just went stale is gone, its file too
        if size > self.max_bytes:
            raise P.ProtocolError(P.E_TOO_LARGE, "size", f"scene is {size} bytes, the cache holds at most {self.max_bytes}")
        if up is None and len(self._uploads) >= MAX_PARTIAL_UPLOADS and not self._drop_idlest(PARTIAL_IDLE_S):
            raise P.ProtocolError(P.E_CACHE_FULL, "sha256", f"{MAX_PARTIAL_UPLOADS} uploads are in progress and none "
                                  f"has been idle for {PARTIAL_IDLE_S:g} s; retry later")
        self._check_client_room(owner, size)
        free = self.max_bytes - self._pinned_bytes() - self._partial_bytes(exclude=sha)
        if size > free:  # free counts the scenes no job uses: they can be evicted for it
            raise P.ProtocolError(P.E_CACHE_FULL, "size", self._no_room_message(size, sha))
        for other in P.SCENE_EXTENSIONS:  # a partial under another extension is a different upload
            if other != ext:
                (self.partial_dir / f"{sha}{other}").unlink(missing_ok=True)
        path = self.partial_dir / f"{sha}{ext}"
        if up is not None and (up.offset > size or up.ext != ext):  # a leftover that cannot be this upload
            up.path.unlink(missing_ok=True)
            up = None
        if up is None:
            path.unlink(missing_ok=True)
            up = _Upload(path=path, size=size, ext=ext, hasher=hashlib.sha256(), offset=0, owner=owner)
        up.size, up.owner = size, owner
        self._uploads[sha] = up
        return up

    def _check_client_room(self, owner: bytes, size: int) -> None:
        mine = [u for u in self._uploads.values() if u.owner == owner and owner]
        if len(mine) >= MAX_UPLOADS_PER_CLIENT:
            raise P.ProtocolError(P.E_CACHE_FULL, "sha256", f"this client has {len(mine)} uploads in progress, limit "
                                  f"{MAX_UPLOADS_PER_CLIENT}; finish one first (an upload without a chunk for "
                                  f"{PARTIAL_STALE_S:g} s is dropped)")
        declared = sum(u.size or u.offset for u in mine)
        if declared + size > self.max_bytes:
            raise P.ProtocolError(P.E_CACHE_FULL, "size", f"this client's uploads in progress declare {declared} bytes; "
                                  f"with this one {declared + size}, over the cache bound {self.max_bytes}")

    def _drop_idlest(self, idle_s: float) -> bool:
        """Drop the upload idle longest if it has been idle at least `idle_s`; True if one went."""
        if not self._uploads:
            return False
        sha, up = min(self._uploads.items(), key=lambda kv: kv[1].touched)
        if time.monotonic() - up.touched < idle_s:
            return False
        up.path.unlink(missing_ok=True)
        del self._uploads[sha]
        return True

    def drop_stale_uploads(self, max_age_s: float = PARTIAL_STALE_S) -> None:
        with self._lock:
            now = time.monotonic()
            for sha, up in list(self._uploads.items()):
                if now - up.touched > max_age_s:
                    up.path.unlink(missing_ok=True)
                    del self._uploads[sha]

    # ---------------------------------------------------------------- size bound
    def _entries(self):
        out = []
        for p in self.root.iterdir():
            if p.is_file() and p.suffix in P.SCENE_EXTENSIONS:
                try:
                    st = p.stat()
                except OSError:
                    continue
                out.append((st.st_mtime, p.stem, p, st.st_size))
        return out

    def _pinned_bytes(self) -> int:
        return sum(e[3] for e in self._entries() if self._pins.get(e[1]))

    def _partial_bytes(self, exclude: str = "") -> int:
        return sum(up.offset for sha, up in self._uploads.items() if sha != exclude)

    def _no_room_message(self, size: int, sha: str) -> str:
        others = [u for s, u in self._uploads.items() if s != sha]
        return (f"scene is {size} bytes; the cache bound is {self.max_bytes}, of which {self._pinned_bytes()} are "
                f"scenes that queued or running jobs use and {self._partial_bytes(exclude=sha)} are held by "
                f"{len(others)} other uploads in progress; retry when those jobs or uploads end")

    def used_bytes(self) -> int:
        """Complete scenes plus the bytes uploads in progress have received."""
        with self._lock:
            return sum(e[3] for e in self._entries()) + self._partial_bytes()

    def _make_room(self, incoming: int, sha: str) -> None:
        """Evict unpinned scenes (least recently used first) until `incoming` more bytes fit."""
        self.evict(reserve=incoming)
        if self.used_bytes() + incoming > self.max_bytes:
            raise P.ProtocolError(P.E_CACHE_FULL, "chunk", self._no_room_message(self._uploads[sha].size or 0, sha))

    def evict(self, reserve: int = 0) -> None:
        """Remove least recently used scenes not pinned by a job until `reserve` more bytes fit."""
        with self._lock:
            entries = sorted(self._entries())
            used = sum(e[3] for e in entries) + self._partial_bytes()
            for _, sha, path, size in entries:
                if used + reserve <= self.max_bytes:
                    break
                if self._pins.get(sha):
                    continue
                path.unlink(missing_ok=True)
                used -= size


def _hash_file(path: Path):
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 * P.MiB), b""):
            hasher.update(block)
    return hasher
