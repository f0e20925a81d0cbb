"""The imported splats are Blender geometry (blender_addon/display.py): they draw in every
viewport mode and render in Workbench, EEVEE and Cycles without the add-on's help, can be
selected, and a big scene stays light. Real Blender, installed from the zip, in both versions."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_addon_blender import addon_zip, blender, run_blender  # noqa: E402,F401  (module fixtures reused)

pytestmark = pytest.mark.blender
WIDTH, HEIGHT = 208, 120
EYE, TARGET = [8.0, -8.0, 3.0], [0.0, 0.0, 0.5]


def known_camera():
    from anix_core.cameras import Camera

    return Camera.look_at(EYE, TARGET, WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def shown(addon_zip, fixtures_dir, tmp_path_factory, blender):  # noqa: F811
    work = tmp_path_factory.mktemp("addon_display")
    (work / "renders").mkdir()
    # EEVEE compiles its shaders on the CPU here (about 100 s): once, in Blender 5.0
    engines = ["BLENDER_EEVEE", "CYCLES"] if blender == sys.executable else []
    return run_blender("addon_display.py", {
        "zip": str(addon_zip), "fixtures": str(fixtures_dir), "out": str(work / "renders"),
        "camera": json.loads(json.dumps(known_camera().to_blender())), "size": [WIDTH, HEIGHT],
        "render_size": [64, 36], "engines": engines}, work, timeout=500, python=blender)


@pytest.fixture(scope="module")
def cpu_render(fixtures_dir):
    from anix_core.render import render
    from anix_core.splats import load

    out = render(load(fixtures_dir / "courtyard.ply"), [known_camera()], backend="cpu", background=(0, 0, 0))
    return out.rgb[0]


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(correlation, mean absolute difference) of two RGB images in [0, 1]."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1]), float(np.abs(a - b).mean())


def test_dropping_a_splat_file_on_the_viewport_imports_it(shown):
    assert shown["file_handler"] == [{"import_operator": "anix.import_splats", "extensions": ".ply;.splat;.spz"}]
    assert shown["import"]["result"] == ["FINISHED"], shown["import"]["error"]
    assert shown["import"]["panel_object"] == shown["import"]["object"]  # the panel shows it: "Splats: 73,200"


def test_the_splats_are_geometry_with_their_colours_from_a_geometry_nodes_modifier(shown):
    mod = shown["modifier"]
    assert mod["type"] == "NODES" and mod["group"] == "AniX Splat Display" and mod["materials"] == ["AniX Splat"]
    assert mod["inputs"]["Density"] == 1.0  # 73,200 splats: all shown
    ev = shown["evaluated"]
    assert ev["faces"] > 0 and ev["active_color"] == "color"  # Solid mode / Workbench colour by it
    assert {"color", "splat_color", "opacity"} <= set(ev["attributes"])
    assert 60_000 < shown["shown"] <= shown["count"] == 73_200  # the faintest are left out
    assert np.all(np.array(shown["evaluated_mean_colour"]) > 0.1)


def test_a_click_on_the_splats_hits_the_object(shown):
    assert shown["ray"]["hit"] and shown["ray"]["object"] == shown["import"]["object"]


def test_density_shows_a_share_of_the_splats(shown):
    assert abs(shown["shown_half"] - shown["shown"] / 2) < 0.03 * shown["shown"]


def test_workbench_renders_the_courtyard_as_our_own_renderer_sees_it(shown, cpu_render):
    wb = shown["workbench"]
    assert "error" not in wb, wb
    image = np.asarray(Image.open(wb["path"]).convert("RGB"), np.float64) / 255
    assert image.shape == cpu_render.shape
    corr, mad = similarity(image, cpu_render)
    assert corr > 0.75 and mad < 0.12, (corr, mad)
    # a blank (or flat) image is far from it: the comparison can fail
    for blank in (np.zeros_like(image), np.full_like(image, image.mean())):
        c, m = similarity(blank + 1e-6 * np.random.default_rng(0).random(blank.shape), cpu_render)
        assert not (c > 0.75 and m < 0.12)


def test_eevee_and_cycles_render_the_splats_in_colour(shown):
    if not shown["engines"]:
        pytest.skip("EEVEE and Cycles are checked in the Blender 5.0 run (EEVEE's shaders compile for minutes on a CPU)")
    for engine in ("eevee", "cycles"):
        r = shown[engine]
        assert "error" not in r, r
        image = np.asarray(Image.open(r["path"]).convert("RGB"), np.float64) / 255
        assert image.std() > 0.08, engine  # not blank
        assert image[..., 0].max() > 0.5 and image[..., 2].max() > 0.5, engine  # red and blue pillars


def test_a_file_saved_before_the_native_display_gets_it_when_opened(shown):
    assert shown["upgraded"] == 1 and shown["modifier_after_upgrade"] is True
