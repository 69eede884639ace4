"""Series and their chunks: appending points (in step order, with running summaries), the
compressed chunks they are stored in, reading a series back and downsampling it into buckets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from naiad.core import fields as F
from naiad.errors import (
    FieldError,
    FieldTypeError,
    InvalidValueError,
    StepOrderError,
)
from naiad.store.base import (
    Buckets,
    SeriesData,
)
from naiad.store.chunks import CHUNK_POINTS, OPEN_PIECES, block_summaries, decode_chunk, encode_chunk
from naiad.store.sql.base import Conn
from naiad.store.sql.fields import Fields

_MAX_TIMESTAMP = 1e14  # seconds (the year ~3.2 million): a point's time is kept in int64 milliseconds


def bucket_points(steps: np.ndarray, values: np.ndarray, n: int) -> Buckets:
    """Exact min/max/first/last/count buckets of equal point counts (a point per bucket if few)."""
    total = len(steps)
    if total == 0:
        z = np.zeros(0)
        return Buckets(z, z, z, z, z, z, np.zeros(0, dtype=np.int64))
    starts = np.unique(np.linspace(0, total, min(n, total), endpoint=False).astype(np.int64))
    ends = np.append(starts[1:], total) - 1
    return Buckets(
        step_lo=steps[starts], step_hi=steps[ends],
        min=np.minimum.reduceat(values, starts), max=np.maximum.reduceat(values, starts),
        first=values[starts], last=values[ends], count=(ends - starts + 1).astype(np.int64))


class Series(Fields):
    """Series: appends, chunks, reads, buckets."""

    def _prefetch_series(self, conn: Conn, cid: int, pids: list[int]) -> None:
        """Read ahead, in two statements, what appending to these series reads first: their rows (locked
        for the transaction) and the end of their chunks.  A batch of points of many series (the
        neptune client's requests, an SDK flush of many metrics) then waits for two reads instead of
        two a series (PostgreSQL's pipeline sends the writes without waiting; a read waits).  Each
        entry is used once, by the next append to its series (:meth:`_append_points` pops it);
        ``_apply_ops`` drops what is left before any other kind of op."""
        rows: dict[int, tuple[Any, ...]] = {}
        tails: dict[int, list[tuple[int, int]]] = {}
        in_sql, params = self._in("pid", sorted(set(pids)))
        for pid, sid, count, last_step, vmin, vmax in conn.execute(
                f"SELECT pid, sid, count, last_step, vmin, vmax FROM series WHERE cid=? AND {in_sql}"
                + self.FOR_UPDATE, (cid, *params)).fetchall():
            rows[int(pid)] = (sid, count, last_step, vmin, vmax)
            tails[int(sid)] = []
        if tails:
            in_sql, params = self._in("c.sid", sorted(tails))
            for sid, seq, n in conn.execute(
                    f"SELECT c.sid, c.seq, c.n FROM chunks c WHERE {in_sql} AND c.seq >= "
                    "(SELECT max(m.seq) FROM chunks m WHERE m.sid = c.sid) - ? ORDER BY c.sid, c.seq DESC",
                    (*params, OPEN_PIECES)).fetchall():
                tails[int(sid)].append((int(seq), int(n)))
        self._local.ahead = (rows, tails)

    def _drop_prefetched(self) -> None:
        self._local.ahead = None

    def _append_points(self, conn: Conn, cid: int, path: str, ftype: str,
                       steps: np.ndarray, ts: np.ndarray, values: np.ndarray | list[str]) -> None:
        pid, is_new = self._ensure_field(conn, cid, path, ftype)
        ahead = getattr(self._local, "ahead", None)
        if not is_new and ahead is not None and pid in ahead[0]:
            row: Any = ahead[0].pop(pid)
        else:
            row = None if is_new else conn.execute(
                "SELECT sid, count, last_step, vmin, vmax FROM series WHERE cid=? AND pid=?" + self.FOR_UPDATE,
                (cid, pid)).fetchone()
        if row is None:  # a new series: its row is made below, with its summary, in one statement
            sid, count, last_step, vmin, vmax = None, 0, None, None, None
        else:
            sid, count, last_step, vmin, vmax = row
        steps = np.asarray(steps, dtype=np.float64)
        ts = np.asarray(ts, dtype=np.float64)
        unusable = ""
        if len(steps):
            # a raw batch may carry what the SDK never sends: a NaN or infinite step, a timestamp no
            # millisecond count holds; those points are dropped (and said), the others stored
            with np.errstate(invalid="ignore"):
                usable = np.isfinite(steps) & np.isfinite(ts) & (np.abs(ts) < _MAX_TIMESTAMP)
            if not usable.all():
                unusable = (f"series '{path}': {int((~usable).sum())} point(s) whose step is NaN or infinite, or "
                            "whose timestamp is not a time, were dropped.")
                steps, ts = steps[usable], ts[usable]
                values = (np.asarray(values)[usable] if not isinstance(values, list)
                          else [v for v, k in zip(values, usable, strict=True) if k])
        n_in = len(steps)
        raise_after: FieldError | None = InvalidValueError(unusable) if unusable else None
        ordered = n_in < 2 or bool(np.all(steps[1:] > steps[:-1]))
        if n_in and (not ordered or (last_step is not None and steps[0] <= last_step)):
            # keep each point whose step is above every step before it (stored or in this op)
            before = np.maximum.accumulate(np.concatenate([[-np.inf if last_step is None else last_step],
                                                           steps[:-1]]))
            keep = steps > before
            steps, ts = steps[keep], ts[keep]
            values = (np.asarray(values)[keep] if not isinstance(values, list)
                      else [v for v, k in zip(values, keep, strict=False) if k])
            last = "-inf" if last_step is None else f"{last_step:g}"
            raise_after = StepOrderError(
                f"series '{path}': {n_in - len(steps)} point(s) with a step not above the step before them "
                f"(last stored: {last}) were dropped (another process wrote this series?)."
                + (f" Also: {unusable}" if unusable else ""))
        if sid is None and not len(steps):
            conn.execute("INSERT INTO series(cid, pid, type) VALUES (?, ?, ?)", (cid, pid, ftype))
        if len(steps):
            is_float = not isinstance(values, list)
            upd: dict[str, Any] = {
                "count": count + len(steps), "last_step": float(steps[-1]), "last_ts": float(ts[-1]),
            }
            if is_float:
                arr = np.asarray(values, dtype=np.float64)
                upd["last_num"] = float(arr[-1])
                # NaN is a point (an imported or raw-batch value) but has no place in min/max, and
                # NaN/±inf would turn the running sums into NaN (NULL in SQLite): they skip both.  The
                # usual batch is all finite and is used as it is (no copies).
                finite_mask = np.isfinite(arr)
                comparable = finite = arr
                if not finite_mask.all():
                    comparable, finite = arr[~np.isnan(arr)], arr[finite_mask]
                if len(comparable):
                    lo, hi = float(comparable.min()), float(comparable.max())
                    upd.update(vmin=lo if vmin is None else min(vmin, lo), vmax=hi if vmax is None else max(vmax, hi))
                with np.errstate(over="ignore", invalid="ignore"):  # 1e200² is inf, not an error
                    sums = (float(finite.sum()), float(np.dot(finite, finite)))
            else:
                # the summary is a text column (PostgreSQL keeps no NUL in one); the points keep it in chunks
                upd.update(last_txt=values[-1].replace("\x00", "\ufffd"))
                sums = (0.0, 0.0)
            if sid is None:
                cols = ["cid", "pid", "type", *upd, "first_step", "vsum", "vsumsq"]
                (sid,) = conn.execute(
                    f"INSERT INTO series({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) RETURNING sid",
                    (cid, pid, ftype, *upd.values(), float(steps[0]), sums[0], sums[1])).fetchone()
            else:
                sets = ", ".join(f"{k}=?" for k in upd)
                conn.execute(
                    f"UPDATE series SET {sets}, first_step=COALESCE(first_step, ?), vsum=vsum+?, "
                    "vsumsq=vsumsq+? WHERE sid=?",
                    (*upd.values(), float(steps[0]), sums[0], sums[1], sid))
            self._write_chunks(conn, sid, steps, ts, values, empty=count == 0)
        if raise_after is not None:
            raise raise_after

    def _write_chunks(self, conn: Conn, sid: int, steps: np.ndarray, ts: np.ndarray,
                      values: np.ndarray | list[str], empty: bool = False) -> None:
        """Append points as chunks; ``empty``: the series is known to have none yet (no lookup).

        A series ends in at most :data:`OPEN_PIECES` *open* chunks (fewer than ``CHUNK_POINTS`` points
        each): an append that fits writes only its own points as one more piece, and when the pieces
        would reach a full chunk (or too many of them) they are merged with the new points into full
        chunks.  So a point is encoded about twice, whatever the size of the appends — topping up one
        open chunk re-encoded it whole on every append (a series fed 100 points a request paid for
        ~4,000 each time).
        """
        pieces: list[tuple[int, int]] = []  # the open chunks at the end, in order: (seq, n)
        seq = 0
        if not empty:
            ahead = getattr(self._local, "ahead", None)
            if ahead is not None and sid in ahead[1]:
                tail: list[Any] = ahead[1].pop(sid)[:OPEN_PIECES]  # read by _prefetch_series, newest first
            else:
                tail = conn.execute("SELECT seq, n FROM chunks WHERE sid=? ORDER BY seq DESC LIMIT ?",
                                    (sid, OPEN_PIECES)).fetchall()
            if tail:
                seq = int(tail[0][0]) + 1
            for piece_seq, n in tail:
                if n >= CHUNK_POINTS:
                    break
                pieces.insert(0, (int(piece_seq), int(n)))
        held = sum(n for _, n in pieces)
        if pieces and (held + len(steps) >= CHUNK_POINTS or len(pieces) >= OPEN_PIECES):
            # merge: the open pieces and the new points become full chunks (and one open piece)
            parts = [decode_chunk(self._chunk_blob(conn, sid, piece_seq)) for piece_seq, _ in pieces]
            steps = np.concatenate([*(p[0] for p in parts), steps])
            ts = np.concatenate([*(p[1] for p in parts), ts])
            if isinstance(values, list):
                values = [v for p in parts for v in p[2]] + values
            else:
                values = np.concatenate([*(np.asarray(p[2]) for p in parts), values])
            seq = pieces[0][0]
            conn.execute("DELETE FROM chunks WHERE sid=? AND seq>=?", (sid, seq))
        for start in range(0, len(steps), CHUNK_POINTS):
            end = start + CHUNK_POINTS
            self._put_chunk(conn, sid, seq, steps[start:end], ts[start:end], values[start:end])
            seq += 1

    def _put_chunk(self, conn: Conn, sid: int, seq: int, steps: np.ndarray, ts: np.ndarray,
                   values: np.ndarray | list[str]) -> None:
        blocks: bytes | None = None
        if isinstance(values, list):
            stats: tuple[float | None, ...] = (None, None, None, None)
        else:
            stats = (float(values.min()), float(values.max()), float(values[0]), float(values[-1]))
            blocks = block_summaries(steps, values).tobytes()
        conn.execute(
            "INSERT INTO chunks(sid, seq, n, step_lo, step_hi, ts_lo, ts_hi, vmin, vmax, vfirst, vlast, "
            "blocks, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sid, seq, len(steps), float(steps[0]), float(steps[-1]), float(ts.min()), float(ts.max()),
             *stats, blocks, encode_chunk(steps, ts, values)))

    def series_last_steps(self, uuid: str) -> dict[str, float]:
        conn = self.conn()
        cid = self._cid(conn, uuid)
        return {path: (last if last is not None else -math.inf) for path, last in conn.execute(
            "SELECT p.path, s.last_step FROM series s JOIN paths p ON p.pid = s.pid WHERE s.cid=?", (cid,))}

    def _series_sid(self, conn: Conn, uuid: str, path: str) -> tuple[int, str]:
        cid = self._cid(conn, uuid)
        row = conn.execute("SELECT s.sid, s.type FROM series s JOIN paths p ON p.pid = s.pid "
                           "WHERE s.cid=? AND p.path=?", (cid, path)).fetchone()
        if row is None:
            from naiad.errors import MissingFieldError

            raise MissingFieldError(f"'{path}' is not a series of this container.")
        return int(row[0]), row[1]

    def read_series(self, uuid: str, path: str) -> SeriesData:
        conn = self.conn()
        sid, ftype = self._series_sid(conn, uuid, path)
        parts = [decode_chunk(r[0]) for r in conn.execute(
            "SELECT data FROM chunks WHERE sid=? ORDER BY seq", (sid,))]
        if not parts:
            empty = np.zeros(0)
            return SeriesData(empty, empty.copy(), [] if ftype != F.FLOAT_SERIES else empty.copy())
        steps = np.concatenate([p[0] for p in parts])
        ts = np.concatenate([p[1] for p in parts])
        values: np.ndarray | list[str]
        if ftype == F.FLOAT_SERIES:
            values = np.concatenate([np.asarray(p[2]) for p in parts])
        else:
            values = [v for p in parts for v in p[2]]
        return SeriesData(steps, ts, values)

    def read_series_window(self, uuid: str, path: str, offset: int, limit: int) -> tuple[SeriesData, int]:
        """Points ``offset … offset + limit`` and the series' length: only the chunks the window touches
        are read and decoded (paging through a long series costs each page its own points)."""
        conn = self.conn()
        sid, ftype = self._series_sid(conn, uuid, path)
        sizes = conn.execute("SELECT seq, n FROM chunks WHERE sid=? ORDER BY seq", (sid,)).fetchall()
        ends = np.cumsum([int(n) for _, n in sizes]) if sizes else np.zeros(0, dtype=np.int64)
        total = int(ends[-1]) if len(ends) else 0
        start, stop = max(0, offset), min(total, max(0, offset) + max(0, limit))
        steps_parts, ts_parts, value_parts = [], [], []
        if start < stop:
            first = int(np.searchsorted(ends, start, side="right"))
            last = int(np.searchsorted(ends, stop - 1, side="right"))
            base = int(ends[first - 1]) if first else 0
            for i in range(first, last + 1):
                s, t, v = decode_chunk(self._chunk_blob(conn, sid, int(sizes[i][0])))
                steps_parts.append(s)
                ts_parts.append(t)
                value_parts.append(v)
            steps = np.concatenate(steps_parts)[start - base:stop - base]
            ts = np.concatenate(ts_parts)[start - base:stop - base]
            if ftype == F.FLOAT_SERIES:
                values: np.ndarray | list[str] = np.concatenate(
                    [np.asarray(v) for v in value_parts])[start - base:stop - base]
            else:
                values = [x for v in value_parts for x in v][start - base:stop - base]
            return SeriesData(steps, ts, values), total
        empty = np.zeros(0)
        return SeriesData(empty, empty.copy(), [] if ftype != F.FLOAT_SERIES else empty.copy()), total

    def series_buckets(self, uuid: str, path: str, n: int = 1000, *, step_min: float | None = None,
                       step_max: float | None = None) -> Buckets:
        """Downsample a float series to at most ``n`` buckets of min/max/first/last/count.

        Each chunk stores summaries of its 512-point blocks; when the range holds at least ``n``
        blocks, buckets are groups of whole blocks and only those summaries are read (no
        decompression except the two chunks the range cuts): the cost follows the number of buckets
        drawn, not the number of points.  Otherwise the few points in range are decoded and bucketed
        exactly.
        """
        conn = self.conn()
        sid, ftype = self._series_sid(conn, uuid, path)
        if ftype != F.FLOAT_SERIES:
            raise FieldTypeError(f"'{path}' is a {ftype}; only float series can be bucketed.")
        lo = -math.inf if step_min is None else step_min
        hi = math.inf if step_max is None else step_max
        rows = conn.execute(
            "SELECT seq, step_lo, step_hi, blocks FROM chunks "
            "WHERE sid=? AND step_hi >= ? AND step_lo <= ? ORDER BY seq", (sid, lo, hi)).fetchall()
        parts = []
        for seq, s_lo, s_hi, blocks in rows:
            if s_lo < lo or s_hi > hi:  # a chunk cut by the range: summarise just its points in range
                s, _t, v = decode_chunk(self._chunk_blob(conn, sid, seq))
                mask = (s >= lo) & (s <= hi)
                parts.append(block_summaries(s[mask], np.asarray(v)[mask]))
            else:
                parts.append(np.frombuffer(blocks, dtype=np.float64).reshape(-1, 7))
        meta = np.concatenate(parts) if parts else np.zeros((0, 7))
        if len(meta) >= n:
            groups = np.array_split(np.arange(len(meta)), n)
            starts = np.array([g[0] for g in groups if len(g)])
            ends = np.array([g[-1] for g in groups if len(g)])
            return Buckets(
                step_lo=meta[starts, 1], step_hi=meta[ends, 2],
                min=np.minimum.reduceat(meta[:, 3], starts), max=np.maximum.reduceat(meta[:, 4], starts),
                first=meta[starts, 5], last=meta[ends, 6],
                count=np.add.reduceat(meta[:, 0], starts).astype(np.int64))
        # fewer blocks than buckets: at most n × 512 points, decode them and bucket exactly
        decoded = [decode_chunk(self._chunk_blob(conn, sid, r[0])) for r in rows]
        if decoded:
            steps = np.concatenate([p[0] for p in decoded])
            vals = np.concatenate([np.asarray(p[2]) for p in decoded])
            mask = (steps >= lo) & (steps <= hi)
            steps, vals = steps[mask], vals[mask]
        else:
            steps = vals = np.zeros(0)
        return bucket_points(steps, vals, n)

    def _chunk_blob(self, conn: Conn, sid: int, seq: int) -> bytes:
        row = conn.execute("SELECT data FROM chunks WHERE sid=? AND seq=?", (sid, seq)).fetchone()
        return bytes(row[0])
