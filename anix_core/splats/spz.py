"""Niantic SPZ: read versions 2, 3 (gzip) and 4 (NGSP header + zstd streams); write version 3.

Payload (nianticlabs/spz `load-spz.cc`): 16-byte header `magic "NGSP", version, numPoints,
shDegree, fractionalBits, flags (1 = antialiased, 2 = extensions), reserved`, then per
attribute: positions (24-bit signed fixed point / 2^fractionalBits), alphas (sigmoid * 255),
colours (`f_dc = (c/255 - 0.5) / 0.15`), scales (`log = s/16 - 10`), rotations (v2: int8-like
x, y, z with w >= 0; v3/v4: smallest three), SH (coefficient-major, channel inner,
`(b - 128) / 128`). v4: a plain 32-byte header `magic, version, numPoints, shDegree,
fractionalBits, flags, numStreams, tocByteOffset, 12 reserved`, extensions up to
tocByteOffset, a table of (compressed, uncompressed) u64 sizes, then one zstd stream per
attribute in the order above.

SPZ stores RUB axes (x right, y up, z back); scenes here use the PLY (RDF) convention, so
y and z of positions, the quaternion's y and z, and the SH coefficients odd in y*z flip sign
on the way in and out (the same involution both ways).
"""
from __future__ import annotations

import os
import struct
import warnings

import numpy as np

from .errors import SceneFormatError
from .sanitize import build_scene, logit
from .scene import GaussianScene

MAGIC = b"NGSP"
COLOR_SCALE = 0.15
_SQRT1_2 = np.float32(np.sqrt(0.5))
_SH_DIM = {0: 0, 1: 3, 2: 8, 3: 15, 4: 24}
# Sign of each SH coefficient (bands 1..3) under the RUB <-> RDF flip of y and z.
SH_FLIP = np.array([-1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, -1, 1, -1, 1], dtype=np.float32)
_MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1
_MAX_ZSTD_RATIO = 1 << 17  # zstd blocks cap expansion near 43000:1; stops decompression bombs


def _stream_sizes(n: int, sh_degree: int, rotation_bytes: int) -> list[int]:
    sizes = [n * 9, n, n * 3, n * 3, n * rotation_bytes]
    if sh_degree:
        sizes.append(n * _SH_DIM[sh_degree] * 3)
    return sizes


