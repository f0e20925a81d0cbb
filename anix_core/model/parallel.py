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
    import torch
    import torch.distributed as dist
    from diffusers import ContextParallelConfig

    if mode not in CP_MODES:
        raise ValueError(f"mode must be one of {CP_MODES}, got {mode!r}")
    if not dist.is_initialized() or dist.get_world_size() != degree:
        raise ValueError(f"context parallelism over {degree} devices needs torch.distributed initialised with "
                         f"{degree} processes (one per GPU)")
    if torch.accelerator.device_count() == 0:
        # diffusers picks a rank's device as rank % accelerator count, which is 0 on a CPU-only build
        torch.accelerator.device_count = lambda: 1
    # "anything" (NCCL): token counts need not divide by the degree, as a prompt has the tokens it has;
    # gloo gathers only equal sizes, so on CPUs they must divide
    uneven = dist.get_backend() == "nccl"
    config = ContextParallelConfig(ulysses_degree=degree, ulysses_anything=uneven) if mode == "ulysses" else \
        ContextParallelConfig(ring_degree=degree, ring_anything=uneven)
    transformer.enable_parallelism(config=config)


