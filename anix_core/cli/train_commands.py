"""`anix train lora|dmd2`, `anix dataset build|synthetic|validate|encode`, `anix eval`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="post-train the AniX model (LoRA) or distil it (DMD2)")
    kinds = train.add_subparsers(dest="train_kind", metavar="KIND", required=True)
    lora = kinds.add_parser("lora", help="LoRA post-training with flow matching")
    dmd2 = kinds.add_parser("dmd2", help="DMD2 distillation into a 4-step student")
    for p in (lora, dmd2):
        p.add_argument("config", help="run config (YAML), e.g. configs/tiny_lora.yaml")
        p.add_argument("--output-dir", default="runs/latest", help="checkpoints, metrics.jsonl and the adapter")
        p.add_argument("--max-steps", type=int, help="override train.max_steps")
    lora.add_argument("--resume", help="a checkpoint folder, or an output folder (its latest checkpoint)")
    lora.set_defaults(func=_train_lora)
    dmd2.set_defaults(func=_train_dmd2)

    dataset = subparsers.add_parser("dataset", help="make, check and encode training clips (docs/DATASET.md)")
    verbs = dataset.add_subparsers(dest="dataset_verb", metavar="VERB", required=True)
    build = verbs.add_parser("build", help="a clip from a 3DGS scene, a camera path and a character video with masks")
    build.add_argument("--scene", required=True, help="3DGS file the character video was shot in")
    build.add_argument("--camera", required=True, help="cams.json: one camera per video frame")
    build.add_argument("--video", required=True, help="folder of the character video's frames (PNG/JPG, sorted)")
    build.add_argument("--masks", required=True, help="folder of per-frame character masks (any segmenter's)")
    build.add_argument("--views", required=True, help="folder with the front, left, back and right views")
    build.add_argument("--caption", required=True, help='what the character does, e.g. "A character is running forward."')
    build.add_argument("--tag", choices=["rendered", "real"], help="appended to the prompt in training")
    build.add_argument("--fps", type=float, default=25.0)
    build.add_argument("--out", required=True, help="the clip folder to write")
    build.set_defaults(func=_dataset_build)
    synthetic = verbs.add_parser("synthetic", help="blockout clips of the demo robot (for tests and smoke runs)")
    synthetic.add_argument("--count", type=int, default=8)
    synthetic.add_argument("--frames", type=int, default=9)
    synthetic.add_argument("--width", type=int, default=48)
    synthetic.add_argument("--height", type=int, default=32)
    synthetic.add_argument("--out", required=True, help="dataset folder (one clip_NNNN folder per clip)")
    synthetic.set_defaults(func=_dataset_synthetic)
    validate = verbs.add_parser("validate", help="list every problem of every clip in a dataset folder")
    validate.add_argument("dataset")
    validate.set_defaults(func=_dataset_validate)
    encode = verbs.add_parser("encode", help="VAE latents and text embeddings of every clip, for training")
    encode.add_argument("dataset")
    encode.add_argument("--model", help="pipeline folder (AniXPipeline.save_pretrained); --tiny for the test model")
    encode.add_argument("--tiny", action="store_true", help="use the tiny random pipeline (tests, smoke runs)")
    encode.add_argument("--width", type=int, default=624)
    encode.add_argument("--height", type=int, default=352)
    encode.add_argument("--out", required=True, help="folder of .safetensors encoded clips")
    encode.set_defaults(func=_dataset_encode)

    evaluate = subparsers.add_parser("eval", help="character consistency and scene fidelity of a generated shot")
    evaluate.add_argument("--video", required=True, help="folder of generated frames")
    evaluate.add_argument("--masks", required=True, help="folder of the shot's box masks (e.g. from anix previz)")
    evaluate.add_argument("--views", required=True, help="folder with the four reference views")
    evaluate.add_argument("--scene", help="folder of the conditioning scene render (scene fidelity, missed masks)")
    evaluate.add_argument("--dinov2", help="local DINOv2 model folder (transformers)")
    evaluate.add_argument("--clip", help="local CLIP vision model folder (transformers)")
    evaluate.add_argument("--clip-length", type=int,
                          help="also score each consecutive run of this many frames (long-horizon drift)")
    evaluate.add_argument("--out", help="write the results as JSON here too")
    evaluate.set_defaults(func=_eval)


# ------------------------------------------------------------------------------- train
def _train_lora(args) -> int:
    from anix_core.train.run import run_lora

    result = run_lora(args.config, args.output_dir, max_steps=args.max_steps, resume=args.resume)
    print(f"trained {result.steps} steps; adapter: {result.adapter_dir}; kohya file: {result.kohya_file}")
    return 0


def _train_dmd2(args) -> int:
    from anix_core.train.run import run_dmd2

    result = run_dmd2(args.config, args.output_dir, max_steps=args.max_steps)
    print(f"distilled {result.steps} steps; student adapter: {Path(result.output_dir) / 'student'}")
    return 0


# ----------------------------------------------------------------------------- dataset
def read_frames(folder, mode: str = "RGB") -> np.ndarray:
    """Every image in a folder, sorted by name, stacked: [F,H,W,3] (RGB) or [F,H,W] (L)."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder of frames")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    if not files:
        raise ValueError(f"{folder}: no PNG/JPG frames")
    frames = [np.asarray(Image.open(f).convert(mode)) for f in files]
    sizes = {f.shape[:2] for f in frames}
    if len(sizes) > 1:
        raise ValueError(f"{folder}: frames have different sizes {sorted(sizes)}")
    return np.stack(frames)


