"""Similarity transforms move splats rigidly (SH colour included); crop and decimate select splats."""
from __future__ import annotations

import numpy as np
import pytest

from anix_core.splats import GaussianScene
from anix_core.splats.sh_rotation import rotate_sh, sh_basis, sh_rotation_matrices
from anix_core.splats.transform import quat_from_matrix

FIELDS = ("means", "quats", "log_scales", "logit_opacities", "sh0", "shN")


def random_rotation(rng, proper=True):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    return q if proper else -q


def unit_dirs(rng, count):
    d = rng.normal(size=(count, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def similarity(rotation, scale=1.0, translation=(0.0, 0.0, 0.0)):
    m = np.eye(4)
    m[:3, :3] = scale * rotation
    m[:3, 3] = translation
    return m


def colour_seen_from(scene, dirs):
    """View-dependent colour [N, M, 3] of each splat along directions [M,3] (before the +0.5 offset)."""
    basis = sh_basis(dirs, scene.sh_degree)  # [M, (d+1)^2]
    coeffs = np.concatenate([scene.sh0[:, None], scene.shN], axis=1).astype(np.float64)
    return np.einsum("mk,nkc->nmc", basis, coeffs)


def covariances(scene):
    w, x, y, z = scene.quats.astype(np.float64).T
    r = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=1).reshape(-1, 3, 3)
    s = np.exp(2.0 * scene.log_scales.astype(np.float64))
    return np.einsum("nij,nj,nkj->nik", r, s, r)


@pytest.fixture(scope="module")
def scene(truth):
    idx = np.arange(0, 73_200, 97)
    return GaussianScene(*(truth[name][idx] for name in FIELDS))


# ---------------------------------------------------------------- SH rotation


@pytest.mark.parametrize("degree", [1, 2, 3])
@pytest.mark.parametrize("proper", [True, False])
def test_rotated_sh_seen_from_the_rotated_direction_equals_the_original(degree, proper):
    rng = np.random.default_rng(degree)
    k = (degree + 1) ** 2 - 1
    coeffs = rng.normal(size=(20, k, 3)).astype(np.float32)
    dirs = unit_dirs(rng, 50)
    for _ in range(5):
        r = random_rotation(rng, proper)
        rotated = rotate_sh(coeffs, r)
        before = np.einsum("mk,nkc->nmc", sh_basis(dirs, degree)[:, 1:], coeffs)
        after = np.einsum("mk,nkc->nmc", sh_basis(dirs @ r.T, degree)[:, 1:], rotated)
        np.testing.assert_allclose(after, before, atol=2e-5)


def test_sh_band_rotations_are_orthogonal_and_compose():
    rng = np.random.default_rng(7)
    a, b = random_rotation(rng), random_rotation(rng)
    ma, mb, mab = sh_rotation_matrices(a), sh_rotation_matrices(b), sh_rotation_matrices(a @ b)
    for band in (1, 2, 3):
        np.testing.assert_allclose(ma[band] @ ma[band].T, np.eye(2 * band + 1), atol=1e-10)
        np.testing.assert_allclose(ma[band] @ mb[band], mab[band], atol=1e-10)
    identity = sh_rotation_matrices(np.eye(3))
    for band in (1, 2, 3):
        np.testing.assert_allclose(identity[band], np.eye(2 * band + 1), atol=1e-12)


def test_quat_from_matrix_round_trips_rotations_near_every_branch():
    rng = np.random.default_rng(3)
    for r in [random_rotation(rng) for _ in range(20)] + [np.diag([1, -1, -1.0]), np.diag([-1, 1, -1.0]), np.diag([-1, -1, 1.0])]:
        w, x, y, z = quat_from_matrix(r)
        back = np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ])
        np.testing.assert_allclose(back, r, atol=1e-9)


# ---------------------------------------------------------------- scene.transformed


