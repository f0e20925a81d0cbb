"""AniX model speed at real size: seconds per denoising step, peak GPU memory, VAE decode time.

    python bench/model.py [--height 352 --width 624 --frames 93] [--steps 3] [--attention native|flash|_native_cudnn]
                          [--compile] [--no-cfg] [--vae] [--tiny]

Full 13B config with random weights in bf16 (speed does not depend on the values). One step is
one transformer call on the CFG batch (conditional + white-view branch): 2 x (video + 4 view)
tokens, plus the prompt. At 352x624x93: 24 latent frames x 858 tokens = 20,592 video tokens and
3,432 view tokens per branch. The paper's teacher: ~4.0 s/step (121 s / 30 steps) on one H100.
Needs CUDA; elsewhere it prints what it would measure and exits (`--tiny` runs the tiny config
on the CPU to check the script itself).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PAPER_SECONDS_PER_STEP = 121.0 / 30


def random_init_(model, std=0.02):
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)


def build_transformer(config, device, dtype):
    import torch
    from accelerate import init_empty_weights

    from anix_core.model.transformer import AniXTransformer3DModel

    with init_empty_weights():
        model = AniXTransformer3DModel(**config)
    model = model.to_empty(device=device).to(dtype)
    random_init_(model)
    return model.eval().requires_grad_(False)


def step_inputs(config, frames, height, width, cfg, text_len, device, dtype):
    import torch

    b = 2 if cfg else 1
    c = config["in_channels"]
    t, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
    r = lambda *s: torch.randn(*s, device=device, dtype=dtype)  # noqa: E731
    return dict(
        hidden_states=r(b, c, t, h, w), timestep=torch.full((b,), 900.0, device=device, dtype=dtype),
        encoder_hidden_states=r(b, text_len, config["text_embed_dim"]),
        encoder_attention_mask=torch.ones(b, text_len, device=device, dtype=torch.long),
        pooled_projections=r(b, config["pooled_projection_dim"]),
        guidance=torch.full((b,), 6000.0, device=device, dtype=dtype),
        scene_latents=r(b, c, t, h, w), mask_latents=r(b, c, t, h, w), view_latents=r(b, c, 4, h, w),
        return_dict=False,
    )


def sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def time_calls(fn, device, repeats):
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=352)
    parser.add_argument("--width", type=int, default=624)
    parser.add_argument("--frames", type=int, default=93)
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--text-len", type=int, default=64, help="prompt tokens after padding is dropped")
    parser.add_argument("--attention", default="native", help="diffusers attention backend (native, flash, _native_cudnn, ...)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the repeated blocks")
    parser.add_argument("--no-cfg", action="store_true", help="batch 1 (no guidance) instead of the CFG pair")
    parser.add_argument("--vae", action="store_true", help="also time a full-size VAE decode (tiling on)")
    parser.add_argument("--tiny", action="store_true", help="tiny config on the CPU (checks the script)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)

    import torch

    from anix_core.model.configs import HUNYUAN_13B, TINY

    if args.tiny:
        config, device, dtype = TINY, "cpu", torch.float32
        args.height, args.width, args.frames = 32, 48, 9
    elif not torch.cuda.is_available():
        t, h, w = (args.frames - 1) // 4 + 1, args.height // 16, args.width // 16
        print("bench/model.py: no CUDA device; nothing measured. On a GPU it measures:")
        print(f"  13B AniX transformer, bf16, random weights, {args.width}x{args.height}x{args.frames}:"
              f" {t} latent frames x {h * w} tokens = {t * h * w} video + {4 * h * w} view tokens per branch,"
              f" {'1' if args.no_cfg else '2 (CFG)'} branches per step")
        print("  seconds per denoising step (mean of --steps after a warm-up), peak GPU memory,"
              " and with --vae the VAE decode time; the paper's teacher: ~4.0 s/step on one H100")
        return 0
    else:
        config, device, dtype = HUNYUAN_13B, "cuda", torch.bfloat16

    results = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
               "size": f"{args.width}x{args.height}x{args.frames}", "cfg": not args.no_cfg,
               "attention": args.attention, "compile": args.compile}
    t0 = time.perf_counter()
    model = build_transformer(config, device, dtype)
    results["build_s"] = round(time.perf_counter() - t0, 2)
    results["params_b"] = round(sum(p.numel() for p in model.parameters()) / 1e9, 3)
    if args.attention != "native":
        model.set_attention_backend(args.attention)
    if args.compile:
        model.compile_repeated_blocks(fullgraph=False)
    inputs = step_inputs(config, args.frames, args.height, args.width, not args.no_cfg, args.text_len, device, dtype)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    with torch.inference_mode():
        step = lambda: model(**inputs)  # noqa: E731
        results["warmup_s"] = round(time_calls(step, device, 1)[0], 2)
        times = time_calls(step, device, args.steps)
    results["step_s"] = round(sum(times) / len(times), 3)
    results["step_s_all"] = [round(t, 3) for t in times]
    results["speedup_vs_paper"] = round(PAPER_SECONDS_PER_STEP / results["step_s"], 2)
    if device == "cuda":
        results["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
    del model, inputs

    if args.vae and device == "cuda":
        from diffusers import AutoencoderKLHunyuanVideo

        torch.cuda.empty_cache()
        vae = AutoencoderKLHunyuanVideo().to(device, dtype).eval()
        vae.enable_tiling()
        lat = torch.randn(1, 16, (args.frames - 1) // 4 + 1, args.height // 8, args.width // 8, device=device, dtype=dtype)
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            results["vae_decode_s"] = round(time_calls(lambda: vae.decode(lat), device, 1)[0], 2)
        results["vae_peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)

    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
