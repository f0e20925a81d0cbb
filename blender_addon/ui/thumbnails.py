"""Small pictures of the character views for the panel (a `bpy.utils.previews` collection).

`icon_id(path)` registers the file the first time it is asked for (Blender makes the preview
in the background) and returns its icon id, 0 when there is no such file.
"""
from __future__ import annotations

import os

import bpy

_collection = None


def preview(path: str):
    """The preview of the image at `path` (made once per file version), or None."""
    path = bpy.path.abspath(path) if path else ""
    if _collection is None or not path or not os.path.isfile(path):
        return None
    key = f"{path}:{os.path.getmtime(path)}"  # a changed file gets a new picture
    return _collection.get(key) or _collection.load(key, path, "IMAGE")


def icon_id(path: str) -> int:
    found = preview(path)
    return found.icon_id if found is not None else 0


def count() -> int:
    return len(_collection) if _collection is not None else 0


def register() -> None:
    global _collection
    import bpy.utils.previews

    _collection = bpy.utils.previews.new()


def unregister() -> None:
    global _collection
    if _collection is not None:
        bpy.utils.previews.remove(_collection)
        _collection = None
