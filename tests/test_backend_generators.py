"""Generators behind the service: request options checked per generator at submit, quality
presets, Preview Conditioning's character box, Continue Shot, and `anix serve --generator anix`."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from anix_core.generators import QUALITIES, QUALITY_SETTINGS, quality_settings
from anix_core.generators.render_only import BOX_COLOUR, RenderOnlyGenerator, draw_character_box
from backend import protocol as P
from backend.client import Client, Done, ProtocolError
from backend.standin import pattern_frame
from backend_helpers import REPO, H, W, ServerProcess, collect, orbit_cameras, pattern_request

VIEWS = P.VIEW_NAMES


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(workers=1, cache_dir=tmp_path_factory.mktemp("cache"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def views(fixtures_dir):
    return {n: fixtures_dir / "character" / f"robot_{n}.png" for n in VIEWS}


@pytest.fixture(scope="module")
def scene_sha(server, fixtures_dir):
    with Client(server.address) as client:
        return client.ensure_scene(fixtures_dir / "courtyard_sh0.ply")


def refused(client, request, views=None) -> ProtocolError:
    with pytest.raises(ProtocolError) as err:
        client.submit(request, views=views)
    return err.value


# ---- option schemas ---------------------------------------------------------------------------

def test_each_generator_gets_its_documented_options_with_defaults_filled_in():
    opts = P.check_generator_options("render", {"overlay": "character_box"})
    assert opts == {"quality": "standard", "continue_from": None, "render_backend": "auto",
                    "overlay": "character_box", "mask_mode": "per_frame"}
    assert P.check_generator_options("anix", {"quality": "draft"})["num_inference_steps"] is None  # quality decides
    assert set(P.GENERATOR_OPTIONS) == {"blockout", "render", "anix", "pattern"}
    assert tuple(P.QUALITIES) == QUALITIES


@pytest.mark.parametrize("generator, options, field, words", [
    ("blockout", {"quality": "ultra"}, "request.options.quality", "draft, standard, high, scene"),
    ("blockout", {"overlay": "character_box"}, "request.options.overlay", "its options: quality"),
    ("render", {"overlay": "boxes"}, "request.options.overlay", "none, character_box"),
    ("anix", {"num_inference_steps": 0}, "request.options.num_inference_steps", "[1, 200]"),
    ("anix", {"guidance_scale": "high"}, "request.options.guidance_scale", "number"),
    ("blockout", {"shadow": 1}, "request.options.shadow", "true or false"),
    ("render", {"continue_from": "../etc"}, "request.options.continue_from", "job id"),
])
def test_an_option_a_generator_does_not_know_or_a_bad_value_is_named(generator, options, field, words):
    with pytest.raises(P.ProtocolError) as err:
        P.check_generator_options(generator, options)
    assert (err.value.code, err.value.field) == (P.E_INVALID_FIELD, field)
    assert words in err.value.message


def test_quality_sets_anix_steps_and_model_size_and_nothing_for_the_drawing_generators():
    assert [quality_settings("anix", q)["num_inference_steps"] for q in ("draft", "standard", "high")] == [8, 30, 50]
    assert quality_settings("anix", "high")["height"] == 480
    assert quality_settings("anix", "scene", width=1010, height=500) == {"num_inference_steps": 30, "height": 496,
                                                                           "width": 1008}
    assert quality_settings("blockout", "high") == {} and quality_settings("render", "draft") == {}
    assert set(QUALITY_SETTINGS["anix"]) == set(QUALITIES)


def test_the_server_refuses_bad_options_at_submit_and_welcome_lists_each_generators_options(server):
    with Client(server.address) as client:
        info = client.hello()
        assert info["generator_options"]["render"]["overlay"]["choices"] == ["none", "character_box"]
        assert set(info["generator_options"]) == set(info["generators"])
        err = refused(client, dict(pattern_request(), options={"quality": "ultra"}))
        assert (err.code, err.field) == (P.E_INVALID_FIELD, "request.options.quality")
        err = refused(client, dict(pattern_request(), generator="render", options={"colour": "red"}))
        assert err.field == "request.options.colour" and "overlay" in err.message
        err = refused(client, dict(pattern_request(), generator="blockout"))
        assert err.field == "request.views" and "front, left, back, right" in err.message
        err = refused(client, dict(pattern_request(), generator="render", options={"overlay": "character_box"}))
        assert err.field == "request.views"
        # every option the add-on sends is accepted (quality on every request)
        done = client.submit(dict(pattern_request(2), options={"quality": "scene"})).wait(timeout=30)
        assert isinstance(done, Done)


# ---- Preview Conditioning: the character box ----------------------------------------------------

def test_the_character_box_is_drawn_around_the_mask_and_nowhere_else():
    frame = np.full((40, 60, 3), 50, np.uint8)
    mask = np.zeros((40, 60), np.float32)
    mask[10:30, 20:35] = 1.0
    draw_character_box(frame, mask, line_px=2)
    assert (frame[10, 20:35] == BOX_COLOUR).all() and (frame[29, 20:35] == BOX_COLOUR).all()
    assert (frame[10:30, 20] == BOX_COLOUR).all() and (frame[10:30, 34] == BOX_COLOUR).all()
    inside = frame[15, 25]
    assert (inside != 50).all() and (inside != BOX_COLOUR).any()  # tinted, not painted over
    outside = np.ones((40, 60), bool)
    outside[10:30, 20:35] = False
    assert (frame[outside] == 50).all()
    empty = np.full((8, 8, 3), 7, np.uint8)
    draw_character_box(empty, np.zeros((8, 8)))
    assert (empty == 7).all()  # a character out of view draws nothing


def test_preview_conditioning_draws_the_planned_box_over_the_scene_render(fixtures_dir):
    from PIL import Image

    from anix_core import splats
    from anix_core.conditioning import build_conditioning
    from anix_core.shot import Anchor, ShotSpec

    scene = splats.load(fixtures_dir / "courtyard_sh0.ply")
    views = {n: np.asarray(Image.open(fixtures_dir / "character" / f"robot_{n}.png").convert("RGBA")) for n in VIEWS}
    spec = ShotSpec(scene=scene, views=views, anchor=Anchor(np.array([0.0, -1.5, 0.0]), 0.0, 1.8),
                    instruction="walks forward", num_frames=2, width=64, height=48)
    cond = build_conditioning(spec)
    plain = RenderOnlyGenerator().generate(cond)
    boxed = RenderOnlyGenerator(overlay="character_box").generate(cond)
    for i in range(2):
        mask = cond.mask_video[i] > 0.5
        assert 0 < mask.mean() < 0.8
        changed = np.any(boxed[i] != plain[i], axis=-1)
        assert changed[mask].mean() > 0.95 and not changed[~mask].any()
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert (boxed[i][rows[0], cols[0]:cols[-1] + 1] == BOX_COLOUR).all()  # the top edge


def test_the_render_generator_with_overlay_goes_through_the_plan_on_the_server(server, scene_sha, views):
    shot = {"scene": scene_sha, "generator": "render", "num_frames": 2, "width": W, "height": H,
            "cameras": orbit_cameras(2), "encoding": "raw", "instruction": "waves",
            "anchor": {"position": [0.0, 0.0, 0.0], "heading_rad": 0.0}}
    with Client(server.address) as client:
        plain, _ = collect(client.submit(shot, views=views))
        boxed, last = collect(client.submit(dict(shot, options={"overlay": "character_box", "quality": "draft"}),
                                            views=views))
    assert isinstance(last, Done), last
    for i in range(2):
        changed = np.any(boxed[i] != plain[i], axis=-1)
        assert 0 < changed.mean() < 0.8
        assert np.all(boxed[i] == BOX_COLOUR, axis=-1).sum() >= 8  # the outline is there


# ---- Continue Shot ---------------------------------------------------------------------------------

def test_a_continuation_gets_the_last_33_frames_and_the_end_anchor_of_the_job_it_continues(server):
    anchor = {"position": [1.0, 2.0, 0.0], "heading_rad": 0.5}
    with Client(server.address) as client:
        first = client.submit(pattern_request(40, seed=3, anchor=anchor))
        _, done = collect(first)
        assert done.end_anchor == {"position": [1.0, 2.0, 0.0], "heading_rad": 0.5}
        second = client.submit(pattern_request(5, seed=4, anchor={"position": [9.0, 9.0, 0.0]},
                                               options={"continue_from": first.id, "echo_history": True}))
        frames, done2 = collect(second)
    assert isinstance(done2, Done)
    assert done2.start_anchor == done.end_anchor  # the request's own anchor gave way to the end state
    for i in range(5):  # history = frames 7..39 of the first job
        np.testing.assert_array_equal(frames[i], pattern_frame(3, 7 + i, W, H))


def test_continuing_an_unknown_or_unfinished_job_is_refused_naming_continue_from(server):
    with Client(server.address) as client:
        err = refused(client, pattern_request(options={"continue_from": "jnosuchjob"}))
        assert (err.code, err.field) == (P.E_UNKNOWN_JOB, "request.options.continue_from")
        assert "jnosuchjob" in err.message
        running = client.submit(pattern_request(100, options={"frame_delay_s": 0.5}))  # held while the test runs
        err = refused(client, pattern_request(options={"continue_from": running.id}))
        assert (err.code, err.field) == (P.E_INVALID_FIELD, "request.options.continue_from")
        assert "done" in err.message
        running.cancel()
        collect(running)


def test_two_chained_blockout_shots_the_second_starts_where_the_first_ended(server, scene_sha, views):
    shot = {"scene": scene_sha, "num_frames": 6, "fps": 4.0, "width": W, "height": H, "encoding": "raw",
            "instruction": "walks forward", "camera_behaviour": "follow", "generator": "blockout",
            "anchor": {"position": [0.0, -1.5, 0.0], "heading_rad": 0.0, "height_m": 1.8}}
    with Client(server.address) as client:
        first = client.submit(shot, views=views)
        _, done1 = collect(first)
        assert isinstance(done1, Done), done1
        moved = np.subtract(done1.end_anchor["position"], done1.start_anchor["position"])
        assert np.hypot(*moved[:2]) > 0.5  # it walked
        second = client.submit(dict(shot, instruction="turns left", options={"continue_from": first.id}),
                               views=views)
        frames, done2 = collect(second)
    assert isinstance(done2, Done) and len(frames) == 6
    start, end = np.array(done2.start_anchor["position"]), np.array(done1.end_anchor["position"])
    assert np.linalg.norm(start - end) < 0.05
    turn = math.remainder(done2.start_anchor["heading_rad"] - done1.end_anchor["heading_rad"], 2 * math.pi)
    assert abs(turn) < 0.05


def test_done_carries_the_plans_warnings_a_target_not_reached_and_none_for_a_craned_walk(server, scene_sha, views):
    shot = {"scene": scene_sha, "num_frames": 6, "fps": 4.0, "width": W, "height": H, "encoding": "raw",
            "instruction": "walks to the bench", "camera_behaviour": "static", "generator": "blockout",
            "targets": {"bench": [0.0, -3.0, 0.0]},
            "anchor": {"position": [-4.5, 2.5, 0.0], "heading_rad": -0.9, "height_m": 1.8}}
    with Client(server.address) as client:
        _, short = collect(client.submit(shot, views=views))
        _, fine = collect(client.submit(dict(shot, instruction="walks forward", camera_behaviour="crane"), views=views))
    assert isinstance(short, Done) and isinstance(fine, Done)
    assert len(short.warnings) == 1 and "short of the bench" in short.warnings[0] and "--frames" in short.warnings[0]
    assert fine.warnings == []


# ---- anix serve --generator anix --model DIR ---------------------------------------------------

def serve(*args, timeout=60):
    env = {k: v for k, v in os.environ.items() if k != "ANIX_MODEL_DIR"}
    return subprocess.run([sys.executable, "-m", "anix_core", "serve", "--bind", "tcp://127.0.0.1:0", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def test_the_anix_generator_without_a_complete_model_folder_stops_the_server_at_start(tmp_path):
    result = serve("--generator", "anix", "--model", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "model folder not found" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model_index.json").write_text("{}")
    result = serve("--generator", "anix", "--model", str(tmp_path / "half"))
    assert result.returncode == 2 and "incomplete; missing: transformer/" in result.stderr
    result = serve("--generator", "anix")
    assert result.returncode == 2 and "--model DIR" in result.stderr


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("diffusers")
    from anix_core.model.tiny import tiny_pipeline

    path = tmp_path_factory.mktemp("tiny_anix")
    tiny_pipeline(seed=0).save_pretrained(path)
    return path


def test_anix_serve_start_says_when_the_model_folder_has_no_anix_lora(tiny_model, capsys):
    from backend.generation import check_anix_model

    check_anix_model(tiny_model, installed=True)
    err = capsys.readouterr().err
    assert "no AniX LoRA in" in err and "plain HunyuanCustom" in err and "anix convert lora" in err


@pytest.mark.slow
def test_anix_serve_with_a_model_folder_runs_anix_shots_on_that_model(tiny_model, fixtures_dir, views, tmp_path):
    srv = ServerProcess("--generator", "anix", "--model", str(tiny_model), "--device", "cpu", cache_dir=tmp_path)
    try:
        with Client(srv.address) as client:
            info = client.hello()
            assert info["default_generator"] == "anix" and "anix" in info["generators"]
            sha = client.ensure_scene(fixtures_dir / "courtyard_sh0.ply")
            shot = {"scene": sha, "num_frames": 1, "width": W, "height": H, "encoding": "raw", "instruction": "waves",
                    "options": {"quality": "scene", "num_inference_steps": 2}}
            stages = []
            job = client.submit(shot, views=views)
            done = job.wait(timeout=240, on_progress=lambda p: stages.append((p.stage, p.total)))
            again = client.submit(dict(shot, seed=1), views=views).wait(timeout=120)
    finally:
        srv.stop()
    assert isinstance(done, Done) and done.num_frames == 1 and isinstance(again, Done)
    assert ("denoise", 2) in stages  # the request's steps reached the model


def test_every_generator_option_is_documented_in_the_protocol():
    doc = (REPO / "docs" / "PROTOCOL.md").read_text()
    section = doc[doc.index("## Generator options"):doc.index("## Continuation")]
    for generator, options in P.GENERATOR_OPTIONS.items():
        assert f"`{generator}`" in section
        for name in options:
            assert f"`{name}`" in section, (generator, name)
    for quality in QUALITIES:
        assert f"`{quality}`" in section
