"""Metrics as the paper defines them, on tiny random encoders of the real classes."""
import numpy as np
import pytest
from PIL import Image

from anix_core.metrics import CharacterEncoder, MetricError, character_consistency, scene_fidelity
from anix_core.metrics.character import view_on_white

VIEWS = ("front", "left", "back", "right")


@pytest.fixture(scope="module", params=["dinov2", "clip"])
def encoder(request, tmp_path_factory):
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "dinov2":
        model = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, image_size=56, patch_size=14))
    else:
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, num_hidden_layers=2,
                                                               num_attention_heads=2, intermediate_size=64,
                                                               image_size=56, patch_size=14, projection_dim=16))
    model.save_pretrained(folder)
    return CharacterEncoder.from_pretrained(folder)


def shot_with_view(view_rgb, frames=3, size=(240, 320)):
    """Frames of a grey scene with the view pasted at a known box, and that box as the mask."""
    h, w = view_rgb.shape[:2]
    video = np.full((frames, *size, 3), 90, np.uint8)
    masks = np.zeros((frames, *size), np.float32)
    for i in range(frames):
        y, x = 10 + i, 20 + 5 * i
        video[i, y:y + h, x:x + w] = view_rgb
        masks[i, y:y + h, x:x + w] = 1
    return video, masks


def test_a_crop_identical_to_a_view_scores_one(encoder, robot_views):
    back = view_on_white(robot_views["back"])[::2, ::2]
    views = {n: np.asarray(Image.fromarray(view_on_white(v)).resize(back.shape[1::-1])) for n, v in robot_views.items()}
    video, masks = shot_with_view(views["back"])
    result = character_consistency(video, masks, views, encoder)
    assert result.mean == pytest.approx(1.0, abs=1e-5)
    assert result.best_view == ["back"] * 3
    assert result.missed_frames == {}


def test_unrelated_images_score_lower(encoder, robot_views):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (192, 192, 3), dtype=np.uint8)
    video, masks = shot_with_view(noise)
    result = character_consistency(video, masks, robot_views, encoder)
    assert result.mean < 0.999


def test_a_mask_that_misses_the_character_is_reported_not_scored(encoder, robot_views):
    view = view_on_white(robot_views["front"])[::2, ::2]
    video, masks = shot_with_view(view)
    scene = np.full_like(video, 90)
    masks[1] = 0                       # frame 1: empty mask
    masks[2] = 0
    masks[2, 200:240, 250:320] = 1     # frame 2: a box beside the character, over plain scene
    result = character_consistency(video, masks, robot_views, encoder, scene_video=scene)
    assert result.scored_frames == [0]
    assert set(result.missed_frames) == {1, 2}
    assert "empty" in result.missed_frames[1]
    assert "only the scene" in result.missed_frames[2]


def test_no_scorable_frame_is_an_error(encoder, robot_views):
    video = np.zeros((2, 64, 64, 3), np.uint8)
    with pytest.raises(MetricError, match="masks"):
        character_consistency(video, np.zeros((2, 64, 64)), robot_views, encoder)


def test_scene_fidelity_ignores_the_character_region():
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 256, (2, 64, 80, 3), dtype=np.uint8)
    frames = scene.copy()
    masks = np.zeros((2, 64, 80))
    masks[:, 20:40, 30:50] = 1
    frames[:, 20:40, 30:50] = 0            # the character, drawn over the scene
    clean = scene_fidelity(frames, scene, masks)
    assert clean.psnr_db == float("inf")
    assert clean.ssim > 0.85               # the window straddles the box edge; far from it SSIM is 1

    frames[:, :10] = 255 - frames[:, :10]  # the scene itself damaged outside the mask
    damaged = scene_fidelity(frames, scene, masks)
    assert damaged.psnr_db < 20 and damaged.ssim < clean.ssim


def test_scene_fidelity_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="masks"):
        scene_fidelity(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)), np.zeros((2, 8, 8)))


@pytest.mark.parametrize("field, frames, masks, scene", [
    ("frames", np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8)), np.zeros((2, 8, 8), np.uint8)),
    ("scene_video", np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8)), np.zeros((3, 8, 8, 3), np.uint8)),
    ("masks", np.zeros((2, 8, 8, 3), np.uint8), np.ones((2, 8, 8)), np.zeros((2, 8, 8, 3), np.uint8)),
])
def test_scene_fidelity_bad_input_names_the_field(field, frames, masks, scene):
    with pytest.raises(MetricError, match=f"^{field}:"):
        scene_fidelity(frames, scene, masks)


def test_character_consistency_bad_input_names_the_field(encoder, robot_views):
    video, masks = np.zeros((2, 64, 64, 3), np.uint8), np.ones((2, 64, 64))
    with pytest.raises(MetricError, match="^frames:"):
        character_consistency(video[..., 0], masks, robot_views, encoder)
    with pytest.raises(MetricError, match="^masks:"):
        character_consistency(video, masks[:1], robot_views, encoder)
    with pytest.raises(MetricError, match="^scene_video:"):
        character_consistency(video, masks, robot_views, encoder, scene_video=video[:1])
    with pytest.raises(MetricError, match="^views:"):
        character_consistency(video, masks, {"front": np.zeros((8, 8), np.uint8)}, encoder)
