"""The peer benchmark's scripts stay runnable: every workload at a tiny scale, for naiad only (the peers
are installed and run by `python -m bench.peers`, not by the test suite)."""

from __future__ import annotations

import importlib
import struct
import zlib
from pathlib import Path


def test_every_workload_runs_for_naiad_at_a_tiny_scale() -> None:
    peers = importlib.import_module("bench.peers.__main__")
    rep = peers.derive(peers.one_repetition("naiad", 1000))  # W1 100 calls, W2 1,000 points, W3 1 run
    assert rep["sizes"] == {"w1": 100, "w2": 1000, "w3": 1}
    assert rep["w1"]["us_per_call"] > 0 and rep["w1"]["finish_s"] >= 0
    assert rep["w2"]["points_per_s"] > 0 and rep["w3"]["runs_per_s"] > 0
    assert rep["w4"]["rows"] in (0, 1) and rep["w4"]["warm_s"] >= 0  # W3's one run matches or not, by its values
    assert rep["w4"]["rows"] == rep["w4"]["expected_rows"] and rep["w4"]["index_s"] == 0  # naiad needs no index
    assert rep["w5"]["points"] == 100 and rep["w5"]["buckets_s"] is not None
    assert rep["w6"]["w2_bytes"] > 0 and rep["w6"]["w3_bytes_per_run"] == rep["w6"]["w3_bytes"]
    w7 = rep["w7"]
    assert w7["killed"] and w7["logged"] == 50 and 0 <= w7["survived"] <= 50 and w7["lost"] == 50 - w7["survived"]
    w7b = rep["w7b"]  # paced, killed after 0.3 s at this scale: the op log kept what was flushed before
    assert w7b["killed"] and w7b["logged"] > 0 and w7b["lost"] == w7b["logged"] - w7b["survived"]
    table = peers.table({"naiad": [rep]}, 1000)
    assert table.splitlines()[0] == "| workload | naiad |" and "W7 points lost to SIGKILL" in table
    assert rep["notes"] == {} and table.splitlines()[-1].startswith("| W7b")  # no notes: nothing under the table


def test_a_peers_notes_are_printed_under_the_table_once() -> None:
    peers = importlib.import_module("bench.peers.__main__")
    rep = {"sizes": {"w1": 1000, "w2": 2000, "w3": 2}, "notes": {"w4": "n/a: no query API offline"}}
    table = peers.table({"wandb": [rep, rep]}, 100)
    assert "| W4 query, cold (s) | n/a |" in table
    assert table.splitlines()[-1] == "- wandb W4: n/a: no query API offline"
    assert table.count("no query API offline") == 1


def _wandb_log(records: list[bytes]) -> bytes:
    """A W&B transaction log as wandb-core writes it: header, then LevelDB-log chunks in 32 KiB blocks."""
    out = bytearray(struct.pack("<4sHB", b":W&B", 0xBEE1, 0))
    for record in records:
        first = True
        while True:
            left = 32768 - len(out) % 32768
            if left < 7:
                out += b"\0" * left
                continue
            piece, record = record[:left - 7], record[left - 7:]
            kind = (1 if not record else 2) if first else (4 if not record else 3)
            out += struct.pack("<IHB", zlib.crc32(piece, zlib.crc32(bytes([kind]))), len(piece), kind) + piece
            first = False
            if not record:
                break
    return bytes(out)


def test_the_wandb_log_reader_joins_chunks_and_stops_at_a_torn_tail(tmp_path: Path) -> None:
    worker = importlib.import_module("bench.peers.worker")
    records = [b"a" * (32768 - 7 - 7 - 3), b"b" * 70_000, b"d" * 5, b"e" * 40]  # a leaves 3 bytes of its block
    path = tmp_path / "run-x.wandb"
    data = _wandb_log(records)
    assert data[32765:32768] == b"\0\0\0"
    path.write_bytes(data)
    assert list(worker._wandb_records(str(path))) == records  # block padding, FIRST/MIDDLE/LAST chunks
    path.write_bytes(data[:-3])  # killed mid-write: the last record is torn, the others stand
    assert list(worker._wandb_records(str(path))) == records[:-1]
    path.write_bytes(data[:-20] + b"X" + data[-19:])  # a corrupt chunk ends the log
    assert list(worker._wandb_records(str(path))) == records[:-1]
