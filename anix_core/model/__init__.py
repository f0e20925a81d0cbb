"""The AniX video model: transformer, pipeline, converters (torch + diffusers; imported lazily)."""
from __future__ import annotations

__all__ = ["AniXTransformer3DModel", "AniXPipeline"]


def __getattr__(name):
    if name == "AniXTransformer3DModel":
        from .transformer import AniXTransformer3DModel
        return AniXTransformer3DModel
    if name == "AniXPipeline":
        from .pipeline import AniXPipeline
        return AniXPipeline
    raise AttributeError(name)
