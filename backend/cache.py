"""Content-addressed scene store on disk: chunked, resumable, verified uploads; LRU eviction
under a byte bound that never evicts a scene a queued or running job uses.

Layout under `root`: ``<sha256><ext>`` for complete scenes, ``partial/<sha256><ext>`` for uploads
in progress. A partial upload is resumed from its current length, also after a server restart.
Stdlib only (the server process imports no numpy).
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import protocol as P

MAX_PARTIAL_UPLOADS = 16
PARTIAL_STALE_S = 3600.0


@dataclass
class _Upload:
    path: Path
    size: int
    ext: str
    hasher: "hashlib._Hash"
    offset: int
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
            os.utime(p)

    def resume_offset(self, sha: str) -> int:
        """Bytes of `sha` already held: its size if complete, else the partial length (0 if none)."""
        p = self.path(sha)
        if p is not None:
            return p.stat().st_size
        up = self._uploads.get(sha)
        if up is not None:
            return up.offset
        for ext in P.SCENE_EXTENSIONS:
            pp = self.partial_dir / f"{sha}{ext}"
            if pp.is_file():
                return pp.stat().st_size
        return 0

    # ---------------------------------------------------------------- pins
    def pin(self, sha: str) -> None:
        self._pins[sha] = self._pins.get(sha, 0) + 1

    def unpin(self, sha: str) -> None:
        n = self._pins.get(sha, 0) - 1
        if n <= 0:
            self._pins.pop(sha, None)
        else:
            self._pins[sha] = n

    # ---------------------------------------------------------------- upload
    def put_chunk(self, sha: str, size: int, offset: int, ext: str, chunk) -> int:
        """Append one chunk; returns the next expected offset (== size when the scene is complete
        and verified). Raises ProtocolError for a wrong offset, a hash mismatch or no room."""
        if self.path(sha) is not None:
            return size  # already complete; later chunks of a duplicate upload are harmless
        if sha not in self._uploads:
            held = self.resume_offset(sha)
            if offset != held:  # checked before anything is reserved for this upload
                raise P.ProtocolError(P.E_BAD_OFFSET, "offset", f"expected offset {held}, got {offset}")
        up = self._open_upload(sha, size, ext)
        if offset != up.offset:
            raise P.ProtocolError(P.E_BAD_OFFSET, "offset", f"expected offset {up.offset}, got {offset}")
        with open(up.path, "ab") as f:
            f.write(chunk)
        up.hasher.update(chunk)
        up.offset += len(chunk)
        up.touched = time.monotonic()
        if up.offset < size:
            return up.offset
        del self._uploads[sha]
        if up.hasher.hexdigest() != sha:
            up.path.unlink(missing_ok=True)
            raise P.ProtocolError(P.E_HASH_MISMATCH, "sha256", "uploaded bytes do not hash to the announced sha256; upload discarded")
        os.replace(up.path, self.root / f"{sha}{ext}")
        self.evict()
        return size

    def _open_upload(self, sha: str, size: int, ext: str) -> _Upload:
        up = self._uploads.get(sha)
        if up is not None:
            if up.size != size:
                raise P.ProtocolError(P.E_INVALID_FIELD, "size", f"an upload of this scene with size {up.size} is in progress")
            return up
        self.drop_stale_uploads()
        if len(self._uploads) >= MAX_PARTIAL_UPLOADS:
            raise P.ProtocolError(P.E_CACHE_FULL, "sha256", f"{MAX_PARTIAL_UPLOADS} uploads in progress; retry later")
        if size > self.max_bytes:
            raise P.ProtocolError(P.E_TOO_LARGE, "size", f"scene is {size} bytes, cache holds at most {self.max_bytes}")
        self.evict(reserve=size)
        if self.used_bytes() + size > self.max_bytes:
            raise P.ProtocolError(P.E_CACHE_FULL, "size", "no room in the scene cache: every cached scene is in use")
        path = self.partial_dir / f"{sha}{ext}"
        hasher = hashlib.sha256()
        offset = 0
        if path.is_file():  # resume after a server restart: rehash what is there
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(8 * P.MiB), b""):
                    hasher.update(block)
                    offset += len(block)
            if offset > size:
                path.unlink()
                hasher, offset = hashlib.sha256(), 0
        for other in P.SCENE_EXTENSIONS:  # a partial under another extension is a different upload
            if other != ext:
                (self.partial_dir / f"{sha}{other}").unlink(missing_ok=True)
        up = _Upload(path=path, size=size, ext=ext, hasher=hasher, offset=offset)
        self._uploads[sha] = up
        return up

    def drop_stale_uploads(self, max_age_s: float = PARTIAL_STALE_S) -> None:
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
                st = p.stat()
                out.append((st.st_mtime, p.stem, p, st.st_size))
        return out

    def used_bytes(self) -> int:
        complete = sum(e[3] for e in self._entries())
        partial = sum(up.size for up in self._uploads.values())  # reserved in full
        return complete + partial

    def evict(self, reserve: int = 0) -> None:
        """Remove least recently used scenes not pinned by a job until `reserve` more bytes fit."""
        entries = sorted(self._entries())
        used = sum(e[3] for e in entries) + sum(up.size for up in self._uploads.values())
        for _, sha, path, size in entries:
            if used + reserve <= self.max_bytes:
                break
            if self._pins.get(sha):
                continue
            path.unlink(missing_ok=True)
            used -= size
