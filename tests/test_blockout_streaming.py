"""Blockout and render shots stream: a streamed conditioning renders each frame's scene, depth and
mask as the generator asks for it, the frames are byte for byte those of the whole conditioning,
and a worker's peak memory does not grow with the frame count (docs/PROTOCOL.md, "Memory and time
bounds")."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anix_core.cameras import Camera
from anix_core.conditioning import build_conditioning
from anix_core.generators import GenerationCancelled, create
from anix_core.shot import Anchor, ShotSpec

REPO = Path(__file__).resolve().parents[1]


def shot(scene, views, text, anchor, heading_deg, frames, cameras=None, **options):
    return ShotSpec(scene=scene, views=views, anchor=Anchor(np.array(anchor, float), math.radians(heading_deg), 1.8),
                    instruction=text, num_frames=frames, width=160, height=96, cameras=cameras,
                    options={"background": (0.55, 0.7, 0.9), **options})


def whole_and_streamed(spec, generator, **kwargs):
    """(frames, warnings) from the whole conditioning and from the streamed one (through on_frame)."""
    whole = build_conditioning(spec)
    frames = create(generator, **kwargs).generate(whole)
    streamed = build_conditioning(spec, stream=True)
    assert streamed.scene_video is None and streamed.mask_video is None  # nothing rendered up front
    got = []
    kept = create(generator, **kwargs).generate(streamed, on_frame=lambda i, f: got.append((i, f.copy())))
    assert kept is None  # handed on, not kept
    assert [i for i, _ in got] == list(range(spec.num_frames))
    return (frames, whole.motion.warnings), (np.stack([f for _, f in got]), streamed.motion.warnings)


@pytest.mark.parametrize("generator, kwargs, text, options", [
    ("blockout", {"caption": True}, "the robot walks forward then waves, camera follows", {}),
    ("render", {"overlay": "character_box"}, "the robot runs to the left, orbit camera", {"mask_mode": "first_frame"}),
])
def test_streamed_frames_are_byte_identical_to_the_whole_conditioning(courtyard, robot_views, generator, kwargs,
                                                                     text, options):
    spec = shot(courtyard, robot_views, text, (-2.5, -5.0, 0.0), 90, frames=12, **options)
    (whole, whole_warnings), (streamed, streamed_warnings) = whole_and_streamed(spec, generator, **kwargs)
    assert streamed.dtype == np.uint8 and streamed.shape == whole.shape == (12, 96, 160, 3)
    assert np.array_equal(streamed, whole)
    assert streamed_warnings == whole_warnings


def test_a_streamed_shot_warns_of_the_frames_the_scene_hides_once_they_are_drawn(courtyard, robot_views):
    behind = Camera.look_at([5.5, -5.5, 1.2], [2.5, -2.5, 0.9], 160, 96)  # behind the yellow pillar
    spec = shot(courtyard, robot_views, "the robot waves", (2.5, -2.5, 0.0), 0.0, frames=4, cameras=[behind])
    (whole, whole_warnings), (streamed, streamed_warnings) = whole_and_streamed(spec, "blockout")
    assert np.array_equal(streamed, whole)
    assert streamed_warnings == whole_warnings == [
        "the character is hidden behind the scene at frames 0-3 of 4 (the given cameras do not see it there)"]


def test_a_streamed_shot_is_cancelled_between_frames(courtyard, robot_views):
    cond = build_conditioning(shot(courtyard, robot_views, "the robot waves", (-2.5, -5.0, 0.0), 90, frames=6),
                              stream=True)
    made = []
    with pytest.raises(GenerationCancelled):
        create("blockout").generate(cond, should_cancel=lambda: len(made) >= 2, on_frame=lambda i, f: made.append(i))
    assert made == [0, 1]


def test_a_workers_peak_memory_does_not_grow_with_the_frame_count():
    """A fresh process runs a 40-frame and then a 120-frame blockout shot as a worker does
    (bench/worker_memory.py; the demo courtyard cut to 2,000 splats so frames are cheap): the
    longer shot adds under 16 MiB to the peak. Whole conditioning and kept frames (about 30 bytes
    a pixel-frame) added 128 MiB there."""
    result = subprocess.run([sys.executable, str(REPO / "bench" / "worker_memory.py"), "--frames", "40", "120",
                             "--width", "320", "--height", "192", "--splats", "2000"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    first, longer = json.loads(result.stdout.strip().splitlines()[-1])["peak_mib"]
    assert longer - first < 16, (first, longer)


def test_a_frame_feed_passes_frames_as_they_come_and_a_writer_that_fails_stops_the_producer():
    from concurrent.futures import ThreadPoolExecutor

    from anix_core.video import FrameFeed

    def failing_writer(frames):
        for i, _ in enumerate(frames):
            if i == 2:
                raise OSError("disk full")

    with ThreadPoolExecutor(2) as pool:
        feed = FrameFeed(size=2)
        collected = pool.submit(feed.write, list)
        for i in range(5):
            feed.put(i)
        feed.close()
        assert collected.result() == [0, 1, 2, 3, 4]

        feed = FrameFeed(size=2)
        failed = pool.submit(feed.write, failing_writer)
        with pytest.raises(RuntimeError, match="writer stopped"):
            for i in range(100):
                feed.put(i)
        with pytest.raises(OSError, match="disk full"):
            failed.result()
        feed.close()  # nothing to end: no error, no wait
