"""Every reader matches the courtyard truth within its format's quantisation; writers round-trip;
formats are told apart by content."""
from __future__ import annotations

import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest

from anix_core.splats import GaussianScene, detect_format, load, save, sha256_file
from anix_core.splats.scene import SH_C0

FIELDS = ("means", "quats", "log_scales", "logit_opacities", "sh0", "shN")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def match_to_truth(means, extra, truth_means, truth_extra, cell=0.05):
    """Index of the truth splat nearest to each loaded splat (formats that reorder splats).

    Candidates come from the 27 grid cells around each point; `extra` features (e.g. log-scales)
    break ties between splats that sit within the position quantisation of each other.
    """
    def key(c):
        return (c[:, 0] * 1_000_003 + c[:, 1]) * 1_000_003 + c[:, 2]

    ref_keys = key(np.floor(truth_means / cell).astype(np.int64))
    order = np.argsort(ref_keys)
    sorted_keys = ref_keys[order]
    query_cells = np.floor(means / cell).astype(np.int64)
    best = np.full(len(means), np.inf)
    index = np.full(len(means), -1)
    for offset in np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1]), -1).reshape(-1, 3):
        k = key(query_cells + offset)
        lo, hi = np.searchsorted(sorted_keys, k, "left"), np.searchsorted(sorted_keys, k, "right")
        for j in range(int((hi - lo).max(initial=0))):
            valid = lo + j < hi
            cand = order[np.minimum(lo + j, len(order) - 1)]
            d = ((truth_means[cand] - means) ** 2).sum(1) + ((truth_extra[cand] - extra) ** 2).sum(1)
            d = np.where(valid, d, np.inf)
            better = d < best
            best[better], index[better] = d[better], cand[better]
    assert (index >= 0).all()
    return index


def quat_alignment(a, b):
    """|<a, b>| per splat: 1 for the same rotation (q and -q are equal)."""
    return np.abs((a.astype(np.float64) * b).sum(1))


# ---------------------------------------------------------------- INRIA PLY


def test_inria_ply_matches_truth_exactly(fixtures_dir, truth):
    scene = load(fixtures_dir / "courtyard.ply")
    assert scene.count == 73_200 and scene.sh_degree == 3
    for name in ("means", "log_scales", "logit_opacities", "sh0", "shN"):
        np.testing.assert_array_equal(getattr(scene, name), truth[name], err_msg=name)
    np.testing.assert_allclose(scene.quats, truth["quats"], atol=1e-6)
    assert all(getattr(scene, name).dtype == np.float32 for name in FIELDS)


def test_sh_degree_zero_ply_has_no_higher_bands(fixtures_dir, truth):
    scene = load(fixtures_dir / "courtyard_sh0.ply")
    assert scene.sh_degree == 0 and scene.shN.shape == (73_200, 0, 3)
    np.testing.assert_array_equal(scene.sh0, truth["sh0"])


@pytest.mark.parametrize("name", ["courtyard.ply", "courtyard.spz", "courtyard.compressed.ply"])
@pytest.mark.parametrize("degree", [0, 1, 2])
def test_max_sh_degree_keeps_the_lower_bands_and_everything_else(fixtures_dir, name, degree):
    full, capped = load(fixtures_dir / name), load(fixtures_dir / name, max_sh_degree=degree)
    assert capped.sh_degree == min(degree, full.sh_degree)
    np.testing.assert_array_equal(capped.shN, full.shN[:, :capped.shN.shape[1]])
    for field in ("means", "quats", "log_scales", "logit_opacities", "sh0"):
        np.testing.assert_array_equal(getattr(capped, field), getattr(full, field))


@pytest.mark.parametrize("name", ["valid_ascii.ply", "valid_big_endian.ply"])
def test_legal_ply_variants_load_four_splats(fixtures_dir, name):
    scene = load(fixtures_dir / name)
    assert scene.count == 4 and scene.sh_degree == 0
    np.testing.assert_allclose(np.sort(scene.means[:, 0]), [0, 1, 2, 3])
    np.testing.assert_allclose(np.linalg.norm(scene.quats, axis=1), 1.0, rtol=1e-6)


