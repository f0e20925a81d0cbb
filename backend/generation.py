"""Which generators this server offers and how a worker runs one: the single switch between the
project's generators (anix_core.generators + anix_core.conditioning) and the stand-in scene
renderer (backend.standin) used where those are not installed.

Generators (all share on_progress(stage, done, total), should_cancel() and on_frame(i, rgb)):
  blockout, anix   anix_core.generators.create(name) on anix_core.conditioning.build_conditioning
  render           the scene rendered along the cameras, streamed frame by frame
                   (backend.standin; needs no views)
  pattern          test only (--testing): deterministic frames that ignore the scene
"""
from __future__ import annotations

import importlib
import importlib.util

TEST_GENERATORS = ("pattern",)


def _has_module(name: str) -> bool:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None  # an empty folder is not a module


def project_generators_installed() -> bool:
    """True when anix_core ships real generators and conditioning (checked without importing)."""
    return _has_module("anix_core.generators") and _has_module("anix_core.conditioning")


PROJECT_GENERATORS = {"blockout": "anix_core.generators.blockout", "render": "anix_core.generators.render_only",
                      "anix": "anix_core.generators.anix"}


def available_generators(testing: bool = False) -> list[str]:
    """Generator names this install can run (module files present; nothing heavy is imported)."""
    if project_generators_installed():
        names = [name for name, module in PROJECT_GENERATORS.items() if _has_module(module)]
    else:
        names = ["render"]
    return names + (list(TEST_GENERATORS) if testing else [])


def default_generator() -> str:
    return "blockout" if project_generators_installed() else "render"


def _project_api():
    """(create, build_conditioning) from anix_core, or None where they do not exist yet."""
    try:
        generators = importlib.import_module("anix_core.generators")
        conditioning = importlib.import_module("anix_core.conditioning")
    except ImportError:
        return None
    create = getattr(generators, "create", None)
    build = getattr(conditioning, "build_conditioning", None)
    return (create, build) if callable(create) and callable(build) else None


def run_generator(name: str, spec, on_progress, should_cancel, on_frame, *, model_dir=None, device=None):
    """Run generator `name` on a ShotSpec; frames are delivered through on_frame(i, uint8 [H,W,3]).
    Returns the frames array the generator returned (or None)."""
    if name == "pattern":
        from .standin import PatternGenerator

        return PatternGenerator().generate(spec, on_progress, should_cancel, on_frame)
    if name == "render":
        from .standin import SceneRenderGenerator

        return SceneRenderGenerator().generate(spec, on_progress, should_cancel, on_frame)
    api = _project_api()
    if api is None:
        raise ValueError(f"generator {name!r} is not installed on this server; available: render")
    create, build_conditioning = api
    options = dict(spec.options)
    if name == "anix":
        if model_dir:
            options.setdefault("model_dir", str(model_dir))
        if device:
            options.setdefault("device", device)
    generator = create(name, **options)
    conditioning = build_conditioning(spec, on_progress=on_progress, should_cancel=should_cancel)
    return generator.generate(conditioning, on_progress=on_progress, should_cancel=should_cancel, on_frame=on_frame)
