"""The add-on's shot record and frame scan (blender_addon/resume.py, plain Python: no Blender)."""
from __future__ import annotations

import importlib.util
import io
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("anix_addon_resume", REPO / "blender_addon" / "resume.py")
resume = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(resume)


def _png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _scene():
    return types.SimpleNamespace(anix=types.SimpleNamespace(shot_records=""))


def _plan(**extra):
    request = {"num_frames": 5, "seed": 3, "instruction": "walks", "cameras": [{"K": 1}], "views": ["front"]}
    return types.SimpleNamespace(address="tcp://127.0.0.1:5555", shot_name="walks_s3", request=request,
                                 frame_start=10, extra=extra, sequencer_scene_name="Edit")


def test_only_whole_pngs_count_as_frames_on_disk_so_a_file_cut_short_by_a_crash_is_fetched_again(tmp_path):
    whole = _png(7)
    for i in (0, 1, 3):
        (tmp_path / resume.FRAME_NAME.format(i)).write_bytes(whole)
    (tmp_path / resume.FRAME_NAME.format(2)).write_bytes(whole[:-20])     # cut short
    (tmp_path / (resume.FRAME_NAME.format(4) + ".part")).write_bytes(whole)  # never renamed
    found = resume.frames_on_disk(str(tmp_path), 5)
    assert sorted(found) == [0, 1, 3]
    assert resume.first_missing(found, 5) == 2
    assert resume.first_missing({0: "", 1: "", 2: ""}, 3) == 3  # nothing missing: past the end


def test_a_record_keeps_what_resuming_needs_and_the_request_without_cameras_and_views(tmp_path):
    folder = tmp_path / "anix" / "walks_s3"
    record = resume.make_record(_plan(channel=4), "j1", str(folder), blend_dir=str(tmp_path))
    assert record["job_id"] == "j1" and record["address"] == "tcp://127.0.0.1:5555"
    assert (record["num_frames"], record["frame_start"], record["channel"]) == (5, 10, 4)
    assert record["sequencer_scene"] == "Edit" and record["folder_rel"] == str(Path("anix") / "walks_s3")
    assert record["request"] == {"num_frames": 5, "seed": 3, "instruction": "walks"}


def test_records_are_kept_per_job_on_the_scene_and_removed_one_by_one():
    scene = _scene()
    resume.add(scene, resume.make_record(_plan(), "j1", "/f/a"))
    resume.add(scene, resume.make_record(_plan(), "j2", "/f/b"))
    assert list(resume.records(scene)) == ["j1", "j2"]
    assert resume.get(scene)["job_id"] == "j2" and resume.get(scene, "j1")["folder"] == "/f/a"
    assert resume.remove(scene, "j2") and not resume.remove(scene, "j2")
    assert resume.remove(scene, "j1") and scene.anix.shot_records == ""
    scene.anix.shot_records = "{not json"
    assert resume.records(scene) == {} and resume.get(scene) is None


def test_frames_next_to_a_moved_blend_are_found_again(tmp_path):
    old = tmp_path / "old_project"
    record = resume.make_record(_plan(), "j1", str(old / "anix" / "walks_s3"), blend_dir=str(old))
    moved = tmp_path / "new_project"
    (moved / "anix" / "walks_s3").mkdir(parents=True)
    assert resume.resolve_folder(record, str(moved)) == str(moved / "anix" / "walks_s3")
    assert resume.resolve_folder(record, "") == record["folder"]


def test_the_frames_folder_keeps_the_record_so_a_moved_or_unsaved_shot_is_found_from_it(tmp_path):
    old = tmp_path / "old" / "walks_s3"
    old.mkdir(parents=True)
    resume.write_folder_record(str(old), resume.make_record(_plan(), "j1", str(old), blend_dir=str(tmp_path)))
    moved = tmp_path / "moved"
    old.rename(moved)
    found = resume.read_folder_record(str(moved))
    assert found["job_id"] == "j1" and found["folder"] == str(moved) and found["shot_name"] == "walks_s3"
    assert "folder_rel" not in found and found["request"]["seed"] == 3
    resume.remove_folder_record(str(moved), "j2")  # another job's: kept
    assert (moved / resume.FOLDER_RECORD).exists()
    resume.remove_folder_record(str(moved), "j1")
    assert not (moved / resume.FOLDER_RECORD).exists()


def test_a_folder_without_a_usable_record_says_why(tmp_path):
    with pytest.raises(ValueError, match="no interrupted shot is recorded in"):
        resume.read_folder_record(str(tmp_path))
    (tmp_path / resume.FOLDER_RECORD).write_text('{"version": 1, "job_id"')
    with pytest.raises(ValueError, match="cannot read"):
        resume.read_folder_record(str(tmp_path))
    (tmp_path / resume.FOLDER_RECORD).write_text('{"version": 1, "job_id": "j1"}')
    with pytest.raises(ValueError, match="not a shot record"):
        resume.read_folder_record(str(tmp_path))
