"""One shot's tokens split across N devices (context parallelism) vs the same forward on one.

    python bench/context_parallel.py --ranks 2 [--device cuda] [--mode ulysses|ring] [--size tiny|small]
                                     [--dtype bf16|fp32] [--frames 4] [--text 8] [--history] [--cfg]
                                     [--deepcache] [--repeats 3]

N processes (NCCL on CUDA, gloo on CPU), one per device, build the same transformer (same seed),
rank 0 first runs the whole forward alone, then every rank enables context parallelism
(anix_core.model.parallel) and runs it split. Prints the tokens each rank holds, the largest
difference to the single-device output (relative to its scale) and both latencies; exits 1 when
the difference is over the tolerance (1e-4 in fp32, 2e-2 in bf16). Token counts need not divide
by the ranks (the transformer pads them on gloo); --cfg runs the pipeline's pair of rows whose
texts differ in length (negative prompt, prompt), --deepcache times a cached step after a full one.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {  # transformer config overrides on top of anix_core.model.configs.TINY
    "tiny": {},
    "small": dict(num_attention_heads=8, attention_head_dim=64, num_layers=2, num_single_layers=4,
                  rope_axes_dim=(16, 24, 24), text_embed_dim=256, in_channels=16, out_channels=16,
                  scene_in_channels=32),
}
TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2}


def inputs(config: dict, frames: int, height: int, width: int, text: int, device, dtype, rows: int = 1):
    """One forward's arguments; with rows 2 the CFG pair, the first row's text 3 tokens shorter
    (padding masked, as the pipeline's negative prompt)."""
    import torch

    g = torch.Generator().manual_seed(0)
    c = config["in_channels"]

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device, dtype)

    text_mask = torch.ones(rows, text, dtype=torch.long, device=device)
    if rows > 1:
        text_mask[0, max(1, text - 3):] = 0
    return dict(hidden_states=rand(rows, c, frames, height, width), timestep=torch.full((rows,), 500.0, device=device),
                encoder_hidden_states=rand(rows, text, config["text_embed_dim"]), encoder_attention_mask=text_mask,
                pooled_projections=rand(rows, config["pooled_projection_dim"]),
                guidance=torch.full((rows,), 6000.0, device=device), view_latents=rand(rows, c, 4, height, width),
                scene_latents=rand(rows, c, frames, height, width), mask_latents=rand(rows, c, frames, height, width))


def forward(model, x, deepcache: bool):
    """The output of one step; with deepcache, of a cached step (another timestep) after a full one."""
    if not deepcache:
        return model(**x).sample
    model(**x, deepcache="store")
    return model(**{**x, "timestep": x["timestep"] - 100.0}, deepcache="reuse").sample


def timed(model, x, repeats: int, device, deepcache: bool = False) -> tuple:
    import torch

    out = None
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.no_grad():
            out = forward(model, x, deepcache)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return out, best


def rank_main(rank: int, args, port: int, result: dict) -> None:
    import torch
    import torch.distributed as dist

    from anix_core.model.configs import TINY
    from anix_core.model.parallel import enable_context_parallel
    from anix_core.model.transformer import AniXTransformer3DModel

    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=args.ranks)
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    config = {**TINY, **SIZES[args.size], "scene_in_channels": 2 * {**TINY, **SIZES[args.size]}["in_channels"],
              "history_mode": "diffusion_forcing" if args.history else "overwrite"}
    torch.manual_seed(0)
    model = AniXTransformer3DModel(**config).to(device, dtype).eval()
    height, width = args.height, args.width
    x = inputs(config, args.frames, height, width, args.text, device, dtype, rows=2 if args.cfg else 1)
    if args.history:  # continuation: the first frames clean, with their own timestep (per-token levels)
        x["history_latents"] = x["scene_latents"][:, : config["in_channels"], :2].clone()
    image_tokens = (4 + args.frames) * (height // config["patch_size"]) * (width // config["patch_size"])
    single, single_s = timed(model, x, args.repeats, device, args.deepcache) if rank == 0 else (None, 0.0)
    dist.barrier()
    enable_context_parallel(model, args.ranks, args.mode)
    seen = []  # image tokens the first block's attention gets on this rank: the split, measured
    first = (model.transformer_blocks or model.single_transformer_blocks)[0].attn
    hook = first.register_forward_pre_hook(lambda module, a, kw: seen.append(kw["hidden_states"].shape[1]),
                                           with_kwargs=True)
    split, split_s = timed(model, x, args.repeats, device, args.deepcache)
    hook.remove()
    if rank == 0:
        diff = (split.float() - single.float()).abs().max().item() / max(single.float().abs().max().item(), 1e-6)
        rows = f"CFG pair of {args.text - 3} and {args.text}" if args.cfg else f"{args.text}"
        step = " (DeepCache step)" if args.deepcache else ""
        print(f"{args.mode} over {args.ranks} {args.device} ranks ({args.size}, {args.dtype}){step}: {image_tokens} image "
              f"+ {rows} text tokens; rank 0's first block attends from {seen[0]} image tokens; "
              f"max |split - single| / max |single| = {diff:.2e} (tolerance {TOLERANCE[args.dtype]:.0e}); "
              f"latency single {single_s * 1000:.1f} ms, split {split_s * 1000:.1f} ms", flush=True)
        result["ok"] = diff <= TOLERANCE[args.dtype] and seen[0] == -(-image_tokens // args.ranks)
        Path(args.result).write_text("ok" if result["ok"] else "over tolerance")
    dist.destroy_process_group()


def main(argv=None) -> int:
    import torch
    import torch.multiprocessing as mp

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--mode", choices=["ulysses", "ring"], default="ulysses")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--dtype", choices=sorted(TOLERANCE), default="fp32")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--height", type=int, default=8, help="latent height")
    parser.add_argument("--width", type=int, default=12, help="latent width")
    parser.add_argument("--text", type=int, default=8, help="prompt tokens (unpadded)")
    parser.add_argument("--history", action="store_true", help="2 history frames, diffusion-forcing levels")
    parser.add_argument("--cfg", action="store_true", help="two rows whose texts differ in length (CFG pair)")
    parser.add_argument("--deepcache", action="store_true", help="a cached step after a full one")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "cuda" and torch.cuda.device_count() < args.ranks:
        print(f"skipped: {args.ranks} ranks need {args.ranks} GPUs, this machine has {torch.cuda.device_count()}")
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        args.result = str(Path(folder) / "result")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mp.spawn(rank_main, args=(args, port, {}), nprocs=args.ranks)
        return 0 if Path(args.result).read_text() == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
