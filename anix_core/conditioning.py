"""`Conditioning`: everything a generator takes for one shot, and `build_conditioning` that makes
it from a `ShotSpec` (plan the motion and cameras, render the scene video, draw the box masks,
write the prompt).

A conditioning is whole (the scene video, depth and masks as [F,...] arrays: what the AniX model
needs) or streamed (`build_conditioning(..., stream=True)`: only the plan and cameras are kept, and
`Conditioning.iter_frames` renders each frame's scene, depth, alpha and mask as it is asked for,
so memory does not grow with the frame count). Generators that work frame by frame read
`iter_frames`, which serves both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from .masks import box_mask, box_masks, check_mask_mode
from .planning import MotionPlan, plan_motion
from .planning.sightlines import character_points, frame_hidden, frame_ranges, hidden_frames
from .shot import VIEW_NAMES

# The AniX text template (LLaVA prompt with one image slot per view), see the model notes.
PROMPT_TEMPLATE = ("A character is {action}. <SEP>The character front view looks like <img>. "
                   "<SEP>The character left view looks like <img>. <SEP>The character back view looks like <img>. "
                   "<SEP>The character right view looks like <img>.")
DEFAULT_BACKGROUND = (0.0, 0.0, 0.0)


@dataclass
class ConditioningFrame:
    """One frame of a conditioning: rgb [H,W,3] float32 in [0,1], depth [H,W] float32 (0 where
    nothing was drawn), alpha [H,W] float32 or None, mask [H,W] float32 in {0,1} or None."""

    rgb: np.ndarray
    depth: np.ndarray
    alpha: np.ndarray | None
    mask: np.ndarray | None


@dataclass
class SceneStream:
    """What a streamed conditioning renders its frames from: the scene, the render backend and
    background, and the mask mode (anix_core.masks.MASK_MODES); `on_frame(index, frame)` sees
    each frame as it is rendered."""

    scene: object
    backend: str = "auto"
    background: tuple = DEFAULT_BACKGROUND
    mask_mode: str = "per_frame"
    on_frame: Callable[[int, ConditioningFrame], None] | None = None  # previz writes scene.mp4 and mask.mp4 from it

    def frames(self, cond: "Conditioning", should_cancel=None) -> Iterator[tuple[int, ConditioningFrame]]:
        """Render `cond`'s frames one at a time; after the last one, the plan's warning about
        frames where the scene hides the character is added (as a whole conditioning has it)."""
        from .generators import GenerationCancelled
        from .render import RenderCancelled, iter_render

        motion = cond.motion
        points = character_points(motion.root_positions, motion.height_m)
        hidden = []
        try:
            for i, out in iter_render(self.scene, cond.cameras, backend=self.backend, background=self.background,
                                      should_cancel=should_cancel):
                camera, depth = cond.cameras[i], out.depth[0]
                if frame_hidden(camera, points[i], depth):
                    hidden.append(i)
                mask = box_mask(i, camera, motion.root_positions[i], motion.headings[i], cond.character_height_m,
                                mode=self.mask_mode)
                frame = ConditioningFrame(out.rgb[0], depth, out.alpha[0], mask)
                if self.on_frame is not None:
                    self.on_frame(i, frame)
                yield i, frame
        except RenderCancelled as exc:
            raise GenerationCancelled(str(exc)) from None
        _warn_hidden(motion, hidden)


@dataclass
class Conditioning:
    """One shot's conditioning.

    scene_video [F,H,W,3] float32 in [0,1]: the scene rendered from the shot's cameras.
    scene_depth [F,H,W] float32: camera-space z in metres, 0 where nothing was drawn.
    mask_video [F,H,W] float32 in {0,1}: the character's box per frame.
    (All three are None in a streamed conditioning: `stream` renders them frame by frame.)
    views: VIEW_NAMES -> RGBA uint8 [h,w,4] character views.
    prompt: the action in AniX's text template; action_text the action alone.
    cameras: one `Camera` per frame; motion: the `MotionPlan` behind them.
    history_frames [T,H,W,3] uint8 or None: the end of a previous shot, for continuation.
    """

    scene_video: np.ndarray | None
    scene_depth: np.ndarray | None
    mask_video: np.ndarray | None
    views: dict
    prompt: str
    cameras: list
    motion: MotionPlan
    history_frames: np.ndarray | None = None
    fps: float = 25.0
    seed: int = 0
    character_height_m: float = 1.8
    action_text: str = ""
    scene_alpha: np.ndarray | None = None
    options: dict = field(default_factory=dict)
    stream: SceneStream | None = None

    @property
    def num_frames(self) -> int:
        return len(self.cameras) if self.scene_video is None else int(self.scene_video.shape[0])

    @property
    def height(self) -> int:
        return int(self.cameras[0].height) if self.scene_video is None else int(self.scene_video.shape[1])

    @property
    def width(self) -> int:
        return int(self.cameras[0].width) if self.scene_video is None else int(self.scene_video.shape[2])

    def iter_frames(self, should_cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, ConditioningFrame]]:
        """(index, ConditioningFrame) for each frame in order: views into the whole arrays, or,
        streamed, rendered as asked for (keep none of them; `should_cancel()` turning true raises
        GenerationCancelled)."""
        if self.stream is not None:
            yield from self.stream.frames(self, should_cancel)
            return
        for i in range(self.num_frames):
            yield i, ConditioningFrame(self.scene_video[i], self.scene_depth[i],
                                       None if self.scene_alpha is None else self.scene_alpha[i],
                                       None if self.mask_video is None else self.mask_video[i])


# ----------------------------------------------------------------------------- prompt
_IRREGULAR_ING = {"lie": "lying", "die": "dying", "tie": "tying", "see": "seeing", "flee": "fleeing",
                  "be": "being", "ski": "skiing", "dye": "dyeing", "canoe": "canoeing"}
_DIRECTION_WORDS = {"forward": "forward", "backward": "backward", "left": "to the left", "right": "to the right",
                    "around": "around"}


def gerund(verb: str) -> str:
    """walk -> walking, run -> running, wave -> waving, pick up -> picking up."""
    head, _, rest = verb.strip().partition(" ")
    w = head.lower()
    if not w:
        return verb
    if w in _IRREGULAR_ING:
        ing = _IRREGULAR_ING[w]
    elif w.endswith("ing") and len(w) > 5:
        ing = w
    elif w.endswith("ie"):
        ing = w[:-2] + "ying"
    elif w.endswith("e") and not w.endswith(("ee", "ye", "oe")):
        ing = w[:-1] + "ing"
    elif (len(w) >= 3 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou" and w[-3] not in "aeiou"
          and len(w) <= 4):
        ing = w + w[-1] + "ing"  # run -> running, hop -> hopping (short words only)
    else:
        ing = w + "ing"
    return f"{ing} {rest}".strip()


def describe_action(plan) -> str:
    """The plan's segments as one phrase: "running forward, then waving"."""
    parts = []
    for seg in getattr(plan, "segments", None) or []:
        action = str(getattr(seg, "action", "") or "").strip()
        if not action:
            continue
        phrase = gerund(action)
        direction = getattr(seg, "direction", None)
        target = getattr(seg, "target", None)
        if direction == "toward" and target:
            phrase += f" to the {target}"
        elif direction == "around" and target:
            phrase += f" around the {target}"
        elif direction in _DIRECTION_WORDS and not phrase.endswith(_DIRECTION_WORDS[direction]):
            phrase += f" {_DIRECTION_WORDS[direction]}"
        if not parts or parts[-1] != phrase:
            parts.append(phrase)
    return ", then ".join(parts) if parts else "standing still"


