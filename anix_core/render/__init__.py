"""Rendering 3DGS scenes: gsplat on CUDA, our numba rasteriser on CPU, the same maths.

    out = render(scene, cameras, backend="auto", background=(0, 0, 0))
    out.rgb [F,H,W,3] float32 in [0,1]; out.alpha [F,H,W]; out.depth [F,H,W] (expected z)

`iter_render` yields (index, one-frame RenderOutput) for streaming; `should_cancel()` turning
true raises RenderCancelled.
"""
from .api import BACKENDS, RenderCancelled, RenderOutput, iter_render, make_rasterizer, render, resolve_backend

__all__ = ["BACKENDS", "RenderCancelled", "RenderOutput", "iter_render", "make_rasterizer", "render",
           "resolve_backend"]
