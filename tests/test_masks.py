"""Box masks from the projected character volume, the shape-agnostic variant, first-frame mode."""
import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.masks import (box_masks, character_box_corners, mask_centroids, project_box,
                             shape_agnostic_masks)


def camera_looking_at_origin(width=320, height=192):
    return Camera.look_at([0.0, -5.0, 1.0], [0.0, 0.0, 0.9], width, height, fov_x_deg=60.0)


def test_box_mask_is_the_bounding_box_of_the_projected_corners():
    cam = camera_looking_at_origin()
    root = np.zeros(3)
    masks = box_masks([cam], [root], [0.0], height_m=1.8)
    corners = character_box_corners(root, 0.0, 1.8)
    uv, _ = cam.project(corners)
    ys, xs = np.nonzero(masks[0])
    assert masks.dtype == np.float32 and set(np.unique(masks)) == {0.0, 1.0}
    assert xs.min() == pytest.approx(uv[:, 0].min(), abs=1.0)
    assert xs.max() + 1 == pytest.approx(uv[:, 0].max(), abs=1.0)
    assert ys.min() == pytest.approx(uv[:, 1].min(), abs=1.0)
    assert ys.max() + 1 == pytest.approx(uv[:, 1].max(), abs=1.0)


def test_a_character_behind_the_camera_has_an_empty_mask_and_a_partly_visible_one_is_clipped():
    cam = camera_looking_at_origin()
    behind = np.array([0.0, -8.0, 0.0])
    near_edge = np.array([1.9, -2.0, 0.0])
    masks = box_masks([cam, cam], [behind, near_edge], [0.0, 0.0], height_m=1.8)
    assert masks[0].sum() == 0
    assert 0 < masks[1].sum() < masks[1].size
    assert masks[1][:, -1].any()  # it runs off the right edge and is clipped there
    straddling = character_box_corners(np.array([0.0, -5.2, 0.0]), 0.0, 1.8)  # around the camera
    box = project_box(cam, straddling)
    assert box is not None and box[0] < 0 and box[2] > cam.width


def test_first_frame_mode_keeps_only_the_first_box():
    cam = camera_looking_at_origin()
    masks = box_masks([cam] * 3, [np.zeros(3)] * 3, [0.0] * 3, 1.8, mode="first_frame")
    assert masks[0].sum() > 0 and masks[1:].sum() == 0
    with pytest.raises(ValueError, match="mask mode"):
        box_masks([cam], [np.zeros(3)], [0.0], 1.8, mode="silhouette")


def test_shape_agnostic_masks_are_seeded_coarse_and_cover_the_character():
    cam = camera_looking_at_origin()
    roots = [np.array([x, 0.0, 0.0]) for x in (-0.5, 0.0, 0.5)]
    boxes = box_masks([cam] * 3, roots, [0.0] * 3, 1.8)
    a = shape_agnostic_masks(boxes, seed=3)
    b = shape_agnostic_masks(boxes, seed=3)
    c = shape_agnostic_masks(boxes, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, boxes)  # never the exact box
    for frame, box in zip(a, boxes):
        covered = (frame * box).sum() / box.sum()
        assert covered > 0.6  # only border blocks may be dropped
        assert set(np.unique(frame)) <= {0.0, 1.0}


def test_mask_centroids():
    m = np.zeros((2, 10, 20), np.float32)
    m[0, 2:4, 4:8] = 1
    c = mask_centroids(m)
    np.testing.assert_allclose(c[0], [6.0, 3.0])
    assert np.isnan(c[1]).all()
