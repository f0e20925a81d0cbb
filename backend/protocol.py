"""The AniX wire protocol: message names, limits, error codes, framing and field validation.

Imports only the standard library and msgpack: the Blender add-on bundles this module with the
client. docs/PROTOCOL.md is the normative description; this module is its executable form.

Every message is a ZeroMQ multipart message ``[header, *blobs]``. The header is a msgpack map
with string keys; ``v`` (protocol version) and ``type`` are always present. Blobs are raw bytes
(scene chunks, PNG views, frames) that travel as their own frames, never inside the header.
"""
from __future__ import annotations

import math
import re
from typing import Any

import msgpack

PROTOCOL_VERSION = 1

# Client -> server
HELLO = "hello"
PING = "ping"
HEARTBEAT = "heartbeat"          # also server -> client
HAS_SCENE = "has_scene"
PUT_SCENE = "put_scene"
SUBMIT = "submit"
CANCEL = "cancel"
STATUS = "status"
ATTACH = "attach"
CLIENT_TYPES = (HELLO, PING, HEARTBEAT, HAS_SCENE, PUT_SCENE, SUBMIT, CANCEL, STATUS, ATTACH)

# Server -> client
WELCOME = "welcome"
PONG = "pong"
SCENE_STATUS = "scene_status"
SCENE_ACK = "scene_ack"
ACCEPTED = "accepted"
ATTACHED = "attached"
JOB_STATUS = "job_status"
PROGRESS = "progress"
FRAME = "frame"
DONE = "done"
ERROR = "error"
CANCELLED = "cancelled"
SERVER_TYPES = (WELCOME, PONG, HEARTBEAT, SCENE_STATUS, SCENE_ACK, ACCEPTED, ATTACHED, JOB_STATUS,
                PROGRESS, FRAME, DONE, ERROR, CANCELLED)
TERMINAL_TYPES = (DONE, ERROR, CANCELLED)  # a job event of one of these types ends the job

# Error codes (the `code` field of an `error` message)
E_BAD_MESSAGE = "bad_message"            # not a multipart message with a msgpack map header
E_UNSUPPORTED_VERSION = "unsupported_version"
E_UNKNOWN_TYPE = "unknown_type"
E_INVALID_FIELD = "invalid_field"        # missing, wrong type or out of range; `field` names it
E_TOO_LARGE = "too_large"                # a size limit was exceeded; `field` names it
E_UNKNOWN_SCENE = "unknown_scene"        # submit names a scene the server does not hold
E_UNKNOWN_JOB = "unknown_job"            # no such job (or its results expired)
E_BAD_OFFSET = "bad_offset"              # put_scene chunk not at the expected offset
E_HASH_MISMATCH = "hash_mismatch"        # uploaded bytes do not hash to the announced sha256
E_CACHE_FULL = "cache_full"              # the scene cannot fit the cache (everything else pinned)
E_QUEUE_FULL = "queue_full"              # too many queued jobs (server-wide or for this client)
E_UNKNOWN_GENERATOR = "unknown_generator"
E_GENERATOR_FAILED = "generator_failed"  # the generator raised; message says why
E_WORKER_LOST = "worker_lost"            # the worker process died or stopped answering mid-job
E_SERVER_STOPPED = "server_stopped"      # the server was stopped (SIGTERM) before the job ended
E_INTERNAL = "internal"
ERROR_CODES = (E_BAD_MESSAGE, E_UNSUPPORTED_VERSION, E_UNKNOWN_TYPE, E_INVALID_FIELD, E_TOO_LARGE,
               E_UNKNOWN_SCENE, E_UNKNOWN_JOB, E_BAD_OFFSET, E_HASH_MISMATCH, E_CACHE_FULL,
               E_QUEUE_FULL, E_UNKNOWN_GENERATOR, E_GENERATOR_FAILED, E_WORKER_LOST, E_SERVER_STOPPED, E_INTERNAL)

