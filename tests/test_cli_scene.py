"""`anix info` and `anix render` on the courtyard fixture and on bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from anix_core.cli import main


def test_info_prints_format_count_sh_degree_and_bounds(fixtures_dir, capsys):
    assert main(["info", str(fixtures_dir / "courtyard.ply")]) == 0
    text = capsys.readouterr().out
    assert "ply" in text and "73,200" in text and "SH degree  3" in text
    assert "-6.0" in text and "3.000" in text


@pytest.mark.parametrize("name, fmt, sh_degree", [
    ("courtyard.ply", "ply", 3), ("courtyard_sh0.ply", "ply", 0), ("courtyard.splat", "splat", 0),
    ("courtyard.spz", "spz", 3), ("courtyard.compressed.ply", "compressed_ply", None),
])
def test_info_json_has_the_documented_keys(fixtures_dir, capsys, name, fmt, sh_degree, truth):
    assert main(["info", "--json", str(fixtures_dir / name)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"format", "count", "sh_degree", "bounds_min", "bounds_max"}
    assert info["format"] == fmt and info["count"] == 73_200
    if sh_degree is not None:
        assert info["sh_degree"] == sh_degree
    np.testing.assert_allclose(info["bounds_min"], truth["means"].min(axis=0), atol=0.02)
    np.testing.assert_allclose(info["bounds_max"], truth["means"].max(axis=0), atol=0.02)


def test_info_on_a_bad_file_prints_the_error_and_exits_2_without_a_traceback(fixtures_dir):
    proc = subprocess.run([sys.executable, "-m", "anix_core", "info", str(fixtures_dir / "bad" / "truncated.ply")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "truncated.ply" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("name", ["huge_count.ply", "not_a_ply.ply", "ragged.splat", "truncated.spz"])
def test_info_refuses_each_bad_fixture_with_exit_code_2(fixtures_dir, capsys, name):
    assert main(["info", str(fixtures_dir / "bad" / name)]) == 2
    assert name in capsys.readouterr().err


def test_render_orbit_writes_png_frames_and_an_mp4(fixtures_dir, tmp_path, capsys):
    out = tmp_path / "orbit"
    code = main(["render", str(fixtures_dir / "courtyard.ply"), "--orbit", "--frames", "3", "--width", "96",
                 "--height", "64", "--out", str(out), "--mp4", "--fps", "12", "--backend", "cpu"])
    assert code == 0
    pngs = sorted(out.glob("frame_*.png"))
    assert [p.name for p in pngs] == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    frames = [np.asarray(Image.open(p)) for p in pngs]
    assert frames[0].shape == (64, 96, 3)
    # the orbit frames the courtyard: most of the picture is scene, and it turns between frames
    assert (frames[0].max(axis=2) > 10).mean() > 0.4
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 5
    mp4 = out / "courtyard.mp4"
    assert mp4.stat().st_size > 1000
    import imageio.v2 as imageio

    with imageio.get_reader(mp4) as reader:
        assert reader.count_frames() == 3
    printed = capsys.readouterr()
    assert "wrote 3 frames" in printed.out
    assert "render (cpu)" in printed.err and "3/3" in printed.err  # the progress bar


def test_render_from_a_cams_json_uses_those_cameras(fixtures_dir, tmp_path):
    from anix_core.cameras import Camera, cameras_to_json
    from anix_core.render import render
    from anix_core.splats import load

    cams = [Camera.look_at([8, -8, 3], [0, 0, 0], 80, 48), Camera.look_at([-8, 8, 3], [0, 0, 0], 80, 48)]
    path = tmp_path / "cams.json"
    path.write_text(cameras_to_json(cams))
    out = tmp_path / "frames"
    assert main(["render", str(fixtures_dir / "courtyard.ply"), "--camera", str(path), "--out", str(out),
                 "--backend", "cpu", "--background", "0,0,1"]) == 0
    expected = render(load(fixtures_dir / "courtyard.ply"), cams, backend="cpu", background=(0, 0, 1)).rgb
    for i in range(2):
        got = np.asarray(Image.open(out / f"frame_{i:04d}.png")).astype(float) / 255
        assert np.abs(got - expected[i]).max() <= 1 / 255 + 1e-6
    assert not (out / "courtyard.mp4").exists()

    # --width/--height rescale the same views; --frames takes the first N
    out2 = tmp_path / "small"
    assert main(["render", str(fixtures_dir / "courtyard.ply"), "--camera", str(path), "--frames", "1",
                 "--width", "40", "--height", "24", "--out", str(out2), "--backend", "cpu"]) == 0
    assert [p.name for p in out2.glob("*.png")] == ["frame_0000.png"]
    assert Image.open(out2 / "frame_0000.png").size == (40, 24)


def test_render_reports_bad_arguments_as_errors(fixtures_dir, tmp_path, capsys):
    scene = str(fixtures_dir / "courtyard.ply")
    assert main(["render", scene, "--orbit", "--frames", "0", "--out", str(tmp_path)]) == 2
    assert "--frames" in capsys.readouterr().err
    assert main(["render", scene, "--orbit", "--background", "red", "--out", str(tmp_path)]) == 2
    assert "--background" in capsys.readouterr().err
    bad = tmp_path / "cams.json"
    bad.write_text('{"cameras": [{"K": 3}]}')
    assert main(["render", scene, "--camera", str(bad), "--out", str(tmp_path)]) == 2
    assert "cameras[0]" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --orbit or --camera is required
        main(["render", scene, "--out", str(tmp_path)])
