"""What every importer shares: its report, and writing one imported run at most once."""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass, field

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store.base import RUN, Store


@dataclass
class ImportReport:
    """What an import did: runs created or skipped, and values it could not map."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def write_run(store: Store, report: ImportReport, *, project: str, source_id: str, marker: str, label: str,
              ops: list[O.Op], created: float | None = None, owner: str = "", state: str = "finished") -> None:
    """Create the run for ``source_id`` (its ``custom_run_id``) and apply ``ops`` in one batch.

    The batch also writes ``marker``; a run that already has it was imported before and is skipped,
    so importing twice changes nothing, and a run whose import failed halfway is simply done again.
    """
    info = store.create_container(project, RUN, _uuid.uuid4().hex, custom_run_id=source_id, created=created,
                                  owner=owner)
    if not info.is_new and marker in store.structure(info.uuid):
        report.skipped.append(f"{label} (already {info.short_id})")
        return
    ops = [*ops, (O.ASSIGN, "sys/state", F.STRING, state), (O.ASSIGN, marker, F.STRING, label)]
    writer = f"import-{info.uuid}"
    store.apply(Batch(info.uuid, writer, store.writer_seq(writer, info.uuid) + 1, ops))
    report.imported.append(f"{label} → {info.short_id}")
