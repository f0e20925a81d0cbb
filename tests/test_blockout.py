"""The blockout generator: the right view for the heading, occlusion by the scene, the protocol."""
import math
import time

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.conditioning import Conditioning, build_conditioning
from anix_core.generators import GenerationCancelled, create
from anix_core.generators.blockout import BlockoutGenerator, view_weights
from anix_core.masks import box_masks
from anix_core.planning import plan_motion
from anix_core.shot import Anchor, ShotSpec

SKY = (0.55, 0.7, 0.9)


def shot_for(scene, views, text, anchor, heading_deg, frames=25, width=208, height=120, **kw):
    return ShotSpec(scene=scene, views=views, anchor=Anchor(np.array(anchor, float), math.radians(heading_deg), 1.8),
                    instruction=text, num_frames=frames, width=width, height=height,
                    options={"background": SKY}, **kw)


def character_colours(frames, masks):
    """Fractions of the character box's pixels that are backpack-dark and visor-cyan."""
    px = frames[masks > 0].astype(np.float32) / 255
    dark = (px.max(axis=1) < 0.12).mean()
    r, g, b = px[:, 0], px[:, 1], px[:, 2]
    cyan = ((g - r > 0.12) & (np.abs(g - b) < 0.06)).mean()  # the pale cyan visor (0.56, 0.75, 0.77)
    return dark, cyan


def test_walking_away_shows_the_back_and_toward_the_camera_the_front(courtyard, robot_views):
    away = build_conditioning(shot_for(courtyard, robot_views, "the robot walks forward, camera follows", (-2.5, -5.0, 0.0), 90))
    frames = create("blockout").generate(away)
    dark, cyan = character_colours(frames, away.mask_video)
    assert dark > 0.04 and cyan < 0.002

    facing_cam = Camera.look_at([-2.5, 0.0, 1.4], [-2.5, -4.0, 0.9], 208, 120, fov_x_deg=50)
    toward = build_conditioning(shot_for(courtyard, robot_views, "the robot walks forward", (-2.5, -4.0, 0.0), 90,
                                         cameras=[facing_cam]))
    frames = create("blockout").generate(toward)
    dark, cyan = character_colours(frames, toward.mask_video)
    assert cyan > 0.004 and dark < 0.02


def test_walking_toward_the_camera_in_words_shows_the_front(courtyard, robot_views):
    cond = build_conditioning(shot_for(courtyard, robot_views, "the robot walks toward the camera", (-2.5, -5.0, 0.0), 90,
                                       frames=10))
    assert cond.motion.camera_behaviour == "static"
    dark, cyan = character_colours(create("blockout").generate(cond), cond.mask_video)
    assert cyan > 0.004 and dark < 0.02


def test_a_gesture_in_place_is_framed_from_the_front(courtyard, robot_views):
    cond = build_conditioning(shot_for(courtyard, robot_views, "the robot bows politely to the camera", (-2.5, -5.0, 0.0), 90,
                                       frames=4))
    assert cond.motion.camera_behaviour == "static" and cond.motion.plan.segments[0].target is None
    dark, cyan = character_colours(create("blockout").generate(cond), cond.mask_video)
    assert cyan > 0.004 and dark < 0.02


def test_a_pillar_between_camera_and_character_hides_it(courtyard, robot_views):
    # the yellow pillar (4, -4), radius 0.35, stands between the camera and the robot
    cam = Camera.look_at([4.0, -8.0, 1.2], [4.0, 0.0, 0.9], 208, 120, fov_x_deg=40)
    cond = build_conditioning(shot_for(courtyard, robot_views, "the robot stands still", (4.85, -1.0, 0.0), 0, frames=2,
                                       cameras=[cam]))
    frames = create("blockout").generate(cond)
    scene = (np.clip(cond.scene_video, 0, 1) * 255 + 0.5).astype(np.uint8)
    (foot_uv,), (char_depth,) = cam.project(cond.motion.root_positions[:1])
    box = cond.mask_video[0] > 0
    box[int(foot_uv[1]) - 3:] = False  # above the feet (the contact shadow may darken the floor in front)
    nearer = box & (cond.scene_depth[0] > 0) & (cond.scene_depth[0] < char_depth - 0.5)
    changed = np.abs(frames[0].astype(int) - scene[0]).max(axis=-1) > 3
    assert nearer.sum() > 50            # the pillar covers part of the character's box
    assert not changed[nearer].any()    # and there the scene shows, untouched
    assert changed[box & ~nearer].sum() > 50  # the rest of the robot is drawn


