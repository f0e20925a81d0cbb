"""Which splat file a shot uses, checked before every submit.

A splat object remembers its file's path, sha256, size and modification time. Before a shot is
sent, `current()` looks at the file again: same size and mtime -> the remembered hash; otherwise
the file is hashed again, and a different hash becomes the object's (the client uploads the new
bytes, the request names them). A missing file is an error that says how to fix it.
The path is stored relative to the .blend (`//...`) when the .blend is saved, so a moved project
folder or a render farm finds it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

from .importer import SPLAT_MTIME_KEY, SPLAT_PATH_KEY, SPLAT_SHA_KEY, SPLAT_SIZE_KEY


@dataclass
class SceneFile:
    path: str          # absolute
    sha256: str
    changed: bool      # the file's content differs from what was imported or last sent


def stored_path(path: str) -> str:
    """`path` as the object keeps it: relative to a saved .blend when on the same drive."""
    if bpy.data.filepath:
        try:
            return bpy.path.relpath(path)
        except ValueError:  # another drive (Windows)
            pass
    return path


def absolute_path(obj) -> str:
    return os.path.normpath(bpy.path.abspath(obj.get(SPLAT_PATH_KEY, ""))) if obj.get(SPLAT_PATH_KEY) else ""


def remember(obj, path: str, sha256: str) -> None:
    """Keep `path` (absolute) and its identity on the object."""
    st = os.stat(path)
    obj[SPLAT_PATH_KEY] = stored_path(path)
    obj[SPLAT_SHA_KEY] = sha256
    obj[SPLAT_SIZE_KEY] = str(st.st_size)        # strings: IDProperty ints are 32-bit
    obj[SPLAT_MTIME_KEY] = str(st.st_mtime_ns)


def current(obj, sha256_file) -> SceneFile:
    """The splat file of `obj` as it is now (see module docstring). FileNotFoundError names the
    object and the path; `sha256_file(path)` hashes a file."""
    path = absolute_path(obj)
    try:
        st = os.stat(path)
    except OSError:
        raise FileNotFoundError(f"the splat file of '{obj.name}' is gone from {path or '(no path)'}") from None
    same = obj.get(SPLAT_SIZE_KEY) == str(st.st_size) and obj.get(SPLAT_MTIME_KEY) == str(st.st_mtime_ns)
    if same and obj.get(SPLAT_SHA_KEY):
        if obj[SPLAT_PATH_KEY] != stored_path(path):  # the .blend was saved since: relative from now on
            obj[SPLAT_PATH_KEY] = stored_path(path)
        return SceneFile(path, obj[SPLAT_SHA_KEY], False)
    sha = sha256_file(path)
    changed = sha != obj.get(SPLAT_SHA_KEY)
    remember(obj, path, sha)
    return SceneFile(path, sha, changed)