def _write_ply(path, columns: dict, byte_order="<", comments=()):
    """A PLY with the given {name: typed array} vertex properties in dict order."""
    n = len(next(iter(columns.values())))
    types = {"f4": "float", "f8": "double", "u1": "uchar", "i2": "short", "i4": "int"}
    header = ["ply", f"format {'binary_little_endian' if byte_order == '<' else 'binary_big_endian'} 1.0"]
    header += [f"comment {c}" for c in comments]
    header += [f"element vertex {n}"]
    header += [f"property {types[a.dtype.str[1:]]} {name}" for name, a in columns.items()]
    header += ["end_header"]
    table = np.empty(n, dtype=[(k, byte_order + a.dtype.str[1:]) for k, a in columns.items()])
    for k, a in columns.items():
        table[k] = a
    path.write_bytes(("\n".join(header) + "\n").encode() + table.tobytes())
    return path


def _inria_columns(truth, count=50, degree=3, dtype="f4"):
    k = (degree + 1) ** 2 - 1
    cols = {}
    for i, axis in enumerate("xyz"):
        cols[axis] = truth["means"][:count, i]
    for i in range(3):
        cols[f"f_dc_{i}"] = truth["sh0"][:count, i]
    rest = truth["shN"][:count, :k].transpose(0, 2, 1).reshape(count, 3 * k)  # channel-major
    for i in range(3 * k):
        cols[f"f_rest_{i}"] = rest[:, i]
    cols["opacity"] = truth["logit_opacities"][:count]
    for i in range(3):
        cols[f"scale_{i}"] = truth["log_scales"][:count, i]
    for i in range(4):
        cols[f"rot_{i}"] = truth["quats"][:count, i]
    return {name: np.asarray(a, dtype=dtype) for name, a in cols.items()}


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_ply_reads_properties_by_name_in_any_order_and_type(tmp_path, truth, degree):
    cols = _inria_columns(truth, degree=degree, dtype="f8")
    cols["nx"] = cols["ny"] = cols["nz"] = np.zeros(50)  # normals are optional and ignored
    shuffled = dict(sorted(cols.items(), key=lambda kv: hashlib.md5(kv[0].encode()).hexdigest()))
    scene = load(_write_ply(tmp_path / "shuffled.ply", shuffled, byte_order=">"))
    k = (degree + 1) ** 2 - 1
    assert scene.sh_degree == degree
    np.testing.assert_allclose(scene.shN, truth["shN"][:50, :k], atol=1e-7)
    np.testing.assert_allclose(scene.means, truth["means"][:50], atol=1e-7)
    np.testing.assert_allclose(scene.quats, truth["quats"][:50], atol=1e-6)


def test_ply_with_mixed_scalar_types_loads(tmp_path, truth):
    cols = _inria_columns(truth, degree=0)
    cols["opacity"] = cols["opacity"].astype(np.float64)
    cols["red"] = np.full(50, 200, np.uint8)
    scene = load(_write_ply(tmp_path / "mixed.ply", cols))
    np.testing.assert_allclose(scene.logit_opacities, truth["logit_opacities"][:50], rtol=1e-6)


@pytest.mark.parametrize("comment", ["antialiased 1", "SplatRenderMode: mip"])
def test_antialiased_comment_sets_the_scene_flag(tmp_path, truth, comment):
    scene = load(_write_ply(tmp_path / "aa.ply", _inria_columns(truth, degree=0), comments=[comment]))
    assert scene.antialiased
    assert not load(_write_ply(tmp_path / "plain.ply", _inria_columns(truth, degree=0))).antialiased


# ---------------------------------------------------------------- lossy formats


def test_compressed_ply_matches_truth_within_quantisation(fixtures_dir, truth):
    scene = load(fixtures_dir / "courtyard.compressed.ply")
    assert detect_format(fixtures_dir / "courtyard.compressed.ply") == "compressed_ply"
    assert scene.count == 73_200 and scene.sh_degree == 3
    scene = scene.subset(slice(None, None, 3))  # every third splat keeps the matching quick
    features = lambda sh0, log_scales, quats: np.concatenate([SH_C0 * sh0, log_scales, np.abs(quats)], axis=1)
    idx = match_to_truth(scene.means, features(scene.sh0, scene.log_scales, scene.quats),
                         truth["means"], features(truth["sh0"], truth["log_scales"], truth["quats"]))
    assert len(np.unique(idx)) == scene.count
    # position: 11/10/11 bits over a chunk's extent; the courtyard's chunks span a few metres
    assert np.abs(scene.means - truth["means"][idx]).max() < 0.01
    assert np.abs(scene.log_scales - truth["log_scales"][idx]).max() < 0.01
    assert quat_alignment(scene.quats, truth["quats"][idx]).min() > 0.999
    assert np.abs(sigmoid(scene.logit_opacities) - sigmoid(truth["logit_opacities"][idx])).max() <= 0.5 / 255 + 1e-6
    rgb_error = np.abs(SH_C0 * (scene.sh0 - truth["sh0"][idx]))
    assert rgb_error.max() <= 0.5 / 255 * 1.5  # 8 bits over the chunk's colour range (< 1)
    assert np.abs(scene.shN - truth["shN"][idx]).max() <= 8 / 256 / 2 + 1e-6  # truncated 8-bit, centred


