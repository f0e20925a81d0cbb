"""The backend holds under hostile load (docs/PROTOCOL.md, "Memory and time bounds"): while one
socket cycles submit+cancel 30 times with 4 x 6 MiB views, 20 slow readers attach to a finished
105 MiB raw job and do not read, clients declare uploads the size of the whole cache and abandon
partial uploads, a good client's shots all finish, a separate process's pings are answered
quickly, and the server's memory stays bounded. A real `anix serve` on 127.0.0.1."""
from __future__ import annotations

import pytest

from backend_helpers import ServerProcess
from load_attacks import MiB, Sizes, run_attacks

CACHE_BYTES = 32 * MiB
# Generous for a loaded 2-core CI machine, yet far below what the attacks did before the bounds
# (the loop stalled 6.5 s; RSS grew by gigabytes): see docs/PERFORMANCE.md for measured figures.
PING_P95_S = 0.25
PING_MAX_S = 1.0
RSS_GROWTH_MIB = 400  # the send bounds (128 MiB of frames in all) and the views of the submits being read


@pytest.fixture()
def server(tmp_path):
    srv = ServerProcess("--cache-size", f"{CACHE_BYTES // MiB}MB", workers=2, cache_dir=tmp_path, client_timeout=10.0)
    srv.wait_workers(2)
    yield srv
    srv.stop()


def test_good_shots_finish_and_pings_are_answered_while_the_server_is_attacked(server):
    report = run_attacks(server.address, server.proc.pid, CACHE_BYTES, Sizes())
    print("\n".join(report.lines()))
    assert report.good_done == Sizes().good_shots and not report.good_errors
    assert report.cycles_done == Sizes().cycles
    assert report.pings_lost == 0 and len(report.ping_latencies) > 50
    assert report.ping_percentile(0.95) < PING_P95_S and max(report.ping_latencies) < PING_MAX_S
    assert (report.peak_rss_kib - report.baseline_rss_kib) / 1024 < RSS_GROWTH_MIB
    assert report.scene_still_held and report.honest_upload_complete  # lies evicted nothing, blocked nobody
    assert report.lies_accepted <= 4 * Sizes().liars  # at most 4 uploads in progress per client
    assert (report.slow_reader_frames, report.slow_reader_terminal) == (Sizes().big_frames, "done")
