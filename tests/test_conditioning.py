"""Conditioning on the courtyard: masks that follow the character, the prompt, the views."""
import math

import numpy as np
import pytest

from anix_core.conditioning import (PROMPT_TEMPLATE, Conditioning, build_conditioning, check_views,
                                    describe_action, gerund)
from anix_core.generators import GenerationCancelled
from anix_core.instructions import parse
from anix_core.masks import box_masks, mask_centroids
from anix_core.planning import plan_motion
from anix_core.shot import VIEW_NAMES, Anchor, ShotSpec


def shot_for(scene, views, text, anchor, heading_deg, frames=93, width=208, height=120, **kw):
    return ShotSpec(scene=scene, views=views, anchor=Anchor(np.array(anchor, float), math.radians(heading_deg), 1.8),
                    instruction=text, num_frames=frames, width=width, height=height,
                    targets={"fountain": np.zeros(3)}, **kw)


def test_runs_forward_with_a_follow_camera_keeps_the_mask_in_frame_and_steady(courtyard):
    # the masks build_conditioning draws, without rendering the scene video they do not depend on
    motion = plan_motion(shot_for(courtyard, {}, "the robot runs forward", (-2.0, -5.0, 0.0), 90, width=160, height=96))
    masks = box_masks(motion.cameras, motion.root_positions, motion.headings, 1.8)
    f, h, w = masks.shape
    assert (f, h, w) == (93, 96, 160)
    assert motion.camera_behaviour == "follow"
    boxes = [np.argwhere(m > 0) for m in masks]
    assert all(len(b) for b in boxes)
    # inside the frame: the box never touches the image border
    for b in boxes:
        (y0, x0), (y1, x1) = b.min(0), b.max(0)
        assert x0 > 0 and y0 > 0 and x1 < w - 1 and y1 < h - 1
    areas = masks.sum(axis=(1, 2))
    assert np.all(np.abs(areas / areas[0] - 1) <= 0.3)
    assert motion.root_positions[-1, 1] - motion.root_positions[0, 1] > 5.0  # it did run


def test_walks_to_the_left_under_a_static_camera_moves_the_mask_left(courtyard):
    shot = shot_for(courtyard, {}, "the robot walks to the left, static camera", (2.0, -5.0, 0.0), 90)
    motion = plan_motion(shot)
    assert motion.camera_behaviour == "static"
    masks = box_masks(motion.cameras, motion.root_positions, motion.headings, 1.8)
    x = mask_centroids(masks)[:, 0]
    assert not np.isnan(x).any()
    assert x[-1] < x[0] - 0.25 * shot.width
    assert np.all(np.diff(x) <= 0.5)  # steadily leftwards


def test_prompt_follows_the_paper_template():
    plan = parse("the robot runs to the fountain, then waves", targets=("fountain",), num_frames=93, fps=25)
    action = describe_action(plan)
    assert action == "running to the fountain, then waving"
    prompt = PROMPT_TEMPLATE.format(action=action)
    assert prompt.startswith("A character is running to the fountain, then waving. <SEP>The character front view looks like <img>.")
    assert prompt.count("<img>") == 4 and prompt.index("left view") < prompt.index("back view") < prompt.index("right view")
    assert [gerund(v) for v in ("walk", "run", "wave", "sit", "pick up", "lie")] == \
        ["walking", "running", "waving", "sitting", "picking up", "lying"]


def test_conditioning_carries_views_prompt_and_first_frame_masks(courtyard, robot_views):
    shot = shot_for(courtyard, robot_views, "the robot waves", (2.0, -4.0, 0.0), 90, frames=5, width=96, height=64,
                    seed=7, options={"mask_mode": "first_frame"})
    stages = []
    cond = build_conditioning(shot, on_progress=lambda s, d, t: stages.append(s))
    assert isinstance(cond, Conditioning)
    assert cond.scene_video.shape == (5, 64, 96, 3) and cond.scene_video.dtype == np.float32
    assert cond.scene_depth.shape == (5, 64, 96) and cond.mask_video.shape == (5, 64, 96)
    assert cond.scene_video.std() > 0.01  # the courtyard was rendered, not left blank
    assert set(cond.views) == set(VIEW_NAMES) and cond.views["front"].dtype == np.uint8
    assert cond.prompt.startswith("A character is waving.")
    assert cond.mask_video[0].sum() > 0 and cond.mask_video[1:].sum() == 0
    assert cond.seed == 7 and cond.fps == 25.0 and cond.character_height_m == 1.8
    assert len(cond.cameras) == 5 and cond.history_frames is None
    assert {"plan", "render", "masks"} <= set(stages)


def test_missing_view_is_named_and_cancel_stops_early(courtyard, robot_views):
    views = dict(robot_views)
    del views["back"]
    with pytest.raises(ValueError, match="back view is missing"):
        check_views(views)
    shot = shot_for(courtyard, robot_views, "the robot waves", (2.0, -4.0, 0.0), 90, frames=5, width=96, height=64)
    with pytest.raises(GenerationCancelled):
        build_conditioning(shot, should_cancel=lambda: True)
