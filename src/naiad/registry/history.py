"""Reading the model registry's history: the state at any time, and the history as a table.

The store keeps every stage and alias change as an append-only event
(:class:`~naiad.store.base.RegistryEvent`); replaying the events up to a time gives the registry as
it was then — "which version held production on 1 March?" is :func:`state_at`.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from naiad.errors import InvalidValueError
from naiad.store.base import RegistryEvent

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class RegistryState:
    """The registry of one model at one time: each version's stage (versions never moved are ``none``
    and not listed) and which version holds each alias."""

    at: float
    stages: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def holder(self, *, stage: str | None = None, alias: str | None = None) -> str | None:
        """The version in ``stage`` (the newest one, for stages several versions share) or holding
        ``alias``; None if nobody."""
        if alias is not None:
            return self.aliases.get(alias)
        found = [v for v, s in self.stages.items() if s == stage]
        return found[-1] if found else None


def to_timestamp(when: Any) -> float:
    """Seconds since the epoch for a datetime, a date, an ISO-8601 string or a number.

    A time without a zone is local time (what a person typing ``2026-03-01 12:00`` means).

    >>> to_timestamp(0)
    0.0
    >>> to_timestamp("1970-01-01T00:00:10+00:00")
    10.0
    """
    if isinstance(when, bool):
        raise InvalidValueError(f"{when!r} is not a time.")
    if isinstance(when, (int, float)):
        if not math.isfinite(when):
            raise InvalidValueError(f"{when!r} is not a time.")
        return float(when)
    if isinstance(when, str):
        text = when.strip()
        try:
            when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValueError(f"{when!r} is not a time: write it as 2026-03-01, 2026-03-01T12:00 or "
                                    "2026-03-01T12:00:00+00:00.") from None
    if isinstance(when, _dt.date) and not isinstance(when, _dt.datetime):
        when = _dt.datetime(when.year, when.month, when.day)
    if isinstance(when, _dt.datetime):
        return when.timestamp()  # naive: local time
    raise InvalidValueError(f"{when!r} is not a time: pass a datetime, a date, an ISO-8601 string or epoch seconds.")


def state_at(events: Iterable[RegistryEvent], when: Any = None) -> RegistryState:
    """Replay ``events`` (in the order the store recorded them) up to ``when`` (default: now)."""
    at = math.inf if when is None else to_timestamp(when)
    state = RegistryState(at)
    for e in events:
        if e.at > at:
            break
        if e.kind == "stage":
            state.stages.pop(e.version, None)  # re-inserted last: dict order = order of arrival
            if e.after != "none":
                state.stages[e.version] = str(e.after)
        elif e.kind == "alias":
            if e.after is None:
                state.aliases.pop(e.name, None)
            else:
                state.aliases[e.name] = e.after
    return state


def iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).isoformat(timespec="seconds")


def history_frame(events: list[RegistryEvent]) -> pd.DataFrame:
    """The events as a table: time (UTC), model, version, kind, name, from, to, actor, reason."""
    import pandas as pd

    return pd.DataFrame({
        "time": pd.to_datetime([e.at for e in events], unit="s", utc=True),
        "model": [e.model for e in events],
        "version": [e.version for e in events],
        "kind": [e.kind for e in events],
        "name": [e.name for e in events],
        "from": pd.Series([e.before for e in events], dtype=object),  # None stays None (nobody held it)
        "to": pd.Series([e.after for e in events], dtype=object),
        "actor": [e.actor for e in events],
        "reason": [e.reason for e in events],
    }, columns=["time", "model", "version", "kind", "name", "from", "to", "actor", "reason"])


def describe(e: RegistryEvent) -> str:
    """One line for a person: ``DEF-CLS-3: staging → production (by ana: beat DEF-CLS-2 on test)``."""
    if e.kind == "stage":
        what = f"{e.version}: {e.before} → {e.after}"
    elif e.kind == "policy" and e.name == "gate_accounts":
        what = f"policy gate_accounts: {e.before or '(none)'} → {e.after or '(none)'}"
    elif e.kind == "policy":
        what = f"policy {e.name}: {e.before} → {e.after}"
    elif e.after is None:
        what = f"alias {e.name!r} removed from {e.before}"
    else:
        what = f"alias {e.name!r} → {e.after}" + (f" (from {e.before})" if e.before else "")
    who = f"by {e.actor}" if e.actor else "by someone unknown"
    return f"{what} ({who}" + (f": {e.reason})" if e.reason else ")")
