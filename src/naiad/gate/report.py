"""A gate decision told: the Markdown report (a pull request's comment, the decision run's file) and
the table of a model's stored decisions (``naiad.fetch_gate_decisions``, the UI's model page)."""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from naiad.gate.spec import FAIL, INSUFFICIENT, PASS, GateResult

REPORT_TAG = "<!-- naiad-gate:{model} -->"


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _link(version: str | None) -> str:
    from naiad.config import SETTINGS

    if not version:
        return "none"
    base = SETTINGS.ui_url.get().rstrip("/")
    if not base:
        return f"`{version}`"
    model = version.rsplit("-", 1)[0]
    return f"[{version}]({base}/models/{model}/versions/{version})"


def markdown(result: GateResult) -> str:
    """The report for a pull-request comment; its first line is a hidden tag, so a CI step can update one
    comment per model instead of adding one per push.  No images: nothing goes to third-party hosts."""
    icon = {PASS: "✅", FAIL: "❌", INSUFFICIENT: "⚠️"}[result.verdict]
    lines = [REPORT_TAG.format(model=result.model),
             f"## naiad gate {icon} {result.verdict.upper()}: {_link(result.candidate)} vs {_link(result.baseline)}",
             "",
             f"{result.reason}.",
             "",
             f"Data: dataset `{result.dataset_hash[:12]}` · {result.n:,} rows · decision "
             f"`{result.run or 'not recorded'}`" + (" · no baseline: value rules only" if not result.baseline else ""),
             ""]
    if result.rules:
        lines += ["| # | metric | rule | candidate | baseline | Δ (CI) | p | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in result.rules:
            ci = f" [{_fmt(r.low, True)}, {_fmt(r.high, True)}]" if r.low is not None else ""
            mark = {PASS: "✅ pass", FAIL: "❌ fail", "missing": "❌ missing", "skipped": "➖ skipped"}[r.verdict]
            lines.append(f"| {r.index} | {r.metric} | {r.description} | {_fmt(r.candidate)} | {_fmt(r.baseline)} | "
                         f"{_fmt(r.delta, True)}{ci} | {_fmt(r.p_value)} | {mark} |")
        lines.append("")
        methods = sorted({r.method for r in result.rules if r.method})
        if methods:
            lines += ["Δ is oriented so that positive means the candidate is better; a test rule passes when the "
                      "lower end of its two-sided interval clears the bound (0 for superiority, −margin for "
                      "non-inferiority). Methods: " + "; ".join(methods) + ".", ""]
    drift = result.training_drift
    if drift is not None:
        drifted = drift["drifted"]
        lines += [f"Training data: the candidate's differs from the baseline's in {len(drifted)} of "
                  f"{drift['columns_tested']} columns" + (": " + ", ".join(
                      f"{d['column']} ({d['effect']} {d['effect_size']:.2f})" for d in drifted[:8]) if drifted else "")
                  + ".", ""]
    ctx = result.context
    tail = [f"commit `{ctx['commit'][:12]}`" if ctx.get("commit") else "",
            f"[CI run]({ctx['ci_url']})" if ctx.get("ci_url") else "", f"run by {ctx['actor']}" if ctx.get("actor")
            else "", f"promoted to {result.promoted}" if result.promoted else "",
            _dt.datetime.now(tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")]
    lines += [" · ".join(t for t in tail if t), "",
              "<details><summary>gate spec</summary>", "", "```yaml",
              _spec_text(result.spec), "```", "", "</details>", ""]
    return "\n".join(lines)


def _spec_text(spec: dict[str, Any]) -> str:
    try:
        import yaml

        return str(yaml.safe_dump(spec, sort_keys=False)).rstrip()
    except ImportError:
        return json.dumps(spec, indent=2)


def decision_rows(store: Any, info: Any) -> list[dict[str, Any]]:
    """Every gate decision the store recorded about the model ``info``'s versions, oldest first, as records
    (``time`` in epoch seconds): what :func:`fetch_gate_decisions` frames and the UI shows on model and
    version pages.  ``actor`` is who recorded it (on a server, the account), ``actor_role`` their role."""
    rows = []
    for d in store.gate_decisions(info.project, info.short_id):
        rows.append({"time": d.at, "run": d.run or None, "candidate": d.candidate, "baseline": d.baseline,
                     "verdict": d.verdict, "reason": d.reason, "n": d.n, "dataset_hash": d.dataset_hash,
                     "commit": d.details.get("commit") or None, "ci_url": d.details.get("ci_url") or None,
                     "actor": d.actor, "actor_role": d.actor_role, "decision": d.id})
    return rows


DECISION_COLUMNS = ["time", "run", "candidate", "baseline", "verdict", "reason", "n", "dataset_hash", "commit",
                    "ci_url", "actor", "actor_role", "decision"]


def fetch_gate_decisions(model: str) -> Any:
    """Every gate decision the store recorded about ``model``'s versions, oldest first: time, run, candidate,
    baseline, verdict, reason, rows, dataset hash, commit, CI run, who recorded it and their role, the
    decision's id."""
    import pandas as pd

    from naiad.monitoring.monitor import model_info
    from naiad.tracking.container import store_for

    store, _ = store_for("read-only")
    frame = pd.DataFrame(decision_rows(store, model_info(store, model)), columns=DECISION_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"].astype(float), unit="s", utc=True)
    return frame