def _dataset_build(args) -> int:
    from anix_core.cameras import cameras_from_json
    from anix_core.views import load_views
    from anix_core.render import render
    from anix_core.splats import load
    from anix_core.train.data import Clip, boxes_from_segmentation, save_clip
    from anix_core.video import to_uint8

    video = read_frames(args.video)
    masks = read_frames(args.masks, "L") > 127
    cameras = cameras_from_json(Path(args.camera).read_text())
    n, h, w = video.shape[:3]
    if len(masks) != n:
        raise ValueError(f"--masks: {len(masks)} masks for {n} video frames")
    if masks.shape[1:] != (h, w):
        raise ValueError(f"--masks: masks are {masks.shape[2]}x{masks.shape[1]}, video frames are {w}x{h}")
    if len(cameras) != n:
        raise ValueError(f"--camera: {len(cameras)} cameras for {n} video frames (one per frame)")
    cameras = [c.with_size(w, h) for c in cameras]
    scene = render(load(args.scene), cameras)
    clip = Clip(video, to_uint8(scene.rgb), boxes_from_segmentation(masks), load_views(args.views),
                args.caption, args.fps, args.tag)
    print(f"wrote {save_clip(clip, args.out)} ({n} frames, {w}x{h})")
    return 0


def _dataset_synthetic(args) -> int:
    from anix_core.train.data import save_clip
    from anix_core.train.synthetic import synthetic_clips

    for i, clip in enumerate(synthetic_clips(args.count, args.frames, args.height, args.width)):
        save_clip(clip, Path(args.out) / f"clip_{i:04d}")
    print(f"wrote {args.count} clips to {args.out}")
    return 0


def _dataset_validate(args) -> int:
    from anix_core.train.data import find_clips, validate_clip

    clips = find_clips(args.dataset)
    if not clips:
        raise ValueError(f"{args.dataset}: no clip folders (folders holding clip.json)")
    bad = 0
    for clip in clips:
        problems = validate_clip(clip)
        bad += bool(problems)
        for problem in problems:
            print(f"{clip.name}: {problem}")
    print(f"{len(clips) - bad} of {len(clips)} clips are usable")
    return 2 if bad else 0


def _dataset_encode(args) -> int:
    from tqdm.auto import tqdm

    from anix_core.train.data import find_clips, load_clip
    from anix_core.train.encode import encode_clip, encode_negative
    from anix_core.train.latents import save_latent_clip

    if args.tiny == bool(args.model):
        raise ValueError("give exactly one of --model DIR or --tiny")
    if args.tiny:
        from anix_core.model.tiny import tiny_pipeline

        pipeline, max_len = tiny_pipeline(), 64
    else:
        import torch

        from anix_core.model import AniXPipeline

        pipeline = AniXPipeline.from_pretrained(args.model, torch_dtype=torch.bfloat16 if torch.cuda.is_available() else None)
        if torch.cuda.is_available():
            pipeline.enable_model_cpu_offload()
        max_len = 256
    clips = find_clips(args.dataset)
    if not clips:
        raise ValueError(f"{args.dataset}: no clip folders (folders holding clip.json)")
    negative = encode_negative(pipeline, max_sequence_length=max_len)
    for clip_dir in tqdm(clips, desc="encode", unit="clip"):
        tensors = encode_clip(pipeline, load_clip(clip_dir), args.height, args.width, max_sequence_length=max_len,
                              negative=negative)
        save_latent_clip(tensors, Path(args.out) / f"{clip_dir.name}.safetensors")
    print(f"encoded {len(clips)} clips to {args.out}")
    return 0


# -------------------------------------------------------------------------------- eval
def _eval(args) -> int:
    from anix_core.views import load_views
    from anix_core.metrics import CharacterEncoder, character_consistency, scene_fidelity

    video = read_frames(args.video)
    masks = read_frames(args.masks, "L").astype(np.float32) / 255.0
    scene = read_frames(args.scene) if args.scene else None
    views = load_views(args.views)
    if not (args.dinov2 or args.clip or scene is not None):
        raise ValueError("nothing to measure: give --dinov2 and/or --clip model folders, and/or --scene")
    length = args.clip_length or len(video)
    if length < 1:
        raise ValueError("--clip-length must be at least 1")
    spans = [(s, min(s + length, len(video))) for s in range(0, len(video), length)]
    encoders = {name: CharacterEncoder.from_pretrained(folder) for name, folder in
                (("dinov2", args.dinov2), ("clip", args.clip)) if folder}
    results = []
    for start, end in spans:
        part = {"frames": [start, end]}
        sl = slice(start, end)
        for name, encoder in encoders.items():
            part[name] = character_consistency(video[sl], masks[sl], views, encoder,
                                               None if scene is None else scene[sl]).to_dict()
        if scene is not None:
            part["scene"] = scene_fidelity(video[sl], scene[sl], masks[sl]).to_dict()
        results.append(part)
    summary = {"clips": results}
    for line in _summary_lines(results):
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2))
    return 0


def _summary_lines(results: list[dict]):
    for part in results:
        start, end = part["frames"]
        cells = [f"frames {start}-{end - 1}"]
        for name in ("dinov2", "clip"):
            if name in part:
                r = part[name]
                missed = len(r["missed_frames"])
                cells.append(f"{name} {r['mean']:.3f}" + (f" ({missed} frames missed by the mask)" if missed else ""))
        if "scene" in part:
            cells.append(f"scene PSNR {part['scene']['psnr_db']:.2f} dB SSIM {part['scene']['ssim']:.3f}")
        yield "  ".join(cells)
