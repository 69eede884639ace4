"""The peer benchmark's scripts stay runnable: every workload at a tiny scale, for naiad only (the peers
are installed and run by `python -m bench.peers`, not by the test suite)."""

from __future__ import annotations

import importlib


def test_every_workload_runs_for_naiad_at_a_tiny_scale() -> None:
    peers = importlib.import_module("bench.peers.__main__")
    rep = peers.derive(peers.one_repetition("naiad", 1000))  # W1 100 calls, W2 1,000 points, W3 1 run
    assert rep["sizes"] == {"w1": 100, "w2": 1000, "w3": 1}
    assert rep["w1"]["us_per_call"] > 0 and rep["w1"]["finish_s"] >= 0
    assert rep["w2"]["points_per_s"] > 0 and rep["w3"]["runs_per_s"] > 0
    assert rep["w4"]["rows"] in (0, 1) and rep["w4"]["warm_s"] >= 0  # W3's one run matches or not, by its values
    assert rep["w5"]["points"] == 100 and rep["w5"]["buckets_s"] is not None
    assert rep["w6"]["w2_bytes"] > 0 and rep["w6"]["w3_bytes_per_run"] == rep["w6"]["w3_bytes"]
    w7 = rep["w7"]
    assert w7["killed"] and w7["logged"] == 50 and 0 <= w7["survived"] <= 50 and w7["lost"] == 50 - w7["survived"]
    w7b = rep["w7b"]  # paced, killed after 0.3 s at this scale: the op log kept what was flushed before
    assert w7b["killed"] and w7b["logged"] > 0 and w7b["lost"] == w7b["logged"] - w7b["survived"]
    table = peers.table({"naiad": [rep]}, 1000)
    assert table.splitlines()[0] == "| workload | naiad |" and "W7 points lost to SIGKILL" in table
