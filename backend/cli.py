"""`anix serve`, `anix submit`, `anix keys generate`."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def register(subparsers) -> None:
    from .server import add_serve_arguments

    serve = subparsers.add_parser("serve", help="run the GPU service (ZeroMQ)")
    add_serve_arguments(serve)
    serve.set_defaults(func=_serve)

    submit = subparsers.add_parser("submit", help="send a shot to a running service and save its frames")
    submit.add_argument("--backend", default="tcp://127.0.0.1:5555", help="service address (default %(default)s)")
    submit.add_argument("--keys", default=None, help="CURVE key folder (client.key_secret and server.key)")
    submit.add_argument("--scene", required=True, help="scene file (.ply, .splat, .spz)")
    submit.add_argument("--views", default=None, help="folder with the character views: *front.png, *left.png, *back.png, *right.png")
    submit.add_argument("--instruction", default="", help="what the character does")
    submit.add_argument("--frames", type=int, default=93, help="number of frames (default %(default)s)")
    submit.add_argument("--fps", type=float, default=25.0)
    submit.add_argument("--width", type=int, default=832)
    submit.add_argument("--height", type=int, default=480)
    submit.add_argument("--seed", type=int, default=0)
    submit.add_argument("--anchor", default="0,0,0", help="character position x,y,z in metres (default %(default)s)")
    submit.add_argument("--heading", type=float, default=0.0, help="character heading in degrees (0 = facing +X)")
    submit.add_argument("--generator", default=None, help="generator name (default: the server's)")
    submit.add_argument("--quality", default=None, choices=["draft", "standard", "high", "scene"],
                        help="quality preset (options.quality; default standard)")
    submit.add_argument("--continue-from", default=None, metavar="JOB",
                        help="continue the shot of this finished job: start where its character ended")
    submit.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="generator option (repeatable); VALUE is read as JSON when it parses, else as text")
    cams = submit.add_mutually_exclusive_group()
    cams.add_argument("--camera", default=None, help="cams.json with one camera per frame")
    cams.add_argument("--orbit", action="store_true", help="orbit the character")
    submit.add_argument("--encoding", choices=["png", "raw"], default="png", help="frame transport encoding")
    submit.add_argument("--out", required=True, help="folder for frame_0000.png ...")
    submit.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
    submit.set_defaults(func=_submit)

    keys = subparsers.add_parser("keys", help="CURVE keys for the service")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    gen = keys_sub.add_parser("generate", help="write server and client key pairs into DIR")
    gen.add_argument("dir")
    gen.set_defaults(func=_keys_generate)


def _serve(args) -> int:
    from .server import serve_command

    return serve_command(args)


def _keys_generate(args) -> int:
    from .auth import generate_keys

    d = generate_keys(args.dir)
    print(f"keys written to {d}:\n  server: start with `anix serve --keys {d} --bind tcp://0.0.0.0:5555`\n"
          f"  client: give the animator {d / 'client.key'}, {d / 'client.key_secret'} and {d / 'server.key'}")
    return 0


def _parse_option(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--option must be KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_request(args, scene_sha: str) -> dict:
    try:
        position = [float(v) for v in args.anchor.split(",")]
        assert len(position) == 3
    except (ValueError, AssertionError):
        raise ValueError(f"--anchor must be x,y,z in metres, got {args.anchor!r}") from None
    request = {
        "scene": scene_sha, "num_frames": args.frames, "fps": args.fps, "width": args.width,
        "height": args.height, "seed": args.seed, "instruction": args.instruction,
        "anchor": {"position": position, "heading_rad": math.radians(args.heading), "height_m": 1.8},
        "encoding": args.encoding,
    }
    if args.generator:
        request["generator"] = args.generator
    options = dict(_parse_option(o) for o in args.option)
    if args.quality:
        options["quality"] = args.quality
    if args.continue_from:
        options["continue_from"] = args.continue_from
    if options:
        request["options"] = options
    if args.camera:
        from anix_core.cameras import cameras_from_json

        cameras = cameras_from_json(Path(args.camera).read_text())
        if len(cameras) != args.frames:
            raise ValueError(f"--camera {args.camera} has {len(cameras)} cameras for --frames {args.frames}")
        request["cameras"] = [c.to_dict() for c in cameras]
        request["width"], request["height"] = cameras[0].width, cameras[0].height
    elif args.orbit:
        request["camera_behaviour"] = "orbit"
    return request


def _submit(args) -> int:
    from tqdm import tqdm

    from anix_core.views import find_views

    from .client import BackendUnavailable, Cancelled, Client, Done, Error, Frame, Progress
    from .protocol import ProtocolError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    views = find_views(args.views, suffixes=(".png",)) if args.views else {}  # sent as PNG bytes
    with Client(args.backend, keys=args.keys, timeout=args.timeout) as client:
        try:
            client.hello()
            with tqdm(total=Path(args.scene).stat().st_size, unit="B", unit_scale=True, desc="scene", leave=False) as bar:
                sha = client.ensure_scene(args.scene, on_progress=lambda held, total: bar.update(held - bar.n))
            job = client.submit(build_request(args, sha), views=views)
        except ProtocolError as exc:
            raise ValueError(f"the server refused the request: {exc.field or 'message'}: {exc.message}") from None
        except BackendUnavailable as exc:
            raise ValueError(str(exc)) from None
        print(f"job {job.id}", file=sys.stderr)
        bar = tqdm(total=args.frames, unit="frame", desc="frames")
        try:
            try:
                for event in job.events():
                    if isinstance(event, Progress):
                        bar.set_postfix_str(f"{event.stage} {event.done}/{event.total}")
                    elif isinstance(event, Frame):
                        event.save(out / f"frame_{event.index:04d}.png")
                        bar.update(1)
                    elif isinstance(event, Done):
                        bar.close()
                        print(f"{event.num_frames} frames written to {out}", file=sys.stderr)
                        for warning in event.warnings:
                            print(f"warning: {warning}", file=sys.stderr)
                        if event.end_anchor:
                            x, y, z = event.end_anchor["position"]
                            print(f"the character ends at {x:.2f},{y:.2f},{z:.2f} heading "
                                  f"{math.degrees(event.end_anchor['heading_rad']):.1f} degrees; continue with "
                                  f"--continue-from {job.id}", file=sys.stderr)
                        return 0
                    elif isinstance(event, Error):
                        raise ValueError(f"job {job.id} failed ({event.code}): {event.message}")
                    elif isinstance(event, Cancelled):
                        raise ValueError(f"job {job.id} was cancelled: {event.reason}")
            except KeyboardInterrupt:
                bar.close()
                print(f"cancelling job {job.id} ...", file=sys.stderr)
                job.cancel()
                for event in job.events(timeout=30.0):
                    if isinstance(event, Frame):
                        event.save(out / f"frame_{event.index:04d}.png")
                print(f"job {job.id} cancelled; frames so far are in {out}", file=sys.stderr)
                return 130
            except BackendUnavailable as exc:
                raise ValueError(f"{exc}; attach again later with job id {job.id}") from None
        finally:
            bar.close()
    return 1

