"""Bad input is refused quickly with a SceneFormatError naming the file and the fault, and
never allocates what a lying header claims; recoverable faults load with a warning."""
from __future__ import annotations

import gzip
import struct
import time
import tracemalloc
import warnings

import numpy as np
import pytest

from anix_core.splats import SceneFormatError, load

PLY_PROPS = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
             "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")
ALLOCATION_LIMIT = 64 << 20


def refuse(path, match: str | None = None) -> str:
    """Load `path`, expecting a SceneFormatError within a second and little memory; its message."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SceneFormatError) as info:
            load(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message, message
    assert isinstance(info.value, ValueError)
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert peak < ALLOCATION_LIMIT, f"allocated {peak >> 20} MiB"
    if match:
        assert match.lower() in message.lower(), message
    return message


def ply_bytes(count: int, props=PLY_PROPS, rows=None, types=None, header_extra=(), fmt="binary_little_endian"):
    types = types or ["float"] * len(props)
    header = ["ply", f"format {fmt} 1.0", *header_extra, f"element vertex {count}"]
    header += [f"property {t} {p}" for t, p in zip(types, props)] + ["end_header"]
    body = b"" if rows is None else rows
    return ("\n".join(header) + "\n").encode() + body


def identity_rows(count: int) -> np.ndarray:
    rows = np.zeros((count, len(PLY_PROPS)), "<f4")
    rows[:, 0] = np.arange(count)
    rows[:, 7:10] = -3.0
    rows[:, 10] = 1.0
    return rows


# ---------------------------------------------------------------- the shared bad fixtures


BAD = ["huge_count.ply", "no_end_header.ply", "not_a_ply.ply", "point_cloud_only.ply",
       "ragged.splat", "truncated.ply", "truncated.spz"]


@pytest.mark.parametrize("name", BAD)
def test_every_bad_fixture_is_refused_quickly_with_the_file_named(fixtures_dir, name):
    refuse(fixtures_dir / "bad" / name)


def test_bad_fixture_folder_holds_no_untested_file(fixtures_dir):
    assert {p.name for p in (fixtures_dir / "bad").iterdir()} == set(BAD) | {"nan_inf.ply"}


def test_point_cloud_error_lists_the_missing_properties_by_name(fixtures_dir):
    message = refuse(fixtures_dir / "bad" / "point_cloud_only.ply")
    for name in ("f_dc_0", "opacity", "scale_2", "rot_3"):
        assert name in message
    assert "'x'" not in message and " x," not in message


def test_lying_headers_report_claimed_and_actual_sizes(fixtures_dir):
    message = refuse(fixtures_dir / "bad" / "huge_count.ply", "900000000000 splats")
    assert "1000 bytes" in message
    message = refuse(fixtures_dir / "bad" / "truncated.ply", "73200 splats")
    assert "truncated" in message


def test_ragged_splat_and_truncated_spz_say_why(fixtures_dir):
    refuse(fixtures_dir / "bad" / "ragged.splat", "32-byte records")
    refuse(fixtures_dir / "bad" / "truncated.spz", "truncated")
    refuse(fixtures_dir / "bad" / "no_end_header.ply", "end_header")
    refuse(fixtures_dir / "bad" / "not_a_ply.ply", "not a PLY")


def test_non_finite_splats_are_dropped_with_their_count(fixtures_dir):
    with pytest.warns(UserWarning, match="dropped 3 splats"):
        scene = load(fixtures_dir / "bad" / "nan_inf.ply")
    assert scene.count == 1 and np.isfinite(scene.means).all()
    assert scene.metadata["dropped_non_finite"] == 3


# ---------------------------------------------------------------- our own nasty cases


def test_empty_file_and_directory_are_refused(tmp_path):
    (tmp_path / "empty.ply").write_bytes(b"")
    refuse(tmp_path / "empty.ply", "empty")
    refuse(tmp_path, "directory")
    refuse(tmp_path / "missing.ply", "no such file")


def test_zero_splat_ply_loads_as_an_empty_scene(tmp_path):
    (tmp_path / "zero.ply").write_bytes(ply_bytes(0))
    scene = load(tmp_path / "zero.ply")
    assert scene.count == 0 and scene.sh_degree == 0


def test_unknown_property_type_is_named(tmp_path):
    types = ["float"] * 13 + ["float128"]
    (tmp_path / "t.ply").write_bytes(ply_bytes(1, types=types, rows=bytes(64)))
    message = refuse(tmp_path / "t.ply", "unknown type 'float128'")
    assert "rot_3" in message


def test_duplicate_property_is_refused(tmp_path):
    (tmp_path / "dup.ply").write_bytes(ply_bytes(1, props=PLY_PROPS + ("opacity",), rows=bytes(60)))
    refuse(tmp_path / "dup.ply", "'opacity' appears twice")


def test_list_property_in_the_vertex_element_is_refused(tmp_path):
    data = ply_bytes(1).replace(b"end_header", b"property list uchar int faces\nend_header")
    (tmp_path / "list.ply").write_bytes(data + bytes(64))
    refuse(tmp_path / "list.ply", "list properties")


def test_f_rest_count_of_no_sh_degree_is_refused(tmp_path):
    props = PLY_PROPS + tuple(f"f_rest_{i}" for i in range(10))
    (tmp_path / "rest.ply").write_bytes(ply_bytes(1, props=props, rows=bytes(4 * len(props))))
    refuse(tmp_path / "rest.ply", "10 f_rest")


def test_unknown_format_line_and_keyword_are_refused(tmp_path):
    (tmp_path / "fmt.ply").write_bytes(ply_bytes(1, fmt="binary_middle_endian", rows=bytes(56)))
    refuse(tmp_path / "fmt.ply", "unknown PLY format")
    (tmp_path / "kw.ply").write_bytes(ply_bytes(1, header_extra=["frobnicate 3"], rows=bytes(56)))
    refuse(tmp_path / "kw.ply", "'frobnicate'")


def test_ascii_ply_with_missing_rows_or_bad_numbers_is_refused(tmp_path):
    rows = "\n".join(" ".join(["0"] * 14) for _ in range(3)).encode() + b"\n"
    (tmp_path / "short.ply").write_bytes(ply_bytes(4, fmt="ascii", rows=rows))
    refuse(tmp_path / "short.ply", "holds 3 rows")
    (tmp_path / "nan.ply").write_bytes(ply_bytes(1, fmt="ascii", rows=b"0 0 zero 0 0 0 0 0 0 0 1 0 0 0\n"))
    refuse(tmp_path / "nan.ply", "not a number")
    (tmp_path / "huge.ply").write_bytes(ply_bytes(10**12, fmt="ascii", rows=rows))
    refuse(tmp_path / "huge.ply", "10000000000")


def test_two_d_gaussian_file_loads_as_flat_splats_with_a_warning(tmp_path):
    props = tuple(p for p in PLY_PROPS if p != "scale_2")
    rows = np.zeros((2, len(props)), "<f4")
    rows[:, props.index("scale_0")] = -2.0
    rows[:, props.index("scale_1")] = -3.0
    rows[:, props.index("rot_0")] = 1.0
    (tmp_path / "surfels.ply").write_bytes(ply_bytes(2, props=props, rows=rows.tobytes()))
    with pytest.warns(UserWarning, match="2DGS"):
        scene = load(tmp_path / "surfels.ply")
    np.testing.assert_allclose(scene.log_scales[0], [-2.0, -3.0, -3.0 + np.log(1e-3)], rtol=1e-6)
    assert scene.metadata["source_kind"] == "2dgs"


def test_zero_quaternions_become_identity_with_a_warning(tmp_path):
    rows = identity_rows(3)
    rows[1, 10:14] = 0.0
    rows[2, 10:14] = (0.0, 0.0, 0.0, 2.0)
    (tmp_path / "q.ply").write_bytes(ply_bytes(3, rows=rows.tobytes()))
    with pytest.warns(UserWarning, match="1 splats have a zero rotation"):
        scene = load(tmp_path / "q.ply")
    np.testing.assert_array_equal(scene.quats, [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])


def test_trailing_bytes_after_the_splats_are_ignored(tmp_path):
    (tmp_path / "tail.ply").write_bytes(ply_bytes(2, rows=identity_rows(2).tobytes() + b"extra"))
    assert load(tmp_path / "tail.ply").count == 2


def test_unrecognised_headerless_file_is_refused(tmp_path):
    (tmp_path / "noise.bin").write_bytes(np.full(64, np.nan, "<f4").tobytes()[:250])
    refuse(tmp_path / "noise.bin", "unrecognised")
    (tmp_path / "noise.spz").write_bytes(b"PK\x03\x04" + bytes(60))
    refuse(tmp_path / "noise.spz", "not an SPZ")


def spz_v3_payload(version=3, count=2, degree=0, magic=b"NGSP", body=None):
    header = struct.pack("<4sIIBBBB", magic, version, count, degree, 12, 0, 0)
    return header + (bytes(count * 20) if body is None else body)


@pytest.mark.parametrize("payload,match", [
    (spz_v3_payload(magic=b"XXXX"), "magic"),
    (spz_v3_payload(version=9), "version 9"),
    (spz_v3_payload(degree=7), "SH degree 7"),
    (spz_v3_payload(count=5, body=bytes(40)), "truncated"),
    (spz_v3_payload(count=2**32 - 1, body=b""), "4294967295 splats"),
    (b"NGSP", "header"),
])
def test_bad_spz_gzip_payloads_are_refused(tmp_path, payload, match):
    path = tmp_path / "bad.spz"
    path.write_bytes(gzip.compress(payload))
    refuse(path, match)


def spz_v4(count=2, degree=0, num_streams=5, toc_offset=32, sizes=None, compressed=None, streams=None):
    import zstandard

    sizes = sizes or [count * 9, count, count * 3, count * 3, count * 4]
    if compressed is None:
        streams = streams if streams is not None else [bytes(s) for s in sizes]
        compressed = [zstandard.ZstdCompressor().compress(s) for s in streams]
    blobs = compressed
    head = struct.pack("<4sIIBBBBI12x", b"NGSP", 4, count, degree, 12, 0, num_streams, toc_offset)
    toc = b"".join(struct.pack("<QQ", len(b), s) for b, s in zip(blobs, sizes))
    return head + toc + b"".join(blobs)


def test_a_well_formed_tiny_spz_v4_loads(tmp_path):
    (tmp_path / "ok.spz").write_bytes(spz_v4())
    scene = load(tmp_path / "ok.spz")
    assert scene.count == 2


@pytest.mark.parametrize("data,match", [
    (spz_v4(num_streams=6), "lists 6 streams"),
    (spz_v4(toc_offset=4000), "outside the file"),
    (spz_v4(toc_offset=8), "outside the file"),
    (spz_v4(sizes=[18, 2, 6, 6, 9]), "claims 9 bytes"),
    (spz_v4()[:-5], "truncated"),
    (spz_v4(compressed=[b"\x28\xb5\x2f\xfd" + bytes(10)] * 5), "stream 0"),
    (spz_v4(count=2**32 - 1, sizes=[(2**32 - 1) * s for s in (9, 1, 3, 3, 4)], compressed=[b"x"] * 5), "4294967295 splats"),
    (spz_v4()[:20], "32-byte header"),
])
def test_spz_v4_with_a_bad_table_or_streams_is_refused(tmp_path, data, match):
    (tmp_path / "bad4.spz").write_bytes(data)
    refuse(tmp_path / "bad4.spz", match)


def test_compressed_ply_with_the_wrong_chunk_count_is_refused(fixtures_dir, tmp_path):
    data = (fixtures_dir / "courtyard.compressed.ply").read_bytes()
    (tmp_path / "c.ply").write_bytes(data.replace(b"element chunk 286", b"element chunk 285", 1))
    refuse(tmp_path / "c.ply", "285 chunks")


def test_loading_warns_nothing_for_clean_files(fixtures_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("courtyard.ply", "courtyard.spz", "valid_ascii.ply"):
            load(fixtures_dir / name)