def _warn_hidden(motion: MotionPlan, hidden: list[int]) -> None:
    """Add a warning to `motion` naming the `hidden` frames, where the rendered scene hides the
    character (once: a streamed conditioning read twice does not repeat it)."""
    if hidden:
        why = ("the given cameras do not see it there" if motion.camera_behaviour == "user"
               else "no camera placement found sees it there")
        warning = (f"the character is hidden behind the scene at frames {frame_ranges(hidden)} "
                   f"of {len(motion.cameras)} ({why})")
        if warning not in motion.warnings:
            motion.warnings.append(warning)


def build_prompt(action_text: str) -> str:
    return PROMPT_TEMPLATE.format(action=action_text)


# ----------------------------------------------------------------------------- building
def check_views(views: dict) -> dict:
    """The four views as RGBA uint8 [h,w,4]; a clear error naming a missing or bad one."""
    if not isinstance(views, dict):
        raise ValueError("views: expected a mapping of front, left, back and right images")
    out = {}
    for name in VIEW_NAMES:
        if name not in views or views[name] is None:
            raise ValueError(f"views: the {name} view is missing (need {', '.join(VIEW_NAMES)})")
        img = np.asarray(views[name])
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.shape[0] < 8 or img.shape[1] < 8:
            raise ValueError(f"views: the {name} view must be an RGB or RGBA image, got shape {list(img.shape)}")
        if img.dtype != np.uint8:
            img = (np.clip(img.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
        if img.shape[2] == 3:
            img = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
        out[name] = img
    return out


def build_conditioning(shot, on_progress: Callable[[str, int, int], None] | None = None,
                       should_cancel: Callable[[], bool] | None = None, plan=None,
                       backend: str = "auto", stream: bool = False) -> Conditioning:
    """Plan the shot, render the scene video from its cameras and draw the character's masks.

    on_progress(stage, done, total) with stages "plan", "render", "masks"; `should_cancel()`
    turning true raises anix_core.generators.GenerationCancelled. `plan` skips parsing.
    shot.options may carry "background" (RGB 0..1), "backend" ("auto", "cpu", "gsplat"; default
    `backend`) and "mask_mode" (anix_core.masks.MASK_MODES).
    `stream=True` plans only: the render and masks are made frame by frame by
    `Conditioning.iter_frames` (the "plan" stage is the only one reported here)."""
    from .generators import GenerationCancelled
    from .render import RenderCancelled, render
    from .render.api import shared_size

    def progress(stage, done, total):
        if on_progress is not None:
            on_progress(stage, done, total)

    def cancelled():
        return should_cancel is not None and bool(should_cancel())

    views = check_views(shot.views)
    if cancelled():
        raise GenerationCancelled("cancelled before planning")
    progress("plan", 0, 1)
    motion = plan_motion(shot, plan)
    progress("plan", 1, 1)
    cameras = motion.cameras
    options = dict(shot.options or {})
    action = describe_action(motion.plan)
    background = tuple(options.get("background", DEFAULT_BACKGROUND))
    mask_mode = options.get("mask_mode", "per_frame")
    scene_stream = out = masks = None
    if stream:
        shared_size(cameras)  # what render() checks, before the first frame
        check_mask_mode(mask_mode)
        scene_stream = SceneStream(shot.scene, options.get("backend", backend), background, mask_mode)
    else:
        try:
            out = render(shot.scene, cameras, backend=options.get("backend", backend), background=background,
                         on_progress=lambda d, t: progress("render", d, t), should_cancel=should_cancel)
        except RenderCancelled as exc:
            raise GenerationCancelled(str(exc)) from None
        _warn_hidden(motion, hidden_frames(cameras, motion.root_positions, motion.height_m, out.depth))
        progress("masks", 0, 1)
        masks = box_masks(cameras, motion.root_positions, motion.headings, float(shot.anchor.height_m), mode=mask_mode)
        progress("masks", 1, 1)
    return Conditioning(
        scene_video=None if out is None else out.rgb, scene_depth=None if out is None else out.depth,
        mask_video=masks, views=views,
        prompt=build_prompt(action), cameras=cameras, motion=motion, history_frames=shot.history_frames,
        fps=float(shot.fps), seed=int(shot.seed), character_height_m=float(shot.anchor.height_m),
        action_text=action, scene_alpha=None if out is None else out.alpha, options=options, stream=scene_stream,
    )