def read_spz(path) -> GaussianScene:
    """Read an SPZ file of version 2, 3 or 4 into the PLY (RDF) convention."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:2] == b"\x1f\x8b":
        return _read_gzip(path, size)
    if head[:4] == MAGIC and len(head) == 8:
        version = struct.unpack("<I", head[4:8])[0]
        if version == 4:
            return _read_v4(path, size)
        if version in (2, 3):  # an un-gzipped legacy payload
            with open(path, "rb") as f:
                return _decode_legacy(path, f.read(), size)
        raise SceneFormatError(path, f"unsupported SPZ version {version} (2, 3 and 4 are read)")
    raise SceneFormatError(path, "not an SPZ file: it starts neither with gzip bytes 1f 8b nor with 'NGSP'")


def _read_gzip(path, size: int) -> GaussianScene:
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as f:
            header = f.read(16)
            n, sh_degree, rotation_bytes = _check_legacy_header(path, header)
            data_size = sum(_stream_sizes(n, sh_degree, rotation_bytes))
            if data_size > size * _MAX_DEFLATE_RATIO:
                raise SceneFormatError(path, f"header claims {n} splats ({data_size} bytes) but the compressed file holds only {size} bytes")
            body = f.read(data_size + (1 << 20))
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise SceneFormatError(path, f"SPZ gzip stream is truncated or corrupt ({exc})") from None
    return _decode_legacy(path, header + body, size)


def _check_legacy_header(path, header: bytes) -> tuple[int, int, int]:
    if len(header) < 16:
        raise SceneFormatError(path, f"SPZ payload ends after {len(header)} bytes, inside its 16-byte header")
    magic, version, n, sh_degree, _, _, _ = struct.unpack("<4sIIBBBB", header[:16])
    if magic != MAGIC:
        raise SceneFormatError(path, f"SPZ payload has magic {magic!r}, expected b'NGSP'")
    if version not in (2, 3):
        raise SceneFormatError(path, f"unsupported SPZ version {version} in a gzip container (2 and 3 are read)")
    if sh_degree not in _SH_DIM:
        raise SceneFormatError(path, f"SPZ SH degree {sh_degree} is out of range 0..4")
    return n, sh_degree, 4 if version >= 3 else 3


def _decode_legacy(path, payload: bytes, size: int) -> GaussianScene:
    n, sh_degree, rotation_bytes = _check_legacy_header(path, payload[:16])
    version, fractional_bits, flags = struct.unpack("<I", payload[4:8])[0], payload[13], payload[14]
    sizes = _stream_sizes(n, sh_degree, rotation_bytes)
    data = memoryview(payload)[16:]
    if len(data) < sum(sizes):
        raise SceneFormatError(path, f"SPZ header claims {n} splats ({sum(sizes)} bytes of attributes) but the payload holds {len(data)} bytes: truncated")
    start = len(data) - sum(sizes) if flags & 2 else 0  # skip extension records between header and data
    if start:
        warnings.warn(f"{path}: {start} bytes of SPZ extensions ignored", stacklevel=3)
    streams = []
    for s in sizes:
        streams.append(np.frombuffer(data[start: start + s], dtype=np.uint8))
        start += s
    return _decode(path, n, sh_degree, fractional_bits, flags, version, streams)


def _read_v4(path, size: int) -> GaussianScene:
    with open(path, "rb") as f:
        raw = f.read(32)
        if len(raw) < 32:
            raise SceneFormatError(path, f"SPZ v4 file holds {len(raw)} bytes, less than its 32-byte header")
        _, _, n, sh_degree, fractional_bits, flags, num_streams, toc_offset = struct.unpack("<4sIIBBBBI", raw[:20])
        if sh_degree not in _SH_DIM:
            raise SceneFormatError(path, f"SPZ SH degree {sh_degree} is out of range 0..4")
        sizes = _stream_sizes(n, sh_degree, 4)
        if num_streams != len(sizes):
            raise SceneFormatError(path, f"SPZ v4 table lists {num_streams} streams; SH degree {sh_degree} needs {len(sizes)}")
        toc_end = toc_offset + 16 * num_streams
        if toc_offset < 32 or toc_end > size:
            raise SceneFormatError(path, f"SPZ v4 table offset {toc_offset} lies outside the file ({size} bytes)")
        if flags & 2 and toc_offset > 32:
            warnings.warn(f"{path}: {toc_offset - 32} bytes of SPZ extensions ignored", stacklevel=3)
        f.seek(toc_offset)
        toc = np.frombuffer(f.read(16 * num_streams), dtype="<u8").reshape(num_streams, 2)
        compressed_total = int(toc[:, 0].sum())
        for i, ((compressed, uncompressed), expected) in enumerate(zip(toc.tolist(), sizes)):
            if uncompressed != expected:
                raise SceneFormatError(path, f"SPZ v4 stream {i} claims {uncompressed} bytes; {n} splats need {expected}")
            if compressed > size or compressed == 0 and expected:
                raise SceneFormatError(path, f"SPZ v4 stream {i} claims {compressed} compressed bytes in a {size}-byte file")
        if sum(sizes) > max(compressed_total, 1) * _MAX_ZSTD_RATIO:
            raise SceneFormatError(path, f"header claims {n} splats ({sum(sizes)} bytes) but its streams hold only {compressed_total} compressed bytes")
        if toc_end + compressed_total > size:
            raise SceneFormatError(path, f"SPZ v4 streams need {compressed_total} bytes after the table but the file holds {size - toc_end}: truncated")
        import zstandard

        dctx = zstandard.ZstdDecompressor()
        streams = []
        for i, (compressed, expected) in enumerate(zip(toc[:, 0].tolist(), sizes)):
            blob = f.read(compressed)
            try:
                declared = zstandard.frame_content_size(blob)
                if declared not in (-1, expected):
                    raise SceneFormatError(path, f"SPZ v4 stream {i} declares {declared} bytes; expected {expected}")
                out = dctx.decompress(blob, max_output_size=expected) if expected else b""
            except zstandard.ZstdError as exc:
                raise SceneFormatError(path, f"SPZ v4 stream {i} is not valid zstd data ({exc})") from None
            if len(out) != expected:
                raise SceneFormatError(path, f"SPZ v4 stream {i} holds {len(out)} bytes; expected {expected}")
            streams.append(np.frombuffer(out, dtype=np.uint8))
    return _decode(path, n, sh_degree, fractional_bits, flags, 4, streams)


def _decode(path, n, sh_degree, fractional_bits, flags, version, streams) -> GaussianScene:
    if n == 0:
        return GaussianScene.empty(min(sh_degree, 3))
    p = streams[0].reshape(n * 3, 3).astype(np.int32)
    fixed = p[:, 0] | (p[:, 1] << 8) | (p[:, 2] << 16)
    fixed -= (fixed & 0x800000) << 1  # sign-extend 24 bits
    means = (fixed.astype(np.float32) / np.float32(1 << fractional_bits)).reshape(n, 3)
    opacities = logit(streams[1].astype(np.float32) / 255.0)
    sh0 = ((streams[2].reshape(n, 3).astype(np.float32) / 255.0 - 0.5) / np.float32(COLOR_SCALE))
    log_scales = streams[3].reshape(n, 3).astype(np.float32) / 16.0 - 10.0
    xyzw = _smallest_three(streams[4]) if version >= 3 else _first_three(streams[4].reshape(n, 3))
    k = _SH_DIM[sh_degree]
    if k > 15:
        warnings.warn(f"{path}: SH degree 4 coefficients dropped (degree 3 is the highest supported)", stacklevel=3)
    shN = np.zeros((n, min(k, 15), 3), dtype=np.float32)
    if k:
        shN[...] = (streams[5].reshape(n, k, 3)[:, :15].astype(np.float32) - 128.0) / 128.0
    # RUB -> RDF
    means[:, 1:] *= -1.0
    quats = np.empty((n, 4), dtype=np.float32)
    quats[:, 0] = xyzw[:, 3]
    quats[:, 1] = xyzw[:, 0]
    quats[:, 2:] = -xyzw[:, 1:3]
    shN *= SH_FLIP[: shN.shape[1], None]
    return build_scene(path, means, quats, log_scales, opacities, sh0, shN,
                       antialiased=bool(flags & 1), metadata={"spz_version": version})


def _first_three(r: np.ndarray) -> np.ndarray:
    xyz = r.astype(np.float32) / 127.5 - 1.0
    w = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", xyz, xyz)))
    return np.concatenate([xyz, w[:, None]], axis=1)


def _smallest_three(r: np.ndarray) -> np.ndarray:
    comp = r.view("<u4").astype(np.uint32)
    largest = (comp >> 30).astype(np.int64)
    out = np.empty((len(comp), 4), dtype=np.float32)
    shift = np.zeros(len(comp), dtype=np.uint32)
    for i in (3, 2, 1, 0):  # the last component packed sits in the lowest bits
        word = comp >> shift
        value = _SQRT1_2 * (word & 511).astype(np.float32) / np.float32(511)
        value = np.where((word >> 9) & 1, -value, value)
        out[:, i] = np.where(largest == i, 0.0, value)
        shift = np.where(largest == i, shift, shift + 10).astype(np.uint32)
    rest = np.einsum("ij,ij->i", out, out)
    out[np.arange(len(comp)), largest] = np.sqrt(np.maximum(0.0, 1.0 - rest))
    return out


def encode_streams(scene: GaussianScene, fractional_bits: int) -> list[bytes]:
    """Version-3 attribute streams of a scene, in SPZ's RUB axes."""
    n = scene.count
    fixed = np.rint(scene.means.astype(np.float64) * np.array([1, -1, -1]) * (1 << fractional_bits)).astype(np.int64)
    fixed &= 0xFFFFFF
    positions = np.stack([fixed & 255, (fixed >> 8) & 255, fixed >> 16], axis=-1).astype(np.uint8)
    alphas = np.clip(np.rint(scene.opacities() * 255.0), 0, 255).astype(np.uint8)
    colours = np.clip(np.rint(scene.sh0 * (COLOR_SCALE * 255.0) + 127.5), 0, 255).astype(np.uint8)
    scales = np.clip(np.rint((scene.log_scales + 10.0) * 16.0), 0, 255).astype(np.uint8)
    q = scene.quats / np.linalg.norm(scene.quats, axis=1, keepdims=True)
    xyzw = np.stack([q[:, 1], -q[:, 2], -q[:, 3], q[:, 0]], axis=1)
    largest = np.argmax(np.abs(xyzw), axis=1)
    negate = xyzw[np.arange(n), largest] < 0
    comp = largest.astype(np.uint32)
    for i in range(4):
        keep = largest != i
        negbit = ((xyzw[:, i] < 0) ^ negate).astype(np.uint32)
        mag = np.clip(np.floor(511.0 * np.abs(xyzw[:, i]) / _SQRT1_2 + 0.5), 0, 511).astype(np.uint32)
        comp = np.where(keep, (comp << 10) | (negbit << 9) | mag, comp).astype(np.uint32)
    streams = [positions.tobytes(), alphas.tobytes(), colours.tobytes(), scales.tobytes(), comp.astype("<u4").tobytes()]
    if scene.sh_degree:
        sh = scene.shN * SH_FLIP[: scene.shN.shape[1], None]
        streams.append(np.clip(np.rint(sh * 128.0) + 128.0, 0, 255).astype(np.uint8).tobytes())
    return streams


def fractional_bits_for(scene: GaussianScene) -> int:
    """12 bits (~0.24 mm) unless the scene is too large for 24-bit fixed point."""
    extent = float(np.abs(scene.means).max()) if scene.count else 0.0
    bits = 12
    while bits > 0 and extent * (1 << bits) >= (1 << 23) - 1:
        bits -= 1
    if extent >= (1 << 23) - 1:
        raise ValueError(f"scene extends to {extent:g} units, beyond what SPZ's 24-bit positions can hold")
    return bits


def write_spz(scene: GaussianScene, path) -> None:
    """Write SPZ version 3 (gzip), converting the scene to SPZ's RUB axes."""
    import gzip

    bits = fractional_bits_for(scene)
    header = struct.pack("<4sIIBBBB", MAGIC, 3, scene.count, scene.sh_degree, bits, 1 if scene.antialiased else 0, 0)
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(header)
        for stream in encode_streams(scene, bits):
            f.write(stream)
