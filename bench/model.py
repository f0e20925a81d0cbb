"""AniX model at real size on one GPU: sampling step time, VAE decode time, LoRA training step.

    python bench/model.py [--only sample,vae,train] [--height 352 --width 624 --frames 93]
                          [--steps 3] [--train-steps 2] [--attention native|flash|_native_cudnn]
                          [--compile] [--no-cfg] [--json FILE] [--tiny]

One command prints every figure (about 2-3 minutes on an H100; `--only` picks sections):
- sample: the 13B transformer in bf16 with random weights (speed does not depend on the values),
  one teacher step = one call on the CFG batch (conditional + negative-prompt branch, both with
  the views), each branch 24 latent frames x 858 tokens = 20,592 video + 3,432 view tokens at
  352x624x93, plus the official text stream (2342 prompt / 1809 negative-prompt tokens, the
  image features of the views inlined; the two rows run unmasked one after the other, see
  `AniXTransformer3DModel.forward`). Seconds per full step and per DeepCache step (means after a
  warm-up), the 30-step denoising time with DeepCache off and on (on: the official schedule of
  22 full + 8 cached steps, extrapolated from the timed steps), the 4-step student (one branch,
  no CFG), peak GPU memory, speed-up over the paper's teacher (~4.0 s/step: 121 s / 30 steps).
- vae: HunyuanVideo VAE (bf16, tiling on) decoding the clip's 24 latent frames: seconds, and the
  memory it adds.
- train: one LoRA post-training step as `anix train lora` runs it (rank 64 on attention q/k/v/out
  and the MLPs, frozen weights bf16, LoRA float32 under bf16 autocast, gradient checkpointing,
  AdamW), batch 1 at the same size with scene, mask and views: seconds per step and peak memory.
Needs CUDA: without it, exits with status 2 and says so. `--tiny` runs the tiny config on the
CPU to check the script itself.
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
SECTIONS = ("sample", "vae", "train")


def build_transformer(config, device, dtype, attention, compile_blocks):
    """The transformer allocated straight in `dtype` on `device`, weights ~ N(0, 0.02)."""
    import torch
    from accelerate import init_empty_weights

    from anix_core.model.transformer import AniXTransformer3DModel

    with init_empty_weights():
        model = AniXTransformer3DModel(**config)
    model = model.to(dtype).to_empty(device=device)  # no float32 copy of 13B weights on the way
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    if attention != "native":
        model.set_attention_backend(attention)
    if compile_blocks:
        model.compile_repeated_blocks(fullgraph=False)
    return model.eval().requires_grad_(False)


def latent_size(frames, height, width):
    return (frames - 1) // 4 + 1, height // 8, width // 8


# The official text stream at 352x624: 256 + 4 x 575 = 2556 LLaVA positions (image features
# inlined); 2342 count as text for the prompt, 1809 for the negative prompt (trimmed by 575).
OFFICIAL_TEXT = dict(length=2556, prompt=2342, negative=1809)


def text_mask(batch, text_len, device, counts=None):
    """[batch, text_len]: the first counts[i] positions valid (default: all); row 0 is the
    negative prompt of a CFG pair, as in the pipeline's batch."""
    import torch

    mask = torch.ones(batch, text_len, device=device, dtype=torch.long)
    for i, n in enumerate(counts or ()):
        mask[i, n:] = 0
    return mask


def model_inputs(config, frames, height, width, batch, text_len, device, dtype, counts=None):
    """Random model inputs for one call: latents, scene, mask, 4 views, prompt, pooled vector."""
    import torch

    from anix_core.train.flow_matching import LatentBatch

    c = config["in_channels"]
    t, h, w = latent_size(frames, height, width)
    r = lambda *s: torch.randn(*s, device=device, dtype=dtype)  # noqa: E731
    return LatentBatch(latents=r(batch, c, t, h, w), scene_latents=r(batch, c, t, h, w), mask_latents=r(batch, c, t, h, w),
                       view_latents=r(batch, c, 4, h, w), prompt_embeds=r(batch, text_len, config["text_embed_dim"]),
                       prompt_mask=text_mask(batch, text_len, device, counts),
                       pooled=r(batch, config["pooled_projection_dim"]))


def timed(fn, device, repeats):
    """Wall seconds of each of `repeats` calls, synchronised with the GPU."""
    import torch

    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def gib(nbytes):
    return round(nbytes / 1024**3, 2)


