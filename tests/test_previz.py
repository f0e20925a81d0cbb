"""`anix previz` and `anix demo` end to end (small sizes), and finding the character views."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from anix_core.cli import main
from anix_core.views import find_views, load_view


def test_views_are_found_by_name_in_any_case_and_a_missing_one_is_named(tmp_path, fixtures_dir):
    src = fixtures_dir / "character"
    for name, new in (("front", "Robot_FRONT.png"), ("left", "robot-Left.png"), ("back", "back.png")):
        shutil.copy(src / f"robot_{name}.png", tmp_path / new)
    with pytest.raises(FileNotFoundError, match="right view"):
        find_views(tmp_path)
    shutil.copy(src / "robot_right.png", tmp_path / "R_right_side.PNG")
    found = find_views(tmp_path)
    assert found["front"].name == "Robot_FRONT.png" and found["right"].name == "R_right_side.PNG"


def test_a_view_without_alpha_gets_its_background_keyed_out(tmp_path):
    rgb = np.full((40, 40, 3), 255, np.uint8)
    rgb[10:30, 15:25] = (200, 80, 20)
    Image.fromarray(rgb).save(tmp_path / "front.jpg", quality=95)
    rgba = load_view(tmp_path / "front.jpg")
    assert rgba.shape == (40, 40, 4)
    assert rgba[0, 0, 3] == 0 and rgba[20, 20, 3] == 255


def test_previz_writes_frames_videos_plan_and_picture(tmp_path, fixtures_dir, capsys):
    out = tmp_path / "shot"
    code = main(["previz", "--scene", str(fixtures_dir / "courtyard_sh0.ply"), "--views", str(fixtures_dir / "character"),
                 "--instruction", "the robot walks to the fountain", "--frames", "9", "--width", "96", "--height", "64",
                 "--anchor", "-3,1,0", "--target", "fountain=0,0,0", "--camera", "static", "--quiet", "--out", str(out)])
    assert code == 0
    assert len(list((out / "frames").glob("frame_*.png"))) == 9
    for name in ("shot.mp4", "scene.mp4", "mask.mp4", "plan.png"):
        assert (out / name).stat().st_size > 0
    plan = json.loads((out / "plan.json").read_text())
    seg = plan["segments"][0]
    assert {"category", "action", "direction", "speed_mps", "start_frame", "end_frame", "target"} <= set(seg)
    assert seg["target"] == "fountain" and plan["camera"]["behaviour"] == "static"
    assert len(plan["motion"]["root_positions"]) == 9 and len(plan["motion"]["cameras"]) == 9
    assert Image.open(out / "plan.png").size == (720, 720)
    assert "shot.mp4" in capsys.readouterr().out


def test_negative_vectors_and_target_lists_parse_for_previz_and_plan():
    from anix_core.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["previz", "--scene", "s.ply", "--views", "v", "--instruction", "walks", "--out", "o",
                              "--anchor", "-4,1.5,0", "--heading", "-90", "--targets", "a=-1,0,0", "b=2,-3,0",
                              "--target", "c=0,0,0"])
    assert args.anchor == "-4,1.5,0" and args.heading == -90.0
    assert args.targets == ["a=-1,0,0", "b=2,-3,0", "c=0,0,0"]
    args = parser.parse_args(["plan", "walk to the fountain", "--targets", "fountain", "bench=-1,-2,0"])
    assert args.targets == ["fountain", "bench=-1,-2,0"]


def test_previz_errors_are_one_clear_line(tmp_path, fixtures_dir, capsys):
    (tmp_path / "views").mkdir()
    code = main(["previz", "--scene", str(fixtures_dir / "courtyard_sh0.ply"), "--views", str(tmp_path / "views"),
                 "--instruction", "walks", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "front, left, back, right view" in capsys.readouterr().err


def test_previz_takes_the_users_cameras_from_cams_json(tmp_path, fixtures_dir):
    from anix_core.cameras import Camera, cameras_to_json

    cam = Camera.look_at([0, -7, 2], [0, 0, 0.8], 80, 48)
    (tmp_path / "cams.json").write_text(cameras_to_json([cam]))
    out = tmp_path / "o"
    assert main(["previz", "--scene", str(fixtures_dir / "courtyard_sh0.ply"), "--views", str(fixtures_dir / "character"),
                 "--instruction", "the robot waves", "--frames", "3", "--anchor=0,-4.5,0", "--heading=-90",
                 "--camera", str(tmp_path / "cams.json"), "--quiet", "--out", str(out)]) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert plan["motion"]["camera_behaviour"] == "user"
    assert np.allclose(plan["motion"]["cameras"][0]["world_to_camera"], cam.world_to_camera)
    assert Image.open(out / "frames" / "frame_0000.png").size == (80, 48)


def test_demo_runs_on_the_shipped_assets(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "5", "--width", "96", "--height", "64", "--quiet"]) == 0
    assert (out / "shot.mp4").stat().st_size > 0
    assert str((out / "shot.mp4").resolve()) in capsys.readouterr().out


def test_demo_assets_are_small_and_the_robot_matches_the_fixture_conventions():
    from anix_core import demo

    files = [demo.SCENE_FILE, *demo.view_paths().values()]
    assert sum(p.stat().st_size for p in files) <= 10 * 1024 * 1024
    views = {n: np.asarray(Image.open(p).convert("RGBA")).astype(int) for n, p in demo.view_paths().items()}
    def share(img, test):
        px = img[img[..., 3] > 0]
        return test(px[:, 0], px[:, 1], px[:, 2]).mean()
    cyan = lambda r, g, b: (g > 150) & (b > 150) & (r < 120)  # noqa: E731
    dark = lambda r, g, b: (r < 40) & (g < 40) & (b < 40)  # noqa: E731
    red = lambda r, g, b: (r > 150) & (g < 90) & (b < 90)  # noqa: E731
    blue = lambda r, g, b: (b > 150) & (r < 90) & (g < 130)  # noqa: E731
    assert share(views["front"], cyan) > 0.01 and share(views["back"], dark) > 0.1
    assert share(views["left"], red) > 0.05 and share(views["left"], blue) == 0
    assert share(views["right"], blue) > 0.05 and share(views["right"], red) == 0
    # in the front view the character's left (red) arm is on the image right
    front = views["front"]
    red_cols = np.nonzero(red(front[..., 0], front[..., 1], front[..., 2]) & (front[..., 3] > 0))[1]
    assert red_cols.mean() > front.shape[1] / 2
    scene = demo.load_scene()
    assert scene.count > 10000