# Limits
MiB = 1024 * 1024
MAX_HEADER_BYTES = 1 * MiB
MAX_CHUNK_BYTES = 8 * MiB               # one put_scene chunk
MAX_VIEW_BYTES = 8 * MiB                # one PNG view
MAX_VIEW_SIDE = 2048                    # pixels, each side of a view
MAX_PARTS = 8                           # header + blobs in one client message
MAX_MESSAGE_PART_BYTES = MAX_CHUNK_BYTES + 64 * 1024  # ZMQ_MAXMSGSIZE on the server socket
MAX_SCENE_BYTES = 16 * 1024 * MiB       # 16 GiB
MAX_FRAMES = 1024
MIN_SIDE, MAX_SIDE = 16, 2048           # output width / height in pixels
MAX_PIXELS = 1920 * 1088                # output width * height
MAX_INSTRUCTION_CHARS = 2000
MAX_OPTIONS = 64
MAX_OPTION_STRING = 256
MAX_TARGETS = 64
MAX_NAME_CHARS = 64
MAX_ID_CHARS = 64
MIN_FPS, MAX_FPS = 1.0, 120.0
MAX_HISTORY_FRAMES = 33                 # frames of the previous job a continuation starts from
MAX_FRAME_PIXELS = 2**28                # num_frames * width * height: what an anix shot holds (blockout and render stream)
MAX_COORD = 10_000.0                    # |coordinate| in metres (positions, translations) and matrix entries
MAX_FOCAL_PX = 1_000_000.0              # |K entries| in pixels
MAX_SEED = 2**63 - 1

HEARTBEAT_INTERVAL_S = 1.0              # both sides send something at least this often
HEARTBEAT_LIVENESS = 3                  # missed intervals before the peer is considered gone

VIEW_NAMES = ("front", "left", "back", "right")
SCENE_EXTENSIONS = (".ply", ".splat", ".spz")
ENCODINGS = ("png", "raw")
CAMERA_BEHAVIOURS = ("follow", "orbit", "static", "dolly", "pan", "crane", "tilt", "truck", "whip_pan")
ON_DISCONNECT = ("cancel", "keep")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
STAGES = ("queued", "load_scene", "conditioning", "generate", "encode")

LIMITS = {
    "max_header_bytes": MAX_HEADER_BYTES, "max_chunk_bytes": MAX_CHUNK_BYTES,
    "max_view_bytes": MAX_VIEW_BYTES, "max_view_side": MAX_VIEW_SIDE, "max_parts": MAX_PARTS,
    "max_scene_bytes": MAX_SCENE_BYTES, "max_frames": MAX_FRAMES, "min_side": MIN_SIDE,
    "max_side": MAX_SIDE, "max_pixels": MAX_PIXELS, "max_instruction_chars": MAX_INSTRUCTION_CHARS,
    "max_options": MAX_OPTIONS, "max_targets": MAX_TARGETS, "min_fps": MIN_FPS, "max_fps": MAX_FPS,
    "max_frame_pixels": MAX_FRAME_PIXELS, "max_coord": MAX_COORD,
    "heartbeat_interval_s": HEARTBEAT_INTERVAL_S, "heartbeat_liveness": HEARTBEAT_LIVENESS,
}

PATH_OPTION_NAMES = ("model", "path", "dir", "file", "device")
PATH_OPTION_SUFFIXES = ("_dir", "_path", "_file")
_SHA256 = re.compile(r"[0-9a-f]{64}")       # matched with fullmatch: "$" would let a trailing newline through
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SIMILARITY_TOLERANCE = 1e-4             # as anix_core.rotations: |Q^T Q - I| of a transform's rotation part
ROTATION_TOLERANCE = 1e-3               # as anix_core.cameras: |R R^T - I| of a camera pose
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ProtocolError(ValueError):
    """A message broke the protocol. `code` is one of ERROR_CODES, `field` the offending field
    as a dotted path ("request.cameras.3.K") or "" when the whole message is at fault."""

    def __init__(self, code: str, field: str, message: str):
        super().__init__(f"{code}: {field + ': ' if field else ''}{message}")
        self.code, self.field, self.message = code, field, message


# --------------------------------------------------------------------------- framing

def _no_ext(code, data):
    raise ValueError("msgpack extension types are not allowed")


def pack(header: dict) -> bytes:
    """Encode a header map (strings as str, binary as bin; floats as float64)."""
    return msgpack.packb(header, use_bin_type=True)