@pytest.mark.parametrize("proper", [True, False])
def test_similarity_transform_moves_each_gaussian_rigidly_with_its_colour(scene, proper):
    rng = np.random.default_rng(11)
    r, s, t = random_rotation(rng, proper), 2.5, np.array([1.0, -2.0, 0.5])
    moved = scene.transformed(similarity(r, s, t))
    np.testing.assert_allclose(moved.means, scene.means @ (s * r).T + t, atol=1e-4)
    np.testing.assert_allclose(covariances(moved), s * s * np.einsum("ij,njk,lk->nil", r, covariances(scene), r),
                               atol=1e-6, rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(moved.quats, axis=1), 1.0, atol=1e-6)
    dirs = unit_dirs(rng, 16)
    np.testing.assert_allclose(colour_seen_from(moved, dirs @ r.T), colour_seen_from(scene, dirs), atol=1e-5)
    np.testing.assert_array_equal(moved.logit_opacities, scene.logit_opacities)
    np.testing.assert_array_equal(moved.sh0, scene.sh0)


def test_transform_then_inverse_restores_the_scene(scene):
    rng = np.random.default_rng(5)
    m = similarity(random_rotation(rng), 0.3, (4.0, 5.0, -1.0))
    back = scene.transformed(m).transformed(np.linalg.inv(m))
    np.testing.assert_allclose(back.means, scene.means, atol=1e-4)
    np.testing.assert_allclose(back.log_scales, scene.log_scales, atol=1e-5)
    np.testing.assert_allclose(back.shN, scene.shN, atol=1e-5)
    np.testing.assert_allclose(np.abs((back.quats * scene.quats).sum(1)), 1.0, atol=1e-5)


def test_identity_transform_changes_nothing(scene):
    same = scene.transformed(np.eye(4))
    for name in FIELDS:
        np.testing.assert_allclose(getattr(same, name), getattr(scene, name), atol=1e-6, err_msg=name)


@pytest.mark.parametrize("matrix,match", [
    (np.diag([1.0, 2.0, 1.0, 1.0]), "non-uniform scale"),
    (np.array([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]), "shear"),
    (np.diag([0.0, 0.0, 0.0, 1.0]), "zero scale"),
    (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0.0]]), "bottom row"),
    (np.eye(3), "4x4"),
])
def test_non_similarity_matrices_are_refused(scene, matrix, match):
    with pytest.raises(ValueError, match=match):
        scene.transformed(matrix)


def test_degree_zero_scene_transforms_without_sh(truth):
    scene = GaussianScene(truth["means"][:10], truth["quats"][:10], truth["log_scales"][:10],
                          truth["logit_opacities"][:10], truth["sh0"][:10], np.zeros((10, 0, 3)))
    moved = scene.transformed(similarity(np.eye(3), 2.0))
    assert moved.sh_degree == 0
    np.testing.assert_allclose(moved.log_scales, scene.log_scales + np.log(2.0), atol=1e-6)


# ---------------------------------------------------------------- crop and decimate


def test_crop_keeps_exactly_the_splats_inside_the_box(scene):
    lo, hi = np.array([-2.0, -2.0, 0.0]), np.array([2.0, 2.0, 1.0])
    inside = ((scene.means >= lo) & (scene.means <= hi)).all(axis=1)
    cropped = scene.crop(lo, hi)
    assert 0 < cropped.count == inside.sum() < scene.count
    np.testing.assert_array_equal(cropped.means, scene.means[inside])
    with pytest.raises(ValueError, match="empty"):
        scene.crop(hi, lo)


def test_decimate_keeps_the_most_opaque_and_largest_in_original_order(scene):
    kept = scene.decimate(max_count=100)
    assert kept.count == 100
    score = np.log(scene.opacities()) + scene.log_scales.sum(1)
    threshold = np.sort(score)[-100]
    kept_score = np.log(kept.opacities()) + kept.log_scales.sum(1)
    assert kept_score.min() >= threshold - 1e-6
    order = np.flatnonzero(score >= threshold)
    np.testing.assert_array_equal(kept.means, scene.means[order])


def test_decimate_by_fraction_and_at_random_is_reproducible(scene):
    assert scene.decimate(fraction=0.25).count == round(scene.count * 0.25)
    a = scene.decimate(max_count=50, method="random", seed=1)
    b = scene.decimate(max_count=50, method="random", seed=1)
    c = scene.decimate(max_count=50, method="random", seed=2)
    np.testing.assert_array_equal(a.means, b.means)
    assert not np.array_equal(a.means, c.means)
    assert scene.decimate(max_count=10**9).count == scene.count
    assert scene.decimate(max_count=0).count == 0
    with pytest.raises(ValueError, match="exactly one"):
        scene.decimate()
    with pytest.raises(ValueError, match="method"):
        scene.decimate(fraction=0.5, method="best")
