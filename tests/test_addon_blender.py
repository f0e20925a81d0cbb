"""The Blender extension in real Blender, installed from the release zip the way a user installs
it, in Blender 5.0 (bpy 5.0.1, Python 3.11: this environment) and Blender 5.2 LTS (bpy 5.2.3,
Python 3.13: the `.venv313` the README's test command makes, or $ANIX_BLENDER52_PYTHON).
Blender runs in subprocesses (tests/blender_scripts/addon_*.py) that print one JSON result; each
script checks many behaviours so Blender starts only a few times."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "tests" / "blender_scripts"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import build_addon  # noqa: E402

pytestmark = pytest.mark.blender
SH_C0 = 0.28209479177387814


def srgb_to_linear(c):
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


# Blender version -> (how to find its Python, the bpy version it must have)
BLENDERS = {"5.0": "5.0.1", "5.2": "5.2.3"}


def blender_python(version: str) -> str | None:
    """The Python with bpy for `version`, or None. 5.0: this Python; 5.2: $ANIX_BLENDER52_PYTHON,
    else .venv313 beside this checkout's .venv (the README's test command makes it)."""
    if version == "5.0":
        candidates = [sys.executable]
    else:
        candidates = [os.environ.get("ANIX_BLENDER52_PYTHON", ""),
                      str(REPO / ".venv313" / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))]
    for python in filter(None, candidates):
        if not os.path.isfile(python):
            continue
        probe = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('bpy'))"],
                               capture_output=True, text=True, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == BLENDERS[version]:
            return python
    return None


@pytest.fixture(scope="module", params=sorted(BLENDERS))
def blender(request) -> str:
    """The Python of one Blender build (each add-on test runs in both)."""
    python = blender_python(request.param)
    if python is None:
        hint = ("pip install bpy==5.0.1 into this Python 3.11 environment" if request.param == "5.0" else
                "make it with the README's test command (.venv313 with bpy==5.2.3 on Python 3.13) or point "
                "$ANIX_BLENDER52_PYTHON at a Python 3.13 with bpy==5.2.3")
        pytest.skip(f"Blender {request.param} (bpy=={BLENDERS[request.param]}) not found: {hint}")
    return python


def run_blender(script: str, args: dict, user_dir: Path, timeout: float = 240, python: str | None = None) -> dict:
    """Run a script inside Blender (`python` with bpy; default this one) in a clean user folder;
    return its JSON result."""
    env = dict(os.environ, ANIX_TEST_ARGS=json.dumps(args), BLENDER_USER_RESOURCES=str(user_dir),
               XDG_CACHE_HOME=str(user_dir / "xdg_cache"),  # a local backend's cache folder
               PYTHONPATH="")  # the add-on must not see this repository: it uses what the zip carries
    proc = subprocess.run([python or sys.executable, str(SCRIPTS / script)], env=env, cwd=str(user_dir),
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ANIX_RESULT ")]
    assert proc.returncode == 0 and lines, f"{script} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1][len("ANIX_RESULT "):])
    result["_stderr"] = proc.stderr
    return result


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("addon_dist")
    try:
        return build_addon.build(out, with_wheels=True)
    except build_addon.BuildError as exc:
        if "pip could not download" not in str(exc):
            raise
        return build_addon.build(out, with_wheels=False)


@pytest.fixture(scope="module")
def core(addon_zip, fixtures_dir, tmp_path_factory, blender):
    work = tmp_path_factory.mktemp("addon_core")
    (work / "frames").mkdir()
    import socket

    with socket.socket() as sock:  # a free port for the local backend
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return run_blender("addon_core.py", {"zip": str(addon_zip), "fixtures": str(fixtures_dir),
                                         "out": str(work / "frames"), "port": port,
                                         "backend_python": sys.executable}, work, python=blender)


# ---- install --------------------------------------------------------------------------------------

def test_the_zip_installs_and_enables_like_a_users_install(core):
    assert core["install"] == {"install": ["FINISHED"], "enabled": True}
    assert "/extensions/user_default/anix_studio/" in core["addon_file"]
    assert core["vendored"] is True
    assert "/anix_studio/_vendor/anix_core/splats/" in core["splats_module"]
    assert "/anix_studio/_vendor/backend/client.py" in core["client_module"]
    assert all(core["operators"].values()), core["operators"]
    assert core["import_menu"] is True


def test_blender_unpacks_the_bundled_pyzmq_and_msgpack_for_its_own_python(core):
    if not core["wheel_tags"]:
        pytest.skip("zip built without wheels (package index unreachable)")
    site = core["wheel_site"]
    assert "zmq" in site and "msgpack" in site
    tags = {k.split("-")[0]: v for k, v in core["wheel_tags"].items()}
    py = core["python"]  # Blender's own Python
    assert any(t.startswith(f"{py}-") or (py >= "cp312" and t.startswith("cp312-abi3-")) for t in tags["pyzmq"]), tags
    assert any(t.startswith(f"{py}-{py}-") for t in tags["msgpack"]), tags


# ---- import ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["courtyard.ply", "courtyard_sh0.ply", "courtyard.compressed.ply",
                                  "courtyard.splat", "courtyard.spz"])
def test_every_splat_format_imports_with_its_count_and_sh_dc_colours(core, truth, name):
    entry = core["imports"][name]
    assert entry["result"] == ["FINISHED"], entry["error"]
    assert entry["count"] == len(truth["means"])
    expected = srgb_to_linear(np.clip(0.5 + SH_C0 * truth["sh0"].astype(np.float64), 0, 1))
    tolerance = 1e-5 if name in ("courtyard.ply", "courtyard_sh0.ply") else 0.01
    np.testing.assert_allclose(entry["mean_linear_rgb"], expected.mean(0), atol=tolerance)
    if name in ("courtyard.ply", "courtyard_sh0.ply"):  # same order as the truth arrays
        np.testing.assert_allclose(entry["first_linear_rgb"], expected[:50], atol=1e-5)
        np.testing.assert_allclose(entry["first_positions"], truth["means"][:50], atol=1e-6)
        np.testing.assert_allclose(entry["mean_opacity"], (1 / (1 + np.exp(-truth["logit_opacities"].astype(np.float64)))).mean(),
                                   rtol=1e-4)
        np.testing.assert_allclose(entry["mean_scale"], np.exp(truth["log_scales"].astype(np.float64)).mean(0), rtol=1e-4)
    assert entry["alpha_equals_opacity"] and entry["active_color"] == "color"


def test_the_object_remembers_its_file_and_sha256(core, fixtures_dir):
    import hashlib

    entry = core["imports"]["courtyard.spz"]
    path = fixtures_dir / "courtyard.spz"
    assert entry["path"] == str(path)
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_legal_ply_variants_import(core):
    for name in ("valid_big_endian.ply", "valid_ascii.ply"):
        assert core["imports"][name]["result"] == ["FINISHED"] and core["imports"][name]["count"] == 4


def test_bad_files_give_a_report_that_names_the_problem_not_a_traceback(core):
    bad = core["bad"]
    assert bad["nan_inf.ply"]["result"] == ["FINISHED"]  # loadable: the non-finite splats are dropped
    refused = {k: v for k, v in bad.items() if k != "nan_inf.ply"}
    assert len(refused) == 7
    for name, entry in refused.items():
        assert entry["result"] == ["ERROR_REPORTED"], (name, entry)
        assert entry["error"].startswith("Error: AniX: cannot import:") and name in entry["error"]
        assert "Traceback" not in entry["error"]
    assert "f_dc_0" in refused["point_cloud_only.ply"]["error"]


# ---- camera export --------------------------------------------------------------------------------

def test_per_frame_camera_export_matches_camera_from_blender_including_an_animated_lens(core):
    from anix_core.cameras import Camera

    cam = core["camera"]
    assert core["frame_after_export"] == 3  # the user's current frame is restored
    assert len(cam["exported"]) == 5
    for exported, raw in zip(cam["exported"], cam["raw"]):
        expected = Camera.from_blender(np.array(raw["matrix_world"]), raw["lens"], raw["sensor_width"],
                                       raw["sensor_height"], raw["sensor_fit"], raw["shift_x"], raw["shift_y"],
                                       64, 48).to_dict()
        np.testing.assert_allclose(exported["world_to_camera"], expected["world_to_camera"], atol=1e-9)
        np.testing.assert_allclose(exported["K"], expected["K"], atol=1e-9)
        assert (exported["width"], exported["height"]) == (64, 48)
    lens = [r["lens"] for r in cam["raw"]]
    assert lens[0] == pytest.approx(35.0) and lens[-1] == pytest.approx(70.0)
    assert cam["exported"][-1]["K"][0][0] == pytest.approx(2 * cam["exported"][0]["K"][0][0])


def test_exported_cameras_project_like_blender_itself(core):
    from anix_core.cameras import Camera

    cam = core["camera"]
    points = np.array(cam["points"])
    for exported, blender_px in zip(cam["exported"], cam["blender_px"]):
        uv, depth = Camera.from_dict(exported).project(points)
        blender = np.array(blender_px)
        np.testing.assert_allclose(uv, blender[:, :2], atol=2e-3)
        np.testing.assert_allclose(depth, blender[:, 2], rtol=1e-5)


# ---- sequencer and request checks ----------------------------------------------------------------

def test_strips_take_a_free_channel_and_keep_the_request(core):
    vse = core["vse"]
    assert vse["channels"] == [1, 2, 1]  # overlapping shots stack, a later one reuses channel 1
    assert vse["range"] == [1, 4]
    assert vse["elements"] == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]
    assert vse["stored"] == {"instruction": "walks", "seed": 3, "job_id": "j1", "num_frames": 3}
    assert vse["props"] == {"anix_instruction": "walks", "anix_seed": 3, "anix_job_id": "j1"}


def test_a_moved_splat_file_is_reported_with_a_fix(core):
    assert "Locate Splat File" in core["moved"]["message"]
    assert core["moved"]["fix"] == "anix.relocate_splats"


def test_missing_views_anchor_and_camera_are_reported_with_fixes_before_anything_is_sent(core):
    p = core["problems"]
    assert "front, left, back, right" in p["views"]["error"] and p["views"]["fix"] == "anix.load_views_folder"
    assert "Add Anchor" in p["anchor"]["error"] and p["anchor"]["fix"] == "anix.add_anchor"
    assert "no active camera" in p["camera"]["error"] and p["camera"]["fix"] == "anix.add_camera"


def test_start_local_backend_runs_anix_serve_shows_its_log_and_stops_with_the_addon(core):
    local = core["local_backend"]
    assert local["result"] == ["FINISHED"], local["error"]
    assert "listening on tcp://127.0.0.1:" in local["log"] and local["running"] is True
    assert "listening on" in local["log_text"]
    assert local["check"] == ["FINISHED"] and local["backend_status"].startswith("ready")
    assert local["exit_code_after_disable"] is not None  # disabling the add-on stopped it


def test_register_unregister_twice_leaves_nothing_behind(core):
    cycles = core["cycles"]
    enabled, disabled = cycles[0], cycles[1]
    assert enabled["scene_prop"] and enabled["operators"] and enabled["load_post"] == 1 and enabled["menu"] == 1
    assert enabled["load_pre"] == 1
    for state in cycles[1::2]:
        assert state == {"scene_prop": False, "operators": [], "load_post": 0, "load_pre": 0, "menu": 0,
                         "timer": False, "check_timer": False}
    for state in cycles[2::2]:
        assert state == enabled  # re-enabling restores exactly one of everything
    assert disabled == cycles[-1]


# ---- the animator's work is never overwritten ---------------------------------------------------------

def test_camera_helpers_write_a_new_action_and_the_animators_keys_are_one_click_away(core):
    keys = core["camera_keys"]
    assert keys["orbit"] == ["FINISHED"], keys["orbit_error"]
    assert keys["helper_action"] != keys["own_action"] and "AniX Orbit" in keys["helper_action"]
    assert keys["own_kept"] and keys["own_keys"] == [1, 5]  # the two hand-set keys, untouched
    assert keys["helper_keys"] == [1, 2, 3, 4, 5]
    assert keys["restore_poll"] is True and keys["restore"] == ["FINISHED"], keys["restore_error"]
    assert keys["after_restore"] == keys["own_action"]
    assert keys["remembered"] == keys["helper_action"]  # and back again with one more click


def test_output_sizes_follow_the_scenes_aspect_in_multiples_of_16(core):
    sizes = core["sizes"]
    assert sizes["1920x1080@1.0/DRAFT"] == [432, 240] and sizes["1920x1080@1.0/STANDARD"] == [848, 480]
    assert sizes["1920x1080@1.0/HIGH"] == [1280, 720]
    assert sizes["1080x1920@1.0/STANDARD"] == [480, 848]  # portrait
    assert sizes["1000x1000@1.0/DRAFT"] == [240, 240]
    assert sizes["1440x1080@1.333/STANDARD"] == [848, 480]  # anamorphic pixels: the picture is 16:9
    assert all(w % 16 == 0 and h % 16 == 0 for w, h in sizes.values())


def test_planning_warnings_show_in_the_panel_the_info_log_and_on_the_strip(core):
    w = core["warnings"]
    assert w["panel"].splitlines() == ["unknown verb 'florp' kept as a gesture", "character not visible in frames 10-24"]
    assert w["stored"] == w["panel"].splitlines()
    assert any(level == "WARNING" and "florp" in text for level, text in w["logged"])
    assert w["status"].startswith("Done: 3 frames")
    assert w["undo_step"].startswith("AniX: shot '")  # the landing from the timer is its own undo step
    assert core["no_warnings"] == {"panel": "", "state": "done"}  # a done without the field: no warnings


def test_messages_speak_of_stages_and_megabytes_and_fit_on_one_line(core):
    words = core["words"]
    assert words["stages"] == ["Rendering scene 3/24", "Planning the action 0/1", "Uploading scene 8.0 of 16.5 MB",
                               "Loading scene", "Placing the character 2/24", "Making frame 5/24", "Something new 1/2"]
    headline = words["headline"]
    assert headline == "The instruction names no action the planner knows"
    assert "InstructionError" not in words["error_text"] and words["error_text"].startswith("no verb")


def test_the_panel_shows_the_character_views_as_thumbnails(core):
    t = core["thumbnails"]
    assert t["size"][0] > 0 and t["size"][1] > 0 and t["again"] and t["count"] == 1  # one per file
    assert t["missing"] == 0


def test_operators_that_change_data_are_undoable_and_all_have_a_poll(core):
    assert all(core["operators_undo"].values()), core["operators_undo"]
    assert all(core["operators_poll"].values()), core["operators_poll"]
    assert core["poll_without_strip"] == {"regenerate": False, "continue": False, "generate": True}


# ---- generate against a real backend --------------------------------------------------------------

class OtherVersionServer:
    """A ROUTER on 127.0.0.1 that answers every message as a protocol-version-2 server would."""

    def __init__(self):
        import threading

        import msgpack
        import zmq

        self._stop = threading.Event()
        self._socket = zmq.Context.instance().socket(zmq.ROUTER)
        self._socket.linger = 0
        self._socket.bind("tcp://127.0.0.1:*")
        self.address = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)

        def serve():
            while not self._stop.is_set():
                if self._socket.poll(50):
                    ident, header, *_ = self._socket.recv_multipart()
                    req = msgpack.unpackb(header).get("req")
                    self._socket.send_multipart([ident, msgpack.packb(
                        {"v": 2, "type": "welcome", "req": req, "protocol": 2, "server": "anix"})])
            self._socket.close(linger=0)

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def generated(addon_zip, fixtures_dir, tmp_path_factory, blender):
    from backend_helpers import ServerProcess

    work = tmp_path_factory.mktemp("addon_generate")
    (work / "frames").mkdir()
    server = ServerProcess(cache_dir=work / "cache")
    other = OtherVersionServer()
    try:
        workers = server.wait_workers(1)
        result = run_blender("addon_generate.py", {
            "zip": str(addon_zip), "fixtures": str(fixtures_dir), "out": str(work / "frames"),
            "address": server.address, "dead_address": "tcp://127.0.0.1:9",
            "wrong_version_address": other.address, "frames": 4, "slow_frames": 300}, work, timeout=400,
            python=blender)
    finally:
        other.stop()
        server.stop()
        for pid in locals().get("workers", []):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
    return result


def _strip_by_seed(strips: dict, seed: int) -> list:
    return [s for s in strips.values() if s["props"].get("anix_seed") == seed]


def test_generate_wait_true_blocks_until_the_strip_is_in_the_sequencer(generated):
    from backend.standin import pattern_frame
    from PIL import Image

    wait = generated["wait"]
    assert wait["result"] == ["FINISHED"], wait["error"]
    (strip,) = _strip_by_seed(wait["strips"], 7)
    assert (strip["start"], strip["end"], strip["count"]) == (1, 5, 4)
    assert strip["files"] == [f"frame_{i:04d}.png" for i in range(4)]
    stored = strip["stored"]
    assert stored["instruction"] == "walks forward" and stored["seed"] == 7 and stored["job_id"]
    assert strip["props"]["anix_job_id"] == stored["job_id"]
    assert stored["num_frames"] == 4 and (stored["width"], stored["height"]) == (64, 48)
    assert stored["anchor"]["position"] == pytest.approx([0.0, -1.5, 0.0])
    for i, name in enumerate(strip["files"]):  # the bytes the backend made, unchanged
        frame = np.asarray(Image.open(os.path.join(strip["directory"], name)).convert("RGB"))
        np.testing.assert_array_equal(frame, pattern_frame(7, i, 64, 48))


def test_generate_through_the_timer_tick_reports_progress_and_lands_a_strip(generated):
    tick = generated["tick"]
    assert tick["result"] == ["FINISHED"] and tick["timer_registered"] is True
    assert len(tick["statuses"]) >= 2  # the panel showed the way there, not only the end
    assert tick["statuses"][-1].startswith("Done: 4 frames")
    import re

    for status in tick["statuses"]:  # words for people: no raw stage names, byte counts or "plan 1/1"
        assert not re.search(r"\b(plan|render|upload|load_scene|frames) \d", status), status
        assert not re.search(r"\d{6,}", status), status
    assert tick["progress"] == 1.0 and tick["running"] is False
    assert tick["tick_return_when_idle"] is None  # the timer stops itself when no shot runs
    (strip,) = _strip_by_seed(tick["strips"], 8)
    assert (strip["start"], strip["count"]) == (1, 4) and strip["channel"] == 2  # channel 1 is taken


def test_continue_shot_starts_where_the_selected_strip_ends_and_regenerate_takes_a_new_seed(generated):
    cont, regen = generated["continue"], generated["regenerate"]
    assert cont["result"] == ["FINISHED"], cont["error"]
    previous = cont["previous"]
    new = [s for s in cont["strips"].values() if s["start"] == previous["end"]]
    assert len(new) == 1 and new[0]["count"] == 4
    assert new[0]["stored"]["options"]["continue_from"] == previous["stored"]["job_id"]
    assert regen["result"] == ["FINISHED"], regen["error"]
    (strip,) = _strip_by_seed(regen["strips"], 9)
    assert strip["start"] == previous["start"] and strip["stored"]["instruction"] == "walks forward"


def test_regenerate_leaves_the_panel_alone_and_the_new_take_plays_over_the_muted_old_one(generated):
    regen = generated["regenerate"]
    assert regen["panel_after"] == ["waves hello", 40]  # what the animator typed for the next shot
    (new,) = _strip_by_seed(regen["strips"], 9)
    (old,) = [s for s in _strip_by_seed(regen["strips"], 8) if s["start"] == new["start"]]
    assert new["mute"] is False and old["mute"] is True


def test_continue_shot_follows_on_the_same_channel_and_regenerating_it_keeps_the_continuation(generated):
    cont = generated["continue"]
    previous = cont["previous"]
    assert previous["stored"]["end_anchor"]["position"] == pytest.approx([0.0, -1.5, 0.0])  # pattern: no walk
    (new,) = [s for s in cont["strips"].values() if s["start"] == previous["end"]]
    assert new["channel"] == previous["channel"]  # right after the strip it continues (channel 1 was free too)
    assert new["props"]["anix_continue_from"] == previous["stored"]["job_id"]
    again = generated["regenerate_continued"]
    assert again["result"] == ["FINISHED"], again["error"]
    assert again["strip"]["stored"]["options"]["continue_from"] == previous["stored"]["job_id"]
    assert again["strip"]["start"] == new["start"]


def test_preview_conditioning_lands_the_scene_render_with_the_character_box(generated):
    from PIL import Image

    from anix_core.generators.render_only import BOX_COLOUR

    preview = generated["preview"]
    assert preview["result"] == ["FINISHED"], preview["error"]
    (strip,) = preview["strips"]
    assert strip["name"].endswith("_preview") and strip["count"] == 4
    assert strip["mute"] is True  # over the shots of the same frames: it does not hide them
    assert strip["stored"]["generator"] == "render" and strip["stored"]["options"]["overlay"] == "character_box"
    for name in strip["files"]:
        frame = np.asarray(Image.open(os.path.join(strip["directory"], name)).convert("RGB"))
        assert np.all(frame == BOX_COLOUR, axis=-1).sum() >= 8  # the box outline
        assert frame.std() > 5  # over the rendered courtyard


def test_a_backend_of_another_protocol_version_is_reported_with_what_to_do(generated):
    version = generated["version"]
    assert version["result"] == ["ERROR_REPORTED"] and version["seconds"] < 3  # no timeout wait
    assert "protocol version 2" in version["error"] and "update AniX Studio or the backend" in version["error"]
    assert "Traceback" not in version["error"]
    check = generated["version_check"]  # Check Backend with wait=True (scripts)
    assert check["result"] == ["ERROR_REPORTED"] and "protocol version 2" in check["error"]


def test_cancel_mid_shot_stops_quickly_and_keeps_the_frames_received(generated):
    c = generated["cancel"]
    assert c["cancel_result"] == ["FINISHED"] and c["frames_at_cancel"] >= 1
    assert c["state"] == "cancelled" and c["still_active"] is False
    assert c["seconds_to_stop"] < 10
    assert len(c["frames_kept"]) >= c["frames_at_cancel"] and len(c["frames_kept"]) < 300
    assert c["new_strips"] == [] and c["status"].startswith("Cancelled")


def test_no_backend_is_reported_within_seconds_with_what_to_do(generated):
    down = generated["down"]
    assert down["result"] == ["ERROR_REPORTED"]
    assert down["seconds"] < 6
    assert "tcp://127.0.0.1:9" in down["error"] and "Start the backend" in down["error"]
    assert "Traceback" not in down["error"]
    assert down["folders_left"] == []  # the failed shot's empty frames folder is gone


def test_check_backend_returns_at_once_and_the_status_updates_when_the_answer_comes(generated):
    check = generated["down_check"]
    assert check["result"] == ["FINISHED"] and check["returned_after"] < 0.5
    assert check["checking"].startswith("checking tcp://127.0.0.1:9")
    assert check["backend_status"] == "not reachable" and "Start the backend" in check["last_error"]


def test_a_successful_shot_updates_the_backend_status(generated):
    assert generated["wait"]["backend_status"].startswith("ready (tcp://127.0.0.1:")


def test_a_saved_blend_stores_frames_and_the_splat_file_relative_to_it(generated):
    saved = generated["saved"]
    assert saved["result"] == ["FINISHED"], saved["error"]
    assert saved["strip"]["stored_directory"].startswith("//") and saved["strip"]["count"] == 4
    assert saved["splat_path"] == "//scene.ply"


def test_an_edited_splat_file_is_hashed_again_uploaded_and_used_by_the_shot(generated):
    e = generated["edited"]
    assert e["result"] == ["FINISHED"], e["error"]
    assert e["new_sha"] != e["old_sha"] and e["sent_sha"] == e["new_sha"] == e["object_sha"]


def test_a_missing_splat_file_is_a_clear_error_with_a_fix(generated):
    m = generated["missing"]
    assert m["result"] == ["ERROR_REPORTED"] and "is gone from" in m["error"] and m["fix"] == "anix.relocate_splats"


def test_a_remote_backend_without_online_access_is_refused_with_the_setting_to_change(generated):
    remote = generated["remote"]
    assert remote["online_access"] is False
    assert remote["result"] == ["ERROR_REPORTED"] and "Allow Online Access" in remote["error"]


# ---- import speed ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_million_splats_import_and_show_no_slower_than_blenders_own_ply_import(addon_zip, tmp_path):
    from anix_core.splats import GaussianScene, save

    rng = np.random.default_rng(0)
    n = 1_000_000
    quats = rng.normal(size=(n, 4)).astype(np.float32)
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    scene = GaussianScene(rng.normal(size=(n, 3)).astype(np.float32) * 5, quats,
                          rng.normal(-4, 0.5, (n, 3)).astype(np.float32), rng.normal(size=n).astype(np.float32),
                          rng.normal(size=(n, 3)).astype(np.float32) * 0.5,
                          rng.normal(size=(n, 15, 3)).astype(np.float32) * 0.1)  # SH degree 3, ~236 MB
    path = tmp_path / "million.ply"
    save(scene, path)
    result = run_blender("addon_import_speed.py", {"zip": str(addon_zip), "path": str(path)}, tmp_path)
    assert result["count"] == n
    assert {"color", "opacity", "scale", "rotation"} <= set(result["attributes"])
    assert result["density"] == pytest.approx(0.1) and 80_000 < result["shown"] <= 100_000
    best = min(result["anix_seconds"])
    print(f"1M splats: AniX import + display {best:.2f} s (import with sha256 "
          f"{min(result['anix_import_seconds']):.2f} s, display {min(result['anix_display_seconds']):.2f} s); "
          f"Blender PLY import + evaluation {min(result['blender_ply_seconds']):.2f} s (best of 3, alternating)")
    # goal: no slower than Blender's own importer (docs/PERFORMANCE.md); the bound here only
    # catches a gross regression, since a loaded 2-core machine moves both figures a lot
    assert best <= 3 * min(result["blender_ply_seconds"]) + 1.0