def test_splat_matches_truth_dc_colour_only(fixtures_dir, truth):
    scene = load(fixtures_dir / "courtyard.splat")
    assert detect_format(fixtures_dir / "courtyard.splat") == "splat"
    assert scene.count == 73_200 and scene.sh_degree == 0
    scene = scene.subset(slice(None, None, 3))
    idx = match_to_truth(scene.means, scene.log_scales, truth["means"], truth["log_scales"])
    np.testing.assert_array_equal(scene.means, truth["means"][idx])  # float32 positions
    np.testing.assert_allclose(scene.log_scales, truth["log_scales"][idx], atol=1e-5)
    assert quat_alignment(scene.quats, truth["quats"][idx]).min() > 0.999
    assert np.abs(sigmoid(scene.logit_opacities) - sigmoid(truth["logit_opacities"][idx])).max() <= 1 / 255 + 1e-6
    assert np.abs(SH_C0 * (scene.sh0 - truth["sh0"][idx])).max() <= 1 / 255 + 1e-6


def _assert_spz_matches(scene, truth):
    assert scene.count == 73_200 and scene.sh_degree == 3
    assert np.abs(scene.means - truth["means"]).max() <= 0.5 / 4096 + 1e-6  # 12 fractional bits
    assert np.abs(scene.log_scales - truth["log_scales"]).max() <= 0.5 / 16 + 1e-5
    assert quat_alignment(scene.quats, truth["quats"]).min() > 0.9999
    assert np.abs(sigmoid(scene.logit_opacities) - sigmoid(truth["logit_opacities"])).max() <= 0.5 / 255 + 1e-6
    assert np.abs(scene.sh0 - truth["sh0"]).max() <= 0.5 / (255 * 0.15) + 1e-5
    assert np.abs(scene.shN - truth["shN"]).max() <= 0.5 / 128 + 1e-6


def test_spz_v3_is_converted_from_rub_to_ply_axes(fixtures_dir, truth):
    scene = load(fixtures_dir / "courtyard.spz")
    assert detect_format(fixtures_dir / "courtyard.spz") == "spz"
    _assert_spz_matches(scene, truth)
    assert scene.metadata["spz_version"] == 3


def _fixture_spz_streams(fixtures_dir):
    """(header fields, [positions, alphas, colours, scales, rotations, sh]) of the v3 fixture."""
    payload = gzip.decompress((fixtures_dir / "courtyard.spz").read_bytes())
    magic, version, n, degree, bits, flags, _ = struct.unpack("<4sIIBBBB", payload[:16])
    assert (magic, version) == (b"NGSP", 3)
    sizes = [n * 9, n, n * 3, n * 3, n * 4, n * 15 * 3]
    streams, start = [], 16
    for size in sizes:
        streams.append(payload[start: start + size])
        start += size
    assert start == len(payload)
    return (n, degree, bits, flags), streams


def _write_spz_v4(path, header, streams, toc_offset=32, extension=b""):
    """An SPZ v4 container per the spec: 32-byte header, extensions, (compressed, raw) table, zstd."""
    import zstandard

    n, degree, bits, flags = header
    compressed = [zstandard.ZstdCompressor(level=3).compress(s) for s in streams]
    head = struct.pack("<4sIIBBBBI12x", b"NGSP", 4, n, degree, bits, flags | (2 if extension else 0),
                       len(streams), toc_offset)
    toc = b"".join(struct.pack("<QQ", len(c), len(s)) for c, s in zip(compressed, streams))
    path.write_bytes(head + extension + toc + b"".join(compressed))
    return path


