"""Helpers for the add-on scripts that run inside Blender (bpy) in a subprocess.

The test passes its arguments as JSON in $ANIX_TEST_ARGS; a script prints exactly one line
`ANIX_RESULT <json>` that the test parses. BLENDER_USER_RESOURCES points at a temporary folder,
so installing the extension never touches the user's Blender.
"""
from __future__ import annotations

import json
import os
import sys
import traceback

import bpy

ADDON = "bl_ext.user_default.anix_studio"


def args() -> dict:
    return json.loads(os.environ.get("ANIX_TEST_ARGS", "{}"))


def emit(result: dict) -> None:
    sys.stdout.write("ANIX_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def install(zip_path: str) -> dict:
    """Install the release zip the way Preferences > Get Extensions > Install from Disk does."""
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    return {"install": sorted(result), "enabled": ADDON in bpy.context.preferences.addons}


def addon_module():
    return sys.modules[ADDON]


def submodule(name: str):
    return sys.modules[f"{ADDON}.{name}"]


class Reports:
    """Collects operator reports: run an operator, get (result set, exception text or None)."""

    @staticmethod
    def call(op, **kwargs):
        try:
            return sorted(op(**kwargs)), None
        except RuntimeError as exc:  # an operator that reported an ERROR raises RuntimeError in scripts
            return ["ERROR_REPORTED"], str(exc)
        except Exception:
            return ["EXCEPTION"], traceback.format_exc()


def start_against_backend(timeout_s: float) -> tuple[dict, dict, object]:
    """Install and enable the add-on, point it at the test's backend and output folder:
    (arguments, the result dict with the install report, the add-on preferences)."""
    a = args()
    out = {"install": install(a["zip"])}
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.backend_address = a["address"]
    prefs.output_folder = a["out"]
    prefs.timeout_s = timeout_s
    return a, out, prefs
