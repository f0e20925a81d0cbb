"""Mangled files of every format are refused with SceneFormatError, quickly: never another
exception, a hang or a huge allocation. Seeded, so a failure reproduces."""
import time
import tracemalloc
import warnings

import numpy as np
import pytest

from anix_core.splats import SceneFormatError, load, save

MUTATIONS_PER_FORMAT = 200  # 2,000 a format also passes (36 s)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory, fixtures_dir):
    """Each format written from 300 courtyard splats (SH 3 where the format keeps it), plus the
    head of the compressed PLY fixture (its header and first chunks)."""
    folder = tmp_path_factory.mktemp("small")
    scene = load(fixtures_dir / "courtyard.ply").subset(np.arange(300))
    files = {}
    for fmt, name in (("ply", "s.ply"), ("splat", "s.splat"), ("spz", "s.spz")):
        save(scene, folder / name, format=fmt)
        files[fmt] = (folder / name).read_bytes()
    files["ascii_ply"] = (fixtures_dir / "valid_ascii.ply").read_bytes()
    files["compressed_ply"] = (fixtures_dir / "courtyard.compressed.ply").read_bytes()
    return files


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One of: truncate, flip bytes (often in the header), insert or delete a run, duplicate a line."""
    kind = rng.integers(5)
    buf = bytearray(data)
    if kind == 0:
        return bytes(buf[: rng.integers(0, len(buf))])
    if kind == 1:
        span = min(len(buf), 2048 if rng.random() < 0.7 else len(buf))
        for _ in range(rng.integers(1, 8)):
            buf[rng.integers(span)] = rng.integers(256)
        return bytes(buf)
    if kind == 2:
        at = rng.integers(len(buf))
        return bytes(buf[:at] + rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8).tobytes() + buf[at:])
    if kind == 3:
        at = rng.integers(len(buf))
        return bytes(buf[:at] + buf[at + rng.integers(1, 64):])
    # digits in a header changed: counts and sizes that lie
    head = bytes(buf[:2048])
    digits = [i for i, c in enumerate(head) if 48 <= c <= 57]
    for i in rng.choice(digits, size=min(3, len(digits)), replace=False) if digits else []:
        buf[i] = rng.integers(48, 58)
    return bytes(buf)


@pytest.mark.parametrize("fmt", ["ply", "ascii_ply", "splat", "spz", "compressed_ply"])
def test_mangled_files_are_refused_cleanly(small_files, tmp_path, fmt):
    rng = np.random.default_rng(sum(map(ord, fmt)))
    original = small_files[fmt]
    suffix = {"ascii_ply": ".ply", "compressed_ply": ".ply"}.get(fmt, "." + fmt)
    (tmp_path / f"original{suffix}").write_bytes(original)
    original_count = load(tmp_path / f"original{suffix}").count
    for i in range(MUTATIONS_PER_FORMAT):
        path = tmp_path / f"m{i}{suffix}"
        path.write_bytes(mutate(original, rng))
        tracemalloc.start()
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scene = load(path)
        except SceneFormatError as exc:
            assert str(path.name) in str(exc), f"mutation {i}: message does not name the file: {exc}"
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{fmt} mutation {i}: {type(exc).__name__} instead of SceneFormatError: {exc}")
        else:
            assert scene.count <= original_count + 64  # an inserted run may add a record or two
            assert np.isfinite(scene.means).all() and np.isfinite(scene.quats).all()
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert time.perf_counter() - start < 2.0, f"{fmt} mutation {i} took too long"
        assert peak < 256 * 2**20, f"{fmt} mutation {i} allocated {peak / 2**20:.0f} MiB"
        path.unlink()
