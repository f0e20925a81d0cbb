"""What a running shot needs to be resumed, kept on the Scene so it outlives Blender.

While a shot runs, its record (backend address, job id, frames folder, frame count, where the
strip goes and the request summary the strip will store) is kept in `scene.anix.shot_records`
(JSON, job id -> record), which is saved with the .blend, autosaves and crash-recovery files.
It is removed when the shot lands in the sequencer, is cancelled, fails on the backend, or the
backend no longer has it. A record left over means the shot was interrupted: `anix.resume_shot`
attaches to the job again (the backend keeps a shot's frames for 30 minutes after it ends) and
fetches only the frames missing on disk.

The same record is also written as `anix_shot.json` in the shot's frames folder (and removed
with the scene's), so a shot of a .blend that was never saved is resumed from that folder.
"""
from __future__ import annotations

import json
import os
import time

RECORD_VERSION = 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"
FRAME_NAME = "frame_{:04d}.png"
FOLDER_RECORD = "anix_shot.json"
_MAX_FOLDER_RECORD_BYTES = 1024 * 1024


def records(scene) -> dict:
    """job id -> record of the shots recorded on `scene` (newest last)."""
    try:
        data = json.loads(scene.anix.shot_records or "{}")
    except (ValueError, AttributeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and v.get("job_id") == k} if isinstance(data, dict) else {}


def _store(scene, data: dict) -> None:
    scene.anix.shot_records = json.dumps(data, separators=(",", ":")) if data else ""


def add(scene, record: dict) -> None:
    data = records(scene)
    data.pop(record["job_id"], None)
    data[record["job_id"]] = record
    _store(scene, data)


def remove(scene, job_id: str) -> bool:
    data = records(scene)
    if job_id not in data:
        return False
    del data[job_id]
    _store(scene, data)
    return True


def get(scene, job_id: str = "") -> dict | None:
    """The record of `job_id`, or the newest one when job_id is empty."""
    data = records(scene)
    if job_id:
        return data.get(job_id)
    return list(data.values())[-1] if data else None


def make_record(plan, job_id: str, folder: str, blend_dir: str = "") -> dict:
    """The record of a shot the backend accepted (plain data; `plan` is a request.ShotPlan)."""
    record = {
        "version": RECORD_VERSION, "job_id": job_id, "address": plan.address, "folder": folder,
        "shot_name": plan.shot_name, "num_frames": int(plan.request["num_frames"]),
        "frame_start": int(plan.frame_start), "channel": plan.extra.get("channel"),
        "sequencer_scene": plan.sequencer_scene_name, "started": time.time(),
        "request": summary(plan.request),
    }
    if blend_dir:  # frames next to the .blend: found again when the project folder moves
        try:
            rel = os.path.relpath(folder, blend_dir)
        except ValueError:  # another drive (Windows)
            rel = ""
        if rel and not rel.startswith(".."):
            record["folder_rel"] = rel
    return record


def summary(request: dict) -> dict:
    """The request as a strip stores it: without the per-frame cameras and the view images."""
    return {k: v for k, v in request.items() if k not in ("cameras", "views")}


def resolve_folder(record: dict, blend_dir: str = "") -> str:
    """Where the record's frames are: its folder, or the same place next to a moved .blend."""
    folder = record["folder"]
    if not os.path.isdir(folder) and blend_dir and record.get("folder_rel"):
        moved = os.path.normpath(os.path.join(blend_dir, record["folder_rel"]))
        if os.path.isdir(moved):
            return moved
    return folder


def is_complete_png(path: str) -> bool:
    """A whole PNG file (signature and IEND chunk): not a file cut short by a crash."""
    try:
        size = os.path.getsize(path)
        if size < len(PNG_SIGNATURE) + len(PNG_END):
            return False
        with open(path, "rb") as f:
            head = f.read(len(PNG_SIGNATURE))
            f.seek(size - len(PNG_END))
            return head == PNG_SIGNATURE and f.read() == PNG_END
    except OSError:
        return False


def frames_on_disk(folder: str, num_frames: int) -> dict[int, str]:
    """index -> path of the complete frames of a shot already in `folder`."""
    found = {}
    for index in range(num_frames):
        path = os.path.join(folder, FRAME_NAME.format(index))
        if is_complete_png(path):
            found[index] = path
    return found


def first_missing(frames, num_frames: int) -> int:
    """The lowest frame index not in `frames` (num_frames when none is missing)."""
    return next((i for i in range(num_frames) if i not in frames), num_frames)


def label(record: dict) -> str:
    """How the panel names an interrupted shot."""
    started = time.strftime("%H:%M", time.localtime(record.get("started", 0))) if record.get("started") else "?"
    return f"{record.get('shot_name', record['job_id'])} ({record.get('num_frames', '?')} frames, started {started})"


def write_folder_record(folder: str, record: dict) -> None:
    """Keep `record` as FOLDER_RECORD in the frames folder (temp file + rename); never raises."""
    path = os.path.join(folder, FOLDER_RECORD)
    try:
        with open(path + ".part", "w", encoding="utf-8") as f:
            json.dump(record, f, separators=(",", ":"))
        os.replace(path + ".part", path)
    except OSError:
        pass


def remove_folder_record(folder: str, job_id: str) -> None:
    """Remove the folder's record if it is the one of `job_id`."""
    try:
        if read_folder_record(folder)["job_id"] == job_id:
            os.remove(os.path.join(folder, FOLDER_RECORD))
    except (OSError, ValueError):
        pass


def read_folder_record(folder: str) -> dict:
    """The shot record kept in a frames folder, with `folder` set to where it was found.
    ValueError says what is wrong (no record there, unreadable, or not a shot record)."""
    path = os.path.join(folder, FOLDER_RECORD)
    try:
        if os.path.getsize(path) > _MAX_FOLDER_RECORD_BYTES:
            raise ValueError(f"{path} is too large to be a shot record")
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"no interrupted shot is recorded in {folder} (no {FOLDER_RECORD}; the shot landed, "
                         "was cancelled or discarded, or this is not a shot's frames folder)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    ok = isinstance(record, dict) and record.get("version") == RECORD_VERSION and \
        isinstance(record.get("job_id"), str) and record["job_id"] and isinstance(record.get("address"), str) and \
        isinstance(record.get("num_frames"), int) and record["num_frames"] > 0 and \
        isinstance(record.get("frame_start"), int) and isinstance(record.get("request"), dict)
    if not ok:
        raise ValueError(f"{path} is not a shot record of this version of AniX Studio")
    record = dict(record, folder=os.path.abspath(folder), shot_name=record.get("shot_name") or os.path.basename(folder))
    record.pop("folder_rel", None)
    return record
