"""`sha256_file`: the content hash that names a scene in the backend's cache."""
from __future__ import annotations

import hashlib

CHUNK_BYTES = 1 << 20


def sha256_file(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (constant memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
