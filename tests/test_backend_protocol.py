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


def test_a_partial_upload_holds_what_it_received_not_what_it_declares(tmp_path):
    cache = SceneCache(tmp_path, max_bytes=3000)
    court = _upload(cache, b"c" * 1000)
    liar = hashlib.sha256(b"never sent").hexdigest()
    assert cache.put_chunk(liar, 3000, 0, ".ply", b"x", owner=b"liar") == 1  # declares the whole cache, sends 1 byte
    assert cache.path(court) is not None and cache.used_bytes() == 1001  # nothing evicted for a promise
    again = _upload(cache, b"d" * 1000)  # an honest upload still fits
    assert cache.path(again) and cache.path(court)


def test_a_leftover_partial_that_goes_stale_as_it_is_resumed_restarts_from_zero(tmp_path):
    from backend.cache import PARTIAL_STALE_S

    data = b"s" * 3000
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / f"{sha}.ply").write_bytes(data[:1000])  # left by an earlier server
    cache = SceneCache(tmp_path, max_bytes=10_000)
    assert cache.resume_offset(sha) == 1000
    cache._uploads[sha].touched -= PARTIAL_STALE_S + 1  # it goes stale just as the client resumes
    with pytest.raises(P.ProtocolError) as err:
        cache.put_chunk(sha, len(data), 1000, ".ply", data[1000:])
    assert (err.value.code, err.value.message) == (P.E_BAD_OFFSET, "expected offset 0, got 1000")
    assert cache.put_chunk(sha, len(data), 0, ".ply", data) == len(data) and cache.path(sha)


def test_a_declared_size_over_the_free_space_is_refused_at_once_and_says_why(tmp_path):
    cache = SceneCache(tmp_path, max_bytes=3000)
    used = _upload(cache, b"u" * 1000)
    cache.pin(used)  # a queued job needs it
    sha = hashlib.sha256(b"big").hexdigest()
    with pytest.raises(P.ProtocolError) as err:
        cache.put_chunk(sha, 2001, 0, ".ply", b"b")
    assert (err.value.code, err.value.field) == (P.E_CACHE_FULL, "size")
    assert "1000 are scenes that queued or running jobs use" in err.value.message
    assert cache.resume_offset(sha) == 0 and cache.path(used)


def test_each_client_has_at_most_four_uploads_and_idle_ones_give_way(tmp_path, monkeypatch):
    from backend import cache as cache_module

    cache = SceneCache(tmp_path, max_bytes=10**6)
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20)]
    for sha in shas[:4]:
        cache.put_chunk(sha, 100, 0, ".ply", b"p", owner=b"one")
    with pytest.raises(P.ProtocolError) as err:
        cache.put_chunk(shas[4], 100, 0, ".ply", b"p", owner=b"one")
    assert err.value.code == P.E_CACHE_FULL and "4 uploads in progress" in err.value.message
    for i, sha in enumerate(shas[4:16]):  # other clients fill the server-wide 16
        cache.put_chunk(sha, 100, 0, ".ply", b"p", owner=b"c%d" % (i // 4))
    with pytest.raises(P.ProtocolError) as err:
        cache.put_chunk(shas[16], 100, 0, ".ply", b"p", owner=b"new")
    assert (err.value.code, err.value.field) == (P.E_CACHE_FULL, "sha256")
    monkeypatch.setattr(cache_module, "PARTIAL_IDLE_S", 0.0)  # as if a minute passed without chunks
    assert cache.put_chunk(shas[16], 100, 0, ".ply", b"p", owner=b"new") == 1
    assert cache.resume_offset(shas[0]) == 0  # the idlest upload gave way
    cache.drop_stale_uploads(max_age_s=0.0)
    assert all(cache.resume_offset(s) == 0 for s in shas) and not list((tmp_path / "partial").iterdir())


def test_ids_with_a_trailing_newline_are_refused():
    with pytest.raises(P.ProtocolError) as err:
        P.check_has_scene({"sha256": "a" * 64 + "\n", "size": 3})
    assert err.value.field == "sha256"
    with pytest.raises(P.ProtocolError) as err:
        P.check_job_ref({"job": "jabc\n"})
    assert err.value.field == "job"


def test_msgpack_timestamps_and_binary_map_keys_are_bad_messages():
    import datetime

    stamp = msgpack.packb({"v": 1, "type": "ping", "at": datetime.datetime.now(datetime.timezone.utc)}, datetime=True)
    binary_key = msgpack.packb({"v": 1, "type": "ping", "o": {b"k": 1}}, use_bin_type=True)
    for data in (stamp, binary_key):
        with pytest.raises(P.ProtocolError) as err:
            P.unpack_header(data)
        assert (err.value.code, err.value.field) == (P.E_BAD_MESSAGE, "header")


SIMILAR = [[0.0, -2.0, 0.0, 1.0], [2.0, 0.0, 0.0, 2.0], [0.0, 0.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0]]


@pytest.mark.parametrize("change,field,code", [
    ({"transform": [[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}, "request.transform", P.E_INVALID_FIELD),
    ({"transform": [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]}, "request.transform", P.E_INVALID_FIELD),
    ({"transform": [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}, "request.transform", P.E_INVALID_FIELD),
    ({"targets": {"fountain": [1e308, 0, 0]}}, "request.targets.fountain.0", P.E_INVALID_FIELD),
    ({"anchor": {"position": [0, 2e4, 0]}}, "request.anchor.position.1", P.E_INVALID_FIELD),
    ({"num_frames": 1024, "width": 1920, "height": 1088}, "request.num_frames", P.E_TOO_LARGE),
])
def test_what_would_fail_in_the_worker_is_refused_at_submit(change, field, code):
    with pytest.raises(P.ProtocolError) as err:
        P.check_submit({"request": {**pattern_request(2), **change}}, [])
    assert (err.value.field, err.value.code) == (field, code)
    assert P.check_submit({"request": {**pattern_request(2), "transform": SIMILAR}}, [])["transform"] == SIMILAR
    assert str(P.MAX_FRAME_PIXELS) in err.value.message or code != P.E_TOO_LARGE


def test_a_zero_pixel_png_header_is_an_invalid_view_not_a_large_one():
    with pytest.raises(P.ProtocolError) as err:
        P.check_submit({"request": pattern_request(2, views=["front"])}, [_png(4, 4)[:16] + bytes(8) + _png(4, 4)[24:]])
    assert (err.value.field, err.value.code) == ("views.front", P.E_INVALID_FIELD)


def test_error_messages_do_not_show_server_paths():
    text = "FileNotFoundError: [Errno 2] No such file or directory: '/tmp/anix-x1/cache/scenes/ab.ply' (request.cameras.3)"
    assert P.redact_paths(text) == ("FileNotFoundError: [Errno 2] No such file or directory: '<server path>' "
                                    "(request.cameras.3)")