def bench_sample(args, config, device, dtype, out):
    """Teacher steps (CFG pair) with DeepCache off and on, and student steps (one branch).

    Timing all 30 steps would take minutes and say nothing more: every full step costs the same,
    and so does every cached one. So `--steps` full and `--steps` cached calls are timed and the
    30-step clip is extrapolated with the official schedule (22 full + 8 cached steps)."""
    import torch

    from anix_core.model.pipeline import deepcache_plan

    model = build_transformer(config, device, dtype, args.attention, args.compile)
    out["params_b"] = round(sum(p.numel() for p in model.parameters()) / 1e9, 3)
    b = 1 if args.no_cfg else 2
    official_text = args.text_len == OFFICIAL_TEXT["length"]
    counts = ([OFFICIAL_TEXT["negative"], OFFICIAL_TEXT["prompt"]] if b == 2 else [OFFICIAL_TEXT["prompt"]]) \
        if official_text else None
    x = model_inputs(config, args.frames, args.height, args.width, b, args.text_len, device, dtype, counts)
    out["text_tokens"] = counts or [args.text_len] * b

    def kwargs(batch, t=900.0):
        take = lambda v: v[-batch:]  # noqa: E731  (the student: the prompt row)
        return dict(timestep=torch.full((batch,), t, device=device, dtype=torch.float32),
                    encoder_hidden_states=take(x.prompt_embeds), encoder_attention_mask=take(x.prompt_mask),
                    pooled_projections=take(x.pooled), scene_latents=take(x.scene_latents),
                    guidance=torch.full((batch,), 6000.0, device=device) if config["guidance_embeds"] else None,
                    mask_latents=take(x.mask_latents), view_latents=take(x.view_latents), return_dict=False)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        full = lambda: model(x.latents, deepcache="store", **kwargs(b))  # noqa: E731
        cached = lambda: model(x.latents, deepcache="reuse", **kwargs(b, 880.0))  # noqa: E731
        out["sample_warmup_s"] = round(timed(full, device, 1)[0], 2)
        timed(cached, device, 1)  # warm-up of the cached path's kernels
        full_times = timed(full, device, args.steps)
        cached_times = timed(cached, device, args.steps)
        model.clear_deepcache()
        student = lambda: model(x.latents[:1], **kwargs(1))  # noqa: E731
        timed(student, device, 1)
        student_times = timed(student, device, args.steps)
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    plan = deepcache_plan(30)
    n_cached = plan.count("reuse")
    out["sample_step_s"] = round(mean(full_times), 3)
    out["sample_step_s_all"] = [round(t, 3) for t in full_times]
    out["cached_step_s"] = round(mean(cached_times), 3)
    out["cached_step_s_all"] = [round(t, 3) for t in cached_times]
    out["sample_30_steps_s"] = round(30 * mean(full_times), 1)
    out["sample_30_steps_deepcache_s"] = round((30 - n_cached) * mean(full_times) + n_cached * mean(cached_times), 1)
    out["deepcache_mean_step_s"] = round(out["sample_30_steps_deepcache_s"] / 30, 3)
    out["deepcache_schedule"] = f"{30 - n_cached} full + {n_cached} cached steps (official), extrapolated"
    out["student_step_s"] = round(mean(student_times), 3)
    out["student_4_steps_s"] = round(4 * mean(student_times), 2)
    out["speedup_vs_paper"] = round(PAPER_SECONDS_PER_STEP / out["sample_step_s"], 2)
    if device == "cuda":
        out["sample_peak_mem_gib"] = gib(torch.cuda.max_memory_allocated())


def print_table(out):
    """The sampling figures as a short table (stderr; the JSON on stdout stays machine-readable)."""
    if "sample_step_s" not in out:
        return
    vae = out.get("vae_decode_s")
    rows = [
        ("teacher, DeepCache off", out["sample_step_s"], out["sample_30_steps_s"]),
        ("teacher, DeepCache on", out["deepcache_mean_step_s"], out["sample_30_steps_deepcache_s"]),
        ("student (4 steps, no CFG)", out["student_step_s"], out["student_4_steps_s"]),
    ]
    lines = [f"{out['size']}, 4 views, {out['dtype']}, {out['device']}; cached step alone: {out['cached_step_s']} s",
             f"{'sampler':<28}{'s/step':>8}{'denoise s':>11}" + (f"{'+ VAE s':>9}" if vae is not None else "")]
    for name, step, clip in rows:
        lines.append(f"{name:<28}{step:>8.3f}{clip:>11.1f}" + (f"{clip + vae:>9.1f}" if vae is not None else ""))
    lines.append(f"30-step figures: {out['deepcache_schedule']} from {len(out['sample_step_s_all'])} timed full "
                 f"and {len(out['cached_step_s_all'])} timed cached steps; text encoding not included.")
    print("\n".join(lines), file=sys.stderr)


