"""Bad command-line values: one line that names the option and what is allowed, exit code 2, no
traceback; warnings from loading a scene are one line too. Run through the real `main()`."""
from __future__ import annotations

import pytest

from anix_core.cli import main
from backend.protocol import MAX_FRAMES


@pytest.fixture
def previz_args(fixtures_dir, tmp_path):
    def args(*extra, out=None):
        return ["previz", "--scene", str(fixtures_dir / "courtyard_sh0.ply"), "--views", str(fixtures_dir / "character"),
                "--instruction", "waves", "--frames", "3", "--width", "64", "--height", "48", "--quiet",
                "--out", str(out or tmp_path / "shot"), *extra]
    return args


def _refused(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_an_out_folder_that_is_an_existing_file_is_refused(previz_args, tmp_path, capsys):
    existing = tmp_path / "taken.mp4"
    existing.write_bytes(b"x")
    for argv in (previz_args(out=existing), ["demo", "--out", str(existing)],
                 ["render", "x.ply", "--orbit", "--out", str(existing)]):
        err = _refused(argv, capsys)
        assert "--out" in err and "existing file" in err
    assert existing.read_bytes() == b"x"


@pytest.mark.parametrize("value", ["-1", "0", "500", "nan"])
def test_character_height_outside_its_range_is_refused(previz_args, capsys, value):
    err = _refused(previz_args("--height-m", value), capsys)
    assert "--height-m" in err and "between 0.1 and 10" in err


def test_an_anchor_far_outside_the_scene_names_the_scene_bounds(previz_args, capsys):
    err = _refused(previz_args("--anchor", "100,100,0"), capsys)
    assert "--anchor" in err and "(-6.0, -6.0, 0.0) to (6.0, 6.0, 3.0)" in err


def test_an_anchor_just_outside_the_scene_is_accepted(previz_args, capsys):
    assert main(previz_args("--anchor", "7,0,0")) == 0


def test_a_target_far_outside_the_scene_is_refused(previz_args, capsys):
    err = _refused(previz_args("--targets", "moon=0,0,400"), capsys)
    assert "--targets moon=" in err and "bounds" in err


@pytest.mark.parametrize("rgb", [("2", "0", "0"), ("0", "-0.5", "0")])
def test_background_values_outside_0_to_1_are_refused(previz_args, capsys, rgb):
    err = _refused(previz_args("--background", *rgb), capsys)
    assert "--background" in err and "between 0 and 1" in err


@pytest.mark.parametrize("argv", [["plan", "waves", "--frames", "100000"], ["plan", "waves", "--frames", "0"],
                                  ["demo", "--frames", "100000"]])
def test_frames_beyond_the_backends_limit_are_refused(argv, capsys):
    err = _refused(argv, capsys)
    assert "--frames" in err and f"between 1 and {MAX_FRAMES}" in err


def test_non_finite_splats_are_one_warning_line_with_their_count(fixtures_dir, capsys):
    assert main(["info", str(fixtures_dir / "bad" / "nan_inf.ply")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"anix info: warning: {fixtures_dir / 'bad' / 'nan_inf.ply'}: dropped 3 splats with non-finite "
                   "values (NaN or infinity)"]


def test_previz_prints_the_plans_warnings_naming_the_unknown_verb(fixtures_dir, tmp_path, capsys):
    argv = ["previz", "--scene", str(fixtures_dir / "courtyard_sh0.ply"), "--views", str(fixtures_dir / "character"),
            "--instruction", "the robot levitates", "--frames", "3", "--width", "64", "--height", "48", "--quiet",
            "--out", str(tmp_path / "shot")]
    assert main(argv) == 0
    assert 'anix: warning: "levitates" is not a verb' in capsys.readouterr().err
