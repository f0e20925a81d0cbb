"""The protocol as data: validation, the document that describes it, and the scene cache."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time

import msgpack
import pytest

from backend import protocol as P
from backend.auth import is_loopback_address
from backend.cache import SceneCache, parse_size
from backend_helpers import REPO, orbit_cameras, pattern_request

DOC = (REPO / "docs" / "PROTOCOL.md").read_text()


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (width, height)).save(buf, format="PNG")
    return buf.getvalue()


TINY_PNG = _png(4, 4)


def test_the_client_side_imports_neither_numpy_nor_torch():
    code = ("import sys, backend.client, backend.protocol; "
            "bad = [m for m in ('numpy', 'torch', 'anix_core') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


@pytest.mark.parametrize("name", P.CLIENT_TYPES + P.SERVER_TYPES + P.ERROR_CODES)
def test_every_message_type_and_error_code_is_documented(name):
    assert f"`{name}`" in DOC


@pytest.mark.parametrize("name,value", sorted(P.LIMITS.items()))
def test_every_limit_is_documented_with_its_value(name, value):
    row = re.search(rf"^\| `{name}` \| ([^|]+) \|$", DOC, re.MULTILINE)  # the Limits table
    assert row, name
    assert float(row.group(1).replace(",", "")) == value


def test_a_submit_is_normalised_with_defaults():
    request = P.check_submit({"request": {"scene": "a" * 64}}, [])
    assert request["num_frames"] == 93 and (request["width"], request["height"]) == (832, 480)
    assert request["transform"][3] == [0.0, 0.0, 0.0, 1.0] and request["cameras"] is None
    assert request["encoding"] == "png" and request["on_disconnect"] == "cancel" and request["views"] == []


def test_cameras_must_match_the_frame_count_and_size():
    good = pattern_request(2, cameras=orbit_cameras(2))
    assert len(P.check_submit({"request": good}, [])["cameras"]) == 2
    with pytest.raises(P.ProtocolError) as err:
        P.check_submit({"request": pattern_request(3, cameras=orbit_cameras(2))}, [])
    assert err.value.field == "request.cameras"
    bad = orbit_cameras(2)
    bad[1]["K"][0][0] = -5.0
    with pytest.raises(P.ProtocolError) as err:
        P.check_submit({"request": pattern_request(2, cameras=bad)}, [])
    assert err.value.field == "request.cameras.1.K"


@pytest.mark.parametrize("change,field,code", [
    ({"width": 4000}, "request.width", P.E_INVALID_FIELD),
    ({"width": 2048, "height": 2048}, "request.width", P.E_TOO_LARGE),
    ({"fps": float("inf")}, "request.fps", P.E_INVALID_FIELD),
    ({"num_frames": True}, "request.num_frames", P.E_INVALID_FIELD),
    ({"instruction": "y" * 2001}, "request.instruction", P.E_TOO_LARGE),
    ({"views": ["front", "front"]}, "request.views", P.E_INVALID_FIELD),
    ({"anchor": {"position": [0, 0, "up"]}}, "request.anchor.position.2", P.E_INVALID_FIELD),
    ({"options": {f"k{i}": i for i in range(65)}}, "request.options", P.E_TOO_LARGE),
    ({"options": {"lora_dir": "/etc"}}, "request.options.lora_dir", P.E_INVALID_FIELD),
    ({"transform": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]}, "request.transform", P.E_INVALID_FIELD),
])
def test_bad_request_fields_are_named(change, field, code):
    blobs = [TINY_PNG] * len(change.get("views", []))
    with pytest.raises(P.ProtocolError) as err:
        P.check_submit({"request": {**pattern_request(2), **change}}, blobs)
    assert (err.value.field, err.value.code) == (field, code)


def test_views_must_be_png_and_within_the_size_limit():
    with pytest.raises(P.ProtocolError) as err:
        P.check_submit({"request": pattern_request(2, views=["front"])}, [b"GIF89a...."])
    assert err.value.field == "views.front"
    with pytest.raises(P.ProtocolError) as err:
        P.check_submit({"request": pattern_request(2, views=["back"])}, [P.PNG_SIGNATURE + bytes(P.MAX_VIEW_BYTES)])
    assert err.value.code == P.E_TOO_LARGE
    with pytest.raises(P.ProtocolError) as err:  # a small file that claims a huge image: refused unread
        P.check_submit({"request": pattern_request(2, views=["left"])}, [_png(3000, 1)])
    assert (err.value.field, err.value.code) == ("views.left", P.E_TOO_LARGE)
    assert P.check_submit({"request": pattern_request(2, views=["right"])}, [TINY_PNG])["views"] == ["right"]


def test_headers_refuse_garbage_other_versions_and_extension_types():
    for data, code in [(b"\xc1", P.E_BAD_MESSAGE), (msgpack.packb([1]), P.E_BAD_MESSAGE),
                       (msgpack.packb({"v": 2, "type": "ping"}), P.E_UNSUPPORTED_VERSION),
                       (msgpack.packb({"v": 1, "type": "ping", "t": msgpack.ExtType(1, b"x")}), P.E_BAD_MESSAGE),
                       (b"\x80" * (P.MAX_HEADER_BYTES + 1), P.E_TOO_LARGE)]:
        with pytest.raises(P.ProtocolError) as err:
            P.unpack_header(data)
        assert err.value.code == code


def test_loopback_addresses_are_recognised():
    assert all(map(is_loopback_address, ["tcp://127.0.0.1:5555", "tcp://localhost:1", "tcp://[::1]:5", "ipc:///tmp/x"]))
    assert not any(map(is_loopback_address, ["tcp://0.0.0.0:5555", "tcp://*:5555", "tcp://10.0.0.2:1", "tcp://eth0:1"]))


def test_sizes_read_like_people_write_them():
    assert parse_size("20GB") == 20 * 1024**3 and parse_size("512M") == 512 * 1024**2 and parse_size("1000") == 1000
    with pytest.raises(ValueError):
        parse_size("lots")


def _upload(cache: SceneCache, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    assert cache.put_chunk(sha, len(data), 0, ".ply", data) == len(data)
    return sha


def test_the_cache_evicts_least_recently_used_scenes_but_never_a_pinned_one(tmp_path):
    cache = SceneCache(tmp_path, max_bytes=2500)
    a = _upload(cache, b"a" * 1000)
    time.sleep(0.01)
    b = _upload(cache, b"b" * 1000)
    cache.pin(a)  # a queued job uses a
    os.utime(cache.path(a), (1, 1))  # and a is the oldest
    c = _upload(cache, b"c" * 1000)
    assert cache.path(a) and cache.path(c) and cache.path(b) is None
    cache.pin(c)
    with pytest.raises(P.ProtocolError) as err:
        _upload(cache, b"d" * 1000)
    assert err.value.code == P.E_CACHE_FULL
    cache.unpin(a)
    _upload(cache, b"d" * 1000)
    assert cache.path(a) is None and cache.path(c)
