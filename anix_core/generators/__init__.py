"""Generators: one protocol that turns a `Conditioning` into frames.

    generator = create("blockout")
    frames = generator.generate(conditioning, on_progress, should_cancel, on_frame)  # [F,H,W,3] uint8
    # (or None when on_frame took every frame: "blockout" and "render" then keep none)

- `on_progress(stage: str, done: int, total: int)` reports work as it goes;
- `should_cancel() -> bool` is polled between units of work; when it turns true the generator
  raises `GenerationCancelled`;
- `on_frame(index, frame [H,W,3] uint8)` is called as each final frame is ready.

Generators: "blockout" (CPU, no weights: the scene render with the character composited from
its views), "render" (the scene video alone, optionally with the character's box drawn over it)
and "anix" (the AniX model; imported only when asked for, as it needs torch and weights).

`quality_settings(name, quality)` turns a quality preset ("draft", "standard", "high",
"scene") into that generator's keyword arguments (see QUALITY_SETTINGS).
"""
from __future__ import annotations

import importlib
from typing import Callable, Protocol, runtime_checkable

import numpy as np


class GenerationCancelled(Exception):
    """Raised by a generator (or conditioning) when `should_cancel()` turned true."""


ProgressCallback = Callable[[str, int, int], None]
CancelCallback = Callable[[], bool]
FrameCallback = Callable[[int, np.ndarray], None]


@runtime_checkable
class Generator(Protocol):
    """What every generator offers: a `name` and `generate`."""

    name: str

    def generate(self, conditioning, on_progress: ProgressCallback | None = None,
                 should_cancel: CancelCallback | None = None,
                 on_frame: FrameCallback | None = None) -> np.ndarray:
        ...


# name -> "module:Class", imported lazily so heavy generators cost nothing until used.
GENERATORS = {
    "blockout": "anix_core.generators.blockout:BlockoutGenerator",
    "render": "anix_core.generators.render_only:RenderOnlyGenerator",
    "anix": "anix_core.generators.anix:AniXGenerator",
}
DEFAULT_GENERATOR = "blockout"


QUALITIES = ("draft", "standard", "high", "scene")
# Quality preset -> constructor keywords. The output size always comes from the shot (width,
# height); for "anix" the preset picks the denoising steps and the size the model runs at (its
# frames are resized to the shot's size); "scene" runs the model at the shot's own size (each
# side rounded to a multiple of 16, as the VAE and patching need). "blockout" and "render" draw
# at the shot's size and have nothing else to trade for speed: the preset changes nothing there.
QUALITY_SETTINGS = {
    "anix": {
        "draft": {"num_inference_steps": 8, "height": 352, "width": 624},
        "standard": {"num_inference_steps": 30, "height": 352, "width": 624},
        "high": {"num_inference_steps": 50, "height": 480, "width": 832},
        "scene": {"num_inference_steps": 30, "height": None, "width": None},  # None: the shot's size
    },
}
MODEL_SIZE_MULTIPLE = 16


def quality_settings(name: str, quality: str = "standard", width: int | None = None,
                     height: int | None = None) -> dict:
    """The keyword arguments quality preset `quality` means for generator `name` ({} for none);
    `width`, `height`: the shot's size, for settings that follow it."""
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}")
    settings = dict(QUALITY_SETTINGS.get(str(name).lower(), {}).get(quality, {}))
    for key, size in (("width", width), ("height", height)):
        if key in settings and settings[key] is None:
            if size is None:
                raise ValueError(f"quality {quality!r} follows the shot's size: pass width and height")
            settings[key] = max(MODEL_SIZE_MULTIPLE, int(round(size / MODEL_SIZE_MULTIPLE)) * MODEL_SIZE_MULTIPLE)
    return settings


def create(name: str = DEFAULT_GENERATOR, **options) -> Generator:
    """A generator by name ("blockout", "render", "anix"); `options` go to its constructor."""
    key = str(name).lower()
    if key not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; choose one of {', '.join(GENERATORS)}")
    module_name, _, class_name = GENERATORS[key].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name.startswith(exc.name) or exc.name in ("torch", "diffusers", "transformers")):
            raise ValueError(f"the {key!r} generator is not available in this install ({exc.name} is missing)") from None
        raise
    return getattr(module, class_name)(**options)


def check_cancel(should_cancel: CancelCallback | None, what: str = "generation") -> None:
    """Raise GenerationCancelled when `should_cancel()` is true."""
    if should_cancel is not None and should_cancel():
        raise GenerationCancelled(f"{what} cancelled")


__all__ = ["GENERATORS", "DEFAULT_GENERATOR", "QUALITIES", "QUALITY_SETTINGS", "Generator", "GenerationCancelled",
           "create", "check_cancel", "quality_settings"]