def unpack_header(data: bytes) -> dict:
    """Decode and sanity-check a header: size, msgpack, a map, `v` and `type`."""
    if len(data) > MAX_HEADER_BYTES:
        raise ProtocolError(E_TOO_LARGE, "header", f"header is {len(data)} bytes, limit {MAX_HEADER_BYTES}")
    try:
        header = msgpack.unpackb(bytes(data), raw=False, strict_map_key=True, ext_hook=_no_ext, use_list=True,
                                 object_pairs_hook=_checked_map, list_hook=_checked_array)  # lengths bounded by len(data)
    except _Refused as exc:
        raise ProtocolError(E_BAD_MESSAGE, "header", str(exc)) from None
    except Exception as exc:  # msgpack raises a zoo of exception types on garbage
        raise ProtocolError(E_BAD_MESSAGE, "header", f"header is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError(E_BAD_MESSAGE, "header", "header must be a msgpack map")
    version = header.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError(E_INVALID_FIELD, "v", "missing or not an integer protocol version")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(E_UNSUPPORTED_VERSION, "v", f"protocol version {version} not supported; server speaks {PROTOCOL_VERSION}")
    kind = header.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(E_INVALID_FIELD, "type", "missing or not a string")
    return header


class _Refused(ValueError):
    """A header outside the documented msgpack subset."""


_TIMESTAMPS = "msgpack extension types (timestamps included) are not allowed"


def _checked_map(pairs) -> dict:
    """Every decoded map: string keys only, no timestamp values (msgpack decodes timestamps without
    calling ext_hook)."""
    for key, value in pairs:
        if type(key) is not str:
            raise _Refused(f"map keys must be strings, got {type(key).__name__}")
        if type(value) is msgpack.Timestamp:
            raise _Refused(_TIMESTAMPS)
    return dict(pairs)


def _checked_array(items: list) -> list:
    if msgpack.Timestamp in map(type, items):
        raise _Refused(_TIMESTAMPS)
    return items


_PATH = re.compile(r"(?:[A-Za-z]:)?[\\/](?:[\w.@+~-]+[\\/])+[\w.@+~-]*")


def redact_paths(text: str) -> str:
    """`text` with every file path replaced by `<server path>`: error messages never show a
    client where the server keeps its files."""
    return _PATH.sub("<server path>", text)


def message(kind: str, **fields: Any) -> dict:
    """A header map of the given type (fields with value None are left out)."""
    header = {"v": PROTOCOL_VERSION, "type": kind}
    header.update({k: v for k, v in fields.items() if v is not None})
    return header


def request_id(header: dict):
    """The client's `req` id if it is a legal one (int or short string), else None."""
    req = header.get("req") if isinstance(header, dict) else None
    if isinstance(req, bool):
        return None
    if isinstance(req, int) and 0 <= req <= 2**63 - 1:
        return req
    if isinstance(req, str) and len(req) <= MAX_ID_CHARS:
        return req
    return None


# --------------------------------------------------------------------------- scalar checks

def _fail(field: str, msg: str, code: str = E_INVALID_FIELD):
    raise ProtocolError(code, field, msg)


def check_int(value, field: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(field, f"must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        _fail(field, f"must be in [{lo}, {hi}], got {value}")
    return value


def check_float(value, field: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(field, f"must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        _fail(field, "must be finite")
    if not lo <= value <= hi:
        _fail(field, f"must be in [{lo:g}, {hi:g}], got {value:g}")
    return value


def check_str(value, field: str, max_chars: int, choices=None, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {type(value).__name__}")
    if len(value) > max_chars:
        _fail(field, f"is {len(value)} characters, limit {max_chars}", E_TOO_LARGE)
    if not allow_empty and not value:
        _fail(field, "must not be empty")
    if choices is not None and value not in choices:
        _fail(field, f"must be one of {', '.join(choices)}; got {value[:40]!r}")
    return value


def check_sha256(value, field: str = "sha256") -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        _fail(field, "must be 64 lowercase hex digits (sha256)")
    return value


def is_sha256(value) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def check_job_id(value, field: str = "job") -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        _fail(field, "must be a job id string ([A-Za-z0-9_.:-], at most 64 characters)")
    return value


def check_matrix(value, field: str, rows: int, cols: int, bound: float = MAX_COORD) -> list:
    """A rows x cols matrix as nested lists (row-major) of numbers in [-bound, bound]."""
    if not isinstance(value, list) or len(value) != rows:
        _fail(field, f"must be a {rows}x{cols} matrix as a list of {rows} rows")
    out = []
    for r, row in enumerate(value):
        if not isinstance(row, list) or len(row) != cols:
            _fail(f"{field}.{r}", f"must be a row of {cols} numbers")
        if all(type(x) is float or type(x) is int for x in row):  # the common case, without a name per entry
            floats = [float(x) for x in row]
            if all(-bound <= x <= bound for x in floats):  # NaN compares false
                out.append(floats)
                continue
        out.append([check_float(x, f"{field}.{r}.{c}", -bound, bound) for c, x in enumerate(row)])
    return out


def check_vec3(value, field: str, bound: float = MAX_COORD) -> list:
    """[x, y, z] of numbers in [-bound, bound] (metres for positions)."""
    if not isinstance(value, list) or len(value) != 3:
        _fail(field, "must be a list of 3 numbers")
    return [check_float(x, f"{field}.{i}", -bound, bound) for i, x in enumerate(value)]


def _close(values, expected, atol: float) -> bool:
    """numpy.allclose(values, expected, rtol=1e-5, atol=atol) in plain Python."""
    return all(abs(a - b) <= atol + 1e-5 * abs(b) for a, b in zip(values, expected))


def _det3(m) -> float:
    return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))


def _orthonormal_error(m) -> float:
    """max |M^T M - I| of a 3x3 matrix."""
    return max(abs(sum(m[k][i] * m[k][j] for k in range(3)) - (1.0 if i == j else 0.0))
               for i in range(3) for j in range(3))


def check_similarity(matrix: list, field: str) -> list:
    """A 4x4 transform that is rotation (or mirror) x uniform scale + translation, last row
    [0, 0, 0, 1]: what anix_core.rotations.decompose_similarity accepts (shear, non-uniform or
    zero scale are refused here, at submit, not when the job runs)."""
    if matrix[3] != [0.0, 0.0, 0.0, 1.0]:
        _fail(field, "last row must be [0, 0, 0, 1]")
    linear = [row[:3] for row in matrix[:3]]
    scale = abs(_det3(linear)) ** (1.0 / 3.0)
    if scale < 1e-6:
        _fail(field, "has zero scale (the 3x3 part's determinant is 0)")
    error = _orthonormal_error([[x / scale for x in row] for row in linear])
    if error > SIMILARITY_TOLERANCE:
        _fail(field, f"must be rotation + uniform scale + translation (a similarity); this one has shear or "
                     f"non-uniform scale (orthogonality error {error:.2g}, limit {SIMILARITY_TOLERANCE:g})")
    return matrix


# --------------------------------------------------------------------------- message checks

def check_has_scene(header: dict) -> dict:
    return {"sha256": check_sha256(header.get("sha256")),
            "size": check_int(header.get("size"), "size", 1, MAX_SCENE_BYTES)}


def check_put_scene(header: dict, blobs: list) -> dict:
    fields = check_has_scene(header)
    fields["offset"] = check_int(header.get("offset"), "offset", 0, fields["size"] - 1)
    fields["ext"] = check_str(header.get("ext", ".ply"), "ext", 8, SCENE_EXTENSIONS)
    if len(blobs) != 1:
        _fail("blobs", f"put_scene carries exactly one chunk blob, got {len(blobs)}")
    n = len(blobs[0])
    if n == 0:
        _fail("chunk", "chunk is empty")
    if n > MAX_CHUNK_BYTES:
        _fail("chunk", f"chunk is {n} bytes, limit {MAX_CHUNK_BYTES}", E_TOO_LARGE)
    if fields["offset"] + n > fields["size"]:
        _fail("chunk", f"chunk ends at {fields['offset'] + n}, past the scene size {fields['size']}")
    return fields


def check_camera(value, field: str) -> dict:
    if not isinstance(value, dict):
        _fail(field, "must be a map with world_to_camera, K, width, height")
    cam = {
        "world_to_camera": check_matrix(value.get("world_to_camera"), f"{field}.world_to_camera", 4, 4),
        "K": check_matrix(value.get("K"), f"{field}.K", 3, 3, MAX_FOCAL_PX),
        "width": check_int(value.get("width"), f"{field}.width", MIN_SIDE, MAX_SIDE),
        "height": check_int(value.get("height"), f"{field}.height", MIN_SIDE, MAX_SIDE),
    }
    K, pose = cam["K"], cam["world_to_camera"]
    if K[0][0] <= 0 or K[1][1] <= 0:
        _fail(f"{field}.K", "focal lengths K[0][0] and K[1][1] must be positive")
    # the tolerances of anix_core.cameras.Camera.from_dict (numpy's allclose), which the worker applies
    if K[0][1] != 0 or K[1][0] != 0 or not _close(K[2], (0.0, 0.0, 1.0), 1e-8):
        _fail(f"{field}.K", "must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew)")
    if not _close(pose[3], (0.0, 0.0, 0.0, 1.0), 1e-6):
        _fail(f"{field}.world_to_camera", "last row must be [0, 0, 0, 1]")
    rotation = [row[:3] for row in pose[:3]]
    (a, b, c), (d, e, f), (g, h, i) = rotation  # |R R^T - I| written out: 1024 cameras are checked per submit
    error = max(abs(a * a + b * b + c * c - 1.0), abs(d * d + e * e + f * f - 1.0), abs(g * g + h * h + i * i - 1.0),
                abs(a * d + b * e + c * f), abs(a * g + b * h + c * i), abs(d * g + e * h + f * i))
    if error > ROTATION_TOLERANCE or _det3(rotation) <= 0:
        _fail(field, f"world_to_camera is not rigid: its rotation part must be orthonormal and right-handed "
                     f"(error {error:.2g}, limit {ROTATION_TOLERANCE:g})")
    return cam


def check_options(value, field: str = "request.options") -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(field, "must be a map of name -> scalar")
    if len(value) > MAX_OPTIONS:
        _fail(field, f"has {len(value)} entries, limit {MAX_OPTIONS}", E_TOO_LARGE)
    out = {}
    for key, item in value.items():
        check_str(key, f"{field}.<key>", MAX_NAME_CHARS, allow_empty=False)
        sub = f"{field}.{key}"
        if key in PATH_OPTION_NAMES or key.endswith(PATH_OPTION_SUFFIXES):
            _fail(sub, "file and folder options are server configuration (anix serve --model ...); a request cannot name paths")
        if item is None or isinstance(item, bool):
            out[key] = item
        elif isinstance(item, int):
            out[key] = check_int(item, sub, -(2**63), 2**63 - 1)
        elif isinstance(item, float):
            out[key] = check_float(item, sub)
        elif isinstance(item, str):
            out[key] = check_str(item, sub, MAX_OPTION_STRING)
        else:
            _fail(sub, "must be null, a boolean, a number or a short string")
    return out


# --------------------------------------------------------------------------- generator options
# What each generator understands in `request.options`, checked on submit once the generator is
# known (`check_generator_options`). Types: "str" (one of `choices`), "bool", "int" and "number"
# (in [min, max]), "job" (a job id). A default of None means "decided by `quality`" or "not set".
QUALITIES = ("draft", "standard", "high", "scene")
RENDER_BACKENDS = ("auto", "gsplat", "cpu")
MASK_MODES = ("per_frame", "first_frame", "none")
OVERLAYS = ("none", "character_box")
_COMMON_OPTIONS = {
    "quality": {"type": "str", "choices": QUALITIES, "default": "standard"},
    "continue_from": {"type": "job", "default": None},
    "render_backend": {"type": "str", "choices": RENDER_BACKENDS, "default": "auto"},
}
GENERATOR_OPTIONS = {
    "blockout": {
        **_COMMON_OPTIONS,
        "shadow": {"type": "bool", "default": True},
        "bob": {"type": "bool", "default": True},
        "shadow_strength": {"type": "number", "min": 0.0, "max": 1.0, "default": 0.45},
        "occlusion_margin_m": {"type": "number", "min": 0.0, "max": 10.0, "default": 0.3},
        "blend_sharpness": {"type": "number", "min": 0.1, "max": 20.0, "default": 2.0},
        "caption": {"type": "bool", "default": False},
    },
    "render": {
        **_COMMON_OPTIONS,
        "overlay": {"type": "str", "choices": OVERLAYS, "default": "none"},
        "mask_mode": {"type": "str", "choices": MASK_MODES, "default": "per_frame"},
    },
    "anix": {
        **_COMMON_OPTIONS,
        "num_inference_steps": {"type": "int", "min": 1, "max": 200, "default": None},
        "guidance_scale": {"type": "number", "min": 1.0, "max": 30.0, "default": 7.5},
        "mask_mode": {"type": "str", "choices": MASK_MODES, "default": "per_frame"},
    },
    "pattern": {  # test only (servers started with --testing)
        **_COMMON_OPTIONS,
        "static": {"type": "bool", "default": False},
        "fail_at_frame": {"type": "int", "min": 0, "max": MAX_FRAMES, "default": None},
        "frame_delay_s": {"type": "number", "min": 0.0, "max": 10.0, "default": 0.0},
        "echo_history": {"type": "bool", "default": False},
    },
}


def check_generator_options(generator: str, options: dict, field: str = "request.options") -> dict:
    """`options` (already through check_options) checked against `generator`'s schema; returns
    them with every default filled in. An unknown key or a bad value names `request.options.<key>`."""
    schema = GENERATOR_OPTIONS.get(generator)
    if schema is None:
        return dict(options)
    out = {}
    for key, value in options.items():
        sub = f"{field}.{key}"
        spec = schema.get(key)
        if spec is None:
            _fail(sub, f"generator {generator!r} has no option {key!r}; its options: {', '.join(schema)}")
        if value is None:
            out[key] = None
            continue
        kind = spec["type"]
        if kind == "str":
            out[key] = check_str(value, sub, MAX_OPTION_STRING, spec["choices"])
        elif kind == "bool":
            if not isinstance(value, bool):
                _fail(sub, f"must be true or false, got {type(value).__name__}")
            out[key] = value
        elif kind == "int":
            out[key] = check_int(value, sub, spec["min"], spec["max"])
        elif kind == "number":
            out[key] = check_float(value, sub, spec["min"], spec["max"])
        else:  # job
            out[key] = check_job_id(value, sub)
    for key, spec in schema.items():
        if key not in out or out[key] is None:
            out[key] = spec["default"]
    return out


def check_view_blob(data, field: str) -> None:
    """Cheap checks before any decoding: byte size, PNG signature, pixel size from the IHDR chunk."""
    if len(data) > MAX_VIEW_BYTES:
        _fail(field, f"view is {len(data)} bytes, limit {MAX_VIEW_BYTES}", E_TOO_LARGE)
    head = bytes(data[:24])
    if head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        _fail(field, "view must be a PNG file")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if width == 0 or height == 0:
        _fail(field, f"view is {width}x{height} pixels: a PNG has at least 1 pixel a side")
    if width > MAX_VIEW_SIDE or height > MAX_VIEW_SIDE:
        _fail(field, f"view is {width}x{height} pixels, limit {MAX_VIEW_SIDE} per side", E_TOO_LARGE)


def check_submit(header: dict, blobs: list) -> dict:
    """Validate a submit message; returns the normalised request (all defaults filled in).

    The returned map is what the worker receives, with `views` a list of view names that lines
    up with `blobs`.
    """
    req = header.get("request")
    if not isinstance(req, dict):
        _fail("request", "must be a map")
    out: dict = {}
    out["scene"] = check_sha256(req.get("scene"), "request.scene")
    transform = req.get("transform")
    out["transform"] = (check_matrix(transform, "request.transform", 4, 4) if transform is not None
                        else [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    if transform is not None:
        check_similarity(out["transform"], "request.transform")
    out["num_frames"] = check_int(req.get("num_frames", 93), "request.num_frames", 1, MAX_FRAMES)
    out["fps"] = check_float(req.get("fps", 25.0), "request.fps", MIN_FPS, MAX_FPS)
    out["width"] = check_int(req.get("width", 832), "request.width", MIN_SIDE, MAX_SIDE)
    out["height"] = check_int(req.get("height", 480), "request.height", MIN_SIDE, MAX_SIDE)
    if out["width"] * out["height"] > MAX_PIXELS:
        _fail("request.width", f"width*height is {out['width'] * out['height']}, limit {MAX_PIXELS}", E_TOO_LARGE)
    frame_pixels = out["num_frames"] * out["width"] * out["height"]
    if frame_pixels > MAX_FRAME_PIXELS:
        _fail("request.num_frames", f"num_frames*width*height is {frame_pixels}, limit {MAX_FRAME_PIXELS} (what one "
              f"worker holds for a shot): at {out['width']}x{out['height']} at most "
              f"{MAX_FRAME_PIXELS // (out['width'] * out['height'])} frames; split the shot with continue_from", E_TOO_LARGE)
    out["seed"] = check_int(req.get("seed", 0), "request.seed", 0, MAX_SEED)
    out["instruction"] = check_str(req.get("instruction", ""), "request.instruction", MAX_INSTRUCTION_CHARS)
    cameras = req.get("cameras")
    if cameras is not None:
        if not isinstance(cameras, list):
            _fail("request.cameras", "must be a list of cameras, one per frame, or null")
        if len(cameras) != out["num_frames"]:
            _fail("request.cameras", f"has {len(cameras)} cameras for {out['num_frames']} frames")
        cameras = [check_camera(c, f"request.cameras.{i}") for i, c in enumerate(cameras)]
        for i, cam in enumerate(cameras):
            if (cam["width"], cam["height"]) != (out["width"], out["height"]):
                _fail(f"request.cameras.{i}.width", "camera size must equal request width x height")
    out["cameras"] = cameras
    behaviour = req.get("camera_behaviour")
    out["camera_behaviour"] = None if behaviour is None else check_str(behaviour, "request.camera_behaviour", 16, CAMERA_BEHAVIOURS)
    anchor = req.get("anchor", {})
    if not isinstance(anchor, dict):
        _fail("request.anchor", "must be a map with position, heading_rad, height_m")
    out["anchor"] = {
        "position": check_vec3(anchor.get("position", [0.0, 0.0, 0.0]), "request.anchor.position"),
        "heading_rad": check_float(anchor.get("heading_rad", 0.0), "request.anchor.heading_rad", -100.0, 100.0),
        "height_m": check_float(anchor.get("height_m", 1.8), "request.anchor.height_m", 0.01, 100.0),
    }
    targets = req.get("targets") or {}
    if not isinstance(targets, dict):
        _fail("request.targets", "must be a map of name -> [x, y, z]")
    if len(targets) > MAX_TARGETS:
        _fail("request.targets", f"has {len(targets)} entries, limit {MAX_TARGETS}", E_TOO_LARGE)
    out["targets"] = {check_str(k, "request.targets.<key>", MAX_NAME_CHARS, allow_empty=False):
                      check_vec3(v, f"request.targets.{k}") for k, v in targets.items()}
    generator = req.get("generator")
    out["generator"] = None if generator is None else check_str(generator, "request.generator", MAX_NAME_CHARS, allow_empty=False)
    out["options"] = check_options(req.get("options"))
    out["encoding"] = check_str(req.get("encoding", "png"), "request.encoding", 8, ENCODINGS)
    out["on_disconnect"] = check_str(req.get("on_disconnect", "cancel"), "request.on_disconnect", 8, ON_DISCONNECT)
    views = req.get("views", [])
    if not isinstance(views, list) or len(views) > len(VIEW_NAMES):
        _fail("request.views", f"must be a list of at most {len(VIEW_NAMES)} view names, one per blob")
    for i, name in enumerate(views):
        check_str(name, f"request.views.{i}", 8, VIEW_NAMES)
    if len(set(views)) != len(views):
        _fail("request.views", "names a view twice")
    if len(blobs) != len(views):
        _fail("request.views", f"names {len(views)} views but the message carries {len(blobs)} blobs")
    for name, blob in zip(views, blobs):
        check_view_blob(blob, f"views.{name}")
    out["views"] = list(views)
    return out


def check_attach(header: dict) -> dict:
    return {"job": check_job_id(header.get("job")),
            "from_frame": check_int(header.get("from_frame", 0), "from_frame", 0, MAX_FRAMES)}


def check_job_ref(header: dict) -> dict:
    return {"job": check_job_id(header.get("job"))}
