"""Planning on the courtyard: ground, obstacles, the root path and cameras that fit it."""
import math

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.instructions import parse
from anix_core.planning import fit_ground, occupancy_grid, plan_motion
from anix_core.shot import Anchor, ShotSpec
from anix_core.splats.scene import GaussianScene

FOUNTAIN_RIM_M = 1.2


def shot_for(scene, text, anchor=(-5.0, 1.5, 0.0), heading_deg=0.0, camera=None, frames=93, **kw):
    return ShotSpec(scene=scene, views={}, anchor=Anchor(np.array(anchor, float), math.radians(heading_deg), 1.8),
                    instruction=text, num_frames=frames, width=320, height=192, camera_behaviour=camera,
                    targets={"fountain": np.zeros(3)}, **kw)


def test_ground_is_found_under_the_anchor_even_beside_the_fountain(courtyard):
    for xy in ((0.0, -1.5), (3.0, 3.0), (-5.5, 0.0)):
        g = fit_ground(courtyard, [xy[0], xy[1], 0.3])
        assert g.height_at(np.array(xy)) == pytest.approx(0.0, abs=0.02)
        assert g.normal[2] > 0.999


def test_ground_fit_follows_a_raised_tilted_floor_and_ignores_objects_on_it():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-3, 3, (3000, 2))
    floor = np.c_[xy, 2.0 + 0.1 * xy[:, 0]]
    box = np.c_[rng.uniform(-0.5, 0.5, (800, 2)), rng.uniform(2.2, 3.0, 800)]
    means = np.concatenate([floor, box]).astype(np.float32)
    n = len(means)
    scene = GaussianScene(means, np.tile([1, 0, 0, 0], (n, 1)), np.full((n, 3), -3.0), np.full(n, 3.0),
                          np.zeros((n, 3)), np.zeros((n, 0, 3)))
    g = fit_ground(scene, [0.0, 0.0, 2.5])
    assert g.height_at(np.array([0.0, 0.0])) == pytest.approx(2.0, abs=0.03)
    assert g.height_at(np.array([1.0, 0.0])) == pytest.approx(2.1, abs=0.03)


def test_occupancy_marks_the_fountain_pillars_and_bench_not_the_open_floor(courtyard):
    g = fit_ground(courtyard, [0, 0, 0])
    grid = occupancy_grid(courtyard, g, [0, 0])
    occupied = grid.is_occupied(np.array([[1.15, 0.0], [4.0, 4.34], [-4.34, -4.0], [0.0, -3.0]]))
    free = grid.is_occupied(np.array([[2.0, 2.0], [-2.5, 0.5], [0.0, -5.0]]))
    assert occupied.all() and not free.any()


def test_walk_to_the_fountain_stops_at_its_rim(courtyard):
    motion = plan_motion(shot_for(courtyard, "walk to the fountain"))
    end = motion.root_positions[-1]
    assert FOUNTAIN_RIM_M < np.hypot(end[0], end[1]) <= 1.5
    assert end[2] == pytest.approx(0.0, abs=0.02)
    assert motion.speeds[-1] == pytest.approx(0.0, abs=0.05)


def test_running_forward_accelerates_gently_and_stops_before_a_pillar(courtyard):
    # the yellow pillar (4, -4) stands 3 m ahead
    motion = plan_motion(shot_for(courtyard, "the robot runs forward", anchor=(4.0, -1.0, 0.0), heading_deg=-90))
    v = motion.speeds
    dt = 1 / 25
    assert v.max() <= 3.5 + 1e-6
    assert np.abs(np.diff(v)).max() <= 5.0 * dt + 1e-6  # no instant starts or stops
    assert v[0] == 0.0
    end = motion.root_positions[-1]
    assert end[1] > -4.0 + 0.3 + 0.15  # body outside the pillar (radius 0.3)
    assert end[1] < -2.5  # and it did get close


def test_turns_around_and_waves_stays_in_place_with_a_static_camera(courtyard):
    motion = plan_motion(shot_for(courtyard, "turns around and waves", anchor=(2.0, -5.0, 0.0), heading_deg=90))
    drift = np.linalg.norm(motion.root_positions[:, :2] - motion.root_positions[0, :2], axis=1)
    assert drift.max() <= 0.2
    assert motion.camera_behaviour == "static"
    assert all(np.array_equal(c.world_to_camera, motion.cameras[0].world_to_camera) for c in motion.cameras)
    turned = (motion.headings[-1] - motion.headings[0]) % (2 * np.pi)
    assert turned == pytest.approx(np.pi, abs=0.05)
    to_camera = motion.cameras[0].position[:2] - motion.root_positions[-1, :2]
    facing = np.array([np.cos(motion.headings[-1]), np.sin(motion.headings[-1])])
    assert to_camera @ facing > 0.8 * np.linalg.norm(to_camera)  # seen from the front once it has turned


