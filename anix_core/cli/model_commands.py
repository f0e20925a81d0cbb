"""`anix convert`: bring user-supplied HunyuanCustom weights and the AniX LoRA into our format."""
from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    convert = subparsers.add_parser("convert", help="convert model weights (HunyuanCustom checkpoint, kohya LoRA)")
    sub = convert.add_subparsers(dest="convert_kind", metavar="KIND")

    hc = sub.add_parser("hunyuancustom", help="the official download folder -> a complete AniX model folder "
                                               "(or one mp_rank_00_model_states.pt -> a transformer folder)")
    hc.add_argument("checkpoint", metavar="SOURCE",
                    help="the HunyuanCustom download folder (its models/ folder or the folder above it), "
                         "or a single mp_rank_00_model_states.pt")
    hc.add_argument("--out", required=True, help="output folder: MODEL_DIR for a download folder, "
                                                 "MODEL_DIR/transformer for a single checkpoint")
    hc.add_argument("--lora", help="the AniX LoRA file to put in MODEL_DIR/lora (download folder only)")
    hc.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32", "keep"])
    hc.add_argument("--shard-gb", type=float, default=5.0, help="maximum shard size in GiB")
    hc.set_defaults(func=_convert_hunyuancustom)

    lora = sub.add_parser("lora", help="LoRA (.safetensors: the official AniX file, kohya, peft or diffusers keys) "
                                       "-> diffusers/peft LoRA on our module names")
    lora.add_argument("file", help="LoRA file, e.g. pytorch_lora_kohaya_weights.safetensors (the AniX LoRA)")
    lora.add_argument("--out", required=True,
                      help="output folder (writes pytorch_lora_weights.safetensors; MODEL_DIR/lora is loaded by default)")
    lora.add_argument("--transformer", help="converted transformer folder whose config.json to use (default: 13B)")
    lora.set_defaults(func=_convert_lora)
    convert.set_defaults(func=lambda args: convert.print_help() or 1)


def _convert_hunyuancustom(args) -> int:
    from anix_core.model.convert import convert_hunyuancustom

    if Path(args.checkpoint).is_dir():
        from anix_core.model.download import convert_download

        for line in convert_download(args.checkpoint, args.out, dtype=args.dtype, lora=args.lora).lines:
            print(line)
        print(f"wrote {args.out}")
        return 0
    if args.lora:
        raise ValueError("--lora needs a download folder as SOURCE; for a single checkpoint use `anix convert lora`")
    report = convert_hunyuancustom(args.checkpoint, args.out, dtype=args.dtype,
                                   max_shard_bytes=int(args.shard_gb * 1024**3))
    print(report.summary())
    print(f"wrote {args.out}")
    return 0


def _convert_lora(args) -> int:
    from anix_core.model.configs import HUNYUAN_13B
    from anix_core.model.convert import convert_lora_file

    config = HUNYUAN_13B
    if args.transformer:
        path = Path(args.transformer) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no config.json in {args.transformer}")
        config = {**HUNYUAN_13B, **json.loads(path.read_text())}
    report = convert_lora_file(args.file, args.out, config)
    print(report.summary())
    print(f"wrote {Path(args.out) / 'pytorch_lora_weights.safetensors'}")
    return 0
