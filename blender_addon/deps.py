"""Where the add-on finds the AniX code it shares with the backend.

In the built extension, `anix_core.splats`, `anix_core.cameras`, `backend.client` and
`backend.protocol` are vendored under `_vendor/` (see build_addon.py). Run from the source tree
(tests, development), the repository's own packages are used. Imports are lazy so the add-on
registers even when pyzmq or msgpack are missing, and says so when they are needed.
"""
from __future__ import annotations

import importlib
from pathlib import Path

_VENDORED = (Path(__file__).parent / "_vendor").is_dir()


class MissingDependency(RuntimeError):
    """A Python package the add-on needs is not importable in Blender."""


def _load(name: str):
    try:
        if _VENDORED:
            return importlib.import_module(f"{__package__}._vendor.{name}")
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("zmq", "msgpack"):
            raise MissingDependency(
                f"the Python package '{exc.name.split('.')[0]}' is missing: reinstall AniX Studio from its "
                "release zip (it bundles pyzmq and msgpack for this platform)") from exc
        raise


def splats():
    """anix_core.splats: load, GaussianScene, sha256_file, SceneFormatError."""
    return _load("anix_core.splats")


def cameras():
    """anix_core.cameras: Camera."""
    return _load("anix_core.cameras")


def client():
    """backend.client: Client and job events."""
    return _load("backend.client")


def protocol():
    """backend.protocol."""
    return _load("backend.protocol")
