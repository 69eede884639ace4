"""Reading the journal a dead writer left (see :mod:`naiad.core.journal`): its segments one at a time,
its side records, and what no op-log batch of the writer covers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from naiad.core import ops as O
from naiad.core.journal import (
    _HEADER,
    _KIND,
    _LOST,
    _MAGIC,
    _NAME,
    _OP,
    _VERSION,
    DTYPE,
    RECORD_SIZE,
    _read_side,
    journal_files,
    segment_start,
    to_ops,
)


@dataclass
class DeadJournal:
    """What a dead writer's journal holds from its durable position on (its segments read one at a time)."""

    base: Path
    durable: int
    in_memory: int | None = None  # the last segment that lived in memory (the disk was full)
    numbers: list[int] = field(default_factory=list)  # its segments on disk, from the durable one on
    paths: dict[int, str] = field(default_factory=dict)
    side: dict[int, O.Op | str] = field(default_factory=dict)  # op number → op, or what was lost

    def pieces(self, covered: list[tuple[int, int]]) -> Iterator[tuple[list[O.Op], tuple[int, int]]]:
        """For each segment, the ops of its records that no range in ``covered`` holds, with the span
        of the journal they come from; then, if a segment is missing (it lived in memory: the disk was
        full), an ERROR op that says so, with the span just past the end (so that it is said once).
        A record that reads as unwritten ends what is taken (after a power loss, a page of zeros)."""

        def side_op(n: int) -> O.Op | None:
            op = self.side.get(n)
            if op is None:
                return (O.ERROR, "", "a write made just before a crash was lost (the journal has no record of it)")
            if isinstance(op, str):
                return (O.ERROR, "", f"{op} was lost in a crash: files are stored once the writer has read them")
            return op

        end = self.durable
        missing = False
        for number in self.numbers:
            start = segment_start(number)
            if start > end:  # the segments between lived in memory: lost; the later ones are stored
                missing = True
            data = self.base.with_name(f"{self.base.name}.journal.{number}").read_bytes()
            rec = np.frombuffer(data, DTYPE, count=len(data) // RECORD_SIZE)
            bad = np.flatnonzero((rec["kind"] & 0xFFFF0000) != _KIND)
            whole = int(bad[0]) if len(bad) else len(rec)  # the first unwritten (or cut) record ends it
            lo = max(0, (self.durable - start) // RECORD_SIZE)
            end = start + whole * RECORD_SIZE
            if whole > lo:
                pos = start + lo * RECORD_SIZE
                chunk = data[lo * RECORD_SIZE:whole * RECORD_SIZE]
                ops: list[O.Op] = []
                for a, b in _uncovered(pos, end, covered):
                    ops.extend(to_ops(chunk[a - pos:b - pos], self.paths, side_op))
                if ops:
                    yield ops, (pos, end)
            if whole < len(rec):
                break
        if self.in_memory is not None and segment_start(self.in_memory + 1) > self.durable:
            missing = True  # (its records, or some of them, were never read into a batch)
        if missing and _uncovered(end, end + 1, covered):
            yield [(O.ERROR, "", "writes logged while the disk was full were lost in a crash (the journal "
                    "could not keep them on disk)")], (end, end + 1)


def _uncovered(start: int, end: int, covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    parts = [(start, end)]
    for a, b in covered:
        nxt = []
        for s, e in parts:
            if b <= s or a >= e:
                nxt.append((s, e))
                continue
            if s < a:
                nxt.append((s, a))
            if b < e:
                nxt.append((b, e))
        parts = nxt
    return [(s, e) for s, e in parts if e > s]


def read_dead(base: Path) -> DeadJournal | None:
    """The journal a dead writer left at ``base`` (None: it has none)."""
    try:
        head = base.with_name(base.name + ".journal").read_bytes()
    except FileNotFoundError:
        return None
    if len(head) < _HEADER.size or _HEADER.unpack_from(head)[0] != _MAGIC:
        return None  # cut before its header was written: nothing was journaled yet
    _, version, in_memory, durable = _HEADER.unpack_from(head)
    if version != _VERSION:
        raise ValueError(f"the journal {base.name}.journal is of version {version}, which this naiad cannot read; "
                         "open the store with the naiad that wrote it")
    dead = DeadJournal(base, durable, in_memory - 1 if in_memory else None)
    for kind, number, payload in _read_side(head):
        if kind == _NAME:
            dead.paths[number] = payload.decode("utf-8", "surrogatepass")
        elif kind == _OP:
            try:
                dead.side[number] = O.decode_batch(payload).ops[0]
            except (ValueError, KeyError, IndexError, TypeError):
                dead.side[number] = "a write"
        elif kind == _LOST:
            dead.side[number] = payload.decode("utf-8", "replace")
    first = 0
    while segment_start(first + 1) <= durable:
        first += 1
    dead.numbers = sorted(n for n in (int(p.name.rsplit(".", 1)[1]) for p in journal_files(base)
                                      if p.name.rsplit(".", 1)[1].isdigit()) if n >= first)
    return dead



__all__ = ["DeadJournal", "read_dead"]