def bench_vae(args, device, dtype, out):
    import torch
    from diffusers import AutoencoderKLHunyuanVideo

    if args.tiny:
        vae = AutoencoderKLHunyuanVideo(latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                                        norm_num_groups=4, mid_block_add_attention=False)
    else:
        vae = AutoencoderKLHunyuanVideo()  # the default config is HunyuanVideo's
    vae = vae.to(device, dtype).eval()
    vae.enable_tiling()
    t, h, w = latent_size(args.frames, args.height, args.width)
    c = vae.config.latent_channels
    with torch.inference_mode():
        vae.decode(torch.randn(1, c, 2, h, w, device=device, dtype=dtype))  # warm-up: kernels, autotuning
        latents = torch.randn(1, c, t, h, w, device=device, dtype=dtype)
        if device == "cuda":
            torch.cuda.synchronize()
            resident = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        out["vae_decode_s"] = round(timed(lambda: vae.decode(latents), device, 1)[0], 2)
    if device == "cuda":
        out["vae_added_mem_gib"] = gib(torch.cuda.max_memory_allocated() - resident)


def bench_train(args, config, device, dtype, out):
    import torch

    from anix_core.train.config import TrainSpec
    from anix_core.train.flow_matching import FlowMatchingLoss
    from anix_core.train.lora import add_lora

    spec = TrainSpec(lora_rank=64, lora_alpha=64, mixed_precision="bf16" if device == "cuda" else "no",
                     gradient_checkpointing=True)
    model = build_transformer(config, device, dtype, args.attention, False)
    params = add_lora(model, spec)
    model.enable_gradient_checkpointing()
    model.train()
    out["train_lora_params_m"] = round(sum(p.numel() for p in params) / 1e6, 1)
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    batch = model_inputs(config, args.frames, args.height, args.width, 1, args.text_len, device, dtype)
    loss_fn = FlowMatchingLoss(scene_drop_p=spec.scene_drop_p)
    generator = torch.Generator().manual_seed(0)

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = loss_fn(model, batch, generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    out["train_warmup_s"] = round(timed(step, device, 1)[0], 2)
    times = timed(step, device, args.train_steps)
    out["train_step_s"] = round(sum(times) / len(times), 3)
    out["train_step_s_all"] = [round(t, 3) for t in times]
    if device == "cuda":
        out["train_peak_mem_gib"] = gib(torch.cuda.max_memory_allocated())
        out["gpu_mem_gib"] = gib(torch.cuda.get_device_properties(0).total_memory)
        out["train_fits"] = out["train_peak_mem_gib"] < out["gpu_mem_gib"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: sample, vae, train")
    parser.add_argument("--height", type=int, default=352)
    parser.add_argument("--width", type=int, default=624)
    parser.add_argument("--frames", type=int, default=93)
    parser.add_argument("--steps", type=int, default=2,
                        help="timed calls of each kind (full, cached, student) after one warm-up call")
    parser.add_argument("--train-steps", type=int, default=2, help="timed training steps after one warm-up step")
    parser.add_argument("--text-len", type=int, default=OFFICIAL_TEXT["length"],
                        help="text positions; the default is the official LLaVA stream (2556 positions, 2342 valid "
                             "for the prompt, 1809 for the negative prompt); any other value: all valid")
    parser.add_argument("--attention", default="native", help="diffusers attention backend (native, flash, _native_cudnn, ...)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the repeated blocks (sampling)")
    parser.add_argument("--no-cfg", action="store_true", help="sampling batch 1 (no guidance) instead of the CFG pair")
    parser.add_argument("--tiny", action="store_true", help="tiny config on the CPU (checks the script)")
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument("--vae", action="store_true", help=argparse.SUPPRESS)  # older spelling: the VAE now runs by default
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    if (args.frames - 1) % 4 or args.height % 16 or args.width % 16:
        parser.error("--frames must be 4k+1 and --height/--width multiples of 16")

    import torch

    from anix_core.model.configs import HUNYUAN_13B, TINY

    if args.tiny:
        config, device, dtype = TINY, "cpu", torch.float32
        args.height, args.width, args.frames = 32, 48, 9
    elif torch.cuda.is_available():
        config, device, dtype = HUNYUAN_13B, "cuda", torch.bfloat16
    else:
        print("bench/model.py: no CUDA device here; these figures need one GPU (e.g. an H100). "
              "Run with --tiny to check the script on the CPU.", file=sys.stderr)
        return 2

    t, h, w = latent_size(args.frames, args.height, args.width)
    tokens = t * (h // 2) * (w // 2)
    out = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
           "torch": torch.__version__, "size": f"{args.width}x{args.height}x{args.frames}",
           "dtype": str(dtype).removeprefix("torch."), "video_tokens": tokens, "view_tokens": 4 * (h // 2) * (w // 2), "cfg": not args.no_cfg,
           "attention": args.attention, "compile": args.compile}
    for name in sections:
        t0 = time.perf_counter()
        if name == "sample":
            bench_sample(args, config, device, dtype, out)
        elif name == "vae":
            bench_vae(args, device, dtype, out)
        else:
            bench_train(args, config, device, dtype, out)
        out[f"{name}_section_s"] = round(time.perf_counter() - t0, 1)
        print(f"{name}: done in {out[f'{name}_section_s']} s", file=sys.stderr, flush=True)
        if device == "cuda":
            torch.cuda.empty_cache()
    print_table(out)
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
