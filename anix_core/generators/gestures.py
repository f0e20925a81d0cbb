"""How the blockout billboard moves for each action, so a viewer sees what happens without a
rigged character: a bow tips it forward, a wave shakes it side to side, a jump lifts it (once per
count), a crouch squashes it, a fall tips it over; a spin needs nothing here (the heading turns
and the billboard shows the views in turn). Anything else sways gently, so an unknown verb is
still visibly "doing something".

`pose(segment, frame)` is pure: a `Pose` for one frame of one plan segment, in fractions of the
character's height and degrees; the blockout generator turns it into a tilted, lifted, squashed
billboard.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..planning.motion import smoothstep as _smooth


@dataclass(frozen=True)
class Pose:
    """The billboard's deviation from standing upright. `lift` and `shift` are fractions of the
    character's height (up, and sideways on screen); `tip_deg` tips it about the feet toward
    its heading (or its left side when `tip_side`); `sway_deg` tips it sideways on screen;
    `squash` scales its height and `widen` its width."""

    lift: float = 0.0
    shift: float = 0.0
    tip_deg: float = 0.0
    tip_side: bool = False
    sway_deg: float = 0.0
    squash: float = 1.0
    widen: float = 1.0


UPRIGHT = Pose()


def _hold(t: float, into: float = 0.3, out_from: float = 0.75) -> float:
    """0 -> 1 -> 0 over one repetition, holding at 1 in the middle (a bow held, a duck)."""
    return _smooth(t / into) * (1.0 - _smooth((t - out_from) / (1.0 - out_from)))


def _repeat(t: float, count: int) -> float:
    """The phase within the current repetition when an action happens `count` times over t in [0, 1)."""
    return (t * max(count, 1)) % 1.0


def _arc(t: float) -> float:
    """A jump's height over one repetition: 0 at take-off and landing, 1 at the top."""
    return math.sin(math.pi * t)


# action -> (kind, amount): the few motions the billboard can make
_MOTIONS = {
    "bow": ("tip", 45.0), "pick up": ("tip", 30.0), "put down": ("tip", 30.0), "nod": ("nod", 12.0),
    "wave": ("shake", 0.07), "shake head": ("shake", 0.02), "clap": ("shake", 0.015), "punch": ("shake", 0.04),
    "fight": ("shake", 0.05), "shiver": ("shake", 0.012), "laugh": ("shake", 0.015),
    "jump": ("jump", 0.25), "hop": ("jump", 0.15), "jumping jacks": ("jump", 0.12), "cheer": ("jump", 0.10),
    "celebrate": ("jump", 0.12), "flip": ("jump", 0.35), "skip": ("jump", 0.08),
    "crouch": ("squash", 0.40), "kneel": ("squash", 0.35), "sit": ("squash", 0.35), "pray": ("squash", 0.30),
    "meditate": ("squash", 0.35), "lie down": ("fall", 85.0), "fall": ("fall", 85.0), "stand up": ("rise", 0.40),
    "stretch": ("stretch", 0.08), "flex": ("stretch", 0.05), "raise hand": ("stretch", 0.06),
    "salute": ("stretch", 0.04), "pose": ("stretch", 0.05), "dance": ("dance", 10.0),
    "turn": ("none", 0.0), "spin": ("none", 0.0),
}
_SWAY = ("sway", 6.0)  # any other action
_STILL_CATEGORIES = ("idle",)


def motion_kind(action: str, category: str) -> str:
    """The billboard motion an action gets: tip, nod, shake, jump, squash, fall, rise, stretch,
    dance, sway (the generic one) or none (standing, travelling)."""
    if category in _STILL_CATEGORIES:
        return "none"
    if category == "locomotion":
        return "jump" if action in ("jump", "hop") else "none"
    return _MOTIONS.get(action, _SWAY)[0]


def pose(segment, frame: int) -> Pose:
    """The billboard pose of `segment` (a plan Segment) at `frame` (inside the segment)."""
    kind = motion_kind(segment.action, segment.category)
    if kind == "none":
        return UPRIGHT
    amount = 0.15 if segment.category == "locomotion" else _MOTIONS.get(segment.action, _SWAY)[1]
    length = max(segment.end_frame - segment.start_frame, 1)
    t = min(max((frame - segment.start_frame + 0.5) / length, 0.0), 1.0)
    count = max(int(getattr(segment, "count", 1) or 1), 1)
    phase = _repeat(t, count)
    if kind == "tip":
        return Pose(tip_deg=amount * _hold(phase))
    if kind == "nod":
        return Pose(tip_deg=amount * _arc(_repeat(t, 2 * count)))
    if kind == "shake":  # three strokes per repetition, eased in and out, the body rocking with them
        stroke = math.sin(2.0 * math.pi * 3.0 * phase) * _hold(phase, 0.1, 0.9)
        return Pose(shift=amount * stroke, sway_deg=100.0 * amount * stroke)
    if kind == "jump":
        return Pose(lift=amount * _arc(phase))
    if kind == "squash":
        down = _hold(phase, 0.3, 0.85) if count > 1 else _smooth(phase / 0.3)
        return Pose(squash=1.0 - amount * down, widen=1.0 + 0.35 * amount * down)
    if kind == "rise":
        up = _smooth(phase / 0.7)
        return Pose(squash=1.0 - amount * (1.0 - up), widen=1.0 + 0.35 * amount * (1.0 - up))
    if kind == "fall":
        return Pose(tip_deg=amount * _smooth(phase / 0.6), tip_side=True)
    if kind == "stretch":
        return Pose(squash=1.0 + amount * _hold(phase))
    if kind == "dance":
        return Pose(sway_deg=amount * math.sin(2.0 * math.pi * 2.0 * phase), lift=0.03 * abs(math.sin(4.0 * math.pi * phase)))
    return Pose(sway_deg=amount * math.sin(2.0 * math.pi * phase))  # "sway": anything else, visibly busy


def segment_at(segments, frame: int):
    """The segment covering `frame`, or None."""
    for seg in segments:
        if seg.start_frame <= frame < seg.end_frame:
            return seg
    return None


def caption_label(segment) -> str:
    """What the caption says a segment does: "walk to fountain", "wave x2", "levitates"."""
    if segment is None:
        return ""
    words = [segment.action]
    if segment.category == "locomotion":
        words.append(f"to {segment.target}" if segment.target else (segment.direction or ""))
    elif segment.target:
        words.append(f"at {segment.target}")
    count = int(getattr(segment, "count", 1) or 1)
    if count > 1:
        words.append(f"x{count}")
    return " ".join(w for w in words if w)
