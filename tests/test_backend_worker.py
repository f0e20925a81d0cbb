"""A job thread whose events nobody reads any more (its worker loop, or a Ray actor's stream, is
gone) stops waiting to hand them on once it is abandoned, instead of waiting for ever."""
from __future__ import annotations

import threading

import zmq

from backend import protocol as P
from backend.worker import JobRunner


def test_an_abandoned_job_thread_stops_waiting_for_a_reader_that_is_gone():
    context = zmq.Context.instance()
    reader = context.socket(zmq.PULL)  # binds, never reads: the events back up
    reader.rcvhwm = 1
    reader.bind("inproc://test-abandoned-runner")
    runner = JobRunner(context, "inproc://test-abandoned-runner",
                       {"job": "j1", "request": {}, "scene_path": "", "generator": "pattern"}, [], None, None)
    runner.pair = context.socket(zmq.PUSH)
    runner.pair.sndhwm = 1
    runner.pair.connect("inproc://test-abandoned-runner")
    blocked = threading.Event()

    def send_many():
        for _ in range(100):  # far more than the two pipes hold
            runner.send(P.PROGRESS, stage="frames", done=0, total=1)
        blocked.set()

    sender = threading.Thread(target=send_many, daemon=True)
    try:
        sender.start()
        assert not blocked.wait(0.5), "the events should back up: nobody reads them"
        runner.abandoned.set()
        sender.join(timeout=10.0)
        assert not sender.is_alive()
    finally:
        runner.pair.close(linger=0)
        reader.close(linger=0)
