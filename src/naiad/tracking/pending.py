"""The batches a writer has put in its op log and the store has not acknowledged yet, in order.

They wait in memory up to :data:`PENDING_MEMORY`; past that (a long outage) only their offset in the op
log is kept and they are read back from it when their turn comes, so a client's memory does not grow
with the length of an outage.  Guarded by the writer's op-log lock.
"""

from __future__ import annotations

from naiad.core.oplog import OpLog
from naiad.core.ops import Batch

PENDING_MEMORY = 64 << 20
"""Bytes of unapplied batches a writer keeps in memory; the rest wait in the op log only."""


def size_of(batch: Batch) -> int:
    """About what ``batch`` holds in memory: 24 bytes a point (step, time, value) and a little per op."""
    return 24 * batch.point_count() + 256 * len(batch.ops)


class PendingBatches:
    """A queue of batches (or of their offsets in ``oplog``) waiting for the store."""

    def __init__(self, oplog: OpLog) -> None:
        self.oplog = oplog
        self._items: list[Batch | int] = []
        self.in_memory = 0  # bytes of the batches held here (not those left in the op log)
        self.unreadable = False  # a batch could not be read back: the op log must be kept (naiad sync)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, batch: Batch, at: int | None) -> None:
        """Queue ``batch``, written to the op log at offset ``at`` (None: the op log could not take it,
        so it stays in memory whatever its size)."""
        size = size_of(batch)
        if at is not None and self.in_memory + size > PENDING_MEMORY:
            self._items.append(at)
        else:
            self._items.append(batch)
            self.in_memory += size

    def head(self) -> Batch:
        """The first batch, read back from the op log if it waits there.  One that cannot be read back
        (OSError, ValueError) is dropped from the queue and :attr:`unreadable` set."""
        item = self._items[0]
        if isinstance(item, Batch):
            return item
        try:
            return self.oplog.read_at(item)
        except (OSError, ValueError):
            self._items.pop(0)
            self.unreadable = True
            raise

    def replace_head(self, batch: Batch) -> None:
        """The first batch is now ``batch`` (what was left of it once ops no store takes were dropped)."""
        if isinstance(self._items[0], Batch):
            self.in_memory -= size_of(self._items[0])
        self._items[0] = batch
        self.in_memory += size_of(batch)

    def pop_head(self) -> None:
        item = self._items.pop(0)
        if isinstance(item, Batch):
            self.in_memory -= size_of(item)

    def clear(self) -> None:
        self._items.clear()
        self.in_memory = 0
