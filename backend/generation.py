"""Which generators this server offers and how a worker runs one: the single switch between the
project's generators (anix_core.generators + anix_core.conditioning) and the stand-in scene
renderer (backend.standin) used where those are not installed.

Generators (all share on_progress(stage, done, total), should_cancel() and on_frame(i, rgb)):
  blockout, anix   anix_core.generators.create(name) on anix_core.conditioning.build_conditioning
                   (streamed for blockout: frame by frame, nothing kept; whole for anix)
  render           overlay "none": the scene rendered along the cameras, streamed frame by frame
                   (backend.standin; needs no views); overlay "character_box": the project's
                   "render" generator on the streamed conditioning (plan, masks), the box drawn on it
  pattern          test only (--testing): deterministic frames that ignore the scene

Request options (checked on submit against protocol.GENERATOR_OPTIONS) are split here: the
generator's own keywords (`GENERATOR_KWARGS`, plus what `quality` means for it), the
conditioning's (`render_backend`, `mask_mode`), and what the worker itself uses
(`continue_from`).
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from dataclasses import dataclass, field

TEST_GENERATORS = ("pattern",)
# request option -> generator keyword, per generator
GENERATOR_KWARGS = {
    "blockout": ("shadow", "bob", "shadow_strength", "occlusion_margin_m", "blend_sharpness", "caption"),
    "render": ("overlay",),
    "anix": ("num_inference_steps", "guidance_scale"),
}
# request option -> ShotSpec.options key read by build_conditioning
CONDITIONING_OPTIONS = {"render_backend": "backend", "mask_mode": "mask_mode"}
ANIX_RUN_SETTINGS = ("num_inference_steps", "guidance_scale", "height", "width")


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


def check_anix_model(model_dir, installed: bool) -> None:
    """At server start: the anix generator is installed and `model_dir` is a complete pipeline
    folder; ValueError saying what is wrong otherwise (imports no torch)."""
    if not installed:
        raise ValueError("the anix generator is not installed here (anix_core.generators.anix is missing)")
    if not model_dir:
        raise ValueError("the anix generator needs a model folder: pass --model DIR or set ANIX_MODEL_DIR "
                         "(see docs/MODEL.md)")
    from anix_core.generators.anix import check_model_dir, lora_notice

    check_model_dir(model_dir)
    notice = lora_notice(model_dir)
    if notice:
        print(f"anix serve: {notice}", file=sys.stderr, flush=True)


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


def split_options(name: str, options: dict, width: int, height: int) -> tuple[dict, dict]:
    """Checked request options of a width x height shot -> (generator keywords, conditioning options)."""
    kwargs = {}
    if project_generators_installed():
        from anix_core.generators import quality_settings

        kwargs.update(quality_settings(name, options.get("quality") or "standard", width, height))
    kwargs.update({k: options[k] for k in GENERATOR_KWARGS.get(name, ()) if options.get(k) is not None})
    conditioning = {key: options[opt] for opt, key in CONDITIONING_OPTIONS.items() if options.get(opt) is not None}
    return kwargs, conditioning


@dataclass
class Outcome:
    """What a run produced: its frames (or None when all went through on_frame), the
    character's state at the first and last frame ({position [3], heading_rad}) and the plan's
    warnings (what could not be done as asked, one sentence each)."""

    frames: object
    start_anchor: dict
    end_anchor: dict
    warnings: list = field(default_factory=list)


def anchor_state(position, heading_rad) -> dict:
    return {"position": [float(v) for v in position], "heading_rad": float(heading_rad)}


_loaded: dict = {}  # (model_dir, device) -> the anix generator of this worker, its weights loaded once


def _anix(create, kwargs: dict, model_dir, device):
    key = (str(model_dir) if model_dir else None, device)
    generator = _loaded.get(key)
    if generator is None:
        load = {}
        if model_dir:
            load["model_dir"] = str(model_dir)
        if device:
            load["device"] = device
            if device == "cpu":
                load["dtype"] = "fp32"  # bf16 matmuls on a CPU are slow and gain nothing
        generator = create("anix", **load)
        _split_over_process_group(generator)
        _loaded.clear()
        _loaded[key] = generator
    for k in ANIX_RUN_SETTINGS:  # per-shot settings; the loaded pipeline is kept
        if k in kwargs:
            setattr(generator, k, kwargs[k])
    return generator


def _split_over_process_group(generator) -> None:
    """A worker in a torch.distributed group (a gang of Ray actors running one shot on several
    GPUs, backend.ray_actor) splits each shot's tokens over the group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        from anix_core.model.parallel import enable_context_parallel

        enable_context_parallel(generator.pipeline.transformer, dist.get_world_size())


def run_generator(name: str, spec, on_progress, should_cancel, on_frame, *, model_dir=None, device=None) -> Outcome:
    """Run generator `name` on a ShotSpec whose `options` are the checked request options; frames
    are delivered through on_frame(i, uint8 [H,W,3])."""
    options = dict(spec.options)
    still = anchor_state(spec.anchor.position, spec.anchor.heading_rad)  # no plan: the character stays put
    if name == "pattern":
        from .standin import PatternGenerator

        return Outcome(PatternGenerator().generate(spec, on_progress, should_cancel, on_frame), still, still)
    if name == "render" and options.get("overlay", "none") == "none":
        from .standin import SceneRenderGenerator

        return Outcome(SceneRenderGenerator().generate(spec, on_progress, should_cancel, on_frame), still, still)
    api = _project_api()
    if api is None:
        raise ValueError(f"generator {name!r} (with these options) is not installed on this server; available: render")
    create, build_conditioning = api
    kwargs, spec.options = split_options(name, options, spec.width, spec.height)
    generator = _anix(create, kwargs, model_dir, device) if name == "anix" else create(name, **kwargs)
    # blockout and render draw frame by frame from a streamed conditioning (memory independent of
    # the frame count); the anix model needs the whole scene video and masks for its VAE
    conditioning = build_conditioning(spec, on_progress=on_progress, should_cancel=should_cancel,
                                      stream=name != "anix")
    frames = generator.generate(conditioning, on_progress=on_progress, should_cancel=should_cancel, on_frame=on_frame)
    motion = conditioning.motion
    return Outcome(frames, anchor_state(motion.root_positions[0], motion.headings[0]),
                   anchor_state(motion.root_positions[-1], math.remainder(float(motion.headings[-1]), 2 * math.pi)),
                   [str(w) for w in getattr(motion, "warnings", ())])