def test_view_weights_blend_the_two_neighbouring_views():
    assert view_weights(0.0) == [("front", 1.0), ("left", 0.0)]
    assert dict(view_weights(math.pi))["back"] == pytest.approx(1.0)
    assert dict(view_weights(-math.pi / 2))["right"] == pytest.approx(1.0)
    half = dict(view_weights(math.radians(45)))
    assert half["front"] == pytest.approx(0.5) and half["left"] == pytest.approx(0.5)
    assert sum(w for _, w in view_weights(math.radians(70))) == pytest.approx(1.0)


def test_walk_bob_only_while_moving():
    gen = BlockoutGenerator()
    moving = [gen.bob_m(1.4, d, 1.8) for d in np.linspace(0, 2, 40)]
    assert max(moving) > 0.02 and min(moving) < 0.005
    assert gen.bob_m(0.0, 1.3, 1.8) == 0.0


def synthetic_conditioning(courtyard, views, frames, width, height):
    """Conditioning with a flat grey scene (no render), for fast generator checks."""
    shot = shot_for(courtyard, views, "the robot walks to the left, static camera", (2.0, -5.0, 0.0), 90,
                    frames=frames, width=width, height=height)
    motion = plan_motion(shot)
    masks = box_masks(motion.cameras, motion.root_positions, motion.headings, 1.8)
    return Conditioning(np.full((frames, height, width, 3), 0.5, np.float32), np.zeros((frames, height, width), np.float32),
                        masks, views, "A character is walking to the left.", motion.cameras, motion, fps=25.0)


def test_generators_report_progress_frames_and_honour_cancel(courtyard, robot_views):
    cond = synthetic_conditioning(courtyard, robot_views, 6, 96, 64)
    seen, progress = [], []
    frames = create("blockout").generate(cond, on_progress=lambda s, d, t: progress.append((d, t)),
                                         on_frame=lambda i, f: seen.append((i, f.shape, f.dtype)))
    assert frames is None  # each frame went to on_frame and none was kept
    assert create("blockout").generate(cond).shape == (6, 64, 96, 3)
    assert [i for i, _, _ in seen] == list(range(6)) and seen[0][1:] == ((64, 96, 3), np.uint8)
    assert progress[-1] == (6, 6)
    plain = create("render").generate(cond)
    assert np.all(plain == 128)
    calls = iter([False, False, True])
    with pytest.raises(GenerationCancelled):
        create("blockout").generate(cond, should_cancel=lambda: next(calls))
    with pytest.raises(ValueError, match="unknown generator"):
        create("magic")


def test_blockout_composites_93_frames_at_832x480_quickly(courtyard, robot_views):
    cond = synthetic_conditioning(courtyard, robot_views, 93, 832, 480)
    start = time.perf_counter()
    frames = create("blockout").generate(cond)
    elapsed = time.perf_counter() - start
    assert frames.shape == (93, 480, 832, 3)
    assert (frames != 128).any(axis=(1, 2, 3)).all()  # the robot is in every frame
    assert elapsed < 20.0


# ----------------------------------------------------------------------------- gestures and caption
FRONT_CAM = Camera.look_at([-2.5, 1.5, 1.2], [-2.5, -4.0, 0.9], 208, 120, fov_x_deg=50)