def test_spz_v4_zstd_container_reads_like_v3(fixtures_dir, truth, tmp_path):
    header, streams = _fixture_spz_streams(fixtures_dir)
    path = _write_spz_v4(tmp_path / "courtyard_v4.spz", header, streams)
    scene = load(path)
    assert scene.metadata["spz_version"] == 4
    _assert_spz_matches(scene, truth)
    v3 = load(fixtures_dir / "courtyard.spz")
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(scene, name), getattr(v3, name), err_msg=name)


def test_spz_v4_skips_extension_records_before_the_table(fixtures_dir, tmp_path):
    header, streams = _fixture_spz_streams(fixtures_dir)
    extension = struct.pack("<II", 0xADBE0002, 12) + bytes(12)
    path = _write_spz_v4(tmp_path / "ext.spz", header, streams, toc_offset=32 + len(extension), extension=extension)
    with pytest.warns(UserWarning, match="extensions ignored"):
        assert load(path).count == 73_200


def test_spz_v3_skips_extension_records_between_header_and_data(fixtures_dir, tmp_path):
    (n, degree, bits, flags), streams = _fixture_spz_streams(fixtures_dir)
    header = struct.pack("<4sIIBBBB", b"NGSP", 3, n, degree, bits, flags | 2, 0)
    extension = struct.pack("<II", 0xADBE0002, 8) + bytes(8)
    path = tmp_path / "ext_v3.spz"
    path.write_bytes(gzip.compress(header + extension + b"".join(streams), compresslevel=1))
    with pytest.warns(UserWarning, match="16 bytes of SPZ extensions ignored"):
        scene = load(path)
    np.testing.assert_array_equal(scene.means, load(fixtures_dir / "courtyard.spz").means)


def test_spz_v2_first_three_rotations(fixtures_dir, truth, tmp_path):
    (n, degree, bits, flags), streams = _fixture_spz_streams(fixtures_dir)
    q = truth["quats"].astype(np.float64)
    xyzw_rub = np.stack([q[:, 1], -q[:, 2], -q[:, 3], q[:, 0]], axis=1)  # RDF -> RUB flips y, z
    xyzw_rub *= np.where(xyzw_rub[:, 3:] < 0, -1.0, 1.0)  # w >= 0, then store x, y, z
    rotations = np.clip(np.rint(xyzw_rub[:, :3] * 127.5 + 127.5), 0, 255).astype(np.uint8).tobytes()
    payload = struct.pack("<4sIIBBBB", b"NGSP", 2, n, degree, bits, flags, 0)
    path = tmp_path / "v2.spz"
    path.write_bytes(gzip.compress(payload + b"".join(streams[:4]) + rotations + streams[5], compresslevel=1))
    scene = load(path)
    assert scene.metadata["spz_version"] == 2
    assert quat_alignment(scene.quats, truth["quats"]).min() > 0.995  # 8 bits per component
    np.testing.assert_array_equal(scene.means, load(fixtures_dir / "courtyard.spz").means)


# ---------------------------------------------------------------- writers


@pytest.fixture(scope="module")
def small_truth_scene(truth):
    idx = np.arange(0, 73_200, 37)
    return GaussianScene(*(truth[name][idx] for name in FIELDS), antialiased=True)


def test_ply_round_trip_is_exact(tmp_path, small_truth_scene):
    save(small_truth_scene, tmp_path / "out.ply")
    back = load(tmp_path / "out.ply")
    for name in FIELDS:
        np.testing.assert_allclose(getattr(back, name), getattr(small_truth_scene, name), atol=1e-6, err_msg=name)
    assert back.antialiased


def test_splat_round_trip_keeps_dc_within_8_bits(tmp_path, small_truth_scene):
    save(small_truth_scene, tmp_path / "out.splat")
    back = load(tmp_path / "out.splat")
    src = small_truth_scene
    assert back.count == src.count and back.sh_degree == 0
    np.testing.assert_array_equal(back.means, src.means)
    np.testing.assert_allclose(back.log_scales, src.log_scales, atol=1e-5)
    assert np.abs(SH_C0 * (back.sh0 - src.sh0)).max() <= 0.5 / 255 + 1e-6
    assert np.abs(sigmoid(back.logit_opacities) - sigmoid(src.logit_opacities)).max() <= 0.5 / 255 + 1e-6
    assert quat_alignment(back.quats, src.quats).min() > 0.999


