"""One shot on several devices: diffusers' context parallelism on `AniXTransformer3DModel`.

Every rank (one process per GPU, torch.distributed initialised) holds the whole model and runs
the same forward; the transformer's `_cp_plan` gives each rank 1/N of the tokens and Ulysses
all-to-all (or ring attention) lets attention see them all. Output equals one device's within
the attention kernel's rounding.
"""
from __future__ import annotations

CP_MODES = ("ulysses", "ring")


def enable_context_parallel(transformer, degree: int, mode: str = "ulysses") -> None:
    """Split `transformer`'s tokens across the `degree` ranks of the default process group."""
    import torch.distributed as dist
    from diffusers import ContextParallelConfig

    if mode not in CP_MODES:
        raise ValueError(f"mode must be one of {CP_MODES}, got {mode!r}")
    if not dist.is_initialized() or dist.get_world_size() != degree:
        raise ValueError(f"context parallelism over {degree} devices needs torch.distributed initialised with "
                         f"{degree} processes (one per GPU)")
    config = ContextParallelConfig(ulysses_degree=degree) if mode == "ulysses" else ContextParallelConfig(ring_degree=degree)
    transformer.enable_parallelism(config=config)


def check_divisible(image_tokens: int, text_tokens: int, degree: int) -> None:
    """The plan splits image and text tokens evenly: say which count does not divide."""
    for name, count in (("image tokens (views + video frames x patches)", image_tokens), ("text tokens", text_tokens)):
        if count % degree:
            raise ValueError(f"{name} = {count} do not split evenly over {degree} GPUs")