def gesture_shot(courtyard, robot_views, text, frames=12, **options):
    """A shot of the robot at (-2.5, -4) facing the camera, and where its pixels are: those that
    differ from the scene-only render, above the feet (the contact shadow is below)."""
    cond = build_conditioning(shot_for(courtyard, robot_views, text, (-2.5, -4.0, 0.0), 90, frames=frames,
                                       cameras=[FRONT_CAM]))
    out = create("blockout", **options).generate(cond)
    scene = (np.clip(cond.scene_video, 0, 1) * 255 + 0.5).astype(np.uint8)
    drawn = np.abs(out.astype(int) - scene).max(axis=-1) > 12
    (foot_uv,), _ = FRONT_CAM.project(np.array([[-2.5, -4.0, 0.0]]))
    drawn[:, int(foot_uv[1]) - 2:] = False
    return out, scene, drawn


def top_row(mask):
    return int(np.nonzero(mask.any(axis=1))[0].min())


def centre_x(mask):
    return float(np.nonzero(mask)[1].mean())


def test_a_bow_tips_the_character_so_its_top_comes_down(courtyard, robot_views):
    _, _, drawn = gesture_shot(courtyard, robot_views, "the robot bows")
    assert top_row(drawn[6]) >= top_row(drawn[0]) + 4


def test_a_wave_shakes_the_character_side_to_side(courtyard, robot_views):
    _, _, drawn = gesture_shot(courtyard, robot_views, "the robot waves")
    xs = [centre_x(m) for m in drawn]
    assert max(xs) - min(xs) > 3.0
    assert np.diff(np.sign(np.diff(xs))).any()  # it goes back and forth, not one way
    _, _, still = gesture_shot(courtyard, robot_views, "the robot stands still")
    assert np.ptp([centre_x(m) for m in still]) < 0.5


def test_a_jump_lifts_the_character_once_per_count(courtyard, robot_views):
    _, _, drawn = gesture_shot(courtyard, robot_views, "the robot jumps twice", frames=16)
    tops = np.array([top_row(m) for m in drawn])
    assert tops.min() <= tops[0] - 5
    risen = tops < tops[0] - 2
    assert np.count_nonzero(np.diff(risen.astype(int)) == 1) == 2  # two separate lifts


def test_the_caption_is_burnt_in_only_when_asked(courtyard, robot_views):
    plain, scene, _ = gesture_shot(courtyard, robot_views, "the robot waves", frames=3)
    captioned, _, _ = gesture_shot(courtyard, robot_views, "the robot waves", frames=3, caption=True)
    corner = (slice(0, 12), slice(0, 60))
    assert np.array_equal(plain[(slice(None),) + corner], scene[(slice(None),) + corner])
    assert (captioned[(slice(None),) + corner] != scene[(slice(None),) + corner]).any(axis=(1, 2, 3)).all()
    assert not np.array_equal(captioned[0][corner], captioned[1][corner])  # the frame number changes


def test_every_action_gets_a_visible_pose_and_standing_or_travelling_gets_none():
    from anix_core.generators.gestures import UPRIGHT, motion_kind, pose
    from anix_core.instructions import Segment

    def mid_pose(action, category="gesture"):
        return pose(Segment(category, action, None, 0.0, 0, 20, None), 4)

    for action in ("bow", "wave", "jump", "crouch", "fall", "levitates", "dance", "nod"):
        assert mid_pose(action) != UPRIGHT, action
    assert motion_kind("levitates", "gesture") == "sway"
    assert mid_pose("stand", "idle") == UPRIGHT and mid_pose("walk", "locomotion") == UPRIGHT


def test_a_spin_shows_the_back_then_the_front_again(courtyard, robot_views):
    cond = build_conditioning(shot_for(courtyard, robot_views, "the robot spins", (-2.5, -4.0, 0.0), 90, frames=12,
                                       cameras=[FRONT_CAM]))
    frames = create("blockout").generate(cond)
    seen = [character_colours(frames[i:i + 1], cond.mask_video[i:i + 1]) for i in range(12)]
    backs = [i for i, (dark, cyan) in enumerate(seen) if dark > 0.04 and cyan < 0.002]
    fronts = [i for i, (dark, cyan) in enumerate(seen) if cyan > 0.004 and dark < 0.02]
    assert backs and fronts and fronts[0] < backs[0] < fronts[-1]