def test_walks_to_the_left_turns_left_of_its_heading(courtyard):
    motion = plan_motion(shot_for(courtyard, "walks to the left", anchor=(2.0, -5.0, 0.0), heading_deg=90))
    moved = motion.root_positions[-1] - motion.root_positions[0]
    assert moved[0] < -2.0 and abs(moved[1]) < 0.6  # facing +Y, its left is -X


def test_walks_toward_the_camera_approaches_a_camera_in_front_and_stays_framed(courtyard):
    motion = plan_motion(shot_for(courtyard, "the robot walks toward the camera", anchor=(-2.5, -5.0, 0.0), heading_deg=90))
    cam = motion.cameras[0]
    assert motion.camera_behaviour == "static" and cam.position[1] > -5.0 + 5.0  # in front: it faces +Y
    gap = np.linalg.norm(motion.root_positions[:, :2] - cam.position[:2], axis=1)
    assert gap[-1] < gap[0] - 2.0 and np.all(np.diff(gap) <= 1e-9)
    uv, depth = cam.project(motion.root_positions[-1:] + [0, 0, 1.8])
    assert depth[0] > 0 and 0 <= uv[0, 0] < cam.width and 0 <= uv[0, 1] < cam.height


def test_follow_camera_stays_behind_and_frames_the_character(courtyard):
    motion = plan_motion(shot_for(courtyard, "the robot runs forward", anchor=(-2.0, -5.0, 0.0), heading_deg=90))
    assert motion.camera_behaviour == "follow"
    for cam, root in zip(motion.cameras, motion.root_positions):
        offset = cam.position - root
        assert offset[1] < -1.0  # behind (it runs toward +Y)
        uv, depth = cam.project(root[None] + [0, 0, 1.0])
        assert depth[0] > 0 and 0 <= uv[0, 0] < cam.width and 0 <= uv[0, 1] < cam.height


def test_orbit_circles_the_character_and_the_users_cameras_win(courtyard):
    motion = plan_motion(shot_for(courtyard, "the robot waves, camera orbits left", anchor=(2.0, -4.0, 0.0)))
    d = [np.linalg.norm(c.position[:2] - motion.root_positions[0, :2]) for c in motion.cameras]
    assert motion.camera_behaviour == "orbit" and np.ptp(d) < 0.05
    mine = Camera.look_at([0, -6, 2], [0, 0, 1], 320, 192)
    motion = plan_motion(shot_for(courtyard, "the robot waves, camera orbits left", anchor=(2.0, -4.0, 0.0), cameras=[mine]))
    assert motion.camera_behaviour == "user" and all(c is mine for c in motion.cameras)


def test_plan_from_text_segments_drive_the_motion(courtyard):
    plan = parse("runs forward, then turns left and waves", num_frames=93, fps=25)
    motion = plan_motion(shot_for(courtyard, "", anchor=(-2.0, -5.0, 0.0), heading_deg=90), plan=plan)
    run_end = plan.segments[0].end_frame
    assert motion.speeds[:run_end].max() > 2.5
    assert motion.speeds[-10:].max() < 0.05
    assert (motion.headings[-1] - motion.headings[run_end]) % (2 * np.pi) == pytest.approx(np.pi / 2, abs=0.1)


def test_walk_to_the_fountain_from_behind_the_bench_goes_around_it(courtyard):
    # the bench (1.6 x 0.4 m at (0, -3)) stands on the straight line to the fountain
    motion = plan_motion(shot_for(courtyard, "walk to the fountain", anchor=(0.0, -4.5, 0.0), heading_deg=90))
    path = motion.root_positions[:, :2]
    end = path[-1]
    assert FOUNTAIN_RIM_M < np.hypot(*end) <= 1.5
    on_bench = (np.abs(path[:, 0]) < 0.8 + 0.1) & (np.abs(path[:, 1] + 3.0) < 0.2 + 0.1)
    assert not on_bench.any()
    assert np.abs(np.diff(motion.speeds)).max() <= 5.0 / 25 + 1e-6  # still no instant starts or stops
