"""A writer's batches into its op log, in order, and the journal told how far everything is durable.

A batch the op log cannot take (a full disk) waits in memory for the store; no later batch may pass it
into the op log, or a crash would replay the later one first and the store would refuse (or overwrite)
the earlier one's points and values.  So while one waits, every new batch waits with it, and each flush
tries the waiting ones again, oldest first.  The journal's durable position is where the first waiting
batch starts, or, with none waiting, where the last batch ends (see :mod:`naiad.core.journal`).
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from naiad.core import ops as O
from naiad.core.journal import Journal
from naiad.core.oplog import OpLog
from naiad.core.ops import Batch
from naiad.errors import FieldError
from naiad.tracking.pending import PendingBatches


class Durability:
    """Called with the writer's op-log lock held."""

    def __init__(self, oplog: OpLog, journal: Journal, pending: PendingBatches, *, fsync: bool,
                 report: Callable[[str, BaseException], None], notice: Callable[[str], None],
                 disk_full: Callable[[], None]) -> None:
        self.oplog = oplog
        self.journal = journal
        self.pending = pending
        self._fsync = fsync
        self._report = report
        self._notice = notice
        self._disk_full = disk_full
        self._waiting: list[tuple[Batch, int]] = []  # (batch, side ops before it) the op log refused
        self._latest = (0, 0)  # (journal position, side ops) after the last batch

    def add(self, batch: Batch | None, span: tuple[int, int], ops_before: int, ops_upto: int) -> None:
        """``batch`` holds the journal's ``span`` and the side ops numbered ``ops_before`` to
        ``ops_upto`` (None: those records held nothing to store)."""
        if span[1] > span[0]:
            self._latest = (span[1], ops_upto)
        self._retry()
        if batch is not None:
            at: int | None = None
            if not self._waiting:
                batch, at = self._append(batch)
            self.pending.add(batch, at)  # in a long outage it waits in the op log, not in memory
            if at is None:
                self._waiting.append((batch, ops_before))
        self._advance()

    def applied(self, batch: Batch) -> None:
        """The store holds ``batch`` (the applier's head): if it was waiting, it is durable now."""
        if self._waiting and self._waiting[0][0].seq == batch.seq:
            self._waiting.pop(0)
            self._advance()

    def all_durable(self) -> bool:
        return not self._waiting and self.journal.durable >= self.journal.position()

    def _retry(self) -> None:
        while self._waiting:
            try:
                self.oplog.append(self._waiting[0][0])
            except Exception:  # still no room: said when it first failed
                return
            self._waiting.pop(0)

    def _append(self, batch: Batch) -> tuple[Batch, int | None]:
        try:
            return batch, self.oplog.append(batch)
        except (UnicodeError, ValueError, TypeError) as exc:
            fixed, dropped = O.without_unstorable(batch)  # one op's text cannot be encoded
            for message in dropped:
                self._report(message, FieldError(message))
            if not dropped:
                self._report(f"could not write the op log {self.oplog.path}: {exc}", exc)
            try:
                return fixed, self.oplog.append(fixed)
            except Exception as again:
                self._report(f"could not write the op log {self.oplog.path}: {again}", again)
                return fixed, None
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                self._report(f"could not write the op log {self.oplog.path}: {exc}", exc)
            else:  # kept in memory, stored when the store can take it: a delay, said once
                self._disk_full()
        except Exception as exc:
            self._report(f"could not write the op log {self.oplog.path}: {exc}", exc)
        return batch, None

    def _advance(self) -> None:
        if self._waiting:
            first, before = self._waiting[0]
            pos, upto = (first.span[0] if first.span else self.journal.durable), before
        else:
            pos, upto = self._latest
        try:
            self.journal.set_durable(pos, upto, fsync=self._fsync)
        except (OSError, ValueError) as exc:  # the journal keeps its records: recovery finds them covered
            self._notice(f"could not update the journal ({exc}); its records stay until the run ends")