def test_spz_round_trip_is_v3_within_quantisation(tmp_path, small_truth_scene):
    save(small_truth_scene, tmp_path / "out.spz")
    raw = (tmp_path / "out.spz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and struct.unpack("<I", gzip.decompress(raw)[4:8])[0] == 3
    back = load(tmp_path / "out.spz")
    src = small_truth_scene
    assert back.count == src.count and back.sh_degree == 3 and back.antialiased
    assert np.abs(back.means - src.means).max() <= 0.5 / 4096 + 1e-6
    assert np.abs(back.log_scales - src.log_scales).max() <= 0.5 / 16 + 1e-5
    assert quat_alignment(back.quats, src.quats).min() > 0.9999
    assert np.abs(back.sh0 - src.sh0).max() <= 0.5 / (255 * 0.15) + 1e-5
    assert np.abs(back.shN - src.shN).max() <= 0.5 / 128 + 1e-6


def test_spz_writer_matches_the_reference_writer_bytes_for_positions_and_rotations(fixtures_dir, truth, tmp_path):
    """Our v3 streams for the truth equal those the fixture's writer produced (same rounding)."""
    from anix_core.splats.spz import encode_streams

    _, reference = _fixture_spz_streams(fixtures_dir)
    ours = encode_streams(GaussianScene(*(truth[name] for name in FIELDS)), 12)
    assert ours[0] == reference[0]
    mismatch = np.frombuffer(ours[4], "<u4") != np.frombuffer(reference[4], "<u4")
    assert mismatch.mean() < 0.01  # float rounding of the 9-bit magnitudes may differ by one step


def test_save_refuses_unknown_or_unwritable_formats(tmp_path, small_truth_scene):
    with pytest.raises(ValueError, match="compressed PLY"):
        save(small_truth_scene, tmp_path / "x.ply", format="compressed_ply")
    with pytest.raises(ValueError, match="extension"):
        save(small_truth_scene, tmp_path / "x.bin")
    assert not list(tmp_path.iterdir())


def test_empty_scene_round_trips_in_every_writable_format(tmp_path):
    for suffix in (".ply", ".splat", ".spz"):
        if suffix == ".splat":
            save(GaussianScene.empty(), tmp_path / f"empty{suffix}")
            with pytest.raises(ValueError, match="empty"):  # a zero-byte .splat cannot be told from nothing
                load(tmp_path / f"empty{suffix}")
            continue
        save(GaussianScene.empty(2), tmp_path / f"empty{suffix}")
        back = load(tmp_path / f"empty{suffix}")
        assert back.count == 0 and back.sh_degree == 2


# ---------------------------------------------------------------- detection and hashing


@pytest.mark.parametrize("name,expected", [
    ("courtyard.ply", "ply"), ("courtyard.compressed.ply", "compressed_ply"),
    ("courtyard.splat", "splat"), ("courtyard.spz", "spz"),
])
def test_format_is_detected_by_content_not_extension(fixtures_dir, tmp_path, name, expected):
    renamed = tmp_path / "scene.bin"
    shutil.copyfile(fixtures_dir / name, renamed)
    assert detect_format(renamed) == expected
    assert load(renamed).count == 73_200


def test_loaded_arrays_do_not_keep_the_file_mapped(tmp_path, fixtures_dir):
    path = tmp_path / "scene.ply"
    shutil.copyfile(fixtures_dir / "courtyard_sh0.ply", path)
    scene = load(path)
    assert all(type(getattr(scene, name)) is np.ndarray for name in FIELDS)
    path.unlink()
    assert np.isfinite(scene.means).all()


def test_sha256_file_matches_hashlib(fixtures_dir):
    path = fixtures_dir / "courtyard.spz"
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_binary_ply_load_holds_at_most_two_copies(fixtures_dir):
    import tracemalloc

    tracemalloc.start()
    try:
        scene = load(fixtures_dir / "courtyard.ply")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    scene_bytes = sum(getattr(scene, name).nbytes for name in FIELDS)
    assert peak <= 2 * scene_bytes, f"peak {peak / scene_bytes:.2f} copies"


def test_package_imports_nothing_heavier_than_numpy(fixtures_dir):
    import subprocess
    import sys

    code = ("import sys, anix_core.splats as s; s.load(sys.argv[1]); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'scipy', 'numba', 'zstandard', 'PIL'}))")
    out = subprocess.run([sys.executable, "-c", code, str(fixtures_dir / "courtyard.spz")],
                         check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
