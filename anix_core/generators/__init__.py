"""Generators: one protocol that turns a `Conditioning` into frames.

    generator = create("blockout")
    frames = generator.generate(conditioning, on_progress, should_cancel, on_frame)  # [F,H,W,3] uint8

- `on_progress(stage: str, done: int, total: int)` reports work as it goes;
- `should_cancel() -> bool` is polled between units of work; when it turns true the generator
  raises `GenerationCancelled`;
- `on_frame(index, frame [H,W,3] uint8)` is called as each final frame is ready.

Generators: "blockout" (CPU, no weights: the scene render with the character composited from
its views), "render" (the scene video alone) and "anix" (the AniX model; imported only when
asked for, as it needs torch and weights).
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


__all__ = ["GENERATORS", "DEFAULT_GENERATOR", "Generator", "GenerationCancelled", "create", "check_cancel"]
